using CxrLab.Data;
using CxrLab.Imaging;
using CxrLab.Models.Detection;
using CxrLab.Torch;
using CxrLab.Training;
using FrcnnModel = CxrLab.Models.FasterRcnn.FasterRcnn;
using TwoStageOptions = CxrLab.Models.Detection.TwoStage.TwoStageOptions;

namespace CxrLab.Tests.Training;

/// <summary>The trainer on a tiny Faster R-CNN (ResNet-18 FPN, 96 px, few proposals) and tiny
/// synthetic data: bright squares (class 0) and dim bars (class 1) on a dark background.</summary>
[Collection(TorchRngCollection.Name)]
public sealed class TrainerTests : IDisposable
{
    readonly string temp = Directory.CreateTempSubdirectory("cxr-trainer-").FullName;

    public void Dispose() => Directory.Delete(temp, recursive: true);

    internal static List<(string, Image, Target)> Shapes(int count, int seed) => ShapesDataset.Generate(count, seed).Select(x => (x.Id, x.Image, x.Target)).ToList();

    internal static TwoStageOptions TinyOptions(int numClasses = 3) => new()
    {
        NumClasses = numClasses, MinSize = 96, MaxSize = 96, FpnChannels = 32, RepresentationSize = 64,
        Rpn = new RpnOptions { PreNmsTopNTrain = 200, PostNmsTopNTrain = 100, PreNmsTopNTest = 100, PostNmsTopNTest = 50, BatchSizePerImage = 64 },
        RoIHeads = new RoIHeadsOptions { BatchSizePerImage = 32 },
    };

    ExperimentConfig Config(string name) => ExperimentConfigLoader.Load($"""
        name: {name}
        seed: 5
        model: {"{"}arch: fasterrcnn_resnet18_fpn, num_classes: 2, input_size: 96, max_size: 96{"}"}
        optimizer: {"{"}name: sgd, lr: 0.01, momentum: 0.9, weight_decay: 0.0001{"}"}
        schedule: {"{"}name: cosine, warmup: linear, warmup_iters: 2{"}"}
        train: {"{"}epochs: 2, batch_size: 1, accumulate: 1, clip_grad_norm: 10, ema: true, ema_decay: 0.9{"}"}
        output: {"{"}runs_dir: {temp}{"}"}
        """, "test.yaml");

    (Trainer Trainer, FrcnnModel Model) Build(ExperimentConfig config, RunDirectory run)
    {
        torch.manual_seed(11);
        var model = FrcnnModel.ResNet18Fpn(TinyOptions());
        var trainSet = new InMemoryDetectionDataset(Shapes(2, 1), augment: (img, t, r) => r.Next(2) == 0 ? (img, t) : (Flip(img), FlipTarget(t)), seed: config.Seed);
        var valSet = new InMemoryDetectionDataset(Shapes(1, 2));
        return (new Trainer(config, model, trainSet, valSet, new MeanAveragePrecision(0.4), run), model);
    }

    static Image Flip(Image img)
    {
        var o = img.Clone();
        for (var r = 0; r < img.Rows; r++)
        for (var c = 0; c < img.Cols; c++)
            o.At(r, c) = img.At(r, img.Cols - 1 - c);
        return o;
    }

    static Target FlipTarget(Target t) =>
        new(t.Width, t.Height, t.Boxes.Select(b => new Box(t.Width - b.X2, b.Y1, t.Width - b.X1, b.Y2)).ToList(), t.Labels);

    [Fact]
    public void Interrupted_and_resumed_run_logs_the_same_losses_as_an_uninterrupted_one()
    {
        var config = Config("tiny");
        var runA = RunDirectory.Create(config);
        var (a, modelA) = Build(config, runA);
        using (a) using (modelA)
            Assert.Equal(TrainingOutcome.Completed, a.Fit());

        var runB = RunDirectory.Create(config);
        var (b1, modelB1) = Build(config, runB);
        using var cts = new CancellationTokenSource();
        b1.Progress += p => { if (p.Phase == "train" && p.Step == 1) cts.Cancel(); };
        using (b1) using (modelB1)
            Assert.Equal(TrainingOutcome.Cancelled, b1.Fit(cts.Token));
        Assert.Empty(MetricsLog.Open(runB).Rows);

        // Resume mid-epoch, then interrupt again at the epoch boundary (after validation) and resume once more.
        var (b2, modelB2) = Build(config, RunDirectory.Open(runB.Path));
        using var cts2 = new CancellationTokenSource();
        b2.Progress += p => { if (p.Phase == "validate") cts2.Cancel(); };
        using (b2) using (modelB2)
        {
            b2.Resume(runB.LastCheckpoint);
            Assert.Equal(0, b2.State.Epoch);
            Assert.Equal(1, b2.State.BatchInEpoch);
            Assert.Equal(TrainingOutcome.Cancelled, b2.Fit(cts2.Token));
        }
        Assert.Single(MetricsLog.Open(runB).Rows);
        var (b3, modelB3) = Build(config, RunDirectory.Open(runB.Path));
        using (b3) using (modelB3)
        {
            b3.Resume(runB.LastCheckpoint);
            Assert.Equal(1, b3.State.Epoch);
            Assert.Equal(0, b3.State.BatchInEpoch);
            Assert.Equal(2, b3.State.Step);
            Assert.Equal(TrainingOutcome.Completed, b3.Fit());
        }

        var rowsA = MetricsLog.Open(runA).Rows;
        var rowsB = MetricsLog.Open(runB).Rows;
        Assert.Equal(2, rowsA.Count);
        Assert.Equal(2, rowsB.Count);
        foreach (var (ra, rb) in rowsA.Zip(rowsB))
            foreach (var key in new[] { "loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg", "loss", "lr", "val_map40" })
                Assert.True(Math.Abs(ra[key] - rb[key]) <= 1e-6 * (1 + Math.Abs(ra[key])), $"epoch {ra["epoch"]} {key}: uninterrupted {ra[key]}, resumed {rb[key]}");
        Assert.True(File.Exists(runA.BestCheckpoint));
        Assert.True(TrainingCheckpoint.IsTrainingCheckpoint(runA.LastCheckpoint));
        Assert.StartsWith("epoch,lr,", File.ReadAllLines(runA.MetricsCsv)[0]);
        // The cosine schedule ends below the base rate; losses are finite.
        Assert.True(rowsA[1]["lr"] < 0.01);
        Assert.All(rowsA, r => Assert.True(double.IsFinite(r["loss"])));
    }
}
