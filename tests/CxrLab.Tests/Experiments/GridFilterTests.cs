using System.Text.Json;
using CxrLab.Data;
using CxrLab.Evaluation;
using CxrLab.Experiments;
using CxrLab.Tasks.VinBigData;
using CxrLab.Tests.Training;
using CxrLab.Training;

namespace CxrLab.Tests.Experiments;

/// <summary>Issue 18, item 3: a grid's <c>classifier:</c> key — the shipped grids carry it; the grid trains the
/// normal/abnormal classifier once on the cells' fold (every training image, the cells' validation images) and skips it once
/// done; the table gains <c>MODEL+filter</c> and <c>ensemble+filter</c> rows scored on the same truth as the other rows.</summary>
[Collection(TorchRngCollection.Name)]
public sealed class GridFilterTests : IDisposable
{
    readonly string temp = Directory.CreateTempSubdirectory("cxr-gridfilter-").FullName;
    public void Dispose() => Directory.Delete(temp, recursive: true);

    static string Experiments => CategoryTrainingTests.RepoFile("experiments");

    [Fact]
    public void The_shipped_grids_train_a_classifier_and_a_bad_classifier_key_names_the_grid_line()
    {
        var phantom = ExperimentGrid.Load(CategoryTrainingTests.RepoFile("experiments/grids/vinbig_phantom.yaml"));
        Assert.NotNull(phantom.Classifier);
        var cfg = phantom.ClassifierConfig();
        Assert.Equal(("resnet18", 160, "classifier"), (cfg.Classifier.Arch, cfg.Classifier.InputSize, cfg.Name));
        Assert.Equal(0.08, cfg.Classifier.FilterLow);
        // The classifier sees the cells' data: same root, cache, folds, fold and seed.
        var cell = phantom.ConfigOf(phantom.Cells().First());
        Assert.Equal((cell.Data.Root, cell.Data.CacheSize, cell.Data.Folds, cell.Data.Fold, cell.Seed), (cfg.Data.Root, cfg.Data.CacheSize, cfg.Data.Folds, cfg.Data.Fold, cfg.Seed));
        Assert.Equal(Path.Combine(phantom.RunsDir, "classifier", "result.json"), phantom.ClassifierResultFile);
        Assert.NotNull(ExperimentGrid.Load(CategoryTrainingTests.RepoFile("experiments/grids/vinbig_kaggle.yaml")).Classifier);

        var bad = Path.Combine(temp, "bad.yaml");
        File.WriteAllText(bad, $"name: bad\ncategories: [A]\nmodels:\n  - {{name: m, config: \"{Experiments}/vinbig_yolox_{{category}}.yaml\"}}\nclassifier: {{arch: vgg16}}\n");
        var error = Assert.Throws<ConfigException>(() => ExperimentGrid.Load(bad));
        Assert.Contains("bad.yaml:5", error.Message);
        Assert.Contains("vgg16", error.Message);
    }

    static readonly Box Lesion = new(10, 20, 50, 60);

    /// <summary>A finished cell's files as GridRunner writes them: truth (n normal, s with a class-0 lesion), predictions
    /// that fire on both images, and a result.</summary>
    static void WriteCell(GridCell cell) =>
        FinishedCell.Write(cell,
            [new VinBigAnnotation("n", VinBigClasses.NoFinding, "", null, 0), new VinBigAnnotation("s", 0, "", Lesion, 0)], ["n", "s"],
            [
                new("n", 0, 0.9f, Lesion), new("n", 14, 0.1f, VinBigClasses.NoFindingBox),
                new("s", 0, 0.5f, Lesion), new("s", 14, 0.5f, VinBigClasses.NoFindingBox),
            ], valMap40: 0.5);

    [Fact]
    public void The_table_has_filter_rows_once_the_classifier_has_run_scored_on_the_cells_truth()
    {
        var gridFile = Path.Combine(temp, "g.yaml");
        File.WriteAllText(gridFile, $$"""
            name: g
            runs_dir: {{Path.Combine(temp, "runs")}}
            categories: [A]
            models:
              - {name: yolox, config: "{{Experiments}}/vinbig_yolox_{category}.yaml"}
              - {name: frcnn, config: "{{Experiments}}/vinbig_frcnn_{category}.yaml"}
            classifier: {arch: resnet18, input_size: 64, epochs: 1, filter_low: 0.08}
            """);
        var grid = ExperimentGrid.Load(gridFile);
        foreach (var cell in grid.Cells()) WriteCell(cell);

        // Before the classifier has run: the filter rows are there, without a value.
        var before = GridTable.Build(grid);
        Assert.Null(before.Rows.Single(r => r.Model == "ensemble+filter").ValMap40);
        Assert.Null(before.Rows.Single(r => r.Model == "yolox+filter").ValMap40);
        Assert.Contains("has not run yet", before.Markdown());

        Directory.CreateDirectory(grid.ClassifierDir);
        NormalFilter.WriteProbabilities(grid.ClassifierProbabilitiesFile, [KeyValuePair.Create("n", 0.02), KeyValuePair.Create("s", 0.9)]);
        new ClassifierResult { Arch = "resnet18", InputSize = 64, ValAuc = 1, FilterLow = 0.08 }.Save(grid.ClassifierResultFile);
        var table = GridTable.Build(grid);
        var rows = JsonDocument.Parse(table.Json()).RootElement.EnumerateArray()
            .ToDictionary(r => r.GetProperty("model").GetString()!, r => r.GetProperty("val_map40").GetDouble());
        Assert.Equal(["yolox", "yolox+hflip", "yolox+filter", "frcnn", "frcnn+hflip", "frcnn+filter",
                      "ensemble", "ensemble+hflip", "ensemble+filter", "ensemble+hflip+filter", "ensemble+tuned"], rows.Keys);
        // Unfiltered: a false positive above the true box, and the normal image's No finding below the other's → 0.5.
        Assert.Equal(0.5, rows["yolox"]);
        Assert.Equal(0.5, rows["ensemble"], 6);
        // Filtered: n (p 0.02 < 0.08) is No finding only; s keeps its box (× 0.9) → every class's AP is 1.
        Assert.Equal(1.0, rows["yolox+filter"], 6);
        Assert.Equal(1.0, rows["ensemble+filter"], 6);
        Assert.Equal(1.0, rows["ensemble+hflip+filter"], 6);
        Assert.Contains("| ensemble+filter | 1.000 |", table.Markdown());
        Assert.Contains("validation AUC 1.000", table.Markdown());
        Assert.Contains("ensemble+filter,A,1", table.Csv());
        var files = table.Write();
        var html = File.ReadAllText(files.Single(f => f.EndsWith("heatmap.html")));
        Assert.True(html.Contains("ensemble+filter") || html.Contains("ensemble\\u002Bfilter"), "the heat map has no ensemble+filter row");

        // A probability file that misses a validation image is an error naming it, not a silently better score.
        NormalFilter.WriteProbabilities(grid.ClassifierProbabilitiesFile, [KeyValuePair.Create("n", 0.02)]);
        Assert.Contains("'s'", Assert.Throws<KeyNotFoundException>(() => GridTable.Build(grid)).Message);
    }

    [Fact]
    public void The_grid_trains_its_classifier_once_on_the_cells_fold_with_normal_images_and_skips_it_after()
    {
        var gridFile = Path.Combine(temp, "tiny.yaml");
        File.WriteAllText(gridFile, $$"""
            name: tiny
            runs_dir: {{Path.Combine(temp, "runs")}}
            categories: [A]
            phantom: {images: 30, size: 96, seed: 4, class_balance: 0.5}
            set: {data.root: {{Path.Combine(temp, "data")}}, data.cache_size: 64, data.folds: 3}
            models:
              - {name: yolox, config: "{{Experiments}}/vinbig_yolox_{category}.yaml"}
            classifier: {arch: resnet18, input_size: 32, epochs: 2, batch_size: 8}
            """);
        var grid = ExperimentGrid.Load(gridFile);
        GridRunner.EnsureData(grid);
        var log = new List<string>();
        var result = GridRunner.RunClassifier(grid, log.Add)!;
        Assert.True(File.Exists(grid.ClassifierResultFile) && File.Exists(grid.ClassifierProbabilitiesFile));
        Assert.True(File.Exists(Path.Combine(result.Run, "checkpoints", "best.ckpt")));
        Assert.Equal(2, result.Epochs);

        // Its validation images are the cells' (category A trains on abnormal images only; the classifier on all).
        var cellFold = VinBigTraining.Prepare(grid.ConfigOf(grid.Cells().First()));
        var validationIds = cellFold.Validation.Items.Select(i => i.ImageId).Distinct().Order(StringComparer.Ordinal).ToList();
        Assert.Equal(validationIds, NormalFilter.ReadProbabilities(grid.ClassifierProbabilitiesFile).Keys.Order(StringComparer.Ordinal));
        Assert.Equal(validationIds.Count, result.ValidationImages);
        Assert.True(result.TrainImages > result.TrainAbnormal && result.TrainAbnormal > 0, $"{result.TrainAbnormal} of {result.TrainImages} training images abnormal");
        Assert.Equal(cellFold.Train.Items.DistinctBy(i => i.ImageId).Count(), result.TrainAbnormal);
        Assert.True(double.IsNaN(result.ValAuc) || result.ValAuc is >= 0 and <= 1);

        var stamp = File.GetLastWriteTimeUtc(grid.ClassifierResultFile);
        log.Clear();
        var again = GridRunner.RunClassifier(grid, log.Add)!;
        Assert.Equal(result.ValAuc, again.ValAuc);
        Assert.Contains(log, l => l.StartsWith("classifier: done") && l.EndsWith("skipped"));
        Assert.Equal(stamp, File.GetLastWriteTimeUtc(grid.ClassifierResultFile));
    }
}
