namespace CxrLab.Diagnostics;

/// <summary>The ambient cancellation token of the work in progress. .NET cannot abort running code,
/// so an interrupt (a notebook's stop button, Ctrl+C in the CLI) is cooperative: whoever runs the
/// work installs a token with <see cref="Use"/>, and the library's long loops (training steps, data
/// passes, <see cref="CxrLab.Viz.Progress"/>) call <see cref="ThrowIfRequested"/> between items.
/// Process-wide rather than per async flow, so loops on worker threads see it too.</summary>
public static class Cancellation
{
    sealed class Holder(CancellationToken token)
    {
        public readonly CancellationToken Token = token;
    }

    static volatile Holder current = new(CancellationToken.None);

    /// <summary>The installed token; <see cref="CancellationToken.None"/> when nothing installed one.</summary>
    public static CancellationToken Current => current.Token;

    /// <summary>True when the current work was asked to stop.</summary>
    public static bool IsRequested => current.Token.IsCancellationRequested;

    /// <summary>Throws <see cref="OperationCanceledException"/> when the current work was asked to stop.</summary>
    public static void ThrowIfRequested() => current.Token.ThrowIfCancellationRequested();

    /// <summary>Installs <paramref name="token"/> until the returned scope is disposed (then the previous
    /// token is back).</summary>
    public static IDisposable Use(CancellationToken token)
    {
        var previous = current;
        current = new Holder(token);
        return new Restore(previous);
    }

    sealed class Restore(Holder previous) : IDisposable
    {
        bool disposed;

        public void Dispose()
        {
            if (disposed) return;
            disposed = true;
            current = previous;
        }
    }
}
