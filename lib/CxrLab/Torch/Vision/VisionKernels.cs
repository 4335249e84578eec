using CxrLab.Interop;

namespace CxrLab.Torch.Vision;

/// <summary>Which implementation computes NMS and RoIAlign for a tensor.</summary>
public enum VisionKernel
{
    /// <summary>Our C++ kernels (<c>torch_vision_ops.cpp</c>, ports of torchvision 0.14's CPU kernels): CPU tensors only.</summary>
    Native,
    /// <summary>torchvision's own kernels (<c>torchvision::nms</c>, <c>torchvision::roi_align</c>) from its compiled
    /// library, loaded with <see cref="VisionKernels.LoadTorchvision"/> or <c>CXR_TORCHVISION_LIB</c>.</summary>
    Torchvision,
    /// <summary>A composition of aten ops (<see cref="AtenVisionOps"/>) that runs on any device.</summary>
    Aten,
}

/// <summary>The device policy of NMS and RoIAlign: a tensor is computed where it lives, never copied to the host.
/// CPU tensors use our native kernels; a tensor on another device uses torchvision's kernels when a library with
/// a kernel for that device is loaded (a CUDA build of torchvision's <c>_C.so</c>, named by the environment
/// variable <c>CXR_TORCHVISION_LIB</c>, loaded on first use), else the aten composition.
/// <see cref="Use"/> overrides the choice for a scope (tests run the other paths on CPU with it); the environment
/// variable <c>CXR_VISION_KERNEL</c> (<c>native</c>, <c>torchvision</c> or <c>aten</c>) overrides it for the process,
/// e.g. to run a whole model through the composition on CPU, or to compare paths on a GPU machine.</summary>
public static class VisionKernels
{
    /// <summary>Environment variable naming torchvision's compiled library (<c>.../torchvision/_C.so</c>), loaded on first use.</summary>
    public const string TorchvisionLibraryVariable = "CXR_TORCHVISION_LIB";

    /// <summary>Environment variable forcing one kernel for every device: native, torchvision or aten.</summary>
    public const string KernelVariable = "CXR_VISION_KERNEL";

    static readonly object Gate = new();
    static readonly Lazy<VisionKernel?> ProcessOverride = new(() =>
    {
        var value = Environment.GetEnvironmentVariable(KernelVariable);
        if (string.IsNullOrWhiteSpace(value)) return null;
        return Enum.TryParse<VisionKernel>(value.Trim(), ignoreCase: true, out var kernel)
            ? kernel
            : throw new ArgumentException($"{KernelVariable}='{value}' is not a vision kernel: use native, torchvision or aten (or unset it)");
    });
    static bool environmentChecked;
    static readonly AsyncLocal<VisionKernel?> Forced = new();

    /// <summary>The library loaded with <see cref="LoadTorchvision"/> (or from <c>CXR_TORCHVISION_LIB</c>); null when none.</summary>
    public static string? TorchvisionLibrary { get; private set; }

    /// <summary>Loads torchvision's compiled library (<c>_C.so</c> of a torchvision built against the same libtorch),
    /// whose static initialisers register <c>torchvision::nms</c>, <c>torchvision::roi_align</c> (with autograd and
    /// autocast) in the dispatcher. Idempotent. A mismatched build fails here with the loader's message.</summary>
    public static void LoadTorchvision(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"torchvision library '{path}' does not exist (set {TorchvisionLibraryVariable} to the _C.so of a torchvision built for this libtorch)", path);
        lock (Gate)
        {
            if (TorchvisionLibrary == path) return;
            TorchRuntime.EnsureInitialized();
            Shim.Check(Shim.cxr_vision_load_library(path));
            TorchvisionLibrary = path;
        }
    }

    /// <summary>Whether torchvision's kernels for <paramref name="device"/> are registered (for both NMS and RoIAlign).</summary>
    public static bool TorchvisionAvailable(Device device)
    {
        LoadFromEnvironmentOnce();
        var key = DispatchKey(device);
        return HasKernel("torchvision::nms", key) && HasKernel("torchvision::roi_align", key);
    }

    /// <summary>The implementation used for tensors on <paramref name="device"/>: the override of <see cref="Use"/> if
    /// any, else that of <c>CXR_VISION_KERNEL</c>, else <see cref="VisionKernel.Native"/> on CPU, <see cref="VisionKernel.Torchvision"/> where its kernels are
    /// loaded, <see cref="VisionKernel.Aten"/> elsewhere.</summary>
    public static VisionKernel For(Device device)
    {
        if (Forced.Value is { } forced) return forced;
        if (ProcessOverride.Value is { } process) return process;
        if (device.Type == DeviceType.CPU) return VisionKernel.Native;
        return TorchvisionAvailable(device) ? VisionKernel.Torchvision : VisionKernel.Aten;
    }

    /// <summary>Throws unless torchvision's kernels for <paramref name="device"/> are registered (a forced
    /// <see cref="VisionKernel.Torchvision"/> without its library).</summary>
    public static void RequireTorchvision(Device device)
    {
        if (!TorchvisionAvailable(device))
            throw new InvalidOperationException(TorchvisionLibrary is null
                ? $"torchvision's kernels were asked for but its library is not loaded: set {TorchvisionLibraryVariable} to its _C.so"
                : $"torchvision's library '{TorchvisionLibrary}' has no {DispatchKey(device)} kernels for nms/roi_align");
    }

    /// <summary>Uses <paramref name="kernel"/> for every device until disposed (this async flow only). Native takes CPU
    /// tensors only; Torchvision needs its library loaded.</summary>
    public static IDisposable Use(VisionKernel kernel)
    {
        var previous = Forced.Value;
        Forced.Value = kernel;
        return new Restore(previous);
    }

    sealed class Restore(VisionKernel? previous) : IDisposable
    {
        bool done;
        public void Dispose()
        {
            if (done) return;
            done = true;
            Forced.Value = previous;
        }
    }

    static void LoadFromEnvironmentOnce()
    {
        if (Volatile.Read(ref environmentChecked)) return;
        // A bad path throws on every call (not once, then silently the composition).
        var path = Environment.GetEnvironmentVariable(TorchvisionLibraryVariable);
        if (!string.IsNullOrWhiteSpace(path)) LoadTorchvision(path);
        Volatile.Write(ref environmentChecked, true);
    }

    static string DispatchKey(Device device) => device.Type switch
    {
        DeviceType.CPU => "CPU",
        DeviceType.CUDA => "CUDA",
        var t => throw new NotSupportedException($"no dispatch key known for device type {t}"),
    };

    static bool HasKernel(string op, string key)
    {
        TorchRuntime.EnsureInitialized();
        return Shim.Check(Shim.cxr_op_has_kernel(op, "", key)) == 1;
    }
}
