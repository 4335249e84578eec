using System.Runtime.InteropServices;
using CxrLab.Interop;

namespace CxrLab.Torch;

/// <summary>Process-wide libtorch settings and facts. The first use sets the intra-op thread
/// count to the core count (libtorch on Debian starts at 1), or to <c>CXR_THREADS</c> when set.</summary>
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
