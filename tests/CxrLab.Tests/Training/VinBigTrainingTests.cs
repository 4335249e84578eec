using CxrLab.Experiments;
using CxrLab.Models.Detection;
using CxrLab.Tasks;
using CxrLab.Tasks.VinBigData;
using CxrLab.Augment;
using CxrLab.Data;
using CxrLab.Data.Phantom;
using CxrLab.Evaluation;
using CxrLab.Training;

namespace CxrLab.Tests.Training;

/// <summary>The trainer's VinBigData path on a tiny phantom set in the Kaggle layout (DICOM): cache, fusion,
/// fold, augment mapping, the Kaggle metric, and one epoch of a tiny Faster R-CNN through ExperimentRunner.</summary>
[Collection(TorchRngCollection.Name)]
public sealed class VinBigTrainingTests : IDisposable
{
    readonly string temp = Directory.CreateTempSubdirectory("cxr-vinbig-train-").FullName;

    public void Dispose() => Directory.Delete(temp, recursive: true);

    ExperimentConfig Config(string root, string extra = "") => ExperimentConfigLoader.Load($$"""
        name: vinbig_tiny
        seed: 3
        model: {arch: fasterrcnn_resnet18_fpn, num_classes: 14, input_size: 96, max_size: 96}
        faster_rcnn: {fpn_channels: 32, representation_size: 64, rpn_post_nms_top_n_train: 100, rpn_post_nms_top_n_test: 50, roi_batch_size_per_image: 32}
        data: {dataset: vinbigdata, root: {{root}}, layout: kaggle, cache_size: 96, fusion: wbf, fusion_iou: 0.4, fold: 1, folds: 3, include_no_finding: false}
        augment:
          - {name: hflip, p: 0.5}
          - {name: zoom, p: 0.5, params: {limit: 0.1} }
        optimizer: {name: sgd, lr: 0.01}
        schedule: {name: cosine, warmup_iters: 2}
        train: {epochs: 1, batch_size: 2}
        output: {runs_dir: {{Path.Combine(temp, "runs")}} }
        {{extra}}
        """, "test.yaml");

    string Phantom(int images = 18)
    {
        var root = Path.Combine(temp, "vb");
        VinBigPhantom.Write(root, new PhantomOptions(images, 128, Seed: 4, TestImages: 1, AbnormalFraction: 0.7));
        return root;
    }

    [Fact]
    public void Prepare_builds_the_cache_fuses_and_holds_out_one_fold_with_no_finding_images_only_in_validation()
    {
        var root = Phantom();
        var cfg = Config(root);
        var fold = VinBigTraining.Prepare(cfg);

        Assert.True(File.Exists(Path.Combine(root, "cache_png96", "meta.csv")));
        var all = fold.Split.FoldOf.Count;
        Assert.Equal(18, all);
        Assert.Equal(fold.Split.Folds[1].Validation.Count, fold.Validation.Count);
        Assert.All(fold.Train.Items, i => Assert.NotEqual(0, i.Target.Count));          // include_no_finding: false
        Assert.Empty(fold.Train.Items.Select(i => i.ImageId).Intersect(fold.Validation.Items.Select(i => i.ImageId)));
        // Cache pixels: long side 96, boxes inside; the original is 128 wide.
        Assert.All(fold.Train.Items, i =>
        {
            Assert.Equal(96, Math.Max(i.Info.Width, i.Info.Height));
            Assert.Equal(128, i.Info.OriginalWidth);
            Assert.All(i.Target.Boxes, b => Assert.True(b.X1 >= 0 && b.Y1 >= 0 && b.X2 <= i.Info.Width && b.Y2 <= i.Info.Height));
        });

        // The trainer's view: labels 1–14, deterministic per (index, epoch); validation is never augmented.
        var (train, validation) = VinBigTraining.Datasets(cfg, fold);
        using var a = train.Load(0, 3);
        using var b = train.Load(0, 3);
        Assert.Equal(a.Image.ToArray<float>(), b.Image.ToArray<float>());
        Assert.Equal(a.Target.Boxes.ToArray<float>(), b.Target.Boxes.ToArray<float>());
        Assert.All(a.Target.Labels.ToArray<long>(), l => Assert.InRange(l, 1, 14));
        using var v = validation.Load(0, -1);
        var raw = fold.Validation[0].Load();
        Assert.Equal(raw.Data, v.Image.ToArray<float>().Take(raw.Data.Length).ToArray());
    }

    [Fact]
    public void Augment_steps_map_onto_the_library_with_their_probability_and_limits()
    {
        var pipeline = AugmentMapping.Build([
            new AugmentStepConfig { Name = "rotate90", P = 0.5 },
            new AugmentStepConfig { Name = "zoom", P = 0.25, Params = { ["limit"] = "0.1" } },
            new AugmentStepConfig { Name = "clahe", P = 1, Params = { ["clip_limit"] = "2.0", ["tile_grid"] = "8" } },
        ])!;
        var steps = Assert.IsType<Sequential>(pipeline.Root).Steps;
        var rot = Assert.IsType<Sometimes>(steps[0]);
        Assert.Equal(0.5, rot.P);
        Assert.Equal(new[] { 1, 3 }, Assert.IsType<Rotate90>(rot.Then).QuarterTurns);
        var zoom = Assert.IsType<Sometimes>(steps[1]);
        Assert.Equal(0.25, zoom.P);
        var factor = Assert.IsType<Zoom>(zoom.Then).Factor;
        Assert.Equal((0.9, 1.1), (factor.Min, factor.Max), new ToleranceComparer());
        var clahe = Assert.IsType<Clahe>(steps[2]);
        Assert.Equal(8, clahe.Tiles);
        Assert.Null(AugmentMapping.Build([]));
        var bad = Assert.Throws<ArgumentException>(() => AugmentMapping.Build([new AugmentStepConfig { Name = "warp_drive" }]));
        Assert.Contains("warp_drive", bad.Message);
    }

    sealed class ToleranceComparer : IEqualityComparer<(double, double)>
    {
        public bool Equals((double, double) x, (double, double) y) => Math.Abs(x.Item1 - y.Item1) < 1e-9 && Math.Abs(x.Item2 - y.Item2) < 1e-9;
        public int GetHashCode((double, double) obj) => 0;
    }

    [Fact]
    public void Kaggle_metric_scores_the_truth_itself_1_and_maps_cache_pixels_to_original_ones()
    {
        var root = Phantom();
        var fold = VinBigTraining.Prepare(Config(root));
        var metric = new VinBigValidationMetric(fold.Validation);
        // Perfect predictions in cache pixels and task class ids; No-finding images predict nothing.
        var perfect = fold.Validation.Items.Select(i => new ValidationItem(i.ImageId, [], [],
            i.Target.Boxes.Select(b => new[] { b.X1, b.Y1, b.X2, b.Y2 }).ToArray(), i.Target.Boxes.Select(_ => 0.9f).ToArray(),
            i.Target.Labels.Select(l => (long)l).ToArray())).ToList();
        Assert.Equal(1.0, metric.Compute(perfect), 6);
        Assert.Contains(metric.Last!.PerClass, c => c.Label == VinBigClasses.NoFinding);

        // The same boxes left in cache pixels (not mapped to the original 128-px frame) miss at IoU 0.4.
        var truth = fold.Validation.ToTruth(noFindingBox: true);
        var unmapped = perfect.SelectMany(p => p.Boxes.Select((b, k) => new Detection(p.Id, (int)p.Labels[k], 0.9f, new Box(b[0], b[1], b[2], b[3] ))));
        var wrong = VocEvaluator.Evaluate(truth, unmapped);
        Assert.True(metric.Last.Map > wrong.Map + 0.2, $"mapped {metric.Last.Map} vs unmapped {wrong.Map}");
    }

    [Fact]
    public void Train_verb_path_trains_one_epoch_on_a_kaggle_layout_folder_and_logs_val_map40()
    {
        var root = Phantom(12);
        var cfg = Config(root);
        var data = ExperimentRunner.Data(cfg);
        Assert.IsType<VinBigValidationMetric>(data.Metric);
        using var model = ExperimentRunner.BuildModel(cfg);
        var run = RunDirectory.Create(cfg);
        using var trainer = new Trainer(cfg, model, data.Train, data.Validation, data.Metric, run);
        Assert.Equal(TrainingOutcome.Completed, trainer.Fit());
        var row = Assert.Single(trainer.Log.Rows);
        Assert.InRange(row["val_map40"], 0, 1);
        Assert.True(double.IsFinite(row["loss"]));
        Assert.True(File.Exists(run.LastCheckpoint));
    }

    [Fact]
    public void Dataset_candidates_post_processed_with_any_thresholds_equal_predicting_with_them()
    {
        var root = Phantom(12);
        var cfg = Config(root);
        var fold = VinBigTraining.Prepare(cfg);
        using var model = ExperimentRunner.BuildModel(cfg);
        model.eval();
        using var candidates = DatasetPrediction.Candidates(model, fold.Validation, 2);
        Assert.Equal(fold.Validation.Count, candidates.Count);
        var defaults = model.Postprocess;
        List<ValidationItem>? everything = null;
        foreach (var options in new[] { defaults with { ScoreThresh = 0.0 }, defaults with { ScoreThresh = 0.066, NmsThresh = 0.3, MaxDetections = 7 } })
        {
            model.Postprocess = options;
            var direct = DatasetPrediction.Predict(model, fold.Validation, 2);
            everything ??= direct;
            var swept = candidates.Select(options);
            Assert.Equal(fold.Validation.Items.Select(i => i.ImageId), direct.Select(d => d.Id));
            Assert.Equal(direct.Select(d => d.Id), swept.Select(d => d.Id));
            for (var k = 0; k < direct.Count; k++)
            {
                Assert.Equal(direct[k].Boxes.SelectMany(b => b), swept[k].Boxes.SelectMany(b => b));
                Assert.Equal(direct[k].Scores, swept[k].Scores);
                Assert.Equal(direct[k].Labels, swept[k].Labels);
                Assert.Equal(direct[k].TruthLabels, swept[k].TruthLabels);
                // Truth in task class ids and cache pixels, as the trainer validates.
                var item = fold.Validation[k];
                Assert.Equal(item.Target.Labels.Select(l => (long)l), direct[k].TruthLabels);
                Assert.Equal(item.Target.Boxes.SelectMany(b => new[] { b.X1, b.Y1, b.X2, b.Y2 }), direct[k].TruthBoxes.SelectMany(b => b));
                Assert.True(direct[k].Scores.Length <= options.MaxDetections);
            }
        }
        Assert.Contains(everything!, d => d.Boxes.Length > 0);

        // Examples: the images with the most findings first, then one without; labels are the dataset's classes.
        var examples = DatasetPrediction.Examples(fold.Validation, everything!, 3);
        var withFindings = examples.TakeWhile(e => e.Truth.Count > 0).ToList();
        Assert.Equal(withFindings.Select(e => e.Truth.Count).OrderByDescending(n => n), withFindings.Select(e => e.Truth.Count));
        var first = everything!.Single(d => d.Id == examples[0].ImageId);
        Assert.Equal(first.Labels.Select(l => (int)l), examples[0].Labels);
        Assert.Throws<ArgumentException>(() => DatasetPrediction.Examples(fold.Validation, [], 2));
    }
}
