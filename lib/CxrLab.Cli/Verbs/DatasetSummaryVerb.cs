using System.CommandLine;
using System.Globalization;
using CxrLab.Data;
using Spectre.Console;

namespace CxrLab.Cli.Verbs;

/// <summary>`cxr dataset vinbig|rsna --root DIR --cache DIR [--fuse wbf|nms|none|one] [--folds K] [--seed S]
/// [--cap CLASS=N] [--min CLASS=N]`: loads a Kaggle-layout dataset over an image cache (meta.csv + PNGs) and
/// prints the validation report, label fusion counts, per-fold class histograms and a resampling table.</summary>
public static class DatasetSummaryVerb
{
    /// <summary>The `vinbig` and `rsna` subcommands of `cxr dataset`.</summary>
    public static IEnumerable<Command> Subcommands() => [Make("vinbig"), Make("rsna")];

    static Command Make(string kind)
    {
        var root = new Option<DirectoryInfo>("--root") { Description = "dataset folder in the Kaggle layout", Required = true };
        var cache = new Option<DirectoryInfo>("--cache") { Description = "image cache folder: <image_id>.png + meta.csv (image_id,width,height,orig_width,orig_height[,scale_x,scale_y])", Required = true };
        var fuse = new Option<string>("--fuse") { Description = "radiologist fusion (VinBigData): wbf, nms, none, one", DefaultValueFactory = _ => "wbf" };
        fuse.AcceptOnlyFromAmong("wbf", "nms", "none", "one");
        var folds = new Option<int>("--folds") { Description = "K of the multilabel-stratified K-fold", DefaultValueFactory = _ => 5 };
        var seed = new Option<int>("--seed") { Description = "seed of folds and resampling", DefaultValueFactory = _ => 0 };
        var caps = new Option<string[]>("--cap") { Description = "cap a class's images, e.g. --cap 14=2000", AllowMultipleArgumentsPerToken = true };
        var mins = new Option<string[]>("--min") { Description = "repeat images of a class up to N, e.g. --min 12=200", AllowMultipleArgumentsPerToken = true };
        var command = new Command(kind, $"Summarise the {kind} dataset") { root, cache, fuse, folds, seed, caps, mins };
        command.SetAction(parse =>
        {
            var source = new PngCacheSource(parse.GetValue(cache)!.FullName);
            var method = parse.GetValue(fuse) switch { "nms" => FusionMethod.Nms, "none" => FusionMethod.None, "one" => FusionMethod.KeepOneReader, _ => FusionMethod.Wbf };
            var dataset = kind == "vinbig"
                ? VinBigDataset.LoadTrain(parse.GetValue(root)!.FullName, source, new FusionOptions(method))
                : RsnaDataset.LoadTrain(parse.GetValue(root)!.FullName, source);
            Func<int, string> nameOf = kind == "vinbig" ? VinBigClasses.NameOf : c => c >= 0 && c < RsnaClasses.Detailed.Count ? RsnaClasses.Detailed[c] : c.ToString(CultureInfo.InvariantCulture);
            AnsiConsole.MarkupLine($"[bold]{Markup.Escape(dataset.Name)}[/]: {dataset.Count} images");
            Console.WriteLine(dataset.Report.ToString(20));
            if (dataset.Fusion is { } f) Console.WriteLine(f);
            var split = MultilabelStratifiedKFold.Split(dataset, parse.GetValue(folds), parse.GetValue(seed));
            Console.WriteLine();
            Console.WriteLine("images per class and fold (image classes; RSNA: detailed class):");
            Console.WriteLine(split.HistogramTable(nameOf));
            var plan = new ResamplingPlan(Parse(parse.GetValue(caps)), Parse(parse.GetValue(mins)));
            if (plan.MaxImages!.Count + plan.MinImages!.Count > 0)
            {
                Console.WriteLine();
                Console.WriteLine("resampling (images, boxes) before → after:");
                Console.WriteLine(ClassResampler.Resample(dataset, plan, parse.GetValue(seed)).Table(nameOf));
            }
            return 0;
        });
        return command;
    }

    static Dictionary<int, int> Parse(string[]? pairs)
    {
        var result = new Dictionary<int, int>();
        foreach (var pair in pairs ?? [])
        {
            var parts = pair.Split('=');
            if (parts.Length != 2 || !int.TryParse(parts[0], out var c) || !int.TryParse(parts[1], out var n))
                throw new ArgumentException($"'{pair}' should be CLASS=N, e.g. 14=2000");
            result[c] = n;
        }
        return result;
    }
}
