using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using CxrLab.Data;
using CxrLab.Data.Phantom;
using CxrLab.Dicom.Cache;
using CxrLab.Evaluation;
using CxrLab.Experiments;
using CxrLab.Models.Detection;
using CxrLab.Tasks;
using CxrLab.Tasks.Rsna;
using CxrLab.Torch;
using CxrLab.Training;
using Spectre.Console;

using static CxrLab.Cli.Verbs.DemoProgress;

namespace CxrLab.Cli.Verbs;

/// <summary>`cxr demo rsna`: the RSNA Pneumonia tour on phantom data — a Kaggle-layout RSNA set (DICOM) → 8-bit PNG cache →
/// patient-level split stratified by Target → Mask R-CNN (ResNet-18 FPN with small heads, the seed's recipe scaled down:
/// <c>experiments/demo_rsna_mask_rcnn.yaml</c>) trained on filled-box masks → the RSNA metric on the held-out patients and a
/// confidence × NMS sweep → submission CSVs (test split; validation split scored back through the Kaggle scorer) → report.html.
/// The last line is one JSON object (val_rsna_map, report, ...).</summary>
public static class RsnaDemoVerb
{
    public const string ConfigName = "demo_rsna_mask_rcnn.yaml";

    public static Command Create()
    {
        var output = new Option<string>("--out") { Description = "work folder (phantom data, cache, runs)", DefaultValueFactory = _ => Path.Combine("build", "demo") };
        var images = new Option<int>("--images") { Description = "phantom train patients (a fifth is held out for validation; ~22 % have opacities, as in the real set)", DefaultValueFactory = _ => 400 };
        var size = new Option<int>("--size") { Description = "cache and model input size in pixels", DefaultValueFactory = _ => 224 };
        var epochs = new Option<int?>("--epochs") { Description = "training epochs (default: the recipe's)" };
        var seed = new Option<int>("--seed") { Description = "phantom seed", DefaultValueFactory = _ => 1 };
        var threads = new Option<int?>("--threads") { Description = "libtorch intra-op threads; 1 can be much faster when other jobs keep the cores busy" };
        var config = new Option<string?>("--config") { Description = $"experiment YAML (default: experiments/{ConfigName})" };
        var set = new Option<string[]>("--set") { Description = "override a config value, e.g. --set optimizer.lr=0.01 (repeatable)" };
        var command = new Command("rsna", "End to end on phantom RSNA Pneumonia: DICOM → cache → Mask R-CNN → RSNA metric + threshold sweep → submission + HTML report")
            { output, images, size, epochs, seed, threads, config, set };
        command.SetAction(parse =>
        {
            if (parse.GetValue(threads) is { } n)
            {
                if (n < 1) throw new UsageException("--threads must be ≥ 1");
                TorchRuntime.Threads = n;
            }
            return Run(parse.GetValue(output)!, parse.GetValue(images), parse.GetValue(size), parse.GetValue(epochs), parse.GetValue(seed),
                parse.GetValue(config), parse.GetValue(set) ?? []);
        });
        return command;
    }


    static int Run(string outDir, int images, int size, int? epochs, int seed, string? configPath, string[] sets)
    {
        if (images < 20) throw new UsageException("--images must be at least 20 (five folds need patients with and without opacities)");
        if (size < 64) throw new UsageException("--size must be at least 64");
        var progress = new DemoProgress();
        outDir = Path.GetFullPath(outDir);
        var root = Path.Combine(outDir, "rsna");
        configPath ??= DemoVerb.FindConfig(ConfigName);
        var overrides = new List<string>
        {
            $"data.root={root}", $"data.cache_size={size}", $"model.input_size={size}", $"model.max_size={size}",
            $"output.runs_dir={Path.Combine(outDir, "runs")}",
        };
        if (epochs is { } e) overrides.Add($"train.epochs={e}");
        overrides.AddRange(sets);
        var cfg = ExperimentConfigLoader.LoadFile(configPath, overrides);
        // The augmentation file is named relative to the repository; resolve it beside the config's experiments/ folder.
        if (cfg.Rsna.AugmentPipeline.Length > 0 && !File.Exists(cfg.Rsna.AugmentPipeline))
            cfg.Rsna.AugmentPipeline = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(configPath))!, "..", cfg.Rsna.AugmentPipeline);
        progress.EndPhase("setup");

        // 1. Phantom data: originals twice the cache size, so the submission's original pixels differ from the cache's.
        var testCount = Math.Max(4, images / 10);
        Stage(1, $"phantom RSNA Pneumonia: {images} train patients, {testCount} test patients, {size * 2} px DICOM");
        if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
        var clock = Stopwatch.StartNew();
        var summary = RsnaPhantom.Write(root, new PhantomOptions(images, size * 2, seed, testCount));
        Note($"{summary.TrainImages} train + {summary.TestImages} test DICOMs, {summary.LabelRows} label rows; " +
             string.Join(", ", summary.RowsPerClass.Select(kv => $"{kv.Key} {kv.Value}")) + $" ({clock.Elapsed.TotalSeconds:0.0} s)");
        progress.EndPhase("synth");

        // 2. Cache + split (the trainer's own RSNA path, as ./cxr train runs it).
        Stage(2, $"8-bit PNG cache (long side {size}), patient-level split stratified by Target, fold {cfg.Data.Fold} of {cfg.Data.Folds}");
        var split = RsnaTraining.Prepare(cfg, Note);
        var testCache = Path.Combine(outDir, $"rsna_test_png{size}");
        if (Directory.Exists(testCache)) Directory.Delete(testCache, recursive: true);
        ImageCacheConverter.Convert(Path.Combine(root, RsnaDataset.TestFolder), testCache, new ImageCacheOptions { Size = size, Bits = 8, KeepAspect = true });
        var (trainSet, valSet) = RsnaTraining.Datasets(cfg, split);
        var metric = new RsnaValidationMetric(split.Validation);
        var task = DetectionTasks.Find(cfg.Data.Dataset);
        progress.EndPhase("cache");

        // 3. Train.
        Stage(3, $"train {cfg.Model.Arch} (input {size} px, {cfg.Rsna.MaskShape} masks), {cfg.Train.Epochs} epochs × {trainSet.Count} images, batch {cfg.Train.BatchSize}, {cfg.Optimizer.Name} lr {cfg.Optimizer.Lr}");
        var run = RunDirectory.Create(cfg);
        Note($"run: {run.Path}");
        using var model = ExperimentRunner.BuildModel(cfg, Note);
        Note($"{model.Module.parameters().Sum(p => p.numel()):N0} parameters, {model.LabelSpace}, {model.Preprocessing}; " +
             $"post-processing: conf {model.Postprocess.ScoreThresh}, NMS {model.Postprocess.NmsThresh}, ≤ {model.Postprocess.MaxDetections} detections");
        using var trainer = new Trainer(cfg, model, trainSet, valSet, metric, run);
        var trainClock = Stopwatch.StartNew();
        TrainingConsole.Fit(trainer, task.MetricClassNames);
        var trainSeconds = trainClock.Elapsed.TotalSeconds;
        progress.EndPhase("train");

        // 4. Validate with the RSNA metric, and sweep confidence × NMS on the same patients.
        Stage(4, $"validate: RSNA metric on {split.Validation.Count} held-out patients (original pixels), confidence × NMS sweep");
        model.eval();
        var valPredictions = DatasetPrediction.Predict(model, split.Validation, cfg.Train.BatchSize);
        var score = metric.Compute(valPredictions);
        var perThreshold = metric.LastResult!.PerThreshold;
        Note($"val_rsna_map = {score:0.0000} (IoU 0.40…0.75: {string.Join(" ", perThreshold.Select(v => v.ToString("0.00", CultureInfo.InvariantCulture)))})");
        var grid = RsnaThresholdSweep.Run(model, valSet, split.Validation, batchSize: cfg.Train.BatchSize);
        foreach (var line in grid.ToTable().TrimEnd().Split('\n')) Note(line);
        Note($"best: confidence {grid.Best.Confidence:0.00}, NMS {grid.Best.Nms:0.00} → {grid.Best.Score:0.0000}");
        progress.EndPhase("validate");

        // 5. Submissions (original pixels): the test split, and the validation split scored back through the Kaggle scorer.
        Stage(5, "submissions (patientId,PredictionString: conf x y w h in original DICOM pixels)");
        var test = RsnaTestSet.Load(root, new PngCacheSource(testCache));
        var submission = Path.Combine(run.Path, "submission.csv");
        task.WriteSubmission(submission, ToOriginal(DatasetPrediction.Predict(model, test, cfg.Train.BatchSize), test));
        var valSubmission = Path.Combine(run.Path, "val_submission.csv");
        task.WriteSubmission(valSubmission, ToOriginal(valPredictions, split.Validation));
        var valTruth = Path.Combine(run.Path, "val_labels.csv");
        var valIds = split.Validation.Items.Select(i => i.ImageId).ToHashSet(StringComparer.Ordinal);
        File.WriteAllLines(valTruth, File.ReadAllLines(Path.Combine(root, RsnaDataset.LabelsCsv)).Where((l, k) => k == 0 || valIds.Contains(l.Split(',')[0])));
        var scored = KaggleScoring.ScoreRsna(valTruth, valSubmission);
        Note($"{submission} ({test.Count} patients)");
        Note($"./cxr score rsna --truth {valTruth} --pred {valSubmission} → {scored.Result.Score:0.0000}");
        progress.EndPhase("submission");

        // 6. Report (AP at IoU 0.4 of the single class beside the RSNA score).
        Stage(6, "HTML report: learning curves, AP, predictions vs truth");
        var reportPath = Path.Combine(run.Path, "report.html");
        var ap = VocEvaluator.Evaluate(split.Validation.ToTruth(noFindingBox: false),
            RsnaValidationMetric.ToDetections(valPredictions.Select(p => (p.Id, p.Boxes, p.Scores)), split.Validation.Items.ToDictionary(i => i.ImageId, i => i.Info, StringComparer.Ordinal)));
        var examples = DatasetPrediction.Examples(split.Validation, valPredictions, 6);
        var rows = new List<(string, string)>
        {
            ("val RSNA mAP (IoU 0.40–0.75)", score.ToString("0.0000", CultureInfo.InvariantCulture)),
            ("per IoU threshold", string.Join(" ", perThreshold.Select(v => v.ToString("0.000", CultureInfo.InvariantCulture)))),
            ("sweep best", $"confidence {grid.Best.Confidence:0.00}, NMS {grid.Best.Nms:0.00}: {grid.Best.Score:0.0000}"),
            ("sweep grid (rows confidence, columns NMS)", grid.ToTable()),
            ("data", $"phantom RSNA, {images} train patients (seed {seed}), {split.Train.Count} trained on, {split.Validation.Count} validated"),
            ("model", $"{cfg.Model.Arch}, {model.Preprocessing}, random init, {cfg.Rsna.MaskShape} masks"),
            ("training", $"{cfg.Train.Epochs} epochs, batch {cfg.Train.BatchSize}, {cfg.Optimizer.Name} lr {cfg.Optimizer.Lr}, {trainSeconds:0} s"),
            ("submission", submission),
            ("config", Path.GetFullPath(configPath) + (sets.Length > 0 ? "  " + string.Join(" ", sets) : "")),
        };
        RunReport.Write(reportPath, $"CXR Lab demo — {cfg.Model.Arch} on phantom RSNA Pneumonia", rows, trainer.Log.Rows, ap, task.ClassNames, examples);
        RunReport.WritePlots(run.PlotsDir, trainer.Log.Rows, ap, task.ClassNames);
        Note(reportPath);
        progress.EndPhase("report");
        progress.Done();

        var json = new JsonObject
        {
            ["val_rsna_map"] = Math.Round(score, 4),
            ["report"] = reportPath,
            ["submission"] = submission,
            ["val_submission_score"] = Math.Round(scored.Result.Score, 4),
            ["sweep_best"] = new JsonObject { ["confidence"] = grid.Best.Confidence, ["nms"] = grid.Best.Nms, ["score"] = Math.Round(grid.Best.Score, 4) },
            ["run"] = run.Path,
            ["train_images"] = split.Train.Count,
            ["val_images"] = split.Validation.Count,
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

    /// <summary>Predictions in cache pixels → original pixels, as the submission wants them.</summary>
    static List<ImagePrediction> ToOriginal(IReadOnlyList<ValidationItem> items, DetectionDataset dataset)
    {
        var infos = dataset.Items.ToDictionary(i => i.ImageId, i => i.Info, StringComparer.Ordinal);
        return items.Select(p => new ImagePrediction(p.Id, p.Boxes.Select(b =>
        {
            var o = infos[p.Id].ToOriginal(new Box(b[0], b[1], b[2], b[3]));
            return new[] { o.X1, o.Y1, o.X2, o.Y2 };
        }).ToArray(), p.Scores, p.Labels)).ToList();
    }
}
