using CxrLab.Interop;

namespace CxrLab.Torch;

/// <summary>Disables gradient recording on this thread until disposed (torch.no_grad()).</summary>
public sealed class NoGradGuard : IDisposable
{
    readonly bool previous;
    bool disposed;
    internal NoGradGuard(bool enabled) { TorchRuntime.EnsureInitialized(); previous = Shim.Check(Shim.cxr_grad_set_enabled(enabled ? 1 : 0)) != 0; }
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        Shim.cxr_grad_set_enabled(previous ? 1 : 0);
    }
}

/// <summary>libtorch's inference mode on this thread until disposed (torch.inference_mode()); tensors
/// made inside cannot later join autograd. Dispose on the creating thread, innermost first.</summary>
public sealed class InferenceModeGuard : IDisposable
{
    IntPtr guard;
    internal InferenceModeGuard(bool enabled) { TorchRuntime.EnsureInitialized(); guard = Shim.CheckHandle(Shim.cxr_inference_mode_enter(enabled ? 1 : 0)); }
    public void Dispose()
    {
        if (guard == IntPtr.Zero) return;
        Shim.cxr_inference_mode_exit(guard);
        guard = IntPtr.Zero;
    }
}
