using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using CxrLab.Dicom;
using Spectre.Console;

namespace CxrLab.Cli.Verbs;

/// <summary>`cxr bench dicom [--json]`: decode throughput of <see cref="DicomImage"/> (open + decode to stored values)
/// against pydicom with GDCM (Debian's python3-pydicom, python3-gdcm) on the same files in the same run.
/// Files are decoded one after the other on both sides. <c>files_per_s</c>/<c>ratio</c>: JPEG 2000 frames decoded by
/// OpenJPEG on every core, as GDCM (and so pydicom's GDCM handler) does by default; everything else on one thread.
/// <c>files_per_s_1thread</c>/<c>ratio_1thread</c>: ours entirely on one thread (pydicom unchanged).
/// <c>ratio_cpu_time</c>: pydicom's CPU seconds over ours for the same files — the same work, whatever the threads.
/// <c>files_per_s_all_cores</c>/<c>ratio_all_cores</c> decode files in parallel on every core, as <c>cxr convert</c> does.
/// <c>per_syntax_ratio</c> and <c>decoders</c> say where the time goes.
/// The files are CXR-like 12-bit images (8-bit for JPEG baseline) written by pydicom and transcoded by gdcmconv into
/// several syntaxes. <c>--size real</c> measures real-size files instead: VinBigData-like uncompressed radiographs
/// (2,400–3,000 px, 12–16 bits stored, MONOCHROME1 and 2, with and without a VOI LUT) and RSNA-like 1024² 8-bit JPEG
/// baseline files. <c>rows</c> (in the JSON) has one row per syntax and size: syntax, size, ours_files_per_s, pydicom_files_per_s.
/// Our side gives each decoded array back (<see cref="DicomImage.ReturnBuffer"/>), as pydicom's arrays go back to malloc.</summary>
public static class BenchDicomVerb
{
    /// <summary>gdcmconv's arguments per syntax; the 12-bit source image, or its 8-bit version for JPEG baseline (the
    /// RSNA pneumonia files' syntax: 8-bit lossy JPEG).</summary>
    static readonly (string Name, string[] Args, bool EightBit)[] Syntaxes =
    [
        ("explicit_le", [], false),
        ("jpeg_baseline", ["--jpeg", "--lossy", "-q", "90"], true),
        ("jpeg_lossless", ["--jpeg"], false),
        ("jpegls_lossless", ["--jpegls"], false),
        ("j2k_lossless", ["--j2k"], false),
        ("rle", ["--rle"], false),
    ];

    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "print one JSON object (last line)" };
        var size = new Option<string>("--size") { Description = "image side in pixels, or 'real' (VinBigData-like 2,400–3,000 px uncompressed, RSNA-like 1024² JPEG)", DefaultValueFactory = _ => "1024" };
        var images = new Option<int>("--images") { Description = "distinct images per syntax", DefaultValueFactory = _ => 3 };
        var rounds = new Option<int>("--rounds") { Description = "at least this many passes over each syntax's files (more until a syntax takes 1 s on our side; pydicom makes as many)", DefaultValueFactory = _ => 3 };
        var only = new Option<string[]>("--syntax") { Description = "measure only these syntaxes (explicit_le, jpeg_baseline, jpeg_lossless, jpegls_lossless, j2k_lossless, rle)", AllowMultipleArgumentsPerToken = true };
        var command = new Command("dicom", "DICOM decode throughput (files/s, MB/s of decoded pixels) vs pydicom + GDCM on the same files")
            { json, size, images, rounds, only };
        command.SetAction(parse =>
        {
            var sizeText = parse.GetValue(size)!;
            var real = sizeText.Equals("real", StringComparison.OrdinalIgnoreCase);
            if (!real && !(int.TryParse(sizeText, System.Globalization.CultureInfo.InvariantCulture, out var side) && side >= 8))
                throw new ArgumentException($"--size {sizeText}: a side in pixels (at least 8) or 'real'");
            var result = Run(real ? 0 : int.Parse(sizeText, System.Globalization.CultureInfo.InvariantCulture), parse.GetValue(images), parse.GetValue(rounds),
                parse.GetValue(only) is { Length: > 0 } chosen ? chosen : null);
            if (parse.GetValue(json)) Console.WriteLine(JsonSerializer.Serialize(result));
            else
            {
                var table = new Table().AddColumn("syntax").AddColumn("decoder").AddColumn("CxrLab files/s").AddColumn("pydicom files/s").AddColumn("ratio");
                var ours = (Dictionary<string, double>)result["per_syntax_files_per_s"]!;
                var theirs = (Dictionary<string, double>)result["pydicom_per_syntax_files_per_s"]!;
                var decoders = (Dictionary<string, string>)result["decoders"]!;
                foreach (var name in ours.Keys)
                    table.AddRow(name, decoders[name], $"{ours[name]:F1}", $"{theirs[name]:F1}", $"{ours[name] / theirs[name]:F2}×");
                table.AddRow("[bold]all, JPEG 2000 on all cores (as GDCM)[/]", "", $"{result["files_per_s"]:F1}", $"{result["pydicom_files_per_s"]:F1}", $"[bold]{result["ratio"]:F2}×[/]");
                table.AddRow("[bold]all, one thread[/]", "", $"{result["files_per_s_1thread"]:F1}", $"{result["pydicom_files_per_s"]:F1}", $"[bold]{result["ratio_1thread"]:F2}×[/]");
                table.AddRow($"[bold]all, files on {result["cores"]} cores[/]", "", $"{result["files_per_s_all_cores"]:F1}", $"{result["pydicom_files_per_s"]:F1}", $"[bold]{result["ratio_all_cores"]:F2}×[/]");
                AnsiConsole.Write(table);
                AnsiConsole.MarkupLine((bool)result["pixels_equal_to_pydicom"]! ? "pixels: equal to pydicom's on every file"
                    : $"[red]pixels differ from pydicom's[/]: {string.Join(", ", (List<string>)result["pixels_differing"]!)}");
                AnsiConsole.MarkupLine($"{result["files"]} files of size {parse.GetValue(size)}, {result["mb_per_s"]:F1} MB/s decoded (pydicom {result["pydicom_mb_per_s"]:F1} MB/s); " +
                                       $"CPU-time ratio {result["ratio_cpu_time"]:F2}×; load average {result["load_average_before"]} → {result["load_average_after"]}");
            }
            return 0;
        });
        return command;
    }

    const int WarmUpDecodes = 60;
    const double WarmUpSeconds = 0.5;

    /// <summary>Each syntax is timed for at least this long on our side (more passes over its files when needed).</summary>
    const double MinSeconds = 1.0;

    /// <summary>Runs the bench; <paramref name="size"/> 0 = real sizes (VinBigData-like and RSNA-like files).</summary>
    /// <param name="size">Image side; 0 = real sizes.</param>
    /// <param name="images">Distinct images per syntax.</param>
    /// <param name="rounds">Minimum passes per syntax.</param>
    /// <param name="only">Syntaxes to measure (null: all).</param>
    public static Dictionary<string, object?> Run(int size, int images, int rounds, string[]? only = null)
    {
        if (only?.FirstOrDefault(o => Syntaxes.All(s => s.Name != o)) is { } unknown)
            throw new ArgumentException($"--syntax {unknown}: use {string.Join(", ", Syntaxes.Select(s => s.Name))}");
        var dir = Directory.CreateTempSubdirectory("cxr-bench-dicom-").FullName;
        try
        {
            var loadBefore = LoadAverage();
            var files = (size == 0 ? MakeRealFiles(dir, images) : MakeFiles(dir, size, images, only is null ? null : Syntaxes.Where(s => only.Contains(s.Name)).ToArray()))
                .Where(f => only is null || only.Contains(f.Syntax)).ToList();
            // The size each syntax's files have in the rows: "real" for the VinBigData-like files, else the side.
            string SizeOf(string syntax) => size == 0 && syntax == "explicit_le" ? "real" : size == 0 ? "1024" : size.ToString(System.Globalization.CultureInfo.InvariantCulture);
            // Warm-up: GDCM's dictionaries and codecs, the JIT. .NET compiles a method again, optimised, after ~30 calls (on a
            // background thread whose CPU time counts as ours): each syntax is decoded WarmUpDecodes times (or for
            // WarmUpSeconds) first, so that rejit happens before the clock starts, as it does early in a real conversion.
            foreach (var group in files.GroupBy(f => f.Syntax))
            {
                var warm = Stopwatch.StartNew();
                for (var n = 0; n < WarmUpDecodes && (n < group.Count() || warm.Elapsed.TotalSeconds < WarmUpSeconds);)
                    foreach (var (_, path) in group) { Decode(path); n++; }
            }
            var decoders = new Dictionary<string, string>();
            foreach (var (syntax, path) in files)
            {
                using var dicom = DicomImage.Open(path);
                decoders[syntax] = dicom.Decoder;
            }

            // Each syntax is measured on both sides back to back (ours, then pydicom in a Python process that stays up),
            // so a change in the machine's load between the two halves of the run biases neither side. Wall time is the
            // headline; CPU time (process user + system) is given too, as it is less sensitive to other jobs.
            using var pydicom = new PydicomSide(files);
            // Same pixels as pydicom, byte for byte, on every generated file (lossy JPEG too: the same IJG arithmetic).
            var theirHashes = pydicom.Hashes();
            var differing = files.Where(f => theirHashes[f.Path] != SamplesHash(f.Path)).Select(f => Path.GetFileName(f.Path)).ToList();
            var perSyntax = new Dictionary<string, double>();
            var perSyntax1Thread = new Dictionary<string, double>();
            var theirPerSyntax = new Dictionary<string, double>();
            var cpuMsPerFile = new Dictionary<string, double>();
            var theirCpuMsPerFile = new Dictionary<string, double>();
            // Seconds, CPU seconds and bytes for one pass over the whole set (each syntax's measurement divided by its passes).
            double seconds = 0, seconds1Thread = 0, cpuSeconds = 0, theirSeconds = 0, theirCpuSeconds = 0, decodedBytes = 0, theirBytes = 0;
            var passes = new Dictionary<string, int>();
            foreach (var group in files.GroupBy(f => f.Syntax))
            {
                // At least `rounds` passes and MinSeconds on our side: a fast syntax (~2 ms a file) decoded a few times
                // would measure the timer and one garbage collection, not the decoder. pydicom makes as many passes.
                var n = rounds;
                var (elapsed1Thread, cpu1Thread, bytes) = DecodeGroup(group, n);
                if (elapsed1Thread < MinSeconds)
                {
                    n = (int)Math.Ceiling(n * MinSeconds / Math.Max(elapsed1Thread, 1e-4));
                    (elapsed1Thread, cpu1Thread, bytes) = DecodeGroup(group, n);
                }
                passes[group.Key] = n;
                // Only OpenJPEG's frames use more than one thread, so only they are measured twice; CPU time is
                // taken from the one-thread pass.
                var elapsed = elapsed1Thread;
                if (decoders[group.Key] == "openjpeg")
                {
                    DicomImage.Jpeg2000Threads = Environment.ProcessorCount;
                    try { elapsed = DecodeGroup(group, n).Wall; }
                    finally { DicomImage.Jpeg2000Threads = 1; }
                }
                decodedBytes += (double)bytes / n;
                cpuSeconds += cpu1Thread / n;
                seconds += elapsed / n;
                seconds1Thread += elapsed1Thread / n;
                perSyntax[group.Key] = group.Count() * n / elapsed;
                perSyntax1Thread[group.Key] = group.Count() * n / elapsed1Thread;
                var theirs = pydicom.Measure(group.Key, n);
                theirSeconds += theirs.Wall / n;
                theirCpuSeconds += theirs.Cpu / n;
                theirBytes += (double)theirs.Bytes / n;
                theirPerSyntax[group.Key] = group.Count() * n / theirs.Wall;
                cpuMsPerFile[group.Key] = cpu1Thread * 1000 / (group.Count() * n);
                theirCpuMsPerFile[group.Key] = theirs.Cpu * 1000 / (group.Count() * n);
            }
            var count = files.Count;

            // The same work on all cores, as `cxr convert` runs it (pydicom is measured in one process, as it is used).
            var parallelClock = Stopwatch.StartNew();
            Parallel.ForEach(Enumerable.Range(0, rounds).SelectMany(_ => files), new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount },
                f => Decode(f.Path));
            var parallelFilesPerSecond = files.Count * rounds / parallelClock.Elapsed.TotalSeconds;
            var theirFilesPerSecond = count / theirSeconds;
            return new Dictionary<string, object?>
            {
                ["rows"] = perSyntax.Keys.Select(s => new Dictionary<string, object>
                {
                    ["syntax"] = s, ["size"] = SizeOf(s), ["ours_files_per_s"] = perSyntax[s], ["pydicom_files_per_s"] = theirPerSyntax[s],
                }).ToList(),
                // Other jobs on this machine distort both sides; the 1-minute load before and after says how much.
                ["pixels_equal_to_pydicom"] = differing.Count == 0,
                ["pixels_differing"] = differing,
                ["load_average_before"] = loadBefore,
                ["load_average_after"] = LoadAverage(),
                ["files"] = files.Count,
                ["rounds"] = rounds,
                ["passes_per_syntax"] = passes,
                ["size"] = size == 0 ? "real" : size.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["files_per_s"] = count / seconds,
                ["files_per_s_1thread"] = count / seconds1Thread,
                ["mb_per_s"] = decodedBytes / seconds / 1e6,
                ["pydicom_files_per_s"] = theirFilesPerSecond,
                ["pydicom_mb_per_s"] = theirBytes / theirSeconds / 1e6,
                ["ratio"] = count / seconds / theirFilesPerSecond,
                ["ratio_1thread"] = count / seconds1Thread / theirFilesPerSecond,
                ["ratio_cpu_time"] = theirCpuSeconds / cpuSeconds,
                ["files_per_s_all_cores"] = parallelFilesPerSecond,
                ["cores"] = Environment.ProcessorCount,
                ["ratio_all_cores"] = parallelFilesPerSecond / theirFilesPerSecond,
                ["per_syntax_files_per_s"] = perSyntax,
                ["pydicom_per_syntax_files_per_s"] = theirPerSyntax,
                ["per_syntax_ratio"] = perSyntax.ToDictionary(p => p.Key, p => p.Value / theirPerSyntax[p.Key]),
                ["per_syntax_files_per_s_1thread"] = perSyntax1Thread,
                ["per_syntax_ratio_1thread"] = perSyntax1Thread.ToDictionary(p => p.Key, p => p.Value / theirPerSyntax[p.Key]),
                ["decoders"] = decoders,
                // CPU milliseconds per file on each side (process user + system time): less sensitive to other jobs than wall time.
                ["per_syntax_cpu_ms_per_file"] = cpuMsPerFile,
                ["pydicom_per_syntax_cpu_ms_per_file"] = theirCpuMsPerFile,
            };
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>The 1-minute load average (/proc/loadavg), or null where there is none.</summary>
    internal static double? LoadAverage()
    {
        try
        {
            var first = File.ReadAllText("/proc/loadavg").Split(' ')[0];
            return double.Parse(first, System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    /// <summary>Decodes a syntax's files <paramref name="rounds"/> times: wall seconds, CPU seconds (this process), decoded bytes.</summary>
    static (double Wall, double Cpu, long Bytes) DecodeGroup(IEnumerable<(string Syntax, string Path)> group, int rounds)
    {
        long bytes = 0;
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        for (var r = 0; r < rounds; r++)
            foreach (var (_, path) in group) bytes += Decode(path);
        return (clock.Elapsed.TotalSeconds, (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds, bytes);
    }

    /// <summary>Open + decode to stored values; returns the decoded bytes. The array is then given back, as pydicom's is
    /// freed (and malloc reuses its memory for the next file).</summary>
    static long Decode(string path)
    {
        using var dicom = DicomImage.Open(path);
        var raw = dicom.ReadRaw(DicomImage.AllFrames);
        var bytes = Buffer.ByteLength(raw);
        DicomImage.ReturnBuffer(raw);
        return bytes;
    }

    /// <summary>SHA-1 of the decoded samples (little endian, as this machine holds them).</summary>
    static string SamplesHash(string path)
    {
        using var dicom = DicomImage.Open(path);
        var raw = dicom.ReadRaw(DicomImage.AllFrames);
        var bytes = System.Runtime.InteropServices.MemoryMarshal.CreateReadOnlySpan(
            ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(raw), Buffer.ByteLength(raw));
        return Convert.ToHexString(System.Security.Cryptography.SHA1.HashData(bytes)).ToLowerInvariant();
    }

    /// <summary>Real-size files: <paramref name="images"/> VinBigData-like uncompressed ones ("explicit_le") and as many
    /// RSNA-like 1024² 8-bit JPEG baseline ones ("jpeg_baseline").</summary>
    static List<(string Syntax, string Path)> MakeRealFiles(string dir, int images)
    {
        var files = MakeVinBigLike(dir, images, seed: 7).Select(p => ("explicit_le", p)).ToList();
        var rsna = MakeFiles(Path.Combine(dir, "rsna"), 1024, images, [Syntaxes.Single(s => s.Name == "jpeg_baseline")]);
        return [.. files, .. rsna];
    }

    /// <summary>VinBigData-like radiographs in explicit VR little endian, written by pydicom: sizes 2,400–3,000 px, Bits
    /// Stored 12, 14 or 16 in 16-bit words, MONOCHROME1 and 2, with a VOI LUT Sequence, a window, or neither, in turn.</summary>
    internal static List<string> MakeVinBigLike(string dir, int count, int seed)
    {
        Directory.CreateDirectory(dir);
        var code = $$"""
            import numpy as np, pydicom
            from pydicom.dataset import Dataset, FileMetaDataset
            from pydicom.sequence import Sequence
            from pydicom.uid import ExplicitVRLittleEndian, generate_uid
            rng = np.random.default_rng({{seed}})
            shapes = [(2880, 2304), (3000, 2400), (2500, 2988), (2748, 2436)]
            for i in range({{count}}):
                rows, cols = shapes[i % len(shapes)]
                bits = [12, 14, 16][i % 3]
                y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
                y /= rows; x /= cols
                lungs = np.exp(-(((x - 0.3) / 0.13) ** 2 + ((y - 0.5) / 0.25) ** 2)) + np.exp(-(((x - 0.7) / 0.13) ** 2 + ((y - 0.5) / 0.25) ** 2))
                img = np.clip(0.6 - 0.4 * lungs + 0.1 * np.sin(40 * y + i) * np.exp(-((x - 0.5) / 0.2) ** 2) + rng.normal(0, 0.02, x.shape).astype(np.float32), 0, 1)
                top = (1 << bits) - 1
                meta = FileMetaDataset()
                meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
                meta.MediaStorageSOPInstanceUID = generate_uid()
                meta.TransferSyntaxUID = ExplicitVRLittleEndian
                ds = Dataset(); ds.file_meta = meta; ds.is_little_endian = True; ds.is_implicit_VR = False
                ds.SOPClassUID = meta.MediaStorageSOPClassUID; ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
                ds.Modality = "DX"; ds.PatientID = f"vinbig{i}"; ds.Rows = rows; ds.Columns = cols; ds.SamplesPerPixel = 1
                ds.PhotometricInterpretation = "MONOCHROME1" if i % 2 else "MONOCHROME2"
                ds.BitsAllocated = 16; ds.BitsStored = bits; ds.HighBit = bits - 1; ds.PixelRepresentation = 0
                if i % 3 == 0:
                    item = Dataset()
                    item.add_new(0x00283002, "US", [4096, 0, 16])
                    lut = np.round(65535 * (np.arange(4096) / 4095.0) ** 0.7).astype("<u2")
                    item.add_new(0x00283006, "OW", lut.tobytes())
                    ds.VOILUTSequence = Sequence([item])
                elif i % 3 == 1:
                    ds.WindowCenter = top // 2; ds.WindowWidth = top // 2 + 1
                ds.PixelData = np.round(img * top).astype("<u2").tobytes()
                ds.save_as(f"{{dir}}/vinbig{i}.dcm", write_like_original=False)
            """;
        Python.Run(code);
        return Enumerable.Range(0, count).Select(i => Path.Combine(dir, $"vinbig{i}.dcm")).ToList();
    }

    static List<(string Syntax, string Path)> MakeFiles(string dir, int size, int images,
        (string Name, string[] Args, bool EightBit)[]? syntaxes = null)
    {
        Directory.CreateDirectory(dir);
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
                ds.BitsAllocated = 8; ds.BitsStored = 8; ds.HighBit = 7; ds.WindowCenter = 128; ds.WindowWidth = 256
                ds.PhotometricInterpretation = "MONOCHROME2"
                ds.PixelData = np.round(img * 255).astype(np.uint8).tobytes()
                ds.save_as(f"{{dir}}/base8_{i}.dcm", write_like_original=False)
            """;
        Python.Run(code);
        var files = new List<(string, string)>();
        for (var i = 0; i < images; i++)
            foreach (var (name, args, eightBit) in syntaxes ?? Syntaxes)
            {
                var target = Path.Combine(dir, $"{name}{i}.dcm");
                var source = Path.Combine(dir, eightBit ? $"base8_{i}.dcm" : $"base{i}.dcm");
                if (args.Length == 0) File.Copy(source, target);
                else Python.Exec("gdcmconv", [.. args, source, target]);
                files.Add((name, target));
            }
        return files;
    }

    /// <summary>pydicom with GDCM in one Python process that stays up: warms up on every file, then decodes one syntax's
    /// files as many times as asked per request ("syntax passes" on stdin) and answers wall/CPU seconds and bytes (JSON on stdout).</summary>
    sealed class PydicomSide : IDisposable
    {
        readonly Process process;

        public PydicomSide(List<(string Syntax, string Path)> files)
        {
            var list = JsonSerializer.Serialize(files.Select(f => new[] { f.Syntax, f.Path }).ToList());
            var code = $$"""
                import json, sys, time
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
                print("ready", flush=True)
                import hashlib, numpy as np
                def samples(p):
                    a = pydicom.dcmread(p).pixel_array
                    return np.ascontiguousarray(a.astype(a.dtype.newbyteorder("<"))).tobytes()
                for line in sys.stdin:
                    if line.strip() == "hash":
                        # The decoded samples of every file, little endian, for the equality check.
                        print(json.dumps({p: hashlib.sha1(samples(p)).hexdigest() for _, p in files}), flush=True)
                        continue
                    syntax, passes = line.split()
                    paths = [p for s, p in files if s == syntax]
                    total = 0
                    wall, cpu = time.perf_counter(), time.process_time()
                    for _ in range(int(passes)):
                        for p in paths:
                            total += decode(p)
                    print(json.dumps({"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu, "bytes": total}), flush=True)
                """;
            var start = new ProcessStartInfo(Python.Interpreter)
            {
                RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            };
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add(code);
            process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {Python.Interpreter}");
            process.ErrorDataReceived += (_, _) => { };
            process.BeginErrorReadLine();
            if (process.StandardOutput.ReadLine() != "ready")
                throw new InvalidOperationException("the pydicom side failed to start: the benchmark needs Debian's python3-pydicom and python3-gdcm (./cxr bench installs them)");
        }

        public (double Wall, double Cpu, long Bytes) Measure(string syntax, int passes)
        {
            process.StandardInput.WriteLine($"{syntax} {passes}");
            process.StandardInput.Flush();
            var line = process.StandardOutput.ReadLine() ?? throw new InvalidOperationException($"the pydicom side died while decoding {syntax}");
            using var json = JsonDocument.Parse(line);
            var root = json.RootElement;
            return (root.GetProperty("wall").GetDouble(), root.GetProperty("cpu").GetDouble(), root.GetProperty("bytes").GetInt64());
        }

        /// <summary>SHA-1 of each file's decoded samples (little endian) as pydicom decodes them, by path.</summary>
        public Dictionary<string, string> Hashes()
        {
            process.StandardInput.WriteLine("hash");
            process.StandardInput.Flush();
            var line = process.StandardOutput.ReadLine() ?? throw new InvalidOperationException("the pydicom side died while hashing");
            return JsonSerializer.Deserialize<Dictionary<string, string>>(line)!;
        }

        public void Dispose()
        {
            try { process.StandardInput.Close(); } catch (IOException) { }
            if (!process.WaitForExit(10_000)) process.Kill();
            process.Dispose();
        }
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
