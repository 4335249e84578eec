using System.Text.Json;
using CxrLab.Experiments;
using CxrLab.Tests.Training;
using CxrLab.Training;

namespace CxrLab.Tests.Experiments;

/// <summary>Issue 18, item 2: every shipped grid loads (each cell's experiment with its overrides), and a tiny grid
/// (2 models × 2 categories on generated phantom data) runs end to end through the same runner as
/// <c>./cxr experiments run</c>: each cell an experiment with a result, skipped once done, and the table with single models,
/// hflip TTA and the WBF ensemble beside the seed's numbers.</summary>
[Collection(TorchRngCollection.Name)]
public sealed class ExperimentGridTests : IDisposable
{
    readonly string temp = Directory.CreateTempSubdirectory("cxr-grid-").FullName;

    public void Dispose() => Directory.Delete(temp, recursive: true);

    [Fact]
    public void Every_shipped_grid_loads_with_twelve_cells_over_the_category_experiments()
    {
        var grids = Directory.GetFiles(CategoryTrainingTests.RepoFile("experiments/grids"), "*.yaml");
        Assert.Contains(grids, g => Path.GetFileName(g) == "vinbig_phantom.yaml");
        Assert.Contains(grids, g => Path.GetFileName(g) == "vinbig_kaggle.yaml");
        foreach (var file in grids)
        {
            var grid = ExperimentGrid.Load(file);
            var cells = grid.Cells().ToList();
            Assert.Equal(12, cells.Count);
            foreach (var cell in cells)
            {
                var cfg = grid.ConfigOf(cell);
                Assert.Equal(cell.Name, cfg.Name);
                Assert.EndsWith($"vinbig-{cell.Category}.yaml", cfg.Data.Category);
            }
            Assert.Equal(0.147, grid.SeedScore("yolox", "C"));
        }
        var bad = Path.Combine(temp, "bad.yaml");
        File.WriteAllText(bad, "name: bad\ncategories: [A]\nmodels:\n  - {name: m, config: \"nowhere_{category}.yaml\"}\n");
        var error = Assert.Throws<ConfigException>(() => ExperimentGrid.Load(bad));
        Assert.Contains("bad.yaml:4", error.Message);
        Assert.Contains("nowhere_A.yaml", error.Message);
        File.WriteAllText(bad, $"name: bad\ncategories: [A]\ncheckpoint: final\nmodels:\n  - {{name: m, config: \"{CategoryTrainingTests.RepoFile("experiments")}/vinbig_frcnn_{{category}}.yaml\"}}\n");
        error = Assert.Throws<ConfigException>(() => ExperimentGrid.Load(bad));
        Assert.Contains("bad.yaml:3", error.Message);
        Assert.Contains("checkpoint 'final' is not best or last", error.Message);
    }

    [Fact]
    public void A_tiny_grid_runs_end_to_end_skips_finished_cells_and_tables_models_tta_and_the_ensemble()
    {
        var experiments = CategoryTrainingTests.RepoFile("experiments");
        var gridFile = Path.Combine(temp, "tiny.yaml");
        File.WriteAllText(gridFile, $$"""
            name: tiny
            runs_dir: {{Path.Combine(temp, "runs")}}
            categories: [A, B]
            train_images: 24
            checkpoint: last
            phantom: {images: 30, size: 96, seed: 4, class_balance: 0.5}
            set: {data.root: {{Path.Combine(temp, "data")}}, data.cache_size: 64, data.folds: 3, data.holdout_fold: 1, train.batch_size: 4, schedule.warmup_iters: 2, schedule.warmup_epochs: 0,
                  schedule.name: cosine, schedule.final_constant_epochs: 0, train.early_stopping_patience: 0}
            models:
              - name: frcnn
                config: {{experiments}}/vinbig_frcnn_{category}.yaml
                set: {model.arch: fasterrcnn_resnet18_fpn, model.input_size: 64, model.max_size: 64, model.norm_layer: batchnorm, model.score_thresh: 0.0,
                      faster_rcnn.fpn_channels: 32, faster_rcnn.representation_size: 64, faster_rcnn.anchor_sizes: [8, 16, 32, 64, 128],
                      faster_rcnn.rpn_post_nms_top_n_train: 100, faster_rcnn.rpn_post_nms_top_n_test: 50, faster_rcnn.roi_batch_size_per_image: 32}
              - name: yolox
                config: {{experiments}}/vinbig_yolox_{category}.yaml
                train_images: 48
                set: {model.arch: yolox_nano, model.input_size: 64, yolox.multiscale_range: 0, optimizer.lr: 0.01}
            seed_scores:
              yolox: {A: 0.021, B: 0.068}
              frcnn: {A: 0.012, B: 0.098}
            """);
        var grid = ExperimentGrid.Load(gridFile);
        var log = new List<string>();
        var results = GridRunner.Run(grid, log.Add);
        Assert.Equal(4, results.Count);
        Assert.Contains(log, l => l.StartsWith("phantom VinBigData: 30 images"));
        foreach (var cell in grid.Cells())
        {
            var result = GridCellResult.TryLoad(cell.ResultFile)!;
            Assert.InRange(result.ValMap40, 0, 1);
            Assert.InRange(result.ValMap40Hflip, 0, 1);
            Assert.True(File.Exists(Path.Combine(result.Run, "checkpoints", "last.ckpt")));
            Assert.True(File.Exists(cell.PredictionsFile) && File.Exists(cell.HflipPredictionsFile) && File.Exists(cell.TruthFile));
            // data.holdout_fold: the held-out fold is predicted too (plain and hflip), for the ensemble's weights.
            Assert.True(File.Exists(cell.HoldoutPredictionsFile) && File.Exists(cell.HoldoutHflipPredictionsFile) && File.Exists(cell.HoldoutTruthFile));
            Assert.InRange(result.HoldoutMap40!.Value, 0, 1);
            Assert.Equal(File.ReadLines(cell.HoldoutTruthFile).Skip(1).Select(l => l.Split(',')[0]).Distinct().Count(), result.HoldoutImages);
            Assert.InRange(result.HoldoutImages, 5, 15);
            // train_images: about the same work per cell of a model whatever the category's images per source (yolox has its own budget).
            Assert.Equal(Math.Max(1, (int)Math.Round((cell.Model.Name == "yolox" ? 48.0 : 24.0) / result.TrainImagesPerEpoch)), result.Epochs);
            // checkpoint: last — the cell is scored with the final weights, which the trainer validated on the same fold at its last epoch.
            Assert.Equal("last", result.Checkpoint);
            var lastEpoch = File.ReadAllLines(Path.Combine(result.Run, "metrics.csv")).Last().Split(',');
            var header = File.ReadAllLines(Path.Combine(result.Run, "metrics.csv")).First().Split(',');
            Assert.Equal(double.Parse(lastEpoch[Array.IndexOf(header, "val_map40")], System.Globalization.CultureInfo.InvariantCulture), result.ValMap40, 6);
        }
        Assert.Equal(4 * GridCellResult.TryLoad(grid.Cells().First(c => c.Category == "A").ResultFile)!.TrainImagesPerEpoch,
                     GridCellResult.TryLoad(grid.Cells().First(c => c.Category == "B").ResultFile)!.TrainImagesPerEpoch);

        // A second run trains nothing: every cell is skipped with its stored result.
        var stamps = grid.Cells().Select(c => File.GetLastWriteTimeUtc(c.ResultFile)).ToList();
        log.Clear();
        var again = GridRunner.Run(grid, log.Add);
        Assert.Equal(results.Select(r => r.ValMap40), again.Select(r => r.ValMap40));
        Assert.Equal(4, log.Count(l => l.EndsWith("skipped")));
        Assert.Equal(stamps, grid.Cells().Select(c => File.GetLastWriteTimeUtc(c.ResultFile)));

        // A cell whose result.json was deleted (e.g. to rescore it with another checkpoint:) is scored again from its finished
        // run, without training: the same score, no new epoch in its metrics.
        var rescored = grid.Cells().First();
        var before = GridCellResult.TryLoad(rescored.ResultFile)!;
        var metricsLines = File.ReadAllLines(Path.Combine(before.Run, "metrics.csv")).Length;
        File.Delete(rescored.ResultFile);
        var after = GridRunner.RunCell(grid, rescored)!;
        Assert.Equal(before.Run, after.Run);
        Assert.Equal(before.ValMap40, after.ValMap40, 9);
        Assert.Equal(metricsLines, File.ReadAllLines(Path.Combine(before.Run, "metrics.csv")).Length);

        var table = GridTable.Build(grid);
        var rows = JsonDocument.Parse(table.Json()).RootElement.EnumerateArray().ToList();
        Assert.Equal((2 * 2 + 3) * 2, rows.Count);   // (models + their hflip rows + ensemble, ensemble+hflip, ensemble+equal) × categories
        Assert.All(rows, r => Assert.InRange(r.GetProperty("val_map40").GetDouble(), 0, 1));
        Assert.Contains(rows, r => r.GetProperty("model").GetString() == "ensemble" && r.GetProperty("category").GetString() == "B");
        Assert.Equal(0.068, rows.Single(r => r.GetProperty("model").GetString() == "yolox" && r.GetProperty("category").GetString() == "B").GetProperty("seed_map40").GetDouble());
        // The ensemble row is the WBF of the members' stored predictions with the weights chosen on the held-out fold,
        // scored on the validation truth; ensemble+equal the same with equal weights.
        var members = grid.Cells().Where(c => c.Category == "A").ToList();
        double Row(string model) => rows.Single(r => r.GetProperty("model").GetString() == model && r.GetProperty("category").GetString() == "A").GetProperty("val_map40").GetDouble();
        var recipe = GridTable.TuneOnHoldout(members, false, CxrLab.Evaluation.WbfOptions.Kaggle);
        Assert.Equal(GridTable.Ensemble(members, false, CxrLab.Evaluation.WbfOptions.Kaggle, recipe).Map, Row("ensemble"), 9);
        Assert.Equal(GridTable.Ensemble(members, false, CxrLab.Evaluation.WbfOptions.Kaggle).Map, Row("ensemble+equal"), 9);
        var markdown = table.Markdown(perClass: true);
        Assert.Contains("| yolox | ", markdown);
        Assert.Contains("(seed 0.021)", markdown);
        Assert.Contains("AP per class", markdown);
        Assert.Contains("scored with its final weights (checkpoint: last)", markdown);
        Assert.DoesNotContain("Not so for", markdown);
        // The same results read under checkpoint: best are named as scored otherwise, with how to rescore them.
        var mixed = GridTable.Build(grid with { Checkpoint = GridCheckpoint.Best }).Markdown();
        Assert.Contains("best checkpoint on this same validation fold", mixed);
        Assert.Contains("Not so for frcnn_A, frcnn_B, yolox_A, yolox_B: delete their result.json", mixed);
        var files = table.Write();
        Assert.All(files, f => Assert.True(new FileInfo(f).Length > 0));
        Assert.Contains("heatmap", File.ReadAllText(files.Single(f => f.EndsWith("heatmap.html"))));
    }
}
