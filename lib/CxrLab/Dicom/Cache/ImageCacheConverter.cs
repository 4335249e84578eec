using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using CxrLab.Imaging;

namespace CxrLab.Dicom.Cache;

/// <summary>How DICOMs become cache PNGs.</summary>
public sealed record ImageCacheOptions
{
    /// <summary>Output side in pixels: both sides, or the long side with <see cref="KeepAspect"/>.</summary>
    public required int Size { get; init; }

    /// <summary>PNG depth: 8 or 16.</summary>
    public int Bits { get; init; } = 8;

    /// <summary>Scale the long side to <see cref="Size"/> and the short side in proportion (no padding).</summary>
    public bool KeepAspect { get; init; }

    /// <summary>Parallel conversions; default all cores.</summary>
    public int Threads { get; init; } = Environment.ProcessorCount;

    public DisplayScaling Scaling { get; init; } = DisplayScaling.MinMax;

    /// <summary>PNG compression 0–9, or −1 (default) for OpenCV's own default, the one cv2.imwrite uses without parameters
    /// (zlib's fastest level, speed-tuned filtering): the Kaggle pipelines' setting, and the encode's share of a conversion
    /// stays small. 9 gives ~7% smaller files for several times the encode time.</summary>
    public int PngCompression { get; init; } = -1;

    /// <summary>When set, the command line of a decoder worker (<see cref="ImageCacheWorker"/>): each file is converted
    /// in such a process, so a file that crashes GDCM is listed in errors.csv as "decoder crashed" instead of
    /// killing the run. Null converts in this process.</summary>
    public IReadOnlyList<string>? WorkerCommand { get; init; }
}

/// <summary>One row of meta.csv. Scale factors are cache pixels per original pixel: a box in cache pixels maps
/// back to the original image as x / <see cref="ScaleX"/>, y / <see cref="ScaleY"/>.</summary>
public sealed record ImageCacheRow(string ImageId, string Source, string Png, int OriginalWidth, int OriginalHeight,
    int Width, int Height, double ScaleX, double ScaleY, string Photometric, string Window)
{
    public static readonly string[] Columns =
        ["image_id", "source", "png", "orig_width", "orig_height", "width", "height", "scale_x", "scale_y", "photometric", "window"];

    internal string ToCsv() => Csv.Line(ImageId, Source, Png, I(OriginalWidth), I(OriginalHeight), I(Width), I(Height),
        ScaleX.ToString("R", CultureInfo.InvariantCulture), ScaleY.ToString("R", CultureInfo.InvariantCulture), Photometric, Window);

    internal static ImageCacheRow? FromCsv(IReadOnlyList<string> f)
    {
        if (f.Count != Columns.Length) return null;
        var ok = int.TryParse(f[3], CultureInfo.InvariantCulture, out var ow) & int.TryParse(f[4], CultureInfo.InvariantCulture, out var oh)
               & int.TryParse(f[5], CultureInfo.InvariantCulture, out var w) & int.TryParse(f[6], CultureInfo.InvariantCulture, out var h)
               & double.TryParse(f[7], CultureInfo.InvariantCulture, out var sx) & double.TryParse(f[8], CultureInfo.InvariantCulture, out var sy);
        return ok ? new ImageCacheRow(f[0], f[1], f[2], ow, oh, w, h, sx, sy, f[9], f[10]) : null;
    }

    static string I(int v) => v.ToString(CultureInfo.InvariantCulture);
}

/// <summary>Progress of a conversion: files finished (converted + skipped + failed) of the total.</summary>
public sealed record ImageCacheProgress(int Finished, int Total, int Converted, int Skipped, int Failed);

public sealed record ImageCacheReport(int Total, int Converted, int Skipped, int Failed, TimeSpan Elapsed, string MetaCsv, string ErrorsCsv);

/// <summary>
/// Turns a folder of DICOMs (*.dcm, *.dicom, recursive) into resized display-stage PNGs plus meta.csv (one row per
/// image, <see cref="ImageCacheRow"/>) and errors.csv (file, reason). Runs in parallel, survives bad files, and
/// resumes: images already in meta.csv with their PNG present are skipped; a run killed mid-way loses at most the
/// images in flight. The PNG for <c>DIR/a/b.dcm</c> is <c>OUT/a/b.png</c>; the image id is the file name stem.
/// </summary>
public static class ImageCacheConverter
{
    public const string MetaFile = "meta.csv";
    public const string ErrorsFile = "errors.csv";
    public const string OptionsFile = "cache.json";

    public static IReadOnlyList<string> FindDicoms(string dataDir) =>
        Directory.EnumerateFiles(dataDir, "*", SearchOption.AllDirectories)
            .Where(f => f.EndsWith(".dcm", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".dicom", StringComparison.OrdinalIgnoreCase))
            .Order(StringComparer.Ordinal)
            .ToList();

    public static ImageCacheReport Convert(string dataDir, string outDir, ImageCacheOptions options,
        IProgress<ImageCacheProgress>? progress = null, CancellationToken cancellation = default)
    {
        if (!Directory.Exists(dataDir)) throw new DirectoryNotFoundException($"--data {dataDir}: no such folder");
        if (options.Size < 8) throw new ArgumentException($"--size {options.Size}: use at least 8 pixels");
        if (options.Bits is not (8 or 16)) throw new ArgumentException($"--bits {options.Bits}: use 8 or 16");
        Directory.CreateDirectory(outDir);
        CheckOptions(outDir, options);

        var clock = Stopwatch.StartNew();
        var files = FindDicoms(dataDir);
        var metaPath = Path.Combine(outDir, MetaFile);
        var errorsPath = Path.Combine(outDir, ErrorsFile);
        var done = LoadDone(metaPath, outDir);
        // Rewrite meta.csv with the intact rows only (a killed run may have left half a line).
        ImageCodecs.WriteAtomically(metaPath, Encoding.UTF8.GetBytes(
            Csv.Line(ImageCacheRow.Columns) + string.Concat(done.Values.Select(r => r.ToCsv()))));

        int converted = 0, skipped = 0, failed = 0;
        var gate = new object();
        using var meta = new StreamWriter(new FileStream(metaPath, FileMode.Append, FileAccess.Write, FileShare.Read), new UTF8Encoding(false));
        using var errors = new StreamWriter(new FileStream(errorsPath, FileMode.Create, FileAccess.Write, FileShare.Read), new UTF8Encoding(false));
        errors.Write(Csv.Line("image_id", "source", "reason"));
        errors.Flush();

        void Report() => progress?.Report(new ImageCacheProgress(converted + skipped + failed, files.Count, converted, skipped, failed));

        var workers = new ConcurrentBag<ImageCacheWorker.Client>();
        ImageCacheRow ConvertIsolated(string file, string relative, string png)
        {
            if (options.WorkerCommand is not { } command) return ConvertOne(file, relative, Path.Combine(outDir, png), png, options);
            // A file CxrLab reads entirely itself (plain uncompressed data through the own header walk) runs no GDCM code,
            // so it cannot take the process down: converted here, without a worker round trip (or a worker at all).
            DicomImage? plain = null;
            try { plain = DicomImage.OpenWithoutGdcm(file); }
            catch (DicomException) { } // not plain, or bad: the worker reads it and reports, as for any other file
            if (plain is not null)
                using (plain)
                    return ConvertOpened(plain, file, relative, Path.Combine(outDir, png), png, options);
            if (!workers.TryTake(out var worker)) worker = new ImageCacheWorker.Client([.. command]);
            try { return worker.Convert(Path.GetFullPath(file), relative, Path.GetFullPath(Path.Combine(outDir, png)), png); }
            finally { workers.Add(worker); }
        }

        try
        {
        Parallel.ForEach(files, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, options.Threads), CancellationToken = cancellation }, file =>
        {
            var relative = Path.GetRelativePath(dataDir, file);
            var png = Path.ChangeExtension(relative, ".png");
            if (done.ContainsKey(relative))
            {
                Interlocked.Increment(ref skipped);
                Report();
                return;
            }
            try
            {
                var row = ConvertIsolated(file, relative, png);
                lock (gate) { meta.Write(row.ToCsv()); meta.Flush(); }
                Interlocked.Increment(ref converted);
            }
            catch (Exception e) when (e is DicomException or IOException or ArgumentException or Interop.NativeException or UnauthorizedAccessException)
            {
                var reason = e is DicomException d ? d.Reason : $"{e.GetType().Name}: {e.Message}";
                lock (gate) { errors.Write(Csv.Line(Path.GetFileNameWithoutExtension(file), relative, reason)); errors.Flush(); }
                Interlocked.Increment(ref failed);
            }
            Report();
        });
        }
        finally
        {
            foreach (var worker in workers) worker.Dispose();
        }
        return new ImageCacheReport(files.Count, converted, skipped, failed, clock.Elapsed, metaPath, errorsPath);
    }

    /// <summary>Reads, maps to display, resizes (area interpolation when shrinking) and writes one PNG.</summary>
    public static ImageCacheRow ConvertOne(string file, string source, string pngPath, string pngRelative, ImageCacheOptions options)
    {
        using var dicom = DicomImage.Open(file);
        return ConvertOpened(dicom, file, source, pngPath, pngRelative, options);
    }

    static ImageCacheRow ConvertOpened(DicomImage dicom, string file, string source, string pngPath, string pngRelative, ImageCacheOptions options)
    {
        var image = dicom.ReadDisplay(0, options.Scaling);
        var (width, height) = TargetSize(image.Width, image.Height, options.Size, options.KeepAspect);
        var shrinking = width <= image.Width && height <= image.Height;
        var resized = OpenCv.Resize<float>(image.Data, image.Rows, image.Cols, image.Channels, height, width,
            shrinking ? Interpolation.Area : Interpolation.Linear);
        DicomImage.ReturnBuffer(image.Data); // the next file of this size reuses its pages
        ImageCodecs.Write(pngPath, new Image(resized, height, width, image.Channels), options.Bits, options.PngCompression);
        return new ImageCacheRow(Path.GetFileNameWithoutExtension(file), source, pngRelative, image.Width, image.Height, width, height,
            (double)width / image.Width, (double)height / image.Height, dicom.PhotometricInterpretation, dicom.VoiDescription);
    }

    /// <summary>Output (width, height): size×size, or the long side = size with the aspect ratio kept.</summary>
    public static (int Width, int Height) TargetSize(int width, int height, int size, bool keepAspect)
    {
        if (!keepAspect) return (size, size);
        var scale = (double)size / Math.Max(width, height);
        return (Math.Max(1, (int)Math.Round(width * scale)), Math.Max(1, (int)Math.Round(height * scale)));
    }

    static void CheckOptions(string outDir, ImageCacheOptions options)
    {
        var path = Path.Combine(outDir, OptionsFile);
        var current = JsonSerializer.Serialize(new { size = options.Size, bits = options.Bits, keep_aspect = options.KeepAspect, scaling = options.Scaling.ToString() });
        if (File.Exists(path))
        {
            var previous = File.ReadAllText(path).Trim();
            if (previous != current)
                throw new ArgumentException($"{outDir} holds a cache made with {previous}; this run asks for {current}. Use another --out or delete it.");
            return;
        }
        ImageCodecs.WriteAtomically(path, Encoding.UTF8.GetBytes(current + "\n"));
    }

    /// <summary>Reads a cache's meta.csv (rows of a torn last line are skipped).</summary>
    public static IReadOnlyList<ImageCacheRow> ReadMeta(string metaCsv)
    {
        var lines = File.ReadAllLines(metaCsv);
        if (lines.Length == 0 || lines[0] != string.Join(",", ImageCacheRow.Columns))
            throw new InvalidDataException($"{metaCsv}: not a CxrLab image cache meta.csv (expected the header {string.Join(",", ImageCacheRow.Columns)})");
        return lines.Skip(1).Select(Csv.Parse).Where(f => f is not null).Select(f => ImageCacheRow.FromCsv(f!)).OfType<ImageCacheRow>().ToList();
    }

    static ConcurrentDictionary<string, ImageCacheRow> LoadDone(string metaPath, string outDir)
    {
        var done = new ConcurrentDictionary<string, ImageCacheRow>();
        if (!File.Exists(metaPath)) return done;
        foreach (var line in File.ReadLines(metaPath).Skip(1))
        {
            if (Csv.Parse(line) is not { } fields || ImageCacheRow.FromCsv(fields) is not { } row) continue;
            if (File.Exists(Path.Combine(outDir, row.Png))) done[row.Source] = row;
        }
        return done;
    }
}

/// <summary>Minimal RFC 4180 lines: fields quoted when they hold a comma, quote or line break.</summary>
internal static class Csv
{
    public static string Line(params string[] fields) => string.Join(",", fields.Select(Quote)) + "\n";

    static string Quote(string field) =>
        field.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + field.Replace("\"", "\"\"") + "\"" : field;

    /// <summary>Fields of one line, or null when the line is malformed (an unterminated quote: a torn write).</summary>
    public static List<string>? Parse(string line)
    {
        var fields = new List<string>();
        var current = new StringBuilder();
        var quoted = false;
        for (var i = 0; i < line.Length; i++)
        {
            var c = line[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < line.Length && line[i + 1] == '"') { current.Append('"'); i++; }
                else if (c == '"') quoted = false;
                else current.Append(c);
            }
            else if (c == '"') quoted = true;
            else if (c == ',') { fields.Add(current.ToString()); current.Clear(); }
            else current.Append(c);
        }
        if (quoted) return null;
        fields.Add(current.ToString());
        return fields;
    }
}
