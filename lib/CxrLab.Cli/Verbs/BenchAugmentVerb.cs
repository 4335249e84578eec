using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using CxrLab.Augment;
using CxrLab.Data;
using CxrLab.Imaging;
using Spectre.Console;

namespace CxrLab.Cli.Verbs;

/// <summary>`cxr bench augment [--json]`: samples/s of a typical training pipeline on 1024² 16-bit images
/// (16-bit → float, RSNA-seed affine, horizontal flip p=0.5, 8-bit CLAHE, brightness, Gaussian blur, noise),
/// against the same OpenCV operations driven from python3-opencv in the same run, plus the online loader's rate.</summary>
public static class BenchAugmentVerb
{
    const int Size = 1024;

    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "print one JSON object as the last line" };
        var samples = new Option<int>("--samples") { Description = "timed samples per side", DefaultValueFactory = _ => 24 };
        var workers = new Option<int>("--workers") { Description = "loader worker threads", DefaultValueFactory = _ => Environment.ProcessorCount };
        var command = new Command("augment", "Augmentation throughput on 1024² 16-bit images vs python3-opencv (samples/s)") { json, samples, workers };
        command.SetAction(parse => Run(parse.GetValue(json), Math.Max(4, parse.GetValue(samples)), Math.Max(1, parse.GetValue(workers))));
        return command;
    }

    static Pipeline Typical() => new(new Sequential(
        new Affine(),
        new Sometimes(0.5, new Flip()),
        new Clahe(2.0, 8, 8),
        new Multiply((0.85, 1.15)),
        new GaussianBlur((0.5, 1.0)),
        new GaussianNoise(0.01)));

    /// <summary>Samples held as 16-bit pixels, converted to float on every Get like a PNG cache read.</summary>
    sealed class U16Source(IReadOnlyList<ushort[]> images) : ISampleSource
    {
        public int Count => images.Count;
        public IReadOnlyList<int> LabelsOf(int index) => [3, 0];
        public Sample Get(int index)
        {
            var image = new Image(Size, Size);
            OpenCv.Convert<ushort, float>(images[index], Size, Size, 1, image.Data, 1.0 / 65535);
            return Sample.Of(image, [new Box(300, 400, 700, 800), new Box(100, 100, 250, 260)], [3, 0]);
        }
    }

    static int Run(bool json, int count, int workers)
    {
        var random = new Random(0);
        var images = Enumerable.Range(0, 4).Select(_ =>
        {
            var noise = new float[Size * Size];
            for (var i = 0; i < noise.Length; i++) noise[i] = (float)(random.NextDouble() * 65535);
            var smooth = new float[noise.Length];
            OpenCv.GaussianBlur<float>(noise, Size, Size, 1, smooth, 8);
            var u16 = new ushort[noise.Length];
            OpenCv.Convert<float, ushort>(smooth, Size, Size, 1, u16);
            return u16;
        }).ToList();
        var source = new U16Source(images);
        var pipeline = Typical();

        // Single-threaded C#: the same loop the Python side runs.
        for (var i = 0; i < 2; i++) pipeline.Run(source.Get(i % 4), (ulong)i);
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < count; i++) pipeline.Run(source.Get(i % 4), SampleSeed.Of(1, 0, i));
        var csharp = count / watch.Elapsed.TotalSeconds;

        // The online loader over the same source (all workers, prefetching).
        var loaderSource = new U16Source(Enumerable.Range(0, count).Select(i => images[i % 4]).ToList());
        var loader = new AugmentLoader(loaderSource, pipeline, seed: 1, workers: workers, prefetch: 2 * workers);
        watch.Restart();
        var served = loader.Epoch(0).Count();
        var loaderRate = served / watch.Elapsed.TotalSeconds;

        var python = RunPython(count);
        var ratio = csharp / python;
        var result = new Dictionary<string, object>
        {
            ["bench"] = "augment",
            ["image"] = $"{Size}x{Size} uint16",
            ["pipeline"] = "u16->float, affine(rsna seed), hflip p0.5, clahe 8-bit, multiply, gaussian blur, gaussian noise",
            ["samples"] = count,
            ["csharp_samples_per_s"] = Math.Round(csharp, 2),
            ["python_opencv_samples_per_s"] = Math.Round(python, 2),
            ["ratio"] = Math.Round(ratio, 3),
            ["loader_samples_per_s"] = Math.Round(loaderRate, 2),
            ["loader_workers"] = workers,
            ["opencv"] = OpenCv.Version,
        };
        if (!json)
        {
            AnsiConsole.MarkupLine($"[bold]augment[/]: {Size}² uint16, {Markup.Escape((string)result["pipeline"])}");
            AnsiConsole.MarkupLine($"  C# (1 thread)        {csharp,8:0.0} samples/s");
            AnsiConsole.MarkupLine($"  python3-opencv       {python,8:0.0} samples/s   (C# / Python = {ratio:0.00})");
            AnsiConsole.MarkupLine($"  loader ({workers} workers)    {loaderRate,8:0.0} samples/s");
        }
        Console.WriteLine(JsonSerializer.Serialize(result));
        return 0;
    }

    /// <summary>The same operations in python3-opencv (Debian's /usr/bin/python3), timed in-process there.</summary>
    static double RunPython(int count)
    {
        var script = """
            import sys, time, math
            import cv2, numpy as np
            N = int(sys.argv[1]); S = 1024
            rng = np.random.default_rng(0)
            imgs = [cv2.GaussianBlur(rng.random((S, S), dtype=np.float32) * 65535, (0, 0), 8).astype(np.uint16) for _ in range(4)]
            clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))
            def affine():
                sx, sy = rng.uniform(0.98, 1.04, 2); tx = rng.uniform(-0.03, 0.03) * S; ty = rng.uniform(-0.05, 0.05) * S
                r = math.radians(rng.uniform(-2, 2)); sh = math.tan(math.radians(rng.uniform(-1, 1)))
                c = S / 2
                A = np.array([[math.cos(r), math.sin(r), 0], [-math.sin(r), math.cos(r), 0], [0, 0, 1]]) @ np.array([[1, sh, 0], [0, 1, 0], [0, 0, 1]]) @ np.diag([sx, sy, 1])
                M = np.array([[1, 0, c + tx - 0.5], [0, 1, c + ty - 0.5], [0, 0, 1]]) @ A @ np.array([[1, 0, 0.5 - c], [0, 1, 0.5 - c], [0, 0, 1]])
                return M[:2]
            def aug(u16):
                f = u16.astype(np.float32) * np.float32(1 / 65535)
                f = cv2.warpAffine(f, affine(), (S, S), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
                if rng.random() < 0.5: f = cv2.flip(f, 1)
                u8 = np.clip(f * 255 + 0.5, 0, 255).astype(np.uint8)
                f = clahe.apply(u8).astype(np.float32) * np.float32(1 / 255)
                f = np.clip(f * np.float32(rng.uniform(0.85, 1.15)), 0, 1)
                f = cv2.GaussianBlur(f, (0, 0), rng.uniform(0.5, 1.0))
                noise = np.empty_like(f); cv2.randn(noise, 0, 0.01); f += noise
                return np.clip(f, 0, 1, out=f)
            for i in range(2): aug(imgs[i % 4])
            t = time.perf_counter()
            for i in range(N): aug(imgs[i % 4])
            print(N / (time.perf_counter() - t))
            """;
        var start = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(script);
        start.ArgumentList.Add(count.ToString(CultureInfo.InvariantCulture));
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start /usr/bin/python3");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"the python3-opencv reference failed (is python3-opencv installed? ./cxr bench installs it):\n{stderr.Result}");
        return double.Parse(stdout.Result.Trim().Split('\n')[^1], CultureInfo.InvariantCulture);
    }
}
