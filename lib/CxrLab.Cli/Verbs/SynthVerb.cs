using System.CommandLine;
using CxrLab.Data.Phantom;
using Spectre.Console;

namespace CxrLab.Cli.Verbs;

/// <summary>`cxr synth vinbig|rsna --out DIR --images N [--size S] [--seed K]`: writes a phantom dataset in the
/// exact Kaggle layout with real DICOM files (GDCM). Same options → same bytes.</summary>
public static class SynthVerb
{
    public static Command Create()
    {
        var command = new Command("synth", "Write a phantom dataset in the exact Kaggle layout (DICOM through GDCM)");
        command.Subcommands.Add(Make("vinbig", "VinBigData: train.csv, train/*.dicom, test/*.dicom, sample_submission.csv (3 readers, 14 findings)", VinBigPhantom.Write));
        command.Subcommands.Add(Make("rsna", "RSNA Pneumonia: stage_2_train_labels.csv, stage_2_detailed_class_info.csv, stage_2_train_images/*.dcm, stage_2_test_images/*.dcm", RsnaPhantom.Write));
        return command;
    }

    static Command Make(string name, string description, Func<string, PhantomOptions, IProgress<(int, int)>?, PhantomSummary> write)
    {
        var output = new Option<DirectoryInfo>("--out") { Description = "output folder (created)", Required = true };
        var images = new Option<int>("--images") { Description = "number of train images", DefaultValueFactory = _ => 8 };
        var size = new Option<int>("--size") { Description = "image width in pixels (≥ 64)", DefaultValueFactory = _ => 256 };
        var seed = new Option<int>("--seed") { Description = "random seed; same seed, same bytes", DefaultValueFactory = _ => 0 };
        var test = new Option<int?>("--test-images") { Description = "number of test images (default: images / 5, at least 1)" };
        var cache = new Option<DirectoryInfo?>("--png-cache") { Description = "also write 16-bit PNGs + meta.csv (image cache schema) of the train images here" };
        var command = new Command(name, description) { output, images, size, seed, test, cache };
        command.SetAction(parse =>
        {
            var options = new PhantomOptions(parse.GetValue(images), parse.GetValue(size), parse.GetValue(seed), parse.GetValue(test),
                PngCacheDir: parse.GetValue(cache)?.FullName);
            var root = parse.GetValue(output)!.FullName;
            PhantomSummary? summary = null;
            AnsiConsole.Progress().AutoClear(true).Start(ctx =>
            {
                var task = ctx.AddTask($"synth {name}");
                summary = write(root, options, new Progress<(int Done, int Total)>(p => { task.MaxValue = p.Total; task.Value = p.Done; }));
            });
            AnsiConsole.MarkupLine($"wrote [bold]{Markup.Escape(root)}[/]: {summary!.TrainImages} train + {summary.TestImages} test images, {summary.LabelRows} label rows");
            foreach (var (cls, count) in summary.RowsPerClass) AnsiConsole.MarkupLine($"  {Markup.Escape(cls)}: {count}");
            foreach (var (enc, count) in summary.FilesPerEncoding) AnsiConsole.MarkupLine($"  [grey]{Markup.Escape(enc)}: {count} files[/]");
            return 0;
        });
        return command;
    }
}
