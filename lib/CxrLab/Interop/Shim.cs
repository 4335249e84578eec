using System.Runtime.InteropServices;

namespace CxrLab.Interop;

/// <summary>P/Invoke declarations of the native shim and the checks every call goes through.
/// Functions return -1 (status) or null (handle) on failure; <see cref="Check(int)"/> turns that into
/// a typed exception carrying the native message.</summary>
internal static partial class Shim
{
    [DllImport(NativeLibraries.Shim)] static extern IntPtr cxr_last_error();
    [DllImport(NativeLibraries.Shim)] static extern IntPtr cxr_last_error_component();

    /// <summary>Throws the pending native error if <paramref name="status"/> is negative.</summary>
    public static int Check(int status) => status < 0 ? throw LastError() : status;

    public static long Check(long status) => status < 0 ? throw LastError() : status;

    public static IntPtr CheckHandle(IntPtr handle) => handle == IntPtr.Zero ? throw LastError() : handle;

    public static Exception LastError()
    {
        var message = Marshal.PtrToStringUTF8(cxr_last_error()) ?? "";
        var component = Marshal.PtrToStringUTF8(cxr_last_error_component()) ?? "native";
        if (message.Length == 0) message = "native call failed without a message";
        return component switch
        {
            "libtorch" => new TorchException(message),
            "opencv" => new OpenCvException(message),
            _ => new NativeException(component, message),
        };
    }
}
