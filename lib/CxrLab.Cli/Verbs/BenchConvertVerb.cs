using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Spectre.Console;

namespace CxrLab.Cli.Verbs;

/// <summary>`cxr bench convert [--files N] [--distinct N] [--size 1024|512] [--bits 8|16] [--json]`: the whole "DICOM folder → resized PNG
/// cache" job, `cxr convert` (a child process, as users run it: decode, VOI/display, resize, PNG, meta.csv) against the
/// pipeline Kaggle users run (pydicom + <c>apply_voi_lut</c> + MONOCHROME1 inversion + min–max scaling + <c>cv2.resize</c>
/// (INTER_AREA) + <c>cv2.imwrite</c>, one process per core through <c>multiprocessing.Pool</c>, meta.csv written at the end),
/// on the same VinBigData-like files (real size, uncompressed 16-bit), same cores, back to back in one run. Both write PNGs
/// with OpenCV's default PNG settings (cv2.imwrite without parameters: zlib level 1, speed-tuned), ours through the same
/// OpenCV. Wall time of each whole job, process start included.</summary>
public static class BenchConvertVerb
{
    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "print one JSON object (last line)" };
        var files = new Option<int>("--files") { Description = "DICOMs to convert (the job is thousands; both sides start their processes once)", DefaultValueFactory = _ => 48 };
        var distinct = new Option<int>("--distinct") { Description = "distinct VinBigData-like images (2,400–3,000 px, 12–16 bits) written; the other files link to them", DefaultValueFactory = _ => 8 };
        var size = new Option<int>("--size") { Description = "output side: 1024 or 512", DefaultValueFactory = _ => 1024 };
        var bits = new Option<int>("--bits") { Description = "PNG depth: 8 or 16", DefaultValueFactory = _ => 8 };
        var command = new Command("convert", "`cxr convert` (DICOM → display → resize → PNG + meta.csv) vs pydicom + apply_voi_lut + cv2 on every core, same files")
            { json, files, distinct, size, bits };
        command.SetAction(parse =>
        {
            var result = Run(parse.GetValue(files), parse.GetValue(distinct), parse.GetValue(size), parse.GetValue(bits));
            if (parse.GetValue(json)) Console.WriteLine(JsonSerializer.Serialize(result));
            else
                AnsiConsole.MarkupLine($"{result["files"]} files → {result["size"]}² {result["bits"]}-bit PNG on {result["cores"]} cores: " +
                                       $"cxr convert [bold]{result["ours_files_per_s"]:F2}[/] files/s, Python pipeline {result["python_files_per_s"]:F2} files/s, " +
                                       $"[bold]{result["ratio"]:F2}×[/], CPU-time ratio {result["ratio_cpu_time"]:F2}× (load average {result["load_average_before"]} → {result["load_average_after"]})");
            return 0;
        });
        return command;
    }

    /// <param name="count">Files to convert.</param>
    /// <param name="distinct">Distinct images generated (the rest are symbolic links to them: the same bytes, read from the
    /// page cache on both sides, as the generated ones are).</param>
    /// <param name="size">Output side.</param>
    /// <param name="bits">PNG depth.</param>
    public static Dictionary<string, object?> Run(int count, int distinct, int size, int bits)
    {
        if (size is not (1024 or 512)) throw new ArgumentException($"--size {size}: use 1024 or 512");
        if (bits is not (8 or 16)) throw new ArgumentException($"--bits {bits}: use 8 or 16");
        if (count < 1) throw new ArgumentException($"--files {count}: at least 1");
        var dir = Directory.CreateTempSubdirectory("cxr-bench-convert-").FullName;
        try
        {
            var data = Path.Combine(dir, "dicom");
            Directory.CreateDirectory(data);
            var made = BenchDicomVerb.MakeVinBigLike(Path.Combine(dir, "made"), Math.Clamp(distinct, 1, count), seed: 11);
            for (var i = 0; i < count; i++)
                File.CreateSymbolicLink(Path.Combine(data, $"image{i:D4}.dcm"), made[i % made.Count]);
            var loadBefore = BenchDicomVerb.LoadAverage();
            var cores = Environment.ProcessorCount;
            // Warm the page cache with both readers once (the first pass of either side would otherwise pay the disk).
            foreach (var f in made) File.ReadAllBytes(f);

            // Ours: `cxr convert` exactly as a user runs it (worker processes, all cores).
            var oursOut = Path.Combine(dir, "ours");
            var oursCpu = ChildrenCpuSeconds();
            var ours = Stopwatch.StartNew();
            Exec([.. DicomVerb.SelfCommand(), "convert", "--data", data, "--out", oursOut, "--size", Str(size), "--bits", Str(bits)]);
            var oursSeconds = ours.Elapsed.TotalSeconds;
            oursCpu = ChildrenCpuSeconds() - oursCpu;
            var oursPngs = Directory.GetFiles(oursOut, "*.png").Length;

            // Theirs: the Kaggle notebooks' reading with multiprocessing, one process per core.
            var theirOut = Path.Combine(dir, "python");
            Directory.CreateDirectory(theirOut);
            var script = Path.Combine(dir, "convert.py");
            File.WriteAllText(script, PythonPipeline);
            var theirCpu = ChildrenCpuSeconds();
            var theirs = Stopwatch.StartNew();
            Exec(["/usr/bin/python3", script, data, theirOut, Str(size), Str(bits), Str(cores)]);
            var theirSeconds = theirs.Elapsed.TotalSeconds;
            theirCpu = ChildrenCpuSeconds() - theirCpu;
            var theirPngs = Directory.GetFiles(theirOut, "*.png").Length;
            if (oursPngs != count || theirPngs != count)
                throw new InvalidOperationException($"expected {count} PNGs from each side; cxr convert wrote {oursPngs}, the Python pipeline {theirPngs}");
            return new Dictionary<string, object?>
            {
                ["load_average_before"] = loadBefore,
                ["load_average_after"] = BenchDicomVerb.LoadAverage(),
                ["files"] = count,
                ["distinct_images"] = Math.Clamp(distinct, 1, count),
                ["size"] = size,
                ["bits"] = bits,
                ["cores"] = cores,
                ["png"] = "OpenCV defaults on both sides (cv2.imwrite without parameters)",
                ["ours_seconds"] = oursSeconds,
                ["python_seconds"] = theirSeconds,
                ["ours_files_per_s"] = count / oursSeconds,
                ["python_files_per_s"] = count / theirSeconds,
                ["ratio"] = theirSeconds / oursSeconds,
                // CPU seconds of each whole job (all its processes: user + system), less sensitive to other jobs than wall time.
                ["ours_cpu_seconds"] = oursCpu,
                ["python_cpu_seconds"] = theirCpu,
                ["ratio_cpu_time"] = theirCpu / oursCpu,
            };
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>User + system CPU seconds of this process's finished (waited-for) descendants: getrusage(RUSAGE_CHILDREN).</summary>
    static double ChildrenCpuSeconds()
    {
        var usage = new long[18]; // struct rusage: ru_utime, ru_stime (timeval: seconds, microseconds), then 14 longs
        if (getrusage(-1, usage) != 0) return double.NaN;
        return usage[0] + usage[1] / 1e6 + usage[2] + usage[3] / 1e6;
    }

    [System.Runtime.InteropServices.DllImport("libc.so.6", SetLastError = true)]
    static extern int getrusage(int who, [System.Runtime.InteropServices.Out] long[] usage);

    static string Str(int v) => v.ToString(CultureInfo.InvariantCulture);

    static void Exec(string[] command)
    {
        var start = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in command.Skip(1)) start.ArgumentList.Add(a);
        start.Environment["NO_COLOR"] = "1";
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {command[0]}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{string.Join(' ', command.Take(3))} … failed (exit {process.ExitCode}): {stderr.Result.Trim()} {stdout.Result.Trim()}");
    }

    /// <summary>The reading in the popular VinBigData/RSNA notebooks (read_xray: apply_voi_lut, MONOCHROME1 → max − x,
    /// min–max to 0..255 or 0..65535), then cv2.resize with INTER_AREA and cv2.imwrite; multiprocessing.Pool over the files.</summary>
    const string PythonPipeline = """
        import csv, os, sys
        from multiprocessing import Pool
        import cv2, numpy as np, pydicom
        from pydicom.pixel_data_handlers.util import apply_voi_lut

        src, out, size, bits, cores = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])

        def read_xray(path):
            dicom = pydicom.dcmread(path)
            data = apply_voi_lut(dicom.pixel_array, dicom)
            if dicom.PhotometricInterpretation == "MONOCHROME1":
                data = np.amax(data) - data
            data = data - np.min(data)
            data = data / np.max(data)
            top = 255 if bits == 8 else 65535
            return (data * top).astype(np.uint8 if bits == 8 else np.uint16), dicom

        def convert(name):
            image, dicom = read_xray(os.path.join(src, name))
            h, w = image.shape
            resized = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
            png = os.path.splitext(name)[0] + ".png"
            cv2.imwrite(os.path.join(out, png), resized)
            return [os.path.splitext(name)[0], name, png, w, h, size, size, size / w, size / h, dicom.PhotometricInterpretation]

        if __name__ == "__main__":
            names = sorted(f for f in os.listdir(src) if f.endswith(".dcm"))
            with Pool(cores) as pool:
                rows = pool.map(convert, names, chunksize=1)
            with open(os.path.join(out, "meta.csv"), "w", newline="") as f:
                writer = csv.writer(f)
                writer.writerow(["image_id", "source", "png", "orig_width", "orig_height", "width", "height", "scale_x", "scale_y", "photometric"])
                writer.writerows(rows)
        """;
}
