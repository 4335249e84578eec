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
            new Thread(() => Pump(readEnd, name, publish)) { IsBackground = true, Name = $"native-{name}" }.Start();
        }
        var log = new StreamWriter(new FileStream(new SafeFileHandle(savedErr, ownsHandle: true), FileAccess.Write), new UTF8Encoding(false))
        {
            AutoFlush = true,
        };
        return log;
    }

    static void Pump(int fd, string name, Action<string, string> publish)
    {
        var decoder = Encoding.UTF8.GetDecoder();
        var bytes = new byte[8192];
        var chars = new char[8192 + 4];
        while (true)
        {
            nint n;
            fixed (byte* p = bytes) n = read(fd, p, bytes.Length);
            if (n < 0 && Marshal.GetLastPInvokeError() == 4) continue; // EINTR
            if (n <= 0) return;
            var count = decoder.GetChars(bytes, 0, (int)n, chars, 0, flush: false);
            if (count > 0) publish(name, new string(chars, 0, count));
        }
    }
}
