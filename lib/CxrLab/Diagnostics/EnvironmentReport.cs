using System.Runtime.InteropServices;
using CxrLab.Imaging;
using CxrLab.Interop;
using CxrLab.Torch;

namespace CxrLab.Diagnostics;

public enum CheckStatus { Ok, Warn, Fail }

/// <summary>One component of the environment: its version or measurement, and whether it is healthy.</summary>
public sealed record ComponentCheck(string Name, string Value, CheckStatus Status, string? Advice = null);

/// <summary>What `./cxr doctor` reports: versions of every native component, the BLAS libtorch uses
/// and its measured GEMM rate, threads and CUDA devices.</summary>
public sealed record EnvironmentReport(IReadOnlyList<ComponentCheck> Checks, IReadOnlyDictionary<string, object?> Facts)
{
    /// <summary>Below this many GFLOP/s libtorch is almost surely on reference BLAS.</summary>
    public const double MinimumGemmGflops = 20;

    public bool Healthy => Checks.All(c => c.Status != CheckStatus.Fail);

    public static EnvironmentReport Collect()
    {
        var checks = new List<ComponentCheck>();
        var facts = new Dictionary<string, object?>();

        checks.Add(new(".NET", $"{Environment.Version} ({RuntimeInformation.OSDescription.Trim()}, {RuntimeInformation.ProcessArchitecture})", CheckStatus.Ok));
        facts["dotnet"] = Environment.Version.ToString();
        facts["cores"] = Environment.ProcessorCount;

        Probe(checks, "libtorch", () =>
        {
            var cuda = TorchRuntime.CudaDeviceCount;
            var build = cuda > 0 || TorchRuntime.BuildConfig.Contains("USE_CUDA=ON", StringComparison.Ordinal) ? "CUDA" : "CPU";
            var onednn = TorchRuntime.HasOneDnn ? "oneDNN on" : "oneDNN off";
            facts["torch_version"] = TorchRuntime.Version;
            facts["torch_build"] = build;
            facts["onednn"] = TorchRuntime.HasOneDnn;
            return new($"{TorchRuntime.Version} ({build}, {onednn})", CheckStatus.Ok);
        });

        Probe(checks, "BLAS", () =>
        {
            var gflops = TorchRuntime.MeasureGemmGflops();
            var blasPath = LoadedBlasLibrary();
            var blas = blasPath is null ? "unknown BLAS" : $"{BlasKind(blasPath)} ({Path.GetFileName(blasPath)})";
            facts["blas"] = blasPath is null ? null : BlasKind(blasPath);
            facts["blas_library"] = blasPath;
            facts["blas_gflops"] = Math.Round(gflops, 1);
            return gflops >= MinimumGemmGflops
                ? new($"{blas}, SGEMM {gflops:F1} GFLOP/s", CheckStatus.Ok)
                : new($"{blas}, SGEMM {gflops:F1} GFLOP/s", CheckStatus.Warn,
                    $"below {MinimumGemmGflops} GFLOP/s: install libopenblas0-pthread (apt-get install libopenblas0-pthread) so libblas.so.3 points at OpenBLAS");
        });

        Probe(checks, "threads", () =>
        {
            var threads = TorchRuntime.Threads;
            facts["threads"] = threads;
            var source = Environment.GetEnvironmentVariable("CXR_THREADS") is { Length: > 0 } ? "from CXR_THREADS" : "= cores";
            return new($"{threads} intra-op ({source}, {Environment.ProcessorCount} cores)", CheckStatus.Ok);
        });

        Probe(checks, "OpenCV", () =>
        {
            facts["opencv_version"] = OpenCv.Version;
            return new(OpenCv.Version, CheckStatus.Ok);
        });

        Probe(checks, "GDCM", () =>
        {
            var version = gdcm.Version.GetVersion();
            facts["gdcm_version"] = version;
            return new(version, CheckStatus.Ok);
        }, "install libgdcm-cil (apt-get install libgdcm-cil), or run ./cxr which installs it");

        Probe(checks, "ZeroMQ", () =>
        {
            var version = ZeroMqVersion();
            facts["zmq_version"] = version;
            return new(version, CheckStatus.Ok);
        }, "install libzmq3-dev (apt-get install libzmq3-dev), or run ./cxr which installs it");

        Probe(checks, "CUDA", () =>
        {
            var count = TorchRuntime.CudaDeviceCount;
            facts["cuda_devices"] = count;
            return new(count == 0 ? "no devices (CPU only)" : $"{count} device(s)", CheckStatus.Ok);
        });

        return new(checks, facts);
    }

    readonly record struct ProbeResult(string Value, CheckStatus Status, string? Advice = null);

    static void Probe(List<ComponentCheck> checks, string name, Func<ProbeResult> probe, string? adviceOnFailure = null)
    {
        try
        {
            var (value, status, advice) = probe();
            checks.Add(new(name, value, status, advice));
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or NativeException or TypeInitializationException or FileNotFoundException)
        {
            checks.Add(new(name, "unavailable", CheckStatus.Fail, $"{e.GetBaseException().Message}{(adviceOnFailure is null ? "" : " — " + adviceOnFailure)}"));
        }
    }

    /// <summary>The BLAS shared object mapped into this process (after libtorch ran a GEMM), as the real file behind
    /// Debian's alternatives symlinks (the kernel maps the resolved path).</summary>
    public static string? LoadedBlasLibrary()
    {
        const string maps = "/proc/self/maps";
        if (!File.Exists(maps)) return null;
        var paths = File.ReadLines(maps)
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(f => f.Length >= 6 && f[5].StartsWith('/'))
            .Select(f => f[5])
            .Distinct()
            .ToList();
        var blas = paths.FirstOrDefault(p => Path.GetFileName(p).Contains("openblas", StringComparison.OrdinalIgnoreCase))
                   ?? paths.FirstOrDefault(p => Path.GetFileName(p).StartsWith("libblas", StringComparison.Ordinal))
                   ?? paths.FirstOrDefault(p => Path.GetFileName(p).Contains("mkl", StringComparison.OrdinalIgnoreCase));
        return blas;
    }

    static string BlasKind(string path) =>
        path.Contains("openblas", StringComparison.OrdinalIgnoreCase) ? "OpenBLAS"
        : path.Contains("mkl", StringComparison.OrdinalIgnoreCase) ? "MKL"
        : path.Contains("atlas", StringComparison.OrdinalIgnoreCase) ? "ATLAS"
        : "reference BLAS";

    [DllImport(NativeLibraries.Zmq)] static extern void zmq_version(out int major, out int minor, out int patch);

    static string ZeroMqVersion()
    {
        zmq_version(out var major, out var minor, out var patch);
        return $"{major}.{minor}.{patch}";
    }
}
