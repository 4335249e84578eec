using System.CommandLine;
using CxrLab.Augment.Categories;
using CxrLab.Data;
using CxrLab.Dicom;
using Spectre.Console;

namespace CxrLab.Cli.Verbs;

/// <summary>`cxr dataset build CONFIG.yaml --data ROOT [--cache DIR] --out DIR`: materialises a category dataset (the seeds' A–D)
/// from VinBigData in the Kaggle layout, read from DICOM or from a PNG cache;
/// `cxr dataset vinbig|rsna` (see <see cref="DatasetSummaryVerb"/>) summarises a Kaggle-layout dataset.</summary>
public static class DatasetVerb
{
    public static Command Create()
    {
        var config = new Argument<string>("config") { Description = "category config, e.g. experiments/datasets/vinbig-B.yaml" };
        var data = new Option<string>("--data") { Description = "VinBigData root in the Kaggle layout: ROOT/train.csv (boxes in original DICOM pixels) + ROOT/train/<image_id>.dicom", Required = true };
        var cache = new Option<string?>("--cache") { Description = "PNG cache of the train images: DIR/meta.csv + PNGs (from ./cxr convert or ./cxr synth --png-cache); boxes are scaled to it. Without it the DICOM files are read directly" };
        var output = new Option<string>("--out") { Description = "output folder: train.csv (VinBigData schema, boxes in the OUTPUT PNG's pixels) + train/<image_id>.png + train/meta.csv + category_report.json; " +
                                                                  "it is itself a dataset: --data OUT --cache OUT/train", Required = true };
        var threads = new Option<int>("--threads") { Description = "worker threads (default: all cores)", DefaultValueFactory = _ => 0 };
        var build = new Command("build", "Build an augmented dataset from VinBigData (DICOM or a PNG cache): PNG images + train.csv (VinBigData schema, " +
                                         "boxes in the output PNG's pixels) + meta.csv + a per-class report") { config, data, cache, output, threads };
        build.SetAction(parse => Build(parse.GetValue(config)!, parse.GetValue(data)!, parse.GetValue(cache), parse.GetValue(output)!, parse.GetValue(threads)));
        var command = new Command("dataset", "Datasets: summarise a Kaggle-layout set (vinbig|rsna), or build category A–D datasets (build)") { build };
        foreach (var summary in DatasetSummaryVerb.Subcommands()) command.Subcommands.Add(summary);
        return command;
    }

    static int Build(string configPath, string dataDir, string? cacheDir, string outDir, int threads)
    {
        var config = CategoryConfig.Load(configPath);
        static string Full(string p) => Path.GetFullPath(p).TrimEnd('/');
        if (Full(dataDir) == Full(outDir))
            throw new ArgumentException("--out must differ from --data (the source train.csv would be overwritten)");
        if (cacheDir is not null && (Full(cacheDir) == Full(outDir) || Full(cacheDir) == Full(Path.Combine(outDir, CategoryBuilder.ImagesFolder))))
            throw new ArgumentException("--out must not hold --cache (the source images would be overwritten)");
        IImageSource images = cacheDir is not null
            ? new PngCacheSource(cacheDir)
            : VinBigDataset.DicomSource(dataDir, "train", DicomReaders.Display, DicomReaders.Size);
        var dataset = VinBigDataset.LoadTrain(dataDir, images, new FusionOptions(config.Fusion));
        if (dataset.Report.Issues.Count > 0) Console.WriteLine(dataset.Report.ToString(10));
        if (dataset.Fusion is { } fusion) AnsiConsole.MarkupLine($"[grey]{Markup.Escape(fusion.ToString())}[/]");
        CategoryReport? report = null;
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask($"building {Markup.Escape(config.Name)}", maxValue: 1);
                report = CategoryBuilder.Build(config, dataset, outDir, (done, total) =>
                {
                    task.MaxValue = total;
                    task.Value = done;
                }, threads);
                task.Value = task.MaxValue;
            });
        Print(report!, outDir);
        // A reused --out may hold images of an earlier build that train.csv no longer lists; say so (never delete).
        var listed = VinBigLabels.Read(Path.Combine(outDir, VinBigDataset.TrainCsv), new ValidationReport()).Select(r => r.ImageId).ToHashSet();
        var stale = Directory.EnumerateFiles(Path.Combine(outDir, "train"), "*.png").Count(f => !listed.Contains(Path.GetFileNameWithoutExtension(f)));
        if (stale > 0) AnsiConsole.MarkupLine($"[yellow]warning:[/] {stale} PNG(s) in {Markup.Escape(Path.Combine(outDir, "train"))} are not in train.csv (left from an earlier build)");
        return 0;
    }

    static void Print(CategoryReport report, string outDir)
    {
        var table = new Table().Title($"{Markup.Escape(report.Name)}: {report.SourceImages} source images → {report.OutputImages} images")
            .AddColumns("id", "class", "source boxes", "output boxes", "source images", "output images");
        for (var c = 0; c < 14; c++)
            table.AddRow(c.ToString(), Markup.Escape(VinBigClasses.Names[c]), report.SourceBoxes[c].ToString(), report.OutputBoxes[c].ToString(),
                report.SourceImagesWithClass[c].ToString(), report.OutputImagesWithClass[c].ToString());
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine("images per output: " + Markup.Escape(string.Join(", ", report.ImagesPerOutput.Select(kv => $"{kv.Key} {kv.Value}"))));
        AnsiConsole.MarkupLine($"[grey]{Markup.Escape(report.Stats.ToString())}[/]");
        AnsiConsole.MarkupLine($"wrote [green]{Markup.Escape(Path.Combine(outDir, "train.csv"))}[/], images and meta.csv under {Markup.Escape(Path.Combine(outDir, "train"))} (boxes in those PNGs' pixels), report {Markup.Escape(Path.Combine(outDir, "category_report.json"))}");
    }
}
