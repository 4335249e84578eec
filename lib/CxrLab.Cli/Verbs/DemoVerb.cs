using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using CxrLab.Data;
using CxrLab.Data.Phantom;
using CxrLab.Diagnostics;
using CxrLab.Dicom.Cache;
using CxrLab.Evaluation;
using CxrLab.Torch;
using CxrLab.Experiments;
using CxrLab.Models;
using CxrLab.Models.Detection;
using CxrLab.Tasks;
using CxrLab.Tasks.VinBigData;
using CxrLab.Training;
using Spectre.Console;

using static CxrLab.Cli.Verbs.DemoProgress;

namespace CxrLab.Cli.Verbs;

/// <summary>`cxr demo [--arch A]`: the end-to-end tour on phantom data — a Kaggle-layout VinBigData set (DICOM) →
/// 16-bit PNG cache → fused boxes and a stratified fold → a detector from the zoo (default: Faster R-CNN ResNet-18 FPN
/// with small heads; the family's demo recipe is <c>experiments/demo_vinbig_{family}.yaml</c>) → Kaggle mAP@0.4 on the
/// validation fold → submission CSV for the test split (original pixels) → report.html beside the run. The last line
/// is one JSON object (val_map40, report, ...).</summary>
public static class DemoVerb
{
    /// <summary>The demo recipe of a model family: <c>experiments/demo_vinbig_{family}.yaml</c>.</summary>
    public static string ConfigName(string family) => $"demo_vinbig_{family}.yaml";

    /// <summary>Phantom class frequencies = the real set's ^ 0.5: the order stays (Aortic enlargement most,
    /// Pneumothorax least) but a couple of hundred images hold every class several times; with the real shape
    /// three classes would have one or two boxes in the whole demo set and score 0 whatever the model.</summary>
    public const double DefaultClassBalance = 0.5;

    public static Command Create()
    {
        var output = new Option<string>("--out") { Description = "work folder (phantom data, cache, runs)", DefaultValueFactory = _ => Path.Combine("build", "demo") };
        var images = new Option<int>("--images") { Description = "phantom train images (a fifth is held out for validation)", DefaultValueFactory = _ => 200 };
        var size = new Option<int?>("--size") { Description = "cache and model input size in pixels (long side; default: the recipe's model.input_size, else 224)" };
        var epochs = new Option<int?>("--epochs") { Description = "training epochs (default: the recipe's train.epochs)" };
        var threads = new Option<int?>("--threads")
        {
            Description = "libtorch intra-op threads (default: CXR_THREADS or the core count); 1 can be much faster when other jobs keep the cores busy",
        };
        var abnormal = new Option<double>("--abnormal") { Description = "fraction of phantom images with findings", DefaultValueFactory = _ => 0.8 };
        var seed = new Option<int>("--seed") { Description = "phantom seed", DefaultValueFactory = _ => 1 };
        var balance = new Option<double>("--class-balance")
        {
            Description = "phantom class frequencies = real set's ^ this (1 = real shape, where 3 classes are under 1 % of boxes; 0 = uniform)",
            DefaultValueFactory = _ => DefaultClassBalance,
        };
        var arch = new Option<string?>("--arch") { Description = "zoo arch to train (default: the recipe's, fasterrcnn_resnet18_fpn); its family's recipe experiments/demo_vinbig_{family}.yaml is used" };
        var config = new Option<string?>("--config") { Description = "experiment YAML (default: experiments/demo_vinbig_{family}.yaml for --arch)" };
        var set = new Option<string[]>("--set") { Description = "override a config value, e.g. --set optimizer.lr=0.01 (repeatable)" };
        var command = new Command("demo", "End to end on phantom VinBigData: DICOM → cache → a detector (--arch) → Kaggle mAP@0.4 → submission + HTML report")
            { output, images, size, epochs, abnormal, seed, balance, threads, arch, config, set };
        command.Subcommands.Add(RsnaDemoVerb.Create());
        command.SetAction(parse =>
        {
            AnsiConsole.MarkupLine("[bold]CXR Lab demo[/]");
            AnsiConsole.WriteLine();
            var report = EnvironmentReport.Collect();
            DoctorVerb.Print(report);
            AnsiConsole.WriteLine();
            if (!report.Healthy) throw new InvalidOperationException("the environment is not healthy (see above); fix it before the demo");
            if (parse.GetValue(threads) is { } n)
            {
                if (n < 1) throw new UsageException("--threads must be ≥ 1");
                TorchRuntime.Threads = n;
                AnsiConsole.MarkupLine($"libtorch threads: {n}");
            }
            return Run(parse.GetValue(output)!, parse.GetValue(images), parse.GetValue(size), parse.GetValue(epochs), parse.GetValue(abnormal),
                parse.GetValue(seed), parse.GetValue(balance), parse.GetValue(arch), parse.GetValue(config), parse.GetValue(set) ?? []);
        });
        return command;
    }


    static int Run(string outDir, int images, int? sizeArg, int? epochsArg, double abnormal, int seed, double classBalance, string? arch, string? configPath, string[] sets)
    {
        if (images < 10) throw new UsageException("--images must be at least 10 (five folds need a few images each)");
        var progress = new DemoProgress();
        outDir = Path.GetFullPath(outDir);
        var root = Path.Combine(outDir, "vinbigdata");
        configPath ??= FindConfig(ConfigName(arch is null ? "faster_rcnn" : DetectorZoo.Find(arch).Family));
        // Size and epochs not given: the recipe's (a family may need its own, e.g. EfficientDet a multiple of 128 px).
        var recipe = ExperimentConfigLoader.LoadFile(configPath, [.. sets]);
        var size = sizeArg ?? (recipe.Model.InputSize > 0 ? recipe.Model.InputSize : 224);
        var epochs = epochsArg ?? recipe.Train.Epochs;
        if (size < 64) throw new UsageException("--size must be at least 64");
        if (epochs < 1) throw new UsageException("--epochs must be at least 1");
        var overrides = new List<string>
        {
            $"data.root={root}", $"data.cache_size={size}", $"model.input_size={size}", $"model.max_size={size}",
            $"train.epochs={epochs}", $"output.runs_dir={Path.Combine(outDir, "runs")}",
        };
        if (arch is not null) overrides.Add($"model.arch={arch}");
        overrides.AddRange(sets);
        var cfg = ExperimentConfigLoader.LoadFile(configPath, overrides);

        progress.EndPhase("setup");

        // 1. Phantom data: originals twice the cache size, so the submission's original pixels differ from the cache's.
        Stage(1, $"phantom VinBigData: {images} train images ({abnormal:P0} with findings, class frequencies real^{classBalance:0.##}), {Math.Max(2, images / 10)} test images, width {size * 2} px, DICOM");
        if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
        var clock = Stopwatch.StartNew();
        PhantomSummary summary = null!;
        WithBar("writing DICOMs", images + Math.Max(2, images / 10), bar =>
            summary = VinBigPhantom.Write(root, new PhantomOptions(images, size * 2, seed, Math.Max(2, images / 10), abnormal, ClassBalance: classBalance), bar));
        Note($"{summary.TrainImages} train + {summary.TestImages} test DICOMs, {summary.LabelRows} label rows from 3 readers each ({clock.Elapsed.TotalSeconds:0.0} s)");

        progress.EndPhase("synth");

        // 2. Cache + fusion + fold (the trainer's own VinBigData path, as ./cxr train runs it).
        Stage(2, $"16-bit PNG cache (long side {size}), WBF fusion at IoU {cfg.Data.FusionIou:0.##}, fold {cfg.Data.Fold} of {cfg.Data.Folds}");
        VinBigFold fold = null!;
        WithBar("converting DICOM → PNG", images, bar =>
            fold = VinBigTraining.Prepare(cfg, Note, new Relay<ImageCacheProgress>(p => bar.Report((p.Finished, p.Total)))));
        var testCache = Path.Combine(outDir, $"test_png{size}");
        var testReport = ImageCacheConverter.Convert(Path.Combine(root, "test"), testCache, new ImageCacheOptions { Size = size, Bits = 16, KeepAspect = true });
        Note($"test cache: {testReport.Converted + testReport.Skipped} images");
        var (trainSet, valSet) = VinBigTraining.Datasets(cfg, fold);
        var metric = new VinBigValidationMetric(fold.Validation);
        var task = DetectionTasks.Find(cfg.Data.Dataset);

        progress.EndPhase("cache");

        // 3. Train.
        Stage(3, $"train {cfg.Model.Arch} ({ModelSummary(cfg)}), {cfg.Train.Epochs} epochs × {trainSet.Count} images, batch {cfg.Train.BatchSize}, {cfg.Optimizer.Name} lr {cfg.Optimizer.Lr}");
        var run = RunDirectory.Create(cfg);
        Note($"run: {run.Path}");
        using var model = ExperimentRunner.BuildModel(cfg, Note);
        Note($"{model.Module.parameters().Sum(p => p.numel()):N0} parameters, {model.LabelSpace}, {model.Preprocessing}");
        using var trainer = new Trainer(cfg, model, trainSet, valSet, metric, run);
        var trainClock = Stopwatch.StartNew();
        TrainingConsole.Fit(trainer, task.MetricClassNames);
        var trainSeconds = trainClock.Elapsed.TotalSeconds;

        progress.EndPhase("train");

        // 4. Validate the final weights with the Kaggle metric (the same numbers the last epoch logged).
        Stage(4, $"validate: Kaggle mAP@0.4 on {fold.Validation.Count} held-out images (original pixels, No finding = class 14)");
        model.eval();
        var valPredictions = DatasetPrediction.Predict(model, fold.Validation, cfg.Train.BatchSize);
        var infos = fold.Validation.Items.ToDictionary(i => i.ImageId, i => i.Info, StringComparer.Ordinal);
        var result = VocEvaluator.Evaluate(fold.Validation.ToTruth(noFindingBox: true), VinBigValidationMetric.ToDetections(valPredictions, infos));
        Note($"val_map40 = {result.Map:0.0000} over {result.PerClass.Count} classes with truth");

        progress.EndPhase("validate");

        // 5. Submission for the test split, in original pixels.
        Stage(5, "submission for the test split (Kaggle CSV, original pixels)");
        var test = VinBigDataset.LoadTest(root, new PngCacheSource(testCache));
        var testPredictions = DatasetPrediction.Predict(model, test, cfg.Train.BatchSize);
        var submission = Path.Combine(run.Path, "submission.csv");
        VinBigSubmission.Write(submission, test.Items.Select(i => i.ImageId),
            VinBigValidationMetric.ToDetections(testPredictions, test.Items.ToDictionary(i => i.ImageId, i => i.Info, StringComparer.Ordinal)));
        Note($"{submission} ({test.Count} images)");

        progress.EndPhase("submission");

        // 6. Report.
        Stage(6, "HTML report: learning curves, per-class AP, predictions vs truth");
        var reportPath = Path.Combine(run.Path, "report.html");
        var examples = DatasetPrediction.Examples(fold.Validation, valPredictions, 6);
        var summaryRows = new List<(string, string)>
        {
            ("val mAP@0.4 (Kaggle metric)", result.Map.ToString("0.0000", CultureInfo.InvariantCulture)),
            ("data", $"phantom VinBigData, {images} train images (seed {seed}, class frequencies real^{classBalance:0.##}), {fold.Train.Count} trained on, {fold.Validation.Count} validated"),
            ("model", $"{cfg.Model.Arch} ({ModelSummary(cfg)}), {model.Preprocessing}, random init"),
            ("training", $"{cfg.Train.Epochs} epochs, batch {cfg.Train.BatchSize}, {cfg.Optimizer.Name} lr {cfg.Optimizer.Lr}, {trainSeconds:0} s"),
            ("submission", submission),
            ("config", Path.GetFullPath(configPath) + (sets.Length > 0 ? "  " + string.Join(" ", sets) : "")),
        };
        RunReport.Write(reportPath, $"CXR Lab demo — {cfg.Model.Arch} on phantom VinBigData", summaryRows, trainer.Log.Rows, result,
            VinBigClasses.Names, examples);
        var plots = RunReport.WritePlots(run.PlotsDir, trainer.Log.Rows, result, VinBigClasses.Names);
        Note($"{reportPath} (examples also as example_N.png); plots: {run.PlotsDir} ({string.Join(", ", plots.Select(Path.GetFileName))})");
        progress.EndPhase("report");
        progress.Done();

        var json = new JsonObject
        {
            ["val_map40"] = Math.Round(result.Map, 4),
            ["report"] = reportPath,
            ["submission"] = submission,
            ["run"] = run.Path,
            ["train_images"] = fold.Train.Count,
            ["val_images"] = fold.Validation.Count,
            ["epochs"] = cfg.Train.Epochs,
            ["size"] = size,
            ["train_seconds"] = Math.Round(trainSeconds, 1),
            ["wall_seconds"] = progress.WallSeconds,
            ["phase_seconds"] = progress.Phases,
            ["threads"] = TorchRuntime.Threads,
        };
        Console.WriteLine(json.ToJsonString());
        return 0;
    }

    /// <summary>"input 224 px, 1,234,567 parameters": what the stage line says about the model.</summary>
    static string ModelSummary(ExperimentConfig cfg) => $"input {(cfg.Model.InputSize > 0 ? cfg.Model.InputSize : DetectorZoo.Find(cfg.Model.Arch).DefaultInputSize)} px, {cfg.Model.NumClasses} classes";

    /// <summary>A demo config: beside the working directory's experiments/, else the repository's (walking up from the binary).</summary>
    internal static string FindConfig(string configName)
    {
        var here = Path.Combine("experiments", configName);
        if (File.Exists(here)) return here;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "experiments", configName);
            if (File.Exists(candidate)) return candidate;
        }
        throw new FileNotFoundException($"experiments/{configName} not found from {Environment.CurrentDirectory}; run from the repository or pass --config");
    }

    static void WithBar(string label, int total, Action<IProgress<(int Done, int Total)>> work) =>
        AnsiConsole.Progress().AutoClear(true)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(label, maxValue: Math.Max(1, total));
                work(new Relay<(int Done, int Total)>(p => { task.MaxValue = Math.Max(1, p.Total); task.Value = p.Done; }));
                task.Value = task.MaxValue;
            });

    /// <summary>Reports on the calling thread (Spectre's task updates are thread-safe), not via a sync context.</summary>
    sealed class Relay<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
