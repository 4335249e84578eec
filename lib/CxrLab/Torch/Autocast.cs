using CxrLab.Interop;

namespace CxrLab.Torch;

/// <summary>An autocast region (PyTorch's <c>torch.autocast</c> context manager): while open, ops on
/// this thread run in the lower precision where libtorch's autocast lists allow it (matmul, conv in
/// float16/bfloat16; reductions, losses, norms in float32). Create with <see cref="torch.autocast"/>;
/// dispose restores the previous enabled flag, dtype and cache setting, and the outermost exit clears
/// the cache of weights cast inside. Dispose on the creating thread, innermost first. Run backward
/// outside the region, as PyTorch recommends: the backward ops follow the forward's dtypes.</summary>
public sealed class AutocastScope : IDisposable
{
    readonly int device;
    readonly bool previousEnabled;
    readonly int previousDtype;
    readonly bool previousCache;
    bool disposed;

    internal AutocastScope(DeviceType device, ScalarType dtype, bool enabled, bool cacheEnabled)
    {
        TorchRuntime.EnsureInitialized();
        this.device = (int)device;
        // Same order as torch.autocast.__enter__: save, set flag and dtype, nest, set the cache switch.
        previousCache = Shim.Check(Shim.cxr_autocast_is_cache_enabled()) != 0;
        previousEnabled = Shim.Check(Shim.cxr_autocast_is_enabled(this.device)) != 0;
        previousDtype = Shim.Check(Shim.cxr_autocast_get_dtype(this.device));
        Shim.Check(Shim.cxr_autocast_set_enabled(this.device, enabled ? 1 : 0));
        Shim.Check(Shim.cxr_autocast_set_dtype(this.device, (int)dtype));
        Shim.Check(Shim.cxr_autocast_increment_nesting());
        Shim.Check(Shim.cxr_autocast_set_cache_enabled(cacheEnabled ? 1 : 0));
        Device = device;
        Dtype = dtype;
        Enabled = enabled;
    }

    public DeviceType Device { get; }
    public ScalarType Dtype { get; }
    public bool Enabled { get; }

    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        if (Shim.Check(Shim.cxr_autocast_decrement_nesting()) == 0) Shim.Check(Shim.cxr_autocast_clear_cache());
        Shim.Check(Shim.cxr_autocast_set_enabled(device, previousEnabled ? 1 : 0));
        Shim.Check(Shim.cxr_autocast_set_dtype(device, previousDtype));
        Shim.Check(Shim.cxr_autocast_set_cache_enabled(previousCache ? 1 : 0));
    }
}

#pragma warning disable CS8981 // PyTorch spelling on purpose
public static partial class torch
#pragma warning restore CS8981
{
    /// <summary><c>using (torch.autocast(DeviceType.CUDA)) { loss = model(x) }</c>: mixed precision
    /// for ops on <paramref name="device_type"/> tensors. <paramref name="dtype"/> defaults as in
    /// PyTorch: float16 on CUDA, bfloat16 on CPU (libtorch 1.13's CPU autocast supports bfloat16
    /// only). <paramref name="enabled"/> false opens a region with autocast off (to run a sub-block in
    /// float32 inside an autocast region). <paramref name="cache_enabled"/> (default on) reuses the
    /// low-precision copy of each weight within the outermost region.</summary>
    public static AutocastScope autocast(DeviceType device_type, ScalarType? dtype = null, bool enabled = true, bool cache_enabled = true)
    {
        var fast = dtype ?? (device_type == DeviceType.CUDA ? ScalarType.Float16 : ScalarType.BFloat16);
        if (device_type == DeviceType.CPU && fast != ScalarType.BFloat16)
            throw new ArgumentException($"CPU autocast supports only bfloat16 in libtorch 1.13, got {fast}; omit dtype or pass ScalarType.BFloat16", nameof(dtype));
        if (device_type == DeviceType.CUDA && fast is not (ScalarType.Float16 or ScalarType.BFloat16))
            throw new ArgumentException($"CUDA autocast casts to float16 or bfloat16, got {fast}", nameof(dtype));
        return new AutocastScope(device_type, fast, enabled, cache_enabled);
    }

    /// <summary>Whether autocast is on for <paramref name="device_type"/> on this thread
    /// (torch.is_autocast_enabled / torch.is_autocast_cpu_enabled).</summary>
    public static bool is_autocast_enabled(DeviceType device_type = DeviceType.CUDA)
    {
        TorchRuntime.EnsureInitialized();
        return Shim.Check(Shim.cxr_autocast_is_enabled((int)device_type)) != 0;
    }

    /// <summary>The dtype autocast casts to on <paramref name="device_type"/> (torch.get_autocast_gpu_dtype / get_autocast_cpu_dtype).</summary>
    public static ScalarType get_autocast_dtype(DeviceType device_type)
    {
        TorchRuntime.EnsureInitialized();
        return (ScalarType)Shim.Check(Shim.cxr_autocast_get_dtype((int)device_type));
    }

    public static bool is_autocast_cache_enabled()
    {
        TorchRuntime.EnsureInitialized();
        return Shim.Check(Shim.cxr_autocast_is_cache_enabled()) != 0;
    }
}
