using System.Diagnostics;
using CxrLab.Dicom;
using CxrLab.Dicom.Cache;

namespace CxrLab.Tests.Dicom;

/// <summary>Out-of-process conversion: a file whose decoding kills the worker is listed as "decoder crashed" and the run
/// goes on with a new worker, whose PNGs equal in-process ones. The files that used to abort GDCM (real crashers, checked
/// to kill python3-gdcm) now fail cleanly in-process, so the dying worker here is the real worker behind a proxy that
/// calls abort() when asked for a file named "*crash*" — the crash is a real SIGABRT of a worker process.</summary>
public sealed class ImageCacheWorkerTests : IDisposable
{
    readonly string root = Directory.CreateTempSubdirectory("cxr-worker-").FullName;

    static readonly string[] Crashers = ["gdcm_abort_j2k.dcm", "gdcm_abort_jpeg_lossless.dcm"];

    /// <summary>The CLI built beside this test project (the worker is its hidden `dicom convert-worker` verb).</summary>
    static string CliDll()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Research.sln"))) dir = dir.Parent;
        Assert.NotNull(dir);
        var dll = Path.Combine(dir.FullName, "lib", "CxrLab.Cli", "bin", "Release", "net10.0", "cxr.dll");
        Assert.True(File.Exists(dll), $"{dll} is missing: build the solution in Release first");
        return dll;
    }

    [Fact]
    public void The_fixtures_really_crash_gdcm_in_process()
    {
        foreach (var name in Crashers)
        {
            var start = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardError = true, RedirectStandardOutput = true };
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add("import gdcm,sys\nr=gdcm.ImageReader(); r.SetFileName(sys.argv[1])\nif r.Read(): r.GetImage().GetBuffer()\n");
            start.ArgumentList.Add(FixtureFile.PathOf(Path.Combine("dicom_crash", name)));
            using var p = Process.Start(start)!;
            p.StandardError.ReadToEnd();
            p.WaitForExit();
            Assert.True(p.ExitCode is 134 or 139 or < 0, $"{name}: python3-gdcm exited with {p.ExitCode}, expected a crash (SIGABRT/SIGSEGV)");
        }
    }

    [Fact]
    public void The_former_crashers_are_clean_exceptions_in_process()
    {
        foreach (var name in Crashers)
        {
            var path = FixtureFile.PathOf(Path.Combine("dicom_crash", name));
            var e = Assert.Throws<DicomException>(() =>
            {
                using var dicom = DicomImage.Open(path);
                dicom.ReadRaw(DicomImage.AllFrames);
            });
            Assert.Equal(path, e.Path);
            Assert.Contains("JPEG", e.Reason);
        }
    }

    /// <summary>Stands between the converter and the real worker; aborts (SIGABRT) on a request for a "*crash*" file.</summary>
    const string AbortingProxy = """
        import json, os, subprocess, sys
        worker = subprocess.Popen(sys.argv[1:], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for line in sys.stdin:
            if line.strip() and "crash" in os.path.basename(json.loads(line)["File"]):
                os.abort()
            worker.stdin.write(line); worker.stdin.flush()
            sys.stdout.write(worker.stdout.readline()); sys.stdout.flush()
        """;

    [Fact]
    public void A_file_that_crashes_the_decoder_is_listed_and_the_run_goes_on()
    {
        var data = Path.Combine(root, "data");
        Directory.CreateDirectory(data);
        // Ordinal order: crasher, good, crasher, good, not-DICOM — each crash must be followed by a working worker.
        File.Copy(FixtureFile.PathOf(Path.Combine("dicom_crash", Crashers[0])), Path.Combine(data, "a_crash.dcm"));
        File.Copy(FixtureFile.PathOf(Path.Combine("dicom", "mono2_u12_window__jpegls_lossless.dcm")), Path.Combine(data, "b_good.dcm"));
        File.Copy(FixtureFile.PathOf(Path.Combine("dicom_crash", Crashers[1])), Path.Combine(data, "c_crash.dcm"));
        File.Copy(FixtureFile.PathOf(Path.Combine("dicom", "mono1_u12_voilut__explicit_le.dcm")), Path.Combine(data, "d_good.dcm"));
        File.WriteAllText(Path.Combine(data, "e_broken.dcm"), "not a DICOM file");

        var baseOptions = new ImageCacheOptions { Size = 64, Threads = 1 };
        var options = baseOptions with
        {
            WorkerCommand = ["/usr/bin/python3", "-c", AbortingProxy, "dotnet", CliDll(), .. ImageCacheWorker.WorkerArguments(baseOptions)],
        };
        var report = ImageCacheConverter.Convert(data, Path.Combine(root, "out"), options);

        Assert.Equal((5, 2, 3), (report.Total, report.Converted, report.Failed));
        var errors = File.ReadAllLines(report.ErrorsCsv).Skip(1).ToDictionary(l => l.Split(',')[0], l => l);
        Assert.Contains(ImageCacheWorker.CrashReason, errors["a_crash"]);
        Assert.Contains(ImageCacheWorker.CrashReason, errors["c_crash"]);
        Assert.DoesNotContain(ImageCacheWorker.CrashReason, errors["e_broken"]);
        Assert.Contains("not a DICOM", errors["e_broken"]);

        // The worker's PNGs and rows equal an in-process conversion of the good files.
        var rows = ImageCacheConverter.ReadMeta(report.MetaCsv).ToDictionary(r => r.ImageId);
        foreach (var id in new[] { "b_good", "d_good" })
        {
            var expectedPng = Path.Combine(root, id + "_inprocess.png");
            var expected = ImageCacheConverter.ConvertOne(Path.Combine(data, id + ".dcm"), id + ".dcm", expectedPng, id + ".png", baseOptions);
            Assert.Equal(expected, rows[id]);
            Assert.Equal(File.ReadAllBytes(expectedPng), File.ReadAllBytes(Path.Combine(root, "out", id + ".png")));
        }
    }

    public void Dispose() => Directory.Delete(root, recursive: true);
}
