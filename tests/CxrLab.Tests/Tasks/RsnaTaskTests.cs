using CxrLab.Data;
using CxrLab.Data.Phantom;
using CxrLab.Evaluation;
using CxrLab.Experiments;
using CxrLab.Models.Detection;
using CxrLab.Tasks;
using CxrLab.Tasks.Rsna;
using CxrLab.Tests.Training;
using CxrLab.Torch;
using CxrLab.Training;

namespace CxrLab.Tests.Tasks;

/// <summary>The RSNA task on a tiny phantom set in Kaggle's layout: boxes → masks, the patient-level split stratified by
/// Target, samples with masks through the seed's augmentation, the metric, submission → scorer round trip, the threshold
/// sweep, and one epoch of a tiny Mask R-CNN through the task table.</summary>
[Collection(TorchRngCollection.Name)]
public sealed class RsnaTaskTests : IDisposable
{
    readonly string temp = Directory.CreateTempSubdirectory("cxr-rsna-task-").FullName;

    public void Dispose() => Directory.Delete(temp, recursive: true);

    static string RepoFile(string relative) => Path.Combine(ExperimentConfigTests.RepoRoot(), relative);

    ExperimentConfig Config(string root, string extra = "") => ExperimentConfigLoader.Load($$"""
        name: rsna_tiny
        seed: 3
        model: {arch: maskrcnn_resnet18_fpn, num_classes: 1, input_size: 96, max_size: 96, norm_layer: batchnorm, score_thresh: 0.0, nms_thresh: 0.1, max_detections: 3}
        mask_rcnn: {fpn_channels: 16, representation_size: 32, mask_channels: 16, mask_convs: 2, anchor_sizes: [16, 32, 64, 128, 128],
                    rpn_post_nms_top_n_train: 60, rpn_post_nms_top_n_test: 30, roi_batch_size_per_image: 32}
        rsna: {mask_shape: ellipse, max_boxes: 4, augment_pipeline: {{RepoFile("experiments/augment/rsna-seed.yaml")}} }
        data: {dataset: rsna, root: {{root}}, layout: kaggle, cache_size: 96, fold: 0, folds: 3}
        optimizer: {name: sgd, lr: 0.01}
        schedule: {name: cosine, warmup_iters: 2}
        train: {epochs: 1, batch_size: 2}
        output: {runs_dir: {{Path.Combine(temp, "runs")}} }
        {{extra}}
        """, "test.yaml");

    string Phantom(int images = 24)
    {
        var root = Path.Combine(temp, "rsna");
        RsnaPhantom.Write(root, new PhantomOptions(images, 128, Seed: 5, TestImages: 2));
        return root;
    }

    [Fact]
    public void Masks_from_boxes_fill_the_box_or_its_inscribed_ellipse()
    {
        var box = new Box(2, 3, 12, 9);
        var filled = RsnaMasks.Of(box, 16, 12, RsnaMaskShape.Box);
        Assert.Equal(60, filled.Data.Sum());   // 10 × 6 pixel centres inside
        Assert.Equal(1, filled.At(3, 2));
        Assert.Equal(0, filled.At(2, 2));
        Assert.Equal(0, filled.At(3, 12));
        var ellipse = RsnaMasks.Of(box, 16, 12, RsnaMaskShape.Ellipse);
        Assert.InRange(ellipse.Data.Sum(), 60 * Math.PI / 4 - 6, 60 * Math.PI / 4 + 6);
        Assert.Equal(0, ellipse.At(3, 2));     // corners are outside the ellipse
        Assert.Equal(1, ellipse.At(6, 7));     // the centre is inside
        Assert.All(Enumerable.Range(0, ellipse.Data.Length), i => Assert.True(ellipse.Data[i] <= filled.Data[i]));
        Assert.Throws<ArgumentException>(() => RsnaMasks.Parse("circle"));
    }

    [Fact]
    public void Prepare_splits_patients_stratified_by_target_and_samples_carry_one_mask_per_box_through_augmentation()
    {
        var root = Phantom();
        var cfg = Config(root);
        var split = RsnaTraining.Prepare(cfg);
        Assert.True(File.Exists(Path.Combine(root, "cache_png96", "meta.csv")));
        Assert.Equal(24, split.Train.Count + split.Validation.Count);
        Assert.Empty(split.Train.Items.Select(i => i.GroupId).Intersect(split.Validation.Items.Select(i => i.GroupId)));
        // Stratified: each fold's share of patients with opacities is within one patient of the whole set's.
        var all = split.Train.Items.Concat(split.Validation.Items).ToList();
        var share = all.Count(i => i.Target.Count > 0) / (double)all.Count;
        Assert.InRange(split.Validation.Items.Count(i => i.Target.Count > 0), share * split.Validation.Count - 1.01, share * split.Validation.Count + 1.01);
        Assert.Contains(all, i => i.Target.Count > 0);

        var (train, validation) = RsnaTraining.Datasets(cfg, split);
        var withBoxes = Enumerable.Range(0, train.Count).First(i => split.Train[i].Target.Count > 0);
        using var a = train.Load(withBoxes, 2);
        using var b = train.Load(withBoxes, 2);
        Assert.Equal(a.Image.ToArray<float>(), b.Image.ToArray<float>());   // seeded by (seed, epoch, index)
        var k = a.Target.Boxes.size(0);
        Assert.InRange(k, 1, 4);
        Assert.Equal([k, a.Image.size(1), a.Image.size(2)], a.Target.Masks!.shape);
        Assert.All(a.Target.Labels.ToArray<long>(), l => Assert.Equal(0L, l));
        // Each mask lies in (about) its box after augmentation: the warped mask's pixels are within the box ± 2 px.
        var boxes = a.Target.Boxes.ToArray<float>();
        for (var m = 0; m < k; m++)
        {
            using var on = a.Target.Masks[m].nonzero();
            Assert.True(on.size(0) > 0, $"mask {m} is empty");
            var yx = on.to(ScalarType.Float32).contiguous().ToArray<float>();
            for (var p = 0; p < yx.Length; p += 2)
            {
                Assert.InRange(yx[p + 1], boxes[m * 4] - 2, boxes[m * 4 + 2] + 2);
                Assert.InRange(yx[p], boxes[m * 4 + 1] - 2, boxes[m * 4 + 3] + 2);
            }
        }
        using var v = validation.Load(0, -1);
        Assert.Equal(v.Target.Boxes.size(0), v.Target.Masks!.size(0));
    }

    [Fact]
    public void At_most_max_boxes_are_kept_largest_first()
    {
        var target = new Target(50, 50, [new Box(0, 0, 10, 10), new Box(0, 0, 30, 30), new Box(0, 0, 5, 5), new Box(0, 0, 20, 20), new Box(0, 0, 25, 25)], [0, 0, 0, 0, 0]);
        var capped = RsnaSamples.Capped(target, 4);
        Assert.Equal([new Box(0, 0, 10, 10), new Box(0, 0, 30, 30), new Box(0, 0, 20, 20), new Box(0, 0, 25, 25)], capped.Boxes);
    }

    [Fact]
    public void A_submission_in_original_pixels_round_trips_through_the_scorer()
    {
        var root = Phantom(12);
        var cfg = Config(root);
        var split = RsnaTraining.Prepare(cfg);
        var validation = split.Train; // any subset with truth
        // "Predictions": the truth boxes in cache pixels, jittered, plus a false alarm on a negative patient.
        var items = validation.Items.Select(i => new ValidationItem(i.ImageId, [], [],
            i.Target.Boxes.Select(b => new[] { b.X1 + 1, b.Y1, b.X2 + 1, b.Y2 }).ToArray(), i.Target.Boxes.Select(_ => 0.9f).ToArray(), i.Target.Boxes.Select(_ => 0L).ToArray())).ToList();
        var negative = validation.Items.First(i => i.Target.Count == 0);
        items[validation.Items.ToList().IndexOf(negative)] = new ValidationItem(negative.ImageId, [], [], [[10f, 10f, 40f, 40f]], [0.8f], [0L]);
        var metric = new RsnaValidationMetric(validation);
        var direct = metric.Compute(items);
        Assert.InRange(direct, 0.05, 0.99);

        var infos = validation.Items.ToDictionary(i => i.ImageId, i => i.Info);
        var predictions = items.Select(i => new ImagePrediction(i.Id, i.Boxes.Select(b => Original(infos[i.Id], b)).ToArray(), i.Scores, i.Labels)).ToList();
        var csv = Path.Combine(temp, "rsna.csv");
        DetectionTasks.Find("rsna").WriteSubmission(csv, predictions);
        var lines = File.ReadAllLines(csv);
        Assert.Equal("patientId,PredictionString", lines[0]);
        Assert.Contains(lines, l => l.EndsWith(',') );                          // negatives: empty PredictionString
        // Truth CSV restricted to these patients: the scorer on the file equals the metric in memory.
        var ids = validation.Items.Select(i => i.ImageId).ToHashSet();
        var truthCsv = Path.Combine(temp, "truth.csv");
        File.WriteAllLines(truthCsv, File.ReadAllLines(Path.Combine(root, RsnaDataset.LabelsCsv)).Where((l, n) => n == 0 || ids.Contains(l.Split(',')[0])));
        var scored = KaggleScoring.ScoreRsna(truthCsv, csv);
        Assert.Equal(direct, scored.Result.Score, 4);
    }

    static float[] Original(ImageInfo info, float[] b)
    {
        var o = info.ToOriginal(new Box(b[0], b[1], b[2], b[3]));
        return [o.X1, o.Y1, o.X2, o.Y2];
    }

    [Fact]
    public void One_epoch_of_a_tiny_mask_rcnn_trains_through_the_task_table_and_the_sweep_cell_equals_predicting_with_its_thresholds()
    {
        var root = Phantom(12);
        var cfg = Config(root);
        var data = ExperimentRunner.Data(cfg);
        Assert.IsType<RsnaValidationMetric>(data.Metric);
        using var model = ExperimentRunner.BuildModel(cfg);
        var run = RunDirectory.Create(cfg);
        using (var trainer = new Trainer(cfg, model, data.Train, data.Validation, data.Metric, run))
        {
            Assert.Equal(TrainingOutcome.Completed, trainer.Fit());
            var row = Assert.Single(trainer.Log.Rows);
            Assert.InRange(row["val_rsna_map"], 0, 1);
            Assert.True(double.IsFinite(row["loss_mask"]));
        }

        var split = RsnaTraining.Prepare(cfg);
        var (_, validation) = RsnaTraining.Datasets(cfg, split);
        var grid = RsnaThresholdSweep.Run(model, validation, split.Validation, [0.0, 0.3], [0.1, 0.5], batchSize: 2);
        Assert.Equal(4, grid.Cells.Count);
        // The cell (0.3, 0.5) is what the model predicts with those thresholds, scored by the validation metric.
        model.Postprocess = model.Postprocess with { ScoreThresh = 0.3, NmsThresh = 0.5 };
        var items = new List<ValidationItem>();
        for (var i = 0; i < validation.Count; i++)
        {
            using var s = validation.Load(i, -1);
            using var d = model.Predict([s.Image])[0];
            Assert.Equal([d.Count, s.Image.size(1), s.Image.size(2)], d.Masks!.shape);
            var flat = d.Boxes.contiguous().ToArray<float>();
            items.Add(new ValidationItem(s.Id, [], [], Enumerable.Range(0, (int)d.Count).Select(r => flat[(r * 4)..(r * 4 + 4)]).ToArray(), d.Scores.ToArray<float>(), d.Labels.ToArray<long>()));
        }
        Assert.Equal(new RsnaValidationMetric(split.Validation).Compute(items), grid[1, 1].Score, 6);
        Assert.Contains("conf \\ nms", grid.ToTable());
    }
}
