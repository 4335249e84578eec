using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using CxrLab.Dicom;
using Spectre.Console;

namespace CxrLab.Cli.Verbs;

/// <summary>`cxr bench dicom [--json]`: decode throughput of <see cref="DicomImage"/> (open + decode to stored values)
/// against pydicom with GDCM (Debian's python3-pydicom, python3-gdcm) on the same files in the same run.
/// <c>files_per_s</c>/<c>ratio</c> (also given as <c>files_per_s_1thread</c>/<c>ratio_1thread</c>) are one thread against
/// one Python process, like for like: every codec here, ours and GDCM's, decodes on the calling thread;
/// <c>files_per_s_all_cores</c>/<c>ratio_all_cores</c> decode files in parallel on every core, as <c>cxr convert</c> does,
/// against the same single pydicom process. <c>per_syntax_ratio</c> and <c>decoders</c> say where the time goes.
/// The files are CXR-like 12-bit images written by pydicom and transcoded by gdcmconv into several syntaxes.</summary>
public static class BenchDicomVerb
{
    static readonly (string Name, string[] Args)[] Syntaxes =
    [
        ("explicit_le", []),
        ("jpeg_lossless", ["--jpeg"]),
        ("jpegls_lossless", ["--jpegls"]),
        ("j2k_lossless", ["--j2k"]),
        ("rle", ["--rle"]),
    ];

    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "print one JSON object (last line)" };
        var size = new Option<int>("--size") { Description = "image side in pixels", DefaultValueFactory = _ => 1024 };
        var images = new Option<int>("--images") { Description = "distinct images per syntax", DefaultValueFactory = _ => 3 };
        var rounds = new Option<int>("--rounds") { Description = "passes over the file set (each side)", DefaultValueFactory = _ => 3 };
        var command = new Command("dicom", "DICOM decode throughput (files/s, MB/s of decoded pixels) vs pydicom + GDCM on the same files")
            { json, size, images, rounds };
        command.SetAction(parse =>
        {
            var result = Run(parse.GetValue(size), parse.GetValue(images), parse.GetValue(rounds));
            if (parse.GetValue(json)) Console.WriteLine(JsonSerializer.Serialize(result));
            else
            {
                var table = new Table().AddColumn("syntax").AddColumn("decoder").AddColumn("CxrLab files/s").AddColumn("pydicom files/s").AddColumn("ratio");
                var ours = (Dictionary<string, double>)result["per_syntax_files_per_s"]!;
                var theirs = (Dictionary<string, double>)result["pydicom_per_syntax_files_per_s"]!;
                var decoders = (Dictionary<string, string>)result["decoders"]!;
                foreach (var (name, _) in Syntaxes)
                    table.AddRow(name, decoders[name], $"{ours[name]:F1}", $"{theirs[name]:F1}", $"{ours[name] / theirs[name]:F2}×");
                table.AddRow("[bold]all, one thread[/]", "", $"{result["files_per_s"]:F1}", $"{result["pydicom_files_per_s"]:F1}", $"[bold]{result["ratio"]:F2}×[/]");
                table.AddRow($"[bold]all, {result["cores"]} cores[/]", "", $"{result["files_per_s_all_cores"]:F1}", $"{result["pydicom_files_per_s"]:F1}", $"[bold]{result["ratio_all_cores"]:F2}×[/]");
                AnsiConsole.Write(table);
                AnsiConsole.MarkupLine($"{result["files"]} files of {size.Name} {parse.GetValue(size)}², {result["mb_per_s"]:F1} MB/s decoded (pydicom {result["pydicom_mb_per_s"]:F1} MB/s)");
            }
            return 0;
        });
        return command;
    }

    public static Dictionary<string, object?> Run(int size, int images, int rounds)
    {
        var dir = Directory.CreateTempSubdirectory("cxr-bench-dicom-").FullName;
        try
        {
            var loadBefore = LoadAverage();
            var files = MakeFiles(dir, size, images);
            // Warm-up: GDCM's dictionaries and codecs, the JIT.
            foreach (var (_, path) in files) Decode(path);
            var decoders = new Dictionary<string, string>();
            foreach (var (syntax, path) in files)
            {
                using var dicom = DicomImage.Open(path);
                decoders[syntax] = dicom.Decoder;
            }

            var perSyntax = new Dictionary<string, double>();
            long decodedBytes = 0;
            var total = Stopwatch.StartNew();
            foreach (var group in files.GroupBy(f => f.Syntax))
            {
                var clock = Stopwatch.StartNew();
                for (var r = 0; r < rounds; r++)
                    foreach (var (_, path) in group) decodedBytes += Decode(path);
                perSyntax[group.Key] = group.Count() * rounds / clock.Elapsed.TotalSeconds;
            }
            var seconds = total.Elapsed.TotalSeconds;
            var count = files.Count * rounds;

            // The same work on all cores, as `cxr convert` runs it (pydicom is measured in one process, as it is used).
            var parallelClock = Stopwatch.StartNew();
            Parallel.ForEach(Enumerable.Range(0, rounds).SelectMany(_ => files), new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount },
                f => Decode(f.Path));
            var parallelFilesPerSecond = count / parallelClock.Elapsed.TotalSeconds;
            var reference = RunPydicom(files, rounds);
            var theirFilesPerSecond = reference.GetProperty("files_per_s").GetDouble();
            var theirPerSyntax = reference.GetProperty("per_syntax").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetDouble());
            return new Dictionary<string, object?>
            {
                // Other jobs on this machine distort both sides; the 1-minute load before and after says how much.
                ["load_average_before"] = loadBefore,
                ["load_average_after"] = LoadAverage(),
                ["files"] = files.Count,
                ["rounds"] = rounds,
                ["size"] = size,
                ["files_per_s"] = count / seconds,
                ["files_per_s_1thread"] = count / seconds,
                ["mb_per_s"] = decodedBytes / seconds / 1e6,
                ["pydicom_files_per_s"] = theirFilesPerSecond,
                ["pydicom_mb_per_s"] = reference.GetProperty("mb_per_s").GetDouble(),
                ["ratio"] = count / seconds / theirFilesPerSecond,
                ["ratio_1thread"] = count / seconds / theirFilesPerSecond,
                ["files_per_s_all_cores"] = parallelFilesPerSecond,
                ["cores"] = Environment.ProcessorCount,
                ["ratio_all_cores"] = parallelFilesPerSecond / theirFilesPerSecond,
                ["per_syntax_files_per_s"] = perSyntax,
                ["pydicom_per_syntax_files_per_s"] = theirPerSyntax,
                ["per_syntax_ratio"] = perSyntax.ToDictionary(p => p.Key, p => p.Value / theirPerSyntax[p.Key]),
                ["decoders"] = decoders,
            };
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>The 1-minute load average (/proc/loadavg), or null where there is none.</summary>
    static double? LoadAverage()
    {
        try
        {
            var first = File.ReadAllText("/proc/loadavg").Split(' ')[0];
            return double.Parse(first, System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    /// <summary>Open + decode to stored values; returns the decoded bytes.</summary>
    static long Decode(string path)
    {
        using var dicom = DicomImage.Open(path);
        var raw = dicom.ReadRaw(DicomImage.AllFrames);
        return Buffer.ByteLength(raw);
    }

    static List<(string Syntax, string Path)> MakeFiles(string dir, int size, int images)
    {
        var code = $$"""
            import numpy as np, pydicom
            from pydicom.dataset import Dataset, FileMetaDataset
            from pydicom.uid import ExplicitVRLittleEndian, generate_uid
            rng = np.random.default_rng(7)
            n = {{size}}
            y, x = np.mgrid[0:n, 0:n] / n
            for i in range({{images}}):
                lungs = np.exp(-(((x - 0.3) / 0.13) ** 2 + ((y - 0.5) / 0.25) ** 2)) + np.exp(-(((x - 0.7) / 0.13) ** 2 + ((y - 0.5) / 0.25) ** 2))
                img = np.clip(0.6 - 0.4 * lungs + 0.1 * np.sin(40 * y + i) * np.exp(-((x - 0.5) / 0.2) ** 2) + rng.normal(0, 0.02, x.shape), 0, 1)
                meta = FileMetaDataset()
                meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
                meta.MediaStorageSOPInstanceUID = generate_uid()
                meta.TransferSyntaxUID = ExplicitVRLittleEndian
                ds = Dataset(); ds.file_meta = meta; ds.is_little_endian = True; ds.is_implicit_VR = False
                ds.SOPClassUID = meta.MediaStorageSOPClassUID; ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
                ds.Modality = "DX"; ds.PatientID = f"bench{i}"; ds.Rows = n; ds.Columns = n; ds.SamplesPerPixel = 1
                ds.PhotometricInterpretation = "MONOCHROME1" if i % 2 else "MONOCHROME2"
                ds.BitsAllocated = 16; ds.BitsStored = 12; ds.HighBit = 11; ds.PixelRepresentation = 0
                ds.WindowCenter = 2048; ds.WindowWidth = 4096
                ds.PixelData = np.round(img * 4095).astype(np.uint16).tobytes()
                ds.save_as(f"{{dir}}/base{i}.dcm", write_like_original=False)
            """;
        Python.Run(code);
        var files = new List<(string, string)>();
        for (var i = 0; i < images; i++)
            foreach (var (name, args) in Syntaxes)
            {
                var target = Path.Combine(dir, $"{name}{i}.dcm");
                if (args.Length == 0) File.Copy(Path.Combine(dir, $"base{i}.dcm"), target);
                else Python.Exec("gdcmconv", [.. args, Path.Combine(dir, $"base{i}.dcm"), target]);
                files.Add((name, target));
            }
        return files;
    }

    static JsonElement RunPydicom(List<(string Syntax, string Path)> files, int rounds)
    {
        var list = JsonSerializer.Serialize(files.Select(f => new[] { f.Syntax, f.Path }).ToList());
        var code = $$"""
            import json, time, collections
            import pydicom
            from pydicom.pixel_data_handlers import numpy_handler, rle_handler, gdcm_handler
            assert gdcm_handler.is_available(), "python3-gdcm is missing"
            # pydicom's own handlers for native and RLE data, GDCM for the JPEG family (pydicom 2.3 has no GDCM RLE path).
            pydicom.config.pixel_data_handlers = [numpy_handler, rle_handler, gdcm_handler]
            files = json.loads({{JsonSerializer.Serialize(list)}})
            def decode(path):
                return pydicom.dcmread(path).pixel_array.nbytes
            for _, p in files:
                decode(p)  # warm-up
            per = {}
            groups = collections.OrderedDict()
            for s, p in files:
                groups.setdefault(s, []).append(p)
            total_bytes = 0
            start = time.perf_counter()
            for s, paths in groups.items():
                t = time.perf_counter()
                for _ in range({{rounds}}):
                    for p in paths:
                        total_bytes += decode(p)
                per[s] = len(paths) * {{rounds}} / (time.perf_counter() - t)
            seconds = time.perf_counter() - start
            print(json.dumps({"files_per_s": len(files) * {{rounds}} / seconds, "mb_per_s": total_bytes / seconds / 1e6, "per_syntax": per}))
            """;
        return JsonDocument.Parse(Python.Run(code)).RootElement.Clone();
    }

    /// <summary>Debian's Python (the reference) and its tools, for benchmarks.</summary>
    static class Python
    {
        public const string Interpreter = "/usr/bin/python3";

        public static string Run(string code) => Exec(Interpreter, ["-c", code]);

        public static string Exec(string program, string[] arguments)
        {
            var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in arguments) start.ArgumentList.Add(a);
            using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {program}");
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            process.WaitForExit();
            if (process.ExitCode != 0)
                throw new InvalidOperationException($"{program} failed (exit {process.ExitCode}): {stderr.Result.Trim()}\n" +
                                                    "The benchmark needs Debian's python3-pydicom, python3-gdcm and libgdcm-tools (./cxr bench installs them).");
            return stdout.Result;
        }
    }
}
