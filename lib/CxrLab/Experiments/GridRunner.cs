using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using CxrLab.Data;
using CxrLab.Data.Phantom;
using CxrLab.Evaluation;
using CxrLab.Models.Detection;
using CxrLab.Tasks.VinBigData;
using CxrLab.Training;

namespace CxrLab.Experiments;

/// <summary>A finished cell (<c>result.json</c>): the scored checkpoint's (the grid's <c>checkpoint:</c>, best or last) validation mAP@0.4 (Kaggle's metric, on the
/// held-out fold in original pixels), the same with hflip TTA, per-class AP by name, and where the run is.</summary>
public sealed record GridCellResult
{
    public string Model { get; init; } = "";
    public string Category { get; init; } = "";
    public string Arch { get; init; } = "";
    public string Config { get; init; } = "";
    public string Run { get; init; } = "";
    public double ValMap40 { get; init; }
    public double ValMap40Hflip { get; init; }
    public int Epochs { get; init; }
    public int TrainImagesPerEpoch { get; init; }
    public int ValidationImages { get; init; }
    public double WallSeconds { get; init; }
    public string FinishedUtc { get; init; } = "";
    /// <summary>Which checkpoint was scored: best or last.</summary>
    public string Checkpoint { get; init; } = "best";
    public Dictionary<string, double> PerClassAp { get; init; } = [];
    /// <summary>mAP@0.4 on the held-out tuning fold (<c>data.holdout_fold</c>) and its image count; null / 0 without one.</summary>
    public double? HoldoutMap40 { get; init; }
    public int HoldoutImages { get; init; }

    internal static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };

    public static GridCellResult? TryLoad(string path) => TryLoad<GridCellResult>(path);

    public void Save(string path) => Save(path, this);

    /// <summary>A result file (snake_case JSON) read back; null when it does not exist yet (the step has not finished).</summary>
    internal static T? TryLoad<T>(string path) where T : class =>
        File.Exists(path) ? JsonSerializer.Deserialize<T>(File.ReadAllText(path), Json) : null;

    /// <summary>Writes a result file atomically: its existence marks a step done, so it is never seen half written.</summary>
    internal static void Save<T>(string path, T result) =>
        Imaging.ImageCodecs.WriteAtomically(path, System.Text.Encoding.UTF8.GetBytes(JsonSerializer.Serialize(result, Json)));
}

/// <summary>Runs a grid's cells as ordinary experiments (the same data path, model zoo and trainer as <c>./cxr train</c>):
/// a cell with a <c>result.json</c> is skipped; one with a run holding <c>last.ckpt</c> resumes it exactly; then the grid's
/// checkpoint (best or last) predicts the validation fold with and without hflip TTA (<c>val_predictions*.csv</c>, Kaggle's format) and
/// is scored with Kaggle's mAP@0.4.</summary>
public static class GridRunner
{
    /// <summary>Where the newest grid run is remembered, so <c>./cxr experiments table</c> needs no argument.</summary>
    public static string LatestGridFile => Path.Combine("experiments", "runs", "latest_grid");

    /// <summary>Generates the grid's phantom data at the cells' <c>data.root</c> when it has no train.csv yet.</summary>
    public static void EnsureData(ExperimentGrid grid, Action<string>? log = null)
    {
        if (grid.Phantom is not { } p) return;
        var roots = grid.Cells().Select(c => Path.GetFullPath(grid.ConfigOf(c).Data.Root)).Distinct().ToList();
        foreach (var root in roots)
        {
            if (File.Exists(Path.Combine(root, VinBigDataset.TrainCsv))) continue;
            log?.Invoke($"phantom VinBigData: {p.Images} images of {p.Size} px (seed {p.Seed}) → {root}");
            VinBigPhantom.Write(root, new PhantomOptions(p.Images, p.Size, p.Seed, ClassBalance: p.ClassBalance));
        }
    }

    /// <summary>Runs one cell (or returns its stored result). <paramref name="fit"/> runs the trainer (default
    /// <see cref="Trainer.Fit"/>; the CLI passes its live console). Null when training was cancelled (state saved; the
    /// next run resumes).</summary>
    public static GridCellResult? RunCell(ExperimentGrid grid, GridCell cell, Action<string>? log = null,
        Func<Trainer, CancellationToken, TrainingOutcome>? fit = null, CancellationToken cancellation = default)
    {
        if (GridCellResult.TryLoad(cell.ResultFile) is { } done)
        {
            log?.Invoke($"{cell.Name}: done (val_map40 {done.ValMap40:0.0000}); skipped");
            return done;
        }
        var clock = Stopwatch.StartNew();
        var cfg = grid.ConfigOf(cell);
        var resumeFrom = RunDirectory.Latest(cfg);
        if (resumeFrom is not null) CheckSameSplit(cfg, resumeFrom, cell);
        var fold = VinBigTraining.Prepare(cfg, log);
        var (train, validation) = VinBigTraining.Datasets(cfg, fold);
        if (grid.TrainImagesOf(cell) is var budget and > 0)
        {
            // Equal work per cell of a model: a category with 7 images per source gets a seventh of A's epochs.
            cfg.Train.Epochs = Math.Max(1, (int)Math.Round((double)budget / train.Count));
            log?.Invoke($"{cell.Name}: {train.Count} training images per epoch → {cfg.Train.Epochs} epochs (train_images {budget})");
        }
        var run = resumeFrom ?? RunDirectory.Create(cfg);
        var metric = new VinBigValidationMetric(fold.Validation);
        using var model = ExperimentRunner.BuildModel(cfg, log);
        using (var trainer = new Trainer(cfg, model, train, validation, metric, run))
        {
            if (resumeFrom is not null)
            {
                trainer.Resume(run.LastCheckpoint);
                log?.Invoke($"{cell.Name}: resuming {run.Path} at epoch {trainer.State.Epoch}, batch {trainer.State.BatchInEpoch}");
            }
            var outcome = (fit ?? ((t, c) => t.Fit(c)))(trainer, cancellation);
            if (outcome == TrainingOutcome.Cancelled) return null;
        }

        // Score the grid's checkpoint (best or last; EMA weights when kept) on the validation fold, plain and with hflip TTA.
        var scored = grid.Checkpoint == GridCheckpoint.Last ? run.LastCheckpoint : run.BestCheckpoint;
        if (File.Exists(scored)) model.LoadWeights(scored);
        model.eval();
        // One image set (its truth written beside the predictions, in train.csv schema and original pixels, so the table
        // scores ensembles without the data), predicted plain and with hflip TTA in Kaggle's format, both scored.
        (MapResult Plain, MapResult Flipped) Score(DetectionDataset images, string truthFile, string plainFile, string flippedFile)
        {
            var infos = images.Items.DistinctBy(i => i.ImageId).ToDictionary(i => i.ImageId, i => i.Info, StringComparer.Ordinal);
            var ids = images.Items.Select(i => i.ImageId).Distinct().ToList();
            var truth = images.ToTruth(noFindingBox: true);
            VinBigLabels.Write(truthFile, truth.Boxes.Select(b => new VinBigAnnotation(b.ImageId, b.Label, "", b.Label == VinBigClasses.NoFinding ? null : b.Box, 0)));
            MapResult Predict(bool hflip, string file)
            {
                var items = DatasetPrediction.Predict(model, images, Math.Max(1, cfg.Train.BatchSize), cancellation, hflip);
                var detections = VinBigValidationMetric.ToDetections(items, infos);
                VinBigSubmission.Write(file, ids, detections);
                return VocEvaluator.Evaluate(truth, detections);
            }
            return (Predict(false, plainFile), Predict(true, flippedFile));
        }
        var (plain, flipped) = Score(fold.Validation, cell.TruthFile, cell.PredictionsFile, cell.HflipPredictionsFile);
        // The held-out tuning fold (never trained on): the table fits the ensemble's score calibrations and weights there.
        var holdout = fold.Holdout is { } held ? Score(held, cell.HoldoutTruthFile, cell.HoldoutPredictionsFile, cell.HoldoutHflipPredictionsFile).Plain : null;
        var names = VinBigClasses.Names;
        var result = new GridCellResult
        {
            Model = cell.Model.Name, Category = cell.Category, Arch = cfg.Model.Arch, Config = cell.ConfigFile, Run = run.Path,
            ValMap40 = plain.Map, ValMap40Hflip = flipped.Map, Epochs = cfg.Train.Epochs, TrainImagesPerEpoch = train.Count,
            ValidationImages = fold.Validation.Items.Select(i => i.ImageId).Distinct().Count(), Checkpoint = grid.CheckpointName, WallSeconds = Math.Round(clock.Elapsed.TotalSeconds, 1), FinishedUtc = DateTime.UtcNow.ToString("u"),
            PerClassAp = plain.PerClass.ToDictionary(c => c.Label >= 0 && c.Label < names.Count ? names[c.Label] : c.Label.ToString(), c => Math.Round(c.Ap, 4)),
            HoldoutMap40 = holdout?.Map, HoldoutImages = fold.Holdout?.Items.Select(i => i.ImageId).Distinct().Count() ?? 0,
        };
        result.Save(cell.ResultFile);
        log?.Invoke($"{cell.Name}: val_map40 {result.ValMap40:0.0000} (hflip TTA {result.ValMap40Hflip:0.0000})" +
                    (holdout is null ? "" : $", held-out fold {holdout.Map:0.0000}") + $" in {result.WallSeconds:0} s");
        return result;
    }

    /// <summary>A run is resumed (or rescored) only on the split it was trained on: a changed data.fold, data.folds,
    /// data.holdout_fold or seed means other training images (e.g. a grid given a held-out fold after its cells ran, which
    /// trained on that fold).</summary>
    static void CheckSameSplit(ExperimentConfig cfg, RunDirectory run, GridCell cell)
    {
        if (!File.Exists(run.ConfigFile)) return;
        var was = ExperimentConfigLoader.LoadFile(run.ConfigFile);
        var (before, now) = ((was.Data.Fold, was.Data.Folds, was.Data.HoldoutFold, was.Seed), (cfg.Data.Fold, cfg.Data.Folds, cfg.Data.HoldoutFold, cfg.Seed));
        if (before != now)
            throw new InvalidOperationException($"{run.ConfigFile}: {cell.Name} was trained with data.fold {before.Item1}, data.folds {before.Item2}, " +
                $"data.holdout_fold {before.Item3}, seed {before.Item4}; the grid now asks for {now.Item1}, {now.Item2}, {now.Item3}, {now.Item4}: " +
                $"its training images differ, so delete {cell.Dir} and run the grid again");
    }

    /// <summary>Trains the grid's normal/abnormal classifier once (its <c>classifier:</c> key; nothing without it) on the
    /// cells' data and fold, or returns its stored result. Its validation probabilities go to
    /// <see cref="ExperimentGrid.ClassifierProbabilitiesFile"/> for the table's <c>+filter</c> rows. An interrupted run
    /// resumes. Null without the key or when cancelled.</summary>
    public static ClassifierResult? RunClassifier(ExperimentGrid grid, Action<string>? log = null, Action<ClassifierTrainer>? attach = null,
        CancellationToken cancellation = default)
    {
        if (grid.Classifier is null) return null;
        if (ClassifierResult.TryLoad(grid.ClassifierResultFile) is { } done && File.Exists(grid.ClassifierProbabilitiesFile))
        {
            log?.Invoke($"classifier: done (validation AUC {done.ValAuc:0.000}); skipped");
            return done;
        }
        var result = ClassifierRunner.Train(grid.ClassifierConfig(), resume: true, log, attach, cancellation);
        if (result is null) return null;
        // Probabilities first, the result last: the result file marks the step done.
        File.Copy(result.Probabilities, grid.ClassifierProbabilitiesFile, overwrite: true);
        var stored = result with { Probabilities = Path.GetFullPath(grid.ClassifierProbabilitiesFile) };
        stored.Save(grid.ClassifierResultFile);
        return stored;
    }

    /// <summary>Runs the grid's classifier (if it has one) and every cell in order (skipping finished ones), remembering the
    /// grid for the table. Returns the cells' results so far; stops at cancellation.</summary>
    public static List<GridCellResult> Run(ExperimentGrid grid, Action<string>? log = null,
        Func<Trainer, CancellationToken, TrainingOutcome>? fit = null, CancellationToken cancellation = default)
    {
        EnsureData(grid, log);
        Directory.CreateDirectory(grid.RunsDir);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(LatestGridFile))!);
        File.WriteAllText(LatestGridFile, grid.Source + Environment.NewLine);
        var results = new List<GridCellResult>();
        if (grid.Classifier is not null && RunClassifier(grid, log, cancellation: cancellation) is null) return results;
        var cells = grid.Cells().ToList();
        for (var k = 0; k < cells.Count; k++)
        {
            log?.Invoke($"cell {k + 1}/{cells.Count}: {cells[k].Name} ({Path.GetFileName(cells[k].ConfigFile)})");
            var result = RunCell(grid, cells[k], log, fit, cancellation);
            if (result is null) break;
            results.Add(result);
        }
        return results;
    }
}
