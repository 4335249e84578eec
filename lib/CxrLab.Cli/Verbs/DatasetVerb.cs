using System.CommandLine;
using CxrLab.Augment.Categories;
using Spectre.Console;

namespace CxrLab.Cli.Verbs;

/// <summary>`cxr dataset build CONFIG.yaml --data DIR --out DIR`: materialises a category dataset (the seeds' A–D);
/// `cxr dataset vinbig|rsna` (see <see cref="DatasetSummaryVerb"/>) summarises a Kaggle-layout dataset.</summary>
public static class DatasetVerb
{
    public static Command Create()
    {
        var config = new Argument<string>("config") { Description = "category config, e.g. experiments/datasets/vinbig-B.yaml" };
        var data = new Option<string>("--data") { Description = "VinBigData image cache folder: DIR/train.csv + DIR/train/<image_id>.png", Required = true };
        var output = new Option<string>("--out") { Description = "output folder (same layout: train.csv + train/*.png + category_report.json)", Required = true };
        var threads = new Option<int>("--threads") { Description = "worker threads (default: all cores)", DefaultValueFactory = _ => 0 };
        var build = new Command("build", "Build an augmented, resampled dataset: PNG images + train.csv (VinBigData schema) + a per-class report") { config, data, output, threads };
        build.SetAction(parse => Guard(() => Build(parse.GetValue(config)!, parse.GetValue(data)!, parse.GetValue(output)!, parse.GetValue(threads))));
        var command = new Command("dataset", "Datasets: summarise a Kaggle-layout set (vinbig|rsna), or build category A–D datasets (build)") { build };
        foreach (var summary in DatasetSummaryVerb.Subcommands()) command.Subcommands.Add(summary);
        return command;
    }

    static int Build(string configPath, string dataDir, string outDir, int threads)
    {
        var config = CategoryConfig.Load(configPath);
        if (Path.GetFullPath(dataDir).TrimEnd('/') == Path.GetFullPath(outDir).TrimEnd('/'))
            throw new ArgumentException("--out must differ from --data (the source train.csv would be overwritten)");
        CategoryReport? report = null;
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask($"building {Markup.Escape(config.Name)}", maxValue: 1);
                report = CategoryBuilder.Build(config, dataDir, outDir, (done, total) =>
                {
                    task.MaxValue = total;
                    task.Value = done;
                }, threads);
                task.Value = task.MaxValue;
            });
        Print(report!, outDir);
        // A reused --out may hold images of an earlier build that train.csv no longer lists; say so (never delete).
        var listed = VinBigCsv.Read(Path.Combine(outDir, "train.csv")).Select(r => r.ImageId).ToHashSet();
        var stale = Directory.EnumerateFiles(Path.Combine(outDir, "train"), "*.png").Count(f => !listed.Contains(Path.GetFileNameWithoutExtension(f)));
        if (stale > 0) AnsiConsole.MarkupLine($"[yellow]warning:[/] {stale} PNG(s) in {Markup.Escape(Path.Combine(outDir, "train"))} are not in train.csv (left from an earlier build)");
        return 0;
    }

    static void Print(CategoryReport report, string outDir)
    {
        var table = new Table().Title($"{Markup.Escape(report.Name)}: {report.SourceImages} source images → {report.OutputImages} images")
            .AddColumns("id", "class", "source boxes", "output boxes", "source images", "output images");
        for (var c = 0; c < 14; c++)
            table.AddRow(c.ToString(), Markup.Escape(VinBigCsv.ClassNames[c]), report.SourceBoxes[c].ToString(), report.OutputBoxes[c].ToString(),
                report.SourceImagesWithClass[c].ToString(), report.OutputImagesWithClass[c].ToString());
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine("images per output: " + Markup.Escape(string.Join(", ", report.ImagesPerOutput.Select(kv => $"{kv.Key} {kv.Value}"))));
        AnsiConsole.MarkupLine($"[grey]{Markup.Escape(report.Stats.ToString())}[/]");
        AnsiConsole.MarkupLine($"wrote [green]{Markup.Escape(Path.Combine(outDir, "train.csv"))}[/], images under {Markup.Escape(Path.Combine(outDir, "train"))}, report {Markup.Escape(Path.Combine(outDir, "category_report.json"))}");
    }

    /// <summary>Bad input (config, files, options) ends with its message and exit code 2, not a stack trace.</summary>
    static int Guard(Func<int> action)
    {
        try { return action(); }
        catch (Exception e) when (e is FormatException or IOException or InvalidDataException or ArgumentException or InvalidOperationException or NotSupportedException or CxrLab.Interop.NativeException)
        {
            AnsiConsole.MarkupLine($"[red]error:[/] {Markup.Escape(e.Message)}");
            return 2;
        }
    }
}
