using System.Globalization;
using System.Text;
using System.Text.Json;
using CxrLab.Data;
using CxrLab.Evaluation;
using CxrLab.Viz;

namespace CxrLab.Experiments;

/// <summary>One row of the table: a model (a grid model, <c>MODEL+hflip</c> for its hflip-TTA predictions, <c>MODEL+filter</c>
/// through the normal/abnormal filter, or <c>ensemble…</c> for the WBF of several models' predictions, <c>…+filter</c> filtered) on a category: validation mAP@0.4, the seed's Kaggle score
/// beside it when it has one, and per-class AP by class name.</summary>
public sealed record GridTableRow(string Model, string Category, double? ValMap40, double? SeedMap40, IReadOnlyDictionary<string, double> PerClassAp,
    string? Note = null);

/// <summary>How an ensemble row fuses its members: a weight per member (0 leaves it out) and, when tuned on a held-out fold,
/// each member's score calibration (applied before WBF); <see cref="Note"/> says how they were chosen.</summary>
public sealed record EnsembleRecipe(double[] Weights, IReadOnlyList<DetectionScoreCalibration>? Calibrations = null, string? Note = null)
{
    /// <summary>Equal weights on raw scores: the plain WBF.</summary>
    public static EnsembleRecipe Equal(int members) => new(Enumerable.Repeat(1.0, members).ToArray());

    /// <summary>The members' predictions with their calibrated scores (unchanged without calibrations).</summary>
    public List<List<Detection>> Calibrate(IReadOnlyList<List<Detection>> predictions) =>
        Calibrations is null ? predictions.ToList() : predictions.Select((p, k) => Calibrations[k].Apply(p)).ToList();
}

/// <summary>The grid's model × category table from its cells' results: single models, the same with hflip TTA, and the
/// WBF ensemble of the grid's <c>ensemble:</c> models (plain and with TTA) scored on the shared validation truth, and with a
/// grid classifier the same through the normal filter (<c>+filter</c>), beside the seed's numbers; written as markdown, CSV, JSON rows and a Plotly heat map.</summary>
public sealed class GridTable
{
    public ExperimentGrid Grid { get; }
    public IReadOnlyList<GridTableRow> Rows { get; }

    GridTable(ExperimentGrid grid, IReadOnlyList<GridTableRow> rows) => (Grid, Rows) = (grid, rows);

    /// <summary>Reads every finished cell; ensembles are fused at <paramref name="wbf"/> (default the winners' IoU 0.4). With a
    /// grid classifier, <c>MODEL+filter</c>, <c>ensemble+filter</c> and <c>ensemble+hflip+filter</c> rows apply the normal
    /// filter (<see cref="NormalFilter"/> at the classifier's <c>filter_low</c>) to the same predictions, scored on the same truth.</summary>
    public static GridTable Build(ExperimentGrid grid, WbfOptions? wbf = null)
    {
        wbf ??= WbfOptions.Kaggle;
        var rows = new List<GridTableRow>();
        var names = VinBigClasses.Names;
        var filter = Filter(grid);
        IReadOnlyDictionary<string, double> PerClass(MapResult score) =>
            score.PerClass.ToDictionary(c => c.Label >= 0 && c.Label < names.Count ? names[c.Label] : c.Label.ToString(CultureInfo.InvariantCulture), c => Math.Round(c.Ap, 4));
        var suffixes = grid.Classifier is null ? new[] { "", "+hflip" } : ["", "+hflip", "+filter"];
        foreach (var model in grid.Models)
            foreach (var suffix in suffixes)
                foreach (var category in grid.Categories)
                {
                    var cell = grid.Cells().First(c => c.Model.Name == model.Name && c.Category == category);
                    var result = GridCellResult.TryLoad(cell.ResultFile);
                    if (suffix == "+filter")
                    {
                        var score = result is null || filter is null ? null : Filtered(cell, filter.Value.P, filter.Value.Options);
                        rows.Add(new GridTableRow(model.Name + suffix, category, score?.Map, null, score is null ? new Dictionary<string, double>() : PerClass(score)));
                        continue;
                    }
                    var value = result is null ? (double?)null : suffix.Length == 0 ? result.ValMap40 : result.ValMap40Hflip;
                    rows.Add(new GridTableRow(model.Name + suffix, category, value, suffix.Length == 0 ? grid.SeedScore(model.Name, category) : null,
                        suffix.Length == 0 && result is not null ? result.PerClassAp : new Dictionary<string, double>()));
                }
        if (grid.Ensemble.Count >= 2)
        {
            // Per category (and with / without TTA): member score calibrations and weights fitted on the held-out tuning
            // fold when every member predicted one (the winners' out-of-fold tuning), else equal weights on raw scores.
            var recipes = new Dictionary<(string Category, bool Hflip), EnsembleRecipe>();
            foreach (var category in grid.Categories)
            {
                var members = Members(grid, category);
                foreach (var hflip in new[] { false, true })
                    recipes[(category, hflip)] = members.All(c => File.Exists(c.ResultFile)) && HasHoldout(members)
                        ? TuneOnHoldout(members, hflip, wbf)
                        : EnsembleRecipe.Equal(members.Count);
            }
            var variants = new List<(string Name, bool Hflip, bool Filter)> { ("ensemble", false, false), ("ensemble+hflip", true, false) };
            if (grid.Classifier is not null) variants.AddRange([("ensemble+filter", false, true), ("ensemble+hflip+filter", true, true)]);
            foreach (var (name, hflip, filtered) in variants)
                foreach (var category in grid.Categories)
                {
                    var members = Members(grid, category);
                    if (members.Any(c => !File.Exists(c.ResultFile)) || (filtered && filter is null))
                    {
                        rows.Add(new GridTableRow(name, category, null, null, new Dictionary<string, double>()));
                        continue;
                    }
                    var recipe = recipes[(category, hflip)];
                    var score = filtered ? Ensemble(members, hflip, wbf, filter!.Value.P, filter.Value.Options, recipe) : Ensemble(members, hflip, wbf, recipe);
                    rows.Add(new GridTableRow(name, category, score.Map, null, PerClass(score), filtered ? null : recipe.Note));
                }
            // The comparison row: equal weights beside held-out ones; without a held-out fold, weights cross-fitted on the validation halves.
            var holdout = HoldoutFold(grid) >= 0;
            var comparison = holdout ? "ensemble+equal" : "ensemble+tuned";
            foreach (var category in grid.Categories)
            {
                var members = Members(grid, category);
                if (members.Any(c => !File.Exists(c.ResultFile)))
                {
                    rows.Add(new GridTableRow(comparison, category, null, null, new Dictionary<string, double>()));
                    continue;
                }
                if (holdout)
                {
                    var equal = Ensemble(members, hflip: false, wbf);
                    rows.Add(new GridTableRow(comparison, category, equal.Map, null, PerClass(equal)));
                    continue;
                }
                var (score, halves) = CrossFittedEnsemble(members, hflip: false, wbf);
                var text = string.Join("; ", halves.Select((w, h) => $"half {h + 1}: " + WeightsText(members, w)));
                rows.Add(new GridTableRow(comparison, category, score.Map, null, PerClass(score), $"{text} (two-fold cross-fitting on the validation images: each half fused with the weights that scored best on the other)"));
            }
        }
        return new GridTable(grid, rows);
    }

    /// <summary>The grid classifier's validation probabilities and filter settings, or null while it has not run.</summary>
    static (IReadOnlyDictionary<string, double> P, NormalFilterOptions Options)? Filter(ExperimentGrid grid)
    {
        if (grid.Classifier is null || ClassifierResult.TryLoad(grid.ClassifierResultFile) is not { } result || !File.Exists(grid.ClassifierProbabilitiesFile)) return null;
        return (NormalFilter.ReadProbabilities(grid.ClassifierProbabilitiesFile), new NormalFilterOptions(result.FilterLow));
    }

    /// <summary>One cell's validation predictions through the normal filter, scored on its truth.</summary>
    public static MapResult Filtered(GridCell cell, IReadOnlyDictionary<string, double> pAbnormal, NormalFilterOptions options)
    {
        var report = new ValidationReport();
        var truth = VinBigDataset.ReadTruth(cell.TruthFile, FusionOptions.None, report);
        var detections = VinBigSubmission.Read(cell.PredictionsFile, report).Detections;
        return VocEvaluator.Evaluate(truth, Apply(detections, pAbnormal, truth, options, cell.TruthFile));
    }

    /// <summary>The filter over a cell's truth images; a probability file from another fold is an error saying what to redo.</summary>
    static List<Detection> Apply(List<Detection> detections, IReadOnlyDictionary<string, double> pAbnormal, TruthSet truth, NormalFilterOptions options, string truthFile)
    {
        var missing = truth.ImageIds.FirstOrDefault(id => !pAbnormal.ContainsKey(id));
        if (missing is not null)
            throw new KeyNotFoundException($"{truthFile}: validation image '{missing}' has no P(abnormal) in the grid classifier's probabilities; " +
                                           "the classifier ran on another fold or data: delete the grid's classifier/ folder and run the grid again");
        return NormalFilter.Apply(detections, pAbnormal, truth.ImageIds, options);
    }

    /// <summary>The grid's held-out tuning fold (<c>data.holdout_fold</c> of its cells), -1 without one.</summary>
    static int HoldoutFold(ExperimentGrid grid) => grid.ConfigOf(grid.Cells().First()).Data.HoldoutFold;

    static List<GridCell> Members(ExperimentGrid grid, string category) =>
        grid.Cells().Where(c => c.Category == category && grid.Ensemble.Contains(c.Model.Name)).ToList();

    /// <summary>Whether every member predicted a held-out tuning fold (<c>data.holdout_fold</c>).</summary>
    static bool HasHoldout(IReadOnlyList<GridCell> members) =>
        members.All(c => File.Exists(c.HoldoutTruthFile) && File.Exists(c.HoldoutPredictionsFile) && File.Exists(c.HoldoutHflipPredictionsFile));

    static string WeightsText(IReadOnlyList<GridCell> members, double[] w) =>
        string.Join(", ", members.Select((m, k) => $"{m.Model.Name} {w[k].ToString(CultureInfo.InvariantCulture)}"));

    /// <summary>The WBF of the members' validation predictions (with <paramref name="recipe"/>'s weights and score
    /// calibrations; default equal weights, raw scores), scored on their (shared) validation truth.</summary>
    public static MapResult Ensemble(IReadOnlyList<GridCell> members, bool hflip, WbfOptions wbf, EnsembleRecipe? recipe = null)
    {
        var (truth, fused) = Fuse(members, hflip, wbf, recipe ?? EnsembleRecipe.Equal(members.Count));
        return VocEvaluator.Evaluate(truth, fused);
    }

    /// <summary>The same WBF through the normal filter (the winners' last step), scored on the same truth.</summary>
    public static MapResult Ensemble(IReadOnlyList<GridCell> members, bool hflip, WbfOptions wbf, IReadOnlyDictionary<string, double> pAbnormal, NormalFilterOptions options,
        EnsembleRecipe? recipe = null)
    {
        var (truth, fused) = Fuse(members, hflip, wbf, recipe ?? EnsembleRecipe.Equal(members.Count));
        return VocEvaluator.Evaluate(truth, Apply(fused, pAbnormal, truth, options, members[0].TruthFile));
    }

    static (TruthSet Truth, List<Detection> Fused) Fuse(IReadOnlyList<GridCell> members, bool hflip, WbfOptions wbf, EnsembleRecipe recipe)
    {
        var (truth, predictions) = Read(members, hflip);
        return (truth, FuseWeighted(recipe.Calibrate(predictions), truth.ImageIds, wbf, recipe.Weights));
    }

    /// <summary>The ensemble as the winners tuned it, out of fold: on the held-out tuning fold, which no member trained on
    /// and the table does not report, each member's scores are calibrated (<see cref="DetectionScoreCalibration"/>: the
    /// precision its boxes had at that score there, the findings pooled and "No finding" on its own curve), then the member
    /// weights (each 0, 1 or 2; 0 leaves the member out) that score best there on the calibrated predictions are chosen.
    /// Equal weights are tried first and win ties. Both are then applied to the validation predictions unchanged.</summary>
    public static EnsembleRecipe TuneOnHoldout(IReadOnlyList<GridCell> members, bool hflip, WbfOptions wbf)
    {
        var (truth, predictions) = Read(members, hflip, holdout: true);
        var calibrations = predictions.Select(p => DetectionScoreCalibration.Fit(truth, p, [VinBigClasses.NoFinding])).ToList();
        var calibrated = predictions.Select((p, k) => calibrations[k].Apply(p)).ToList();
        var best = BestWeights(calibrated, truth, wbf);
        return new EnsembleRecipe(best, calibrations,
            $"{WeightsText(members, best)}, scores calibrated (chosen on the held-out fold's {truth.ImageIds.Count} images{(hflip ? ", hflip TTA predictions" : "")}; no member trained on them)");
    }

    /// <summary>WBF with member weights (each 0, 1 or 2; 0 leaves the member out) tuned without scoring on the images
    /// they were tuned on, as the winners tuned WBF weights on held-out folds: the validation images (sorted by id) alternate
    /// between two halves, the weights that score best on one half fuse the other, and the union of both fused halves is
    /// scored. Equal weights are tried first and win ties. A lone member keeps its own predictions (WBF of one model would
    /// merge its overlapping boxes). Returns the score and the weights each half was fused with.</summary>
    public static (MapResult Score, double[][] Weights) CrossFittedEnsemble(IReadOnlyList<GridCell> members, bool hflip, WbfOptions wbf)
    {
        var (truth, predictions) = Read(members, hflip);
        var ids = truth.ImageIds.Order(StringComparer.Ordinal).ToList();
        var halves = new[] { ids.Where((_, i) => i % 2 == 0).ToList(), ids.Where((_, i) => i % 2 == 1).ToList() };
        var fused = new List<Detection>();
        var chosen = new double[2][];
        for (var h = 0; h < 2; h++)
        {
            var tune = halves[h].ToHashSet(StringComparer.Ordinal);
            var tuneTruth = new TruthSet(halves[h], truth.Boxes.Where(b => tune.Contains(b.ImageId)));
            chosen[h] = BestWeights(predictions, tuneTruth, wbf);
            fused.AddRange(FuseWeighted(predictions, halves[1 - h], wbf, chosen[h]));
        }
        return (VocEvaluator.Evaluate(truth, fused), chosen);
    }

    /// <summary>The member weights (of <see cref="WeightCandidates"/>) whose WBF of <paramref name="predictions"/> scores best on
    /// <paramref name="truth"/>'s images; the first candidate wins ties.</summary>
    static double[] BestWeights(IReadOnlyList<List<Detection>> predictions, TruthSet truth, WbfOptions wbf) =>
        WeightCandidates(predictions.Count).MaxBy(w => VocEvaluator.Evaluate(truth, FuseWeighted(predictions, truth.ImageIds, wbf, w)).Map)!;

    /// <summary>Every weight vector in {0, 1, 2}ⁿ but all zeros, equal weights first, then by how many members are left out.</summary>
    static List<double[]> WeightCandidates(int n)
    {
        var all = new List<double[]>();
        for (var code = 1; code < (int)Math.Pow(3, n); code++)
        {
            var w = new double[n];
            for (int k = 0, c = code; k < n; k++, c /= 3) w[k] = c % 3;
            all.Add(w);
        }
        return all.OrderBy(w => w.All(x => x == 1) ? 0 : 1).ThenBy(w => w.Count(x => x == 0)).ToList();
    }

    static List<Detection> FuseWeighted(IReadOnlyList<List<Detection>> predictions, IReadOnlyList<string> imageIds, WbfOptions wbf, double[] weights)
    {
        var used = Enumerable.Range(0, weights.Length).Where(k => weights[k] > 0).ToList();
        if (used.Count == 1)
        {
            var keep = imageIds.ToHashSet(StringComparer.Ordinal);
            return predictions[used[0]].Where(d => keep.Contains(d.ImageId)).ToList();
        }
        return BoxEnsemble.WeightedBoxesFusion(used.Select(k => (IReadOnlyList<Detection>)predictions[k]).ToList(), imageIds, wbf, used.Select(k => weights[k]).ToList());
    }

    /// <summary>The members' shared validation truth and their validation predictions (hflip TTA ones with <paramref name="hflip"/>);
    /// with <paramref name="holdout"/> the same on the held-out tuning fold.</summary>
    static (TruthSet Truth, List<List<Detection>> Predictions) Read(IReadOnlyList<GridCell> members, bool hflip, bool holdout = false)
    {
        string TruthOf(GridCell c) => holdout ? c.HoldoutTruthFile : c.TruthFile;
        var report = new ValidationReport();
        var truth = VinBigDataset.ReadTruth(TruthOf(members[0]), FusionOptions.None, report);
        var predictions = new List<List<Detection>>();
        foreach (var cell in members)
        {
            var other = VinBigDataset.ReadTruth(TruthOf(cell), FusionOptions.None, report);
            if (!other.ImageIds.Order(StringComparer.Ordinal).SequenceEqual(truth.ImageIds.Order(StringComparer.Ordinal)))
                throw new InvalidDataException($"{TruthOf(cell)}: other images than {TruthOf(members[0])}; an ensemble needs every member on the same folds (data.fold, data.holdout_fold, data.folds, seed)");
            var file = (holdout, hflip) switch
            {
                (false, false) => cell.PredictionsFile,
                (false, true) => cell.HflipPredictionsFile,
                (true, false) => cell.HoldoutPredictionsFile,
                (true, true) => cell.HoldoutHflipPredictionsFile,
            };
            predictions.Add(VinBigSubmission.Read(file, report).Detections);
        }
        return (truth, predictions);
    }

    static string F(double? v) => v is { } x ? x.ToString("0.000", CultureInfo.InvariantCulture) : "–";

    double? Value(string model, string category) => Rows.FirstOrDefault(r => r.Model == model && r.Category == category)?.ValMap40;
    IEnumerable<string> RowModels => Rows.Select(r => r.Model).Distinct();

    /// <summary>Markdown: our validation mAP@0.4 per cell with the seed's Kaggle score beside it; with
    /// <paramref name="perClass"/> a per-class AP table follows.</summary>
    public string Markdown(bool perClass = false)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"### {Grid.Name}: validation mAP@0.4 (Kaggle's metric){(Grid.Description.Length > 0 ? $" — {Grid.Description}" : "")}");
        sb.AppendLine();
        sb.AppendLine("| model | " + string.Join(" | ", Grid.Categories.Select(c => $"category {c}")) + " |");
        sb.AppendLine("|---|" + string.Concat(Grid.Categories.Select(_ => "---:|")));
        foreach (var model in RowModels)
            sb.AppendLine($"| {model} | " + string.Join(" | ", Grid.Categories.Select(c =>
            {
                var row = Rows.First(r => r.Model == model && r.Category == c);
                return F(row.ValMap40) + (row.SeedMap40 is { } s ? $" (seed {F(s)})" : "");
            })) + " |");
        sb.AppendLine().AppendLine(CheckpointNote());
        if (HoldoutNote() is { } holdoutNote) sb.AppendLine().AppendLine(holdoutNote);
        if (Grid.Classifier is not null)
            sb.AppendLine().AppendLine(ClassifierResult.TryLoad(Grid.ClassifierResultFile) is { } c
                ? string.Create(CultureInfo.InvariantCulture, $"+filter: the normal/abnormal classifier ({c.Arch} at {c.InputSize} px, validation AUC {c.ValAuc:0.000}): P(abnormal) < {c.FilterLow} → No finding only, else box scores × P(abnormal) and No finding 1 − P(abnormal).")
                : "+filter: the grid's normal/abnormal classifier has not run yet (./cxr experiments run GRID).");
        var tuned = Rows.Where(r => r.Note is not null).ToList();
        if (tuned.Count > 0)
        {
            sb.AppendLine().AppendLine("Ensemble weights (WBF; each member 0, 1 or 2, 0 leaves it out) and score calibrations, never chosen on the images they are scored on (the +filter rows use their unfiltered row's):");
            foreach (var r in tuned) sb.AppendLine($"- {r.Model} {r.Category}: {r.Note}");
        }
        if (Grid.SeedScores.Count > 0)
            sb.AppendLine().AppendLine("(seed …) is the seed's Kaggle private-leaderboard mAP@0.4 on the real test set; ours is the validation fold of this grid's data.");
        if (perClass)
        {
            var classes = Rows.SelectMany(r => r.PerClassAp.Keys).Distinct().ToList();
            var cols = Rows.Where(r => r.PerClassAp.Count > 0).ToList();
            sb.AppendLine().AppendLine("#### AP per class").AppendLine();
            sb.AppendLine("| class | " + string.Join(" | ", cols.Select(r => $"{r.Model} {r.Category}")) + " |");
            sb.AppendLine("|---|" + string.Concat(cols.Select(_ => "---:|")));
            foreach (var name in classes)
                sb.AppendLine($"| {name} | " + string.Join(" | ", cols.Select(r => F(r.PerClassAp.TryGetValue(name, out var ap) ? ap : null))) + " |");
        }
        return sb.ToString();
    }

    /// <summary>When the grid holds a fold out (<c>data.holdout_fold</c>) but finished cells did not predict it (they ran before
    /// the key was set, so they trained on that fold): which ones, and what to do. Null when there is nothing to say.</summary>
    string? HoldoutNote()
    {
        var fold = HoldoutFold(Grid);
        if (fold < 0) return null;
        var without = Grid.Cells().Where(c => File.Exists(c.ResultFile) && !File.Exists(c.HoldoutPredictionsFile)).Select(c => c.Name).ToList();
        return without.Count == 0 ? null
            : $"The grid holds fold {fold} out (data.holdout_fold), but {string.Join(", ", without)} finished without it " +
              "(trained on that fold, no predictions there), so their categories' ensembles use equal weights: delete those cells' folders and run the grid again.";
    }

    /// <summary>Which weights scored the cells (the grid's <c>checkpoint:</c>), and any finished cell scored otherwise.</summary>
    string CheckpointNote()
    {
        var note = Grid.Checkpoint == GridCheckpoint.Last
            ? "Each cell is scored with its final weights (checkpoint: last)."
            : "Each cell is scored with its best checkpoint on this same validation fold (checkpoint: best), so single-model rows are optimistic; checkpoint: last avoids that.";
        var other = Grid.Cells().Where(c => GridCellResult.TryLoad(c.ResultFile) is { } r && r.Checkpoint != Grid.CheckpointName).Select(c => c.Name).ToList();
        return other.Count == 0 ? note
            : $"{note} Not so for {string.Join(", ", other)}: delete their result.json and run the grid again to rescore them (training is not repeated).";
    }

    /// <summary>CSV: model,category,val_map40,seed_map40 (empty when absent).</summary>
    public string Csv()
    {
        var inv = CultureInfo.InvariantCulture;
        var lines = new List<string> { "model,category,val_map40,seed_map40" };
        lines.AddRange(Rows.Select(r => $"{r.Model},{r.Category},{r.ValMap40?.ToString("0.######", inv)},{r.SeedMap40?.ToString("0.###", inv)}"));
        return string.Join("\n", lines) + "\n";
    }

    /// <summary>JSON: a list of <c>{"model", "category", "val_map40", "seed_map40"}</c> rows (null when not run / not in the seed),
    /// with <c>per_class_ap</c> when asked and <c>note</c> where a row has one (the tuned ensemble's weights).</summary>
    public string Json(bool perClass = false) => JsonSerializer.Serialize(Rows.Select(r =>
    {
        var row = new Dictionary<string, object?> { ["model"] = r.Model, ["category"] = r.Category, ["val_map40"] = r.ValMap40, ["seed_map40"] = r.SeedMap40 };
        if (perClass) row["per_class_ap"] = r.PerClassAp;
        if (r.Note is not null) row["note"] = r.Note;
        return row;
    }), new JsonSerializerOptions { WriteIndented = true });

    /// <summary>A heat map of our scores (rows: models, TTA and ensembles; columns: categories) beside the seed's.</summary>
    public Figure HeatMap()
    {
        var models = RowModels.ToList();
        var seedModels = Grid.Models.Where(m => Grid.SeedScores.ContainsKey(m.Name)).Select(m => m.Name).ToList();
        var figure = seedModels.Count > 0
            ? Figure.Subplots(1, 2, [$"{Grid.Name}: validation mAP@0.4", "the seed: Kaggle mAP@0.4"], $"{Grid.Name}: models × categories")
            : new Figure($"{Grid.Name}: validation mAP@0.4");
        var z = new double[models.Count, Grid.Categories.Count];
        for (var r = 0; r < models.Count; r++)
            for (var c = 0; c < Grid.Categories.Count; c++) z[r, c] = Value(models[r], Grid.Categories[c]) ?? double.NaN;
        figure.Heatmap(z, Grid.Categories.Select(c => $"category {c}"), models, showValues: true, valueFormat: ".3f", name: "ours");
        if (seedModels.Count > 0)
        {
            var s = new double[seedModels.Count, Grid.Categories.Count];
            for (var r = 0; r < seedModels.Count; r++)
                for (var c = 0; c < Grid.Categories.Count; c++) s[r, c] = Grid.SeedScore(seedModels[r], Grid.Categories[c]) ?? double.NaN;
            figure.Heatmap(s, Grid.Categories.Select(c => $"category {c}"), seedModels, showValues: true, valueFormat: ".3f", name: "seed", row: 1, col: 2);
        }
        return figure;
    }

    /// <summary>Writes table.md, table.csv, table.json and heatmap.html into the grid's runs folder; returns their paths.</summary>
    public IReadOnlyList<string> Write(bool perClass = false)
    {
        Directory.CreateDirectory(Grid.RunsDir);
        var files = new List<string>();
        void Put(string name, string text)
        {
            var path = Path.Combine(Grid.RunsDir, name);
            Imaging.ImageCodecs.WriteAtomically(path, Encoding.UTF8.GetBytes(text));
            files.Add(path);
        }
        Put("table.md", Markdown(perClass));
        Put("table.csv", Csv());
        Put("table.json", Json(perClass));
        var heat = Path.Combine(Grid.RunsDir, "heatmap.html");
        HeatMap().SaveHtml(heat);
        files.Add(heat);
        return files;
    }
}
