namespace CxrLab.Kernel;

/// <summary>Entry point Jupyter starts (see <see cref="KernelSpec"/>):
/// <c>dotnet CxrLab.Kernel.dll --connection-file FILE</c> (or <c>-f FILE</c>).</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        string? file = null;
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] is "-f" or "--connection-file" && i + 1 < args.Length) file = args[++i];
            else if (args[i].StartsWith("--connection-file=", StringComparison.Ordinal)) file = args[i]["--connection-file=".Length..];
        }
        if (file is null)
        {
            Console.Error.WriteLine("usage: dotnet CxrLab.Kernel.dll --connection-file FILE   (Jupyter starts it; install with ./cxr kernel install)");
            return 2;
        }
        return Run(file);
    }

    /// <summary>Runs the kernel for a connection file until a shutdown request.</summary>
    public static int Run(string connectionFile)
    {
        var log = Console.Error;
        try
        {
            using var server = new KernelServer(ConnectionInfo.Read(connectionFile), log);
            return server.Run();
        }
        catch (Exception e) when (e is InvalidDataException or FileNotFoundException or InvalidOperationException)
        {
            log.WriteLine($"cxr-kernel: {e.Message}");
            return 1;
        }
    }
}
