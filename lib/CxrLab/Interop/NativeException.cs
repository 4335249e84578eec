namespace CxrLab.Interop;

/// <summary>A native library (libtorch, OpenCV, the shim itself) reported an error.
/// The message is the native library's own, without its C++ backtrace.</summary>
public class NativeException : Exception
{
    public NativeException(string component, string message) : base(message) => Component = component;

    /// <summary>Which native component raised it: "libtorch", "opencv" or "native".</summary>
    public string Component { get; }
}

/// <summary>libtorch raised an error (shape mismatch, unknown operator, out of memory, ...).</summary>
public sealed class TorchException(string message) : NativeException("libtorch", message);

/// <summary>OpenCV raised an error (bad image size, unsupported depth, ...).</summary>
public sealed class OpenCvException(string message) : NativeException("opencv", message);
