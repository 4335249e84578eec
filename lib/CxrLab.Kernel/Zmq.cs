using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using CxrLab.Interop;

namespace CxrLab.Kernel;

/// <summary>The part of libzmq (libzmq.so.5, Debian's libzmq3-dev / libzmq5) the kernel needs,
/// through P/Invoke: context, sockets, bind, multipart send/receive, poll.</summary>
internal static unsafe partial class ZmqNative
{
    public const int PUB = 1, REP = 4, ROUTER = 6;
    public const int SNDMORE = 2, DONTWAIT = 1;
    public const int POLLIN = 1;
    public const int LINGER = 17, SNDHWM = 23, RCVHWM = 24;
    public const int EINTR = 4, EAGAIN = 11;
    public const int ETERM = 156384712 + 53;

    [StructLayout(LayoutKind.Sequential)]
    public struct PollItem
    {
        public IntPtr Socket;
        public int Fd;
        public short Events;
        public short Revents;
    }

    [DllImport(NativeLibraries.Zmq)] public static extern IntPtr zmq_ctx_new();
    [DllImport(NativeLibraries.Zmq)] public static extern int zmq_ctx_term(IntPtr context);
    [DllImport(NativeLibraries.Zmq)] public static extern int zmq_ctx_shutdown(IntPtr context);
    [DllImport(NativeLibraries.Zmq)] public static extern IntPtr zmq_socket(IntPtr context, int type);
    [DllImport(NativeLibraries.Zmq)] public static extern int zmq_close(IntPtr socket);
    [DllImport(NativeLibraries.Zmq)] public static extern int zmq_bind(IntPtr socket, byte* endpoint);
    [DllImport(NativeLibraries.Zmq)] public static extern int zmq_setsockopt(IntPtr socket, int option, void* value, nuint length);
    [DllImport(NativeLibraries.Zmq)] public static extern int zmq_send(IntPtr socket, void* buffer, nuint length, int flags);
    [DllImport(NativeLibraries.Zmq)] public static extern int zmq_msg_init(void* message);
    [DllImport(NativeLibraries.Zmq)] public static extern int zmq_msg_recv(void* message, IntPtr socket, int flags);
    [DllImport(NativeLibraries.Zmq)] public static extern void* zmq_msg_data(void* message);
    [DllImport(NativeLibraries.Zmq)] public static extern nuint zmq_msg_size(void* message);
    [DllImport(NativeLibraries.Zmq)] public static extern int zmq_msg_more(void* message);
    [DllImport(NativeLibraries.Zmq)] public static extern int zmq_msg_close(void* message);
    [DllImport(NativeLibraries.Zmq)] public static extern int zmq_poll(PollItem* items, int count, long timeoutMs);
    [DllImport(NativeLibraries.Zmq)] public static extern int zmq_errno();
    [DllImport(NativeLibraries.Zmq)] public static extern IntPtr zmq_strerror(int errnum);
    [DllImport(NativeLibraries.Zmq)] public static extern void zmq_version(out int major, out int minor, out int patch);

    public static string LastError() => Marshal.PtrToStringUTF8(zmq_strerror(zmq_errno())) ?? "unknown ZeroMQ error";

    // This assembly's P/Invokes need their own resolver: the one in CxrLab covers CxrLab's only.
#pragma warning disable CA2255
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void RegisterResolver() =>
        NativeLibrary.SetDllImportResolver(typeof(ZmqNative).Assembly, (name, _, _) =>
            name == NativeLibraries.Zmq && NativeLibrary.TryLoad("libzmq.so.5", out var handle) ? handle : IntPtr.Zero);
}

/// <summary>A ZeroMQ socket. Not thread-safe: each socket is used by one thread at a time.</summary>
internal sealed unsafe class ZmqSocket : IDisposable
{
    IntPtr handle;

    public ZmqSocket(IntPtr context, int type, string name)
    {
        Name = name;
        handle = ZmqNative.zmq_socket(context, type);
        if (handle == IntPtr.Zero) throw new InvalidOperationException($"zmq_socket({name}) failed: {ZmqNative.LastError()}");
        SetInt(ZmqNative.LINGER, 1000);
    }

    public string Name { get; }
    public IntPtr Handle => handle;

    public void SetInt(int option, int value)
    {
        if (ZmqNative.zmq_setsockopt(handle, option, &value, sizeof(int)) != 0)
            throw new InvalidOperationException($"zmq_setsockopt({Name}, {option}) failed: {ZmqNative.LastError()}");
    }

    public void Bind(string endpoint)
    {
        var bytes = Encoding.UTF8.GetBytes(endpoint + "\0");
        fixed (byte* p = bytes)
            if (ZmqNative.zmq_bind(handle, p) != 0)
                throw new InvalidOperationException($"cannot bind the {Name} socket to {endpoint}: {ZmqNative.LastError()} (is another kernel using that port?)");
    }

    /// <summary>Sends all frames as one multipart message (blocking).</summary>
    public void Send(IReadOnlyList<byte[]> frames)
    {
        for (var i = 0; i < frames.Count; i++)
        {
            var flags = i < frames.Count - 1 ? ZmqNative.SNDMORE : 0;
            fixed (byte* p = frames[i])
            {
                while (ZmqNative.zmq_send(handle, p, (nuint)frames[i].Length, flags) < 0)
                {
                    var errno = ZmqNative.zmq_errno();
                    if (errno == ZmqNative.EINTR) continue;
                    throw new InvalidOperationException($"zmq_send({Name}) failed: {ZmqNative.LastError()}");
                }
            }
        }
    }

    /// <summary>Waits up to <paramref name="timeoutMs"/> for a message; true when one can be received.</summary>
    public bool Poll(int timeoutMs)
    {
        var item = new ZmqNative.PollItem { Socket = handle, Events = ZmqNative.POLLIN };
        var n = ZmqNative.zmq_poll(&item, 1, timeoutMs);
        if (n < 0)
        {
            if (ZmqNative.zmq_errno() == ZmqNative.EINTR) return false;
            throw new InvalidOperationException($"zmq_poll({Name}) failed: {ZmqNative.LastError()}");
        }
        return n > 0 && (item.Revents & ZmqNative.POLLIN) != 0;
    }

    /// <summary>Receives one multipart message (blocking).</summary>
    public List<byte[]> Receive()
    {
        var frames = new List<byte[]>();
        var message = stackalloc byte[64]; // zmq_msg_t is 64 bytes
        while (true)
        {
            ZmqNative.zmq_msg_init(message);
            int size;
            while ((size = ZmqNative.zmq_msg_recv(message, handle, 0)) < 0)
            {
                if (ZmqNative.zmq_errno() == ZmqNative.EINTR) continue;
                var error = ZmqNative.LastError();
                ZmqNative.zmq_msg_close(message);
                throw new InvalidOperationException($"zmq_msg_recv({Name}) failed: {error}");
            }
            var frame = new byte[(int)ZmqNative.zmq_msg_size(message)];
            new ReadOnlySpan<byte>(ZmqNative.zmq_msg_data(message), frame.Length).CopyTo(frame);
            frames.Add(frame);
            var more = ZmqNative.zmq_msg_more(message) != 0;
            ZmqNative.zmq_msg_close(message);
            if (!more) return frames;
        }
    }

    public void Dispose()
    {
        if (handle == IntPtr.Zero) return;
        ZmqNative.zmq_close(handle);
        handle = IntPtr.Zero;
    }
}
