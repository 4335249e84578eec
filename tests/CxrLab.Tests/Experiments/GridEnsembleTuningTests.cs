using System.Text.Json;
using CxrLab.Data;
using CxrLab.Evaluation;
using CxrLab.Experiments;
using CxrLab.Tests.Training;

namespace CxrLab.Tests.Experiments;

/// <summary>Ensemble weights never chosen on the images they are scored on. Without a held-out fold, the
/// <c>ensemble+tuned</c> row picks WBF member weights on one half of the validation images and applies them to the other;
/// with one (<c>data.holdout_fold</c>), the <c>ensemble</c> rows use weights picked on its predictions and
/// <c>ensemble+equal</c> shows equal weights. A strong member beside one that puts a confident false positive on every
/// image: equal weights rank every false positive above every true box; tuned weights favour whichever member the tuning
/// images favour.</summary>
public sealed class GridEnsembleTuningTests : IDisposable
{
    readonly string temp = Directory.CreateTempSubdirectory("cxr-gridtuned-").FullName;
    public void Dispose() => Directory.Delete(temp, recursive: true);

    static readonly string[] Images = ["a", "b", "c", "d"];
    static readonly Box Lesion = new(10, 20, 50, 60);
    static readonly Box Elsewhere = new(100, 120, 140, 160);

    static void WriteCell(GridCell cell, Func<string, Detection> predict) =>
        FinishedCell.Write(cell, Images.Select(id => new VinBigAnnotation(id, 0, "", Lesion, 0)).ToList(), Images, Images.Select(predict).ToList(), valMap40: 0);

    ExperimentGrid Grid(string extra = "", string categories = "[A]")
    {
        var experiments = CategoryTrainingTests.RepoFile("experiments");
        var gridFile = Path.Combine(temp, "g.yaml");
        File.WriteAllText(gridFile, $$"""
            name: g
            runs_dir: {{Path.Combine(temp, "runs")}}
            categories: {{categories}}
            models:
              - {name: good, config: "{{experiments}}/vinbig_frcnn_{category}.yaml"}
              - {name: bad, config: "{{experiments}}/vinbig_yolox_{category}.yaml"}
            ensemble: [good, bad]
            {{extra}}
            """);
        return ExperimentGrid.Load(gridFile);
    }

    [Fact]
    public void Tuned_weights_drop_the_member_that_only_adds_false_positives_and_say_so()
    {
        var grid = Grid();
        var cells = grid.Cells().ToList();
        WriteCell(cells.Single(c => c.Model.Name == "good"), id => new Detection(id, 0, 0.9f, Lesion));
        WriteCell(cells.Single(c => c.Model.Name == "bad"), id => new Detection(id, 0, 0.95f, Elsewhere));

        var (score, weights) = GridTable.CrossFittedEnsemble(cells, hflip: false, WbfOptions.Kaggle);
        Assert.Equal(1.0, score.Map, 6);
        Assert.Equal(2, weights.Length);
        Assert.All(weights, w => Assert.True(w[0] > w[1], $"weights good {w[0]}, bad {w[1]}"));

        var table = GridTable.Build(grid);
        var rows = JsonDocument.Parse(table.Json()).RootElement.EnumerateArray().ToDictionary(r => r.GetProperty("model").GetString()!);
        // Equal weights: each lone box's score is halved, the false positives (0.475) rank above the true boxes (0.45).
        Assert.Equal(0.5, rows["ensemble"].GetProperty("val_map40").GetDouble(), 6);
        Assert.Equal(1.0, rows["ensemble+tuned"].GetProperty("val_map40").GetDouble(), 6);
        Assert.StartsWith("half 1: good ", rows["ensemble+tuned"].GetProperty("note").GetString());
        Assert.False(rows["ensemble"].TryGetProperty("note", out _));
        Assert.False(rows.ContainsKey("ensemble+equal"));
        Assert.Contains("- ensemble+tuned A: half 1: good", table.Markdown());
    }

    [Fact]
    public void With_a_holdout_fold_the_ensemble_takes_the_weights_that_score_best_there_not_on_validation()
    {
        var grid = Grid("set: {data.holdout_fold: 1}");
        var cells = grid.Cells().ToList();
        var good = cells.Single(c => c.Model.Name == "good");
        var bad = cells.Single(c => c.Model.Name == "bad");
        WriteCell(good, id => new Detection(id, 0, 0.9f, Lesion));
        WriteCell(bad, id => new Detection(id, 0, 0.95f, Elsewhere));
        // On the held-out images the roles are swapped: there "bad" finds the lesions and "good" adds the false positives.
        // Weights chosen there must favour "bad", whatever that costs on validation: the validation fold has no say.
        string[] held = ["h1", "h2", "h3", "h4", "h5"];
        var heldTruth = held.Select(id => new VinBigAnnotation(id, 0, "", Lesion, 0)).ToList();
        FinishedCell.WriteHoldout(good, heldTruth, held, held.Select(id => new Detection(id, 0, 0.95f, Elsewhere)).ToList());
        FinishedCell.WriteHoldout(bad, heldTruth, held, held.Select(id => new Detection(id, 0, 0.9f, Lesion)).ToList());

        var recipe = GridTable.TuneOnHoldout(cells, hflip: false, WbfOptions.Kaggle);
        var note = recipe.Note;
        // Calibrated on the held-out images, "bad"'s boxes are the trusted ones: there they were right.
        var calibrations = Assert.IsAssignableFrom<IReadOnlyList<DetectionScoreCalibration>>(recipe.Calibrations);
        Assert.True(calibrations[1].Apply(new Detection("x", 0, 0.9f, Lesion)) > 0.9f);
        Assert.True(calibrations[0].Apply(new Detection("x", 0, 0.95f, Elsewhere)) < 0.1f);
        Assert.Contains("5 images", note);
        Assert.Contains("scores calibrated", note);

        var rows = JsonDocument.Parse(GridTable.Build(grid).Json()).RootElement.EnumerateArray().ToDictionary(r => r.GetProperty("model").GetString()!);
        Assert.Equal(GridTable.Ensemble(cells, false, WbfOptions.Kaggle, recipe).Map, rows["ensemble"].GetProperty("val_map40").GetDouble(), 9);
        Assert.True(rows["ensemble"].GetProperty("val_map40").GetDouble() < 1.0);
        Assert.Equal(note, rows["ensemble"].GetProperty("note").GetString());
        Assert.Equal(0.5, rows["ensemble+equal"].GetProperty("val_map40").GetDouble(), 6);
        Assert.False(rows.ContainsKey("ensemble+tuned"));

        // The usual case: the held-out images agree with validation, and the tuned ensemble beats equal weights there.
        FinishedCell.WriteHoldout(good, heldTruth, held, held.Select(id => new Detection(id, 0, 0.9f, Lesion)).ToList());
        FinishedCell.WriteHoldout(bad, heldTruth, held, held.Select(id => new Detection(id, 0, 0.95f, Elsewhere)).ToList());
        var agreeing = JsonDocument.Parse(GridTable.Build(grid).Json()).RootElement.EnumerateArray().ToDictionary(r => r.GetProperty("model").GetString()!);
        Assert.Equal(1.0, agreeing["ensemble"].GetProperty("val_map40").GetDouble(), 6);
        Assert.Equal(1.0, agreeing["ensemble+hflip"].GetProperty("val_map40").GetDouble(), 6);
        Assert.StartsWith("good ", agreeing["ensemble"].GetProperty("note").GetString());
    }

    [Fact]
    public void Cells_finished_before_the_holdout_fold_was_set_are_named_with_what_to_do()
    {
        var grid = Grid("set: {data.holdout_fold: 1}");
        var cells = grid.Cells().ToList();
        WriteCell(cells[0], id => new Detection(id, 0, 0.9f, Lesion));
        WriteCell(cells[1], id => new Detection(id, 0, 0.95f, Elsewhere));
        var markdown = GridTable.Build(grid).Markdown();
        Assert.Contains("holds fold 1 out (data.holdout_fold), but good_A, bad_A finished without it", markdown);
        Assert.Contains("delete those cells' folders and run the grid again", markdown);
        Assert.DoesNotContain("data.holdout_fold", GridTable.Build(Grid()).Markdown());
    }

    [Fact]
    public void A_table_with_a_category_still_running_has_the_same_rows_in_every_category()
    {
        foreach (var extra in new[] { "set: {data.holdout_fold: 1}", "" })
        {
            var grid = Grid(extra, categories: "[A, B]");
            var cells = grid.Cells().Where(c => c.Category == "A").ToList();
            WriteCell(cells[0], id => new Detection(id, 0, 0.9f, Lesion));
            WriteCell(cells[1], id => new Detection(id, 0, 0.95f, Elsewhere));
            string[] held = ["h1", "h2"];
            var heldTruth = held.Select(id => new VinBigAnnotation(id, 0, "", Lesion, 0)).ToList();
            if (extra.Length > 0)
                foreach (var cell in cells) FinishedCell.WriteHoldout(cell, heldTruth, held, held.Select(id => new Detection(id, 0, 0.9f, Lesion)).ToList());
            var table = GridTable.Build(grid);
            foreach (var model in table.Rows.Select(r => r.Model).Distinct())
                Assert.Equal(["A", "B"], table.Rows.Where(r => r.Model == model).Select(r => r.Category));
            Assert.Null(table.Rows.Single(r => r.Model == "ensemble" && r.Category == "B").ValMap40);
            Assert.Contains("| ensemble | ", table.Markdown());
            Directory.Delete(Path.Combine(temp, "runs"), recursive: true);
        }
    }

    [Fact]
    public void A_cell_trained_before_the_holdout_fold_was_set_is_not_resumed_on_the_new_split()
    {
        var before = Grid();
        var cell = before.Cells().First();
        var run = CxrLab.Training.RunDirectory.Create(before.ConfigOf(cell));
        File.WriteAllBytes(run.LastCheckpoint, [0]);   // a finished run's marker; the check comes before anything reads it
        var after = Grid("set: {data.holdout_fold: 1}");
        var error = Assert.Throws<InvalidOperationException>(() => GridRunner.RunCell(after, after.Cells().First()));
        Assert.Contains("data.holdout_fold -1, seed", error.Message);
        Assert.Contains("delete", error.Message);
    }
}
