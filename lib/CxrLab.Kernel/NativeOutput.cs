using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace CxrLab.Kernel;

/// <summary>Sends what native code and child processes write to file descriptors 1 and 2 (libtorch
/// warnings, OpenCV messages, a <c>Process.Start</c> without redirection) into the running cell's
/// stdout/stderr streams, as ipykernel does: both descriptors are pointed at pipes read by two threads.
/// The kernel's own log keeps going to the original stderr (a duplicate taken first).</summary>
internal static unsafe class NativeOutput
{
    [DllImport("libc", SetLastError = true)] static extern int pipe(int* fds);
    [DllImport("libc", SetLastError = true)] static extern int dup(int fd);
    [DllImport("libc", SetLastError = true)] static extern int dup2(int fd, int fd2);
    [DllImport("libc", SetLastError = true)] static extern int close(int fd);
    [DllImport("libc", SetLastError = true)] static extern nint read(int fd, byte* buffer, nint count);
    [DllImport("libc", SetLastError = true)] static extern nint write(int fd, byte* buffer, nint count);

    // Written through each descriptor by Drain and recognised (and dropped) by its pump: once the pump
    // has seen it, everything written to that descriptor before the drain has been published.
    const string Marker = "\u0001cxr-drain\u0001";
    static readonly SemaphoreSlim[] Drained = [new(0), new(0)];
    static bool captured;

    /// <summary>Waits until what native code and child processes wrote to fds 1 and 2 so far has been
    /// published (the pipes are read asynchronously); bounded by <paramref name="timeout"/>.</summary>
    public static void Drain(TimeSpan timeout)
    {
        if (!captured) return;
        var marker = Encoding.UTF8.GetBytes(Marker);
        fixed (byte* p = marker)
        {
            write(1, p, marker.Length); // below PIPE_BUF: never interleaved with other writers
            write(2, p, marker.Length);
        }
        var deadline = DateTime.UtcNow + timeout;
        foreach (var drained in Drained)
            drained.Wait(Max(deadline - DateTime.UtcNow, TimeSpan.Zero));
    }

    static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    /// <summary>Redirects fds 1 and 2; returns a writer on the original stderr for the kernel's log,
    /// or null when redirection failed (output then stays where it was).</summary>
    public static TextWriter? Capture(Action<string, string> publish)
    {
        var savedErr = dup(2);
        if (savedErr < 0) return null;
        var fds = stackalloc int[2];
        foreach (var (fd, name) in new[] { (1, "stdout"), (2, "stderr") })
        {
            if (pipe(fds) != 0 || dup2(fds[1], fd) < 0) return null;
            close(fds[1]);
            var readEnd = fds[0];
            var drained = Drained[fd - 1];
            new Thread(() => Pump(readEnd, name, publish, drained)) { IsBackground = true, Name = $"native-{name}" }.Start();
        }
        captured = true;
        var log = new StreamWriter(new FileStream(new SafeFileHandle(savedErr, ownsHandle: true), FileAccess.Write), new UTF8Encoding(false))
        {
            AutoFlush = true,
        };
        return log;
    }

    static void Pump(int fd, string name, Action<string, string> publish, SemaphoreSlim drained)
    {
        var decoder = Encoding.UTF8.GetDecoder();
        var bytes = new byte[8192];
        var chars = new char[8192 + 4];
        var pending = "";
        while (true)
        {
            nint n;
            fixed (byte* p = bytes) n = read(fd, p, bytes.Length);
            if (n < 0 && Marshal.GetLastPInvokeError() == 4) continue; // EINTR
            if (n <= 0) return;
            var count = decoder.GetChars(bytes, 0, (int)n, chars, 0, flush: false);
            pending += new string(chars, 0, count);
            int at;
            while ((at = pending.IndexOf(Marker, StringComparison.Ordinal)) >= 0)
            {
                if (at > 0) publish(name, pending[..at]);
                pending = pending[(at + Marker.Length)..];
                drained.Release();
            }
            // Hold back a tail that may be the start of a marker split across reads.
            var keep = 0;
            for (var k = Math.Min(Marker.Length - 1, pending.Length); k > 0; k--)
                if (pending.EndsWith(Marker[..k], StringComparison.Ordinal)) { keep = k; break; }
            if (pending.Length > keep) publish(name, pending[..^keep]);
            pending = keep > 0 ? pending[^keep..] : "";
        }
    }
}
