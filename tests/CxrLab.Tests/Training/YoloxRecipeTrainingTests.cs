using CxrLab.Data.Phantom;
using CxrLab.Experiments;
using CxrLab.Models.Detection;
using CxrLab.Models.Yolox;
using CxrLab.Tasks.VinBigData;
using CxrLab.Training;

namespace CxrLab.Tests.Training;

/// <summary>Issue 15, item 3: Megvii's recipe through the shared trainer (<c>train.recipe: reference</c>): its optimizer
/// numbers from the <c>yolox:</c> section with the learning rate from basic_lr_per_img × images per step, Mosaic until
/// Megvii's switch epoch and HSV + flip after it, the L1 loss from that epoch on, and exact resume across the switch
/// (multi-scale sizes included). yolox_nano at 64 px on a tiny phantom VinBigData set.</summary>
[Collection(TorchRngCollection.Name)]
public sealed class YoloxRecipeTrainingTests : IDisposable
{
    readonly string temp = Directory.CreateTempSubdirectory("cxr-yolox-recipe-").FullName;

    public void Dispose() => Directory.Delete(temp, recursive: true);

    string Phantom()
    {
        var root = Path.Combine(temp, "vb");
        if (!Directory.Exists(root)) VinBigPhantom.Write(root, new PhantomOptions(12, 96, Seed: 4, TestImages: 1, AbnormalFraction: 0.9));
        return root;
    }

    // 4 epochs with no_aug_epochs 1: Megvii closes the mosaic when epoch + 1 == 4 − 1, i.e. at 0-based epoch 2.
    ExperimentConfig Config(string recipe = "reference", string train = "epochs: 4, batch_size: 2", string arch = "yolox_nano") => ExperimentConfigLoader.Load($$"""
        name: yolox_recipe
        seed: 3
        model: {arch: {{arch}}, num_classes: 14, input_size: 64}
        yolox: {no_aug_epochs: 1, warmup_epochs: 1, multiscale_range: 1, mosaic_prob: 1.0}
        data: {dataset: vinbigdata, root: {{Phantom()}}, layout: kaggle, cache_size: 64, fusion: wbf, fold: 0, folds: 3, include_no_finding: false}
        optimizer: {name: adamw, lr: 0.5}
        train: {recipe: {{recipe}}, {{train}} }
        output: {runs_dir: {{Path.Combine(temp, "runs")}} }
        """, "yolox_recipe.yaml");

    static (IDetector Model, Trainer Trainer) Build(ExperimentConfig config, RunDirectory run)
    {
        var data = ExperimentRunner.Data(config);
        var model = ExperimentRunner.BuildModel(config);
        return (model, new Trainer(config, model, data.Train, data.Validation, data.Metric, run));
    }

    [Fact]
    public void Reference_recipe_takes_megvii_numbers_from_the_yolox_section_with_lr_per_image()
    {
        var config = Config(train: "epochs: 4, batch_size: 2, accumulate: 3");
        var (model, trainer) = Build(config, RunDirectory.Create(config));
        using (model) using (trainer)
        {
            var o = trainer.Config.Optimizer;
            Assert.Equal(OptimizerKind.Sgd, o.Name);
            Assert.Equal(0.01 / 64 * 6, o.Lr, 12);            // 2 images × 3 accumulated forwards per step
            Assert.Equal((0.9, true, 5e-4, false), (o.Momentum, o.Nesterov, o.WeightDecay, o.DecayNormAndBias));
            var s = trainer.Config.Schedule;
            Assert.Equal((ScheduleKind.YoloxWarmCos, 1.0, 0.0, 0.05, 1), (s.Name, s.WarmupEpochs, s.WarmupFactor, s.FinalLrRatio, s.FinalConstantEpochs));
            Assert.Equal((true, 0.9999), (trainer.Config.Train.Ema, trainer.Config.Train.EmaDecay));
            Assert.Contains("Megvii", trainer.RecipeNote);
            Assert.Contains("train.recipe: reference", File.ReadAllText(trainer.Run.LogFile));
        }

        // train.recipe: config leaves the keys alone; a family without a recipe of its own is refused by name.
        var plain = Config(recipe: "config");
        var (model2, trainer2) = Build(plain, RunDirectory.Create(plain));
        using (model2) using (trainer2)
        {
            Assert.Equal((OptimizerKind.AdamW, 0.5), (trainer2.Config.Optimizer.Name, trainer2.Config.Optimizer.Lr));
            Assert.Null(trainer2.RecipeNote);
        }
        var frcnn = Config(arch: "fasterrcnn_resnet18_fpn");
        var data = ExperimentRunner.Data(frcnn);
        using var model3 = ExperimentRunner.BuildModel(frcnn);
        var error = Assert.Throws<ConfigException>(() => new Trainer(frcnn, model3, data.Train, data.Validation, data.Metric, RunDirectory.Create(frcnn)));
        Assert.Contains("train.recipe", error.Message);
        Assert.Contains("fasterrcnn_resnet18_fpn", error.Message);
    }

    static double[] Widths(CxrLab.Torch.Tensor boxes) =>
        (boxes.narrow(1, 2, 1) - boxes.narrow(1, 0, 1)).flatten().ToArray<float>().Select(w => Math.Round(w, 2)).Order().ToArray();

    [Fact]
    public void Mosaic_closes_and_the_l1_loss_starts_at_megvii_switch_epoch()
    {
        var config = Config();
        var (model, trainer) = Build(config, RunDirectory.Create(config));
        using (model) using (trainer)
        {
            var recipe = Assert.IsType<YoloxRecipe>(model.TrainingRecipe);
            Assert.Equal(2, recipe.NoAugStart(4));
            Assert.Equal(284, new YoloxRecipe((YOLOX)model, new YoloxConfig().For("yolox_s")).NoAugStart(300));  // Megvii's 300 epochs, no_aug_epochs 15

            // The trainer's training set runs the recipe's augmentation: Mosaic before the switch (boxes from four
            // images, resized), HSV + flip after it (every box keeps its size).
            var data = ExperimentRunner.Data(config);
            var sizes = new List<(int Epoch, bool SameSizes)>();
            for (var epoch = 1; epoch <= 2; epoch++)
                for (var i = 0; i < data.Train.Count; i++)
                {
                    using var plain = data.Train.Load(i, epoch);
                    using var drawn = trainer.TrainingSet.Load(i, epoch);
                    sizes.Add((epoch, Widths(plain.Target.Boxes).SequenceEqual(Widths(drawn.Target.Boxes))));
                }
            Assert.Contains(sizes, x => x.Epoch == 1 && !x.SameSizes);
            Assert.All(sizes.Where(x => x.Epoch == 2), x => Assert.True(x.SameSizes));

            var notes = new List<string>();
            var l1ByEpoch = new SortedDictionary<int, double>();
            trainer.Note += notes.Add;
            trainer.Progress += p => { if (p.Phase == "train") l1ByEpoch[p.Epoch] = Math.Max(l1ByEpoch.GetValueOrDefault(p.Epoch), p.Losses["loss_l1"]); };
            Assert.Equal(TrainingOutcome.Completed, trainer.Fit());
            Assert.Equal([0.0, 0.0], l1ByEpoch.Where(kv => kv.Key < 2).Select(kv => kv.Value));
            Assert.All(l1ByEpoch.Where(kv => kv.Key >= 2), kv => Assert.True(kv.Value > 0, $"epoch {kv.Key}: loss_l1 {kv.Value}"));
            Assert.Equal("epoch 3/4: the no-augmentation phase starts (Megvii's close_mosaic): Mosaic/MixUp/affine off, L1 loss on, for the last 2 epochs", Assert.Single(notes));
            Assert.Contains(notes[0], File.ReadAllText(trainer.Run.LogFile));
        }
    }

    [Fact]
    public void Megvii_config_draws_mosaic_over_category_a_from_the_training_fold_and_trains()
    {
        var config = ExperimentConfigLoader.LoadFile(CategoryTrainingTests.RepoFile("experiments/vinbig_yolox_megvii.yaml"),
            [$"data.root={Phantom()}", "data.cache_size=64", "data.folds=3", "model.input_size=64", "model.weights=''", "yolox.multiscale_range=0",
             "yolox.no_aug_epochs=1", "train.epochs=3", "train.batch_size=4", $"output.runs_dir={Path.Combine(temp, "runs")}"]);
        var (model, trainer) = Build(config, RunDirectory.Create(config));
        using (model) using (trainer)
        {
            var plain = Assert.IsType<CategorySamples>(ExperimentRunner.Data(config).Train);
            var drawn = Assert.IsType<CategorySamples>(trainer.TrainingSet);
            Assert.Equal(plain.Count, drawn.Count);
            var moved = 0;
            for (var i = 0; i < plain.Count; i++)
            {
                using var a = plain.Load(i, 0);
                using var b = drawn.Load(i, 0);
                if (!Widths(a.Target.Boxes).SequenceEqual(Widths(b.Target.Boxes))) moved++;
            }
            Assert.True(moved > plain.Count / 2, $"Mosaic changed only {moved} of {plain.Count} samples in epoch 0");
            Assert.Equal(TrainingOutcome.Completed, trainer.Fit());
            Assert.All(MetricsLog.Open(trainer.Run).Rows, r => Assert.True(double.IsFinite(r["loss"])));
        }
    }

    [Fact]
    public void Resume_across_the_no_aug_switch_logs_the_same_losses_as_an_uninterrupted_run()
    {
        var config = Config(train: "epochs: 4, batch_size: 1");
        var runA = RunDirectory.Create(config);
        var (modelA, a) = Build(config, runA);
        long batches;
        using (modelA) using (a)
        {
            batches = a.BatchesPerEpoch;
            Assert.True(batches >= 2, $"{batches} batches per epoch: the test needs a step inside epochs 1 and 2");
            // Multi-scale (64 ± 32 px, a new size every 10 forwards) must change the size after a resume point, or the
            // forward count's restore would go untested.
            var yolox = (YOLOX)modelA;
            var sizes = Enumerable.Range(10, (int)(4 * batches) - 10).Select(k => { yolox.TrainForwards = k; return yolox.CurrentTrainSize(); }).ToList();
            Assert.Contains(sizes, size => size != 64);
            yolox.TrainForwards = 0;
            Assert.Equal(TrainingOutcome.Completed, a.Fit());
        }

        // Interrupt inside epoch 1 (mosaic on), resume, interrupt inside epoch 2 (after the switch), resume to the end.
        var runB = RunDirectory.Create(config);
        foreach (var stopAt in new[] { batches + 1, 2 * batches + 1, -1 })
        {
            var resuming = File.Exists(runB.LastCheckpoint);
            var (model, trainer) = Build(config, resuming ? RunDirectory.Open(runB.Path) : runB);
            using (model) using (trainer)
            {
                if (resuming) trainer.Resume(runB.LastCheckpoint);
                using var cts = new CancellationTokenSource();
                trainer.Progress += p => { if (p.Phase == "train" && p.Step == stopAt) cts.Cancel(); };
                Assert.Equal(stopAt < 0 ? TrainingOutcome.Completed : TrainingOutcome.Cancelled, trainer.Fit(cts.Token));
            }
        }

        var rowsA = MetricsLog.Open(runA).Rows;
        var rowsB = MetricsLog.Open(runB).Rows;
        Assert.Equal(4, rowsA.Count);
        Assert.Equal(4, rowsB.Count);
        foreach (var (ra, rb) in rowsA.Zip(rowsB))
            foreach (var key in new[] { "loss_iou", "loss_conf", "loss_cls", "loss_l1", "lr", "val_map40" })
                Assert.True(Math.Abs(ra[key] - rb[key]) <= 1e-6 * (1 + Math.Abs(ra[key])), $"epoch {ra["epoch"]} {key}: uninterrupted {ra[key]}, resumed {rb[key]}");
        Assert.True(rowsA[3]["loss_l1"] > 0);
    }
}
