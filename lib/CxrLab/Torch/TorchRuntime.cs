using System.Runtime.InteropServices;
using CxrLab.Interop;

namespace CxrLab.Torch;

/// <summary>Process-wide libtorch settings and facts. The first use sets the intra-op thread
/// count to the core count (libtorch on Debian starts at 1), or to <c>CXR_THREADS</c> when set, and
/// the native heap policy (<see cref="HeapPolicy"/>, <c>CXR_NATIVE_HEAP</c>).</summary>
public static class TorchRuntime
{
    static readonly object Gate = new();
    static bool initialized;

    /// <summary>Applies the thread policy once; every entry point into libtorch calls this.</summary>
    public static void EnsureInitialized()
    {
        if (initialized) return;
        lock (Gate)
        {
            if (initialized) return;
            Shim.Check(Shim.cxr_torch_set_num_threads(DefaultThreadCount()));
            heapPolicy = DefaultHeapPolicy();
            Shim.Check(Shim.cxr_native_set_heap_policy(heapPolicy == HeapPolicy.Retain ? 1 : 0));
            initialized = true;
        }
    }

    /// <summary><c>CXR_THREADS</c> when it is a positive integer, else the core count.</summary>
    public static int DefaultThreadCount()
    {
        var env = Environment.GetEnvironmentVariable("CXR_THREADS");
        if (string.IsNullOrWhiteSpace(env)) return Environment.ProcessorCount;
        if (int.TryParse(env, out var n) && n > 0) return n;
        throw new ArgumentException($"CXR_THREADS must be a positive integer, got '{env}'. Unset it to use all {Environment.ProcessorCount} cores.");
    }

    /// <summary><c>CXR_NATIVE_HEAP</c>: <c>retain</c> (default) or <c>os</c>.</summary>
    public static HeapPolicy DefaultHeapPolicy()
    {
        var env = Environment.GetEnvironmentVariable("CXR_NATIVE_HEAP");
        if (string.IsNullOrWhiteSpace(env) || env.Equals("retain", StringComparison.OrdinalIgnoreCase)) return HeapPolicy.Retain;
        if (env.Equals("os", StringComparison.OrdinalIgnoreCase)) return HeapPolicy.ReturnToOs;
        throw new ArgumentException($"CXR_NATIVE_HEAP must be 'retain' or 'os', got '{env}'. Unset it for the default (retain).");
    }

    /// <summary>How the native heap treats freed tensor memory (see <see cref="HeapPolicy"/>); settable at any time.</summary>
    public static HeapPolicy NativeHeap
    {
        get { EnsureInitialized(); return heapPolicy; }
        set { EnsureInitialized(); Shim.Check(Shim.cxr_native_set_heap_policy(value == HeapPolicy.Retain ? 1 : 0)); heapPolicy = value; }
    }
    static HeapPolicy heapPolicy = HeapPolicy.Retain;

    /// <summary>Gives free native heap memory back to the operating system, e.g. after training in a
    /// notebook under the <see cref="HeapPolicy.Retain"/> policy. True when memory was released.</summary>
    public static bool ReleaseFreeMemory() { EnsureInitialized(); return Shim.Check(Shim.cxr_native_release_free_memory()) == 1; }

    /// <summary>glibc's heap accounting: bytes allocated and not yet freed (<c>InUse</c>, heap plus mapped
    /// blocks), bytes in separately mapped blocks (<c>Mapped</c>) and free bytes the heap holds for reuse
    /// (<c>Free</c>); -1 on other C libraries.</summary>
    public static (long InUse, long Mapped, long Free) NativeHeapStats()
    {
        EnsureInitialized();
        Shim.Check(Shim.cxr_native_heap_stats(out var inUse, out var mapped, out var free));
        return inUse < 0 ? (-1, -1, -1) : (inUse + mapped, mapped, free);
    }

    /// <summary>libtorch's intra-op thread count.</summary>
    public static int Threads
    {
        get { EnsureInitialized(); return Shim.Check(Shim.cxr_torch_get_num_threads()); }
        set { EnsureInitialized(); Shim.Check(Shim.cxr_torch_set_num_threads(value)); }
    }

    public static string Version => Marshal.PtrToStringUTF8(Shim.cxr_torch_version()) ?? "";

    /// <summary>libtorch's build configuration (<c>at::show_config()</c>).</summary>
    public static string BuildConfig
    {
        get
        {
            var length = Shim.Check(Shim.cxr_torch_config(null, 0));
            var buffer = new byte[length + 1];
            Shim.Check(Shim.cxr_torch_config(buffer, buffer.Length));
            return System.Text.Encoding.UTF8.GetString(buffer, 0, (int)length);
        }
    }

    public static bool HasOneDnn => Shim.cxr_torch_has_mkldnn() != 0;

    public static int CudaDeviceCount => Shim.Check(Shim.cxr_torch_cuda_device_count());

    /// <summary>Single-precision matrix-multiply rate in GFLOP/s (n×n, best of <paramref name="reps"/>).</summary>
    public static double MeasureGemmGflops(int n = 1024, int reps = 5)
    {
        EnsureInitialized();
        var rate = Shim.cxr_torch_gemm_gflops(n, reps);
        return rate < 0 ? throw Shim.LastError() : rate;
    }
}

/// <summary>What the native heap does with freed tensor memory.</summary>
public enum HeapPolicy
{
    /// <summary>Keep it for reuse: no per-allocation mappings, no trimming. A training loop then runs
    /// without page faults after its first step; resident memory stays at the peak until
    /// <see cref="TorchRuntime.ReleaseFreeMemory"/>. The default (<c>CXR_NATIVE_HEAP=retain</c>).</summary>
    Retain,
    /// <summary>glibc's defaults: large blocks mapped per allocation, the heap top trimmed when free
    /// (<c>CXR_NATIVE_HEAP=os</c>).</summary>
    ReturnToOs,
}
