using System.CommandLine;
using CxrLab.Dicom.Cache;
using Spectre.Console;

namespace CxrLab.Cli.Verbs;

/// <summary>`cxr convert --data DIR --out DIR --size N [--bits 8|16] [--keep-aspect]`: the DICOM → PNG image cache.</summary>
public static class ConvertVerb
{
    public static Command Create()
    {
        var data = new Option<string>("--data") { Description = "folder of DICOMs (*.dcm, *.dicom; searched recursively)", Required = true };
        var output = new Option<string>("--out") { Description = "cache folder: PNGs, meta.csv, errors.csv", Required = true };
        var size = new Option<int>("--size") { Description = "output side in pixels (the long side with --keep-aspect)", Required = true };
        var bits = new Option<int>("--bits") { Description = "PNG depth: 8 or 16", DefaultValueFactory = _ => 8 };
        var keepAspect = new Option<bool>("--keep-aspect") { Description = "keep the aspect ratio (long side = --size) instead of a square" };
        var inProcess = new Option<bool>("--in-process")
        {
            Description = "decode in this process (faster start; a file that crashes GDCM then ends the run). By default each " +
                          "file is converted in a worker process, so such a file is listed in errors.csv as \"decoder crashed\"",
        };
        var pngCompression = new Option<int>("--png-compression")
        {
            Description = "PNG compression 0-9; -1 (default): OpenCV's default, as cv2.imwrite without parameters (zlib's fastest level)",
            DefaultValueFactory = _ => -1,
        };
        var threads = new Option<int>("--threads") { Description = "parallel conversions (default: all cores)", DefaultValueFactory = _ => Environment.ProcessorCount };
        var command = new Command("convert", "Convert a folder of DICOMs into display-stage PNGs (VOI, MONOCHROME1 inverted, resized) " +
                                             "with meta.csv (sizes, scale factors, window) and errors.csv; resumable")
            { data, output, size, bits, keepAspect, inProcess, threads, pngCompression };
        command.SetAction(parse => DicomVerb.Guard(() =>
        {
            var options = new ImageCacheOptions
            {
                Size = parse.GetValue(size),
                Bits = parse.GetValue(bits),
                KeepAspect = parse.GetValue(keepAspect),
                Threads = parse.GetValue(threads),
                PngCompression = parse.GetValue(pngCompression),
            };
            if (!parse.GetValue(inProcess))
                options = options with { WorkerCommand = [.. DicomVerb.SelfCommand(), .. CxrLab.Dicom.Cache.ImageCacheWorker.WorkerArguments(options)] };
            var dataDir = parse.GetValue(data)!;
            var outDir = parse.GetValue(output)!;
            ImageCacheReport? report = null;
            AnsiConsole.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(),
                         new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                .Start(context =>
                {
                    var task = context.AddTask("converting", maxValue: 1);
                    var started = DateTime.UtcNow;
                    var progress = new Progress(p =>
                    {
                        task.MaxValue = Math.Max(1, p.Total);
                        task.Value = p.Finished;
                        var seconds = Math.Max(1e-3, (DateTime.UtcNow - started).TotalSeconds);
                        task.Description = $"{p.Finished}/{p.Total} · {p.Converted / seconds:F1} files/s · {p.Failed} failed";
                    });
                    report = ImageCacheConverter.Convert(dataDir, outDir, options, progress);
                    task.Value = task.MaxValue;
                });
            var r = report!;
            AnsiConsole.MarkupLine($"[green]{r.Converted}[/] converted, {r.Skipped} already done, " +
                                   $"{(r.Failed > 0 ? $"[red]{r.Failed}[/]" : "0")} failed of {r.Total} in {r.Elapsed.TotalSeconds:F1} s " +
                                   $"({(r.Converted / Math.Max(1e-3, r.Elapsed.TotalSeconds)):F1} files/s)");
            AnsiConsole.MarkupLine($"meta: {Markup.Escape(r.MetaCsv)}" + (r.Failed > 0 ? $"   errors: {Markup.Escape(r.ErrorsCsv)}" : ""));
        }));
        return command;
    }

    /// <summary>Reports on the calling worker thread (Spectre's task updates are thread-safe), not via a sync context.</summary>
    sealed class Progress(Action<ImageCacheProgress> report) : IProgress<ImageCacheProgress>
    {
        public void Report(ImageCacheProgress value) => report(value);
    }
}
