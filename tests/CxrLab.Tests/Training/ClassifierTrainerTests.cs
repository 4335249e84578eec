using CxrLab.Data.Phantom;
using CxrLab.Models.Classification;
using CxrLab.Torch;
using CxrLab.Training;

namespace CxrLab.Tests.Training;

/// <summary>Issue 18, item 3: the normal/abnormal classifier learns phantom normal vs abnormal (abnormal phantoms carry
/// lesions) better than chance on held-out images, resumes exactly after a cancellation mid-epoch, and its checkpoint
/// rebuilds the same network.</summary>
[Collection(TorchRngCollection.Name)]
public sealed class ClassifierTrainerTests : IDisposable
{
    readonly string temp = Directory.CreateTempSubdirectory("cxr-classifier-").FullName;
    public void Dispose() => Directory.Delete(temp, recursive: true);

    /// <summary>Half normal, half with two or three of the phantom's larger findings (consolidation, lung opacity,
    /// nodule/mass, pleural effusion, pneumothorax), rendered in memory.</summary>
    static List<ClassifierImage> Phantoms(int count, int seed, int size)
    {
        var rng = new Random(seed);
        int[] visible = [4, 7, 8, 10, 12];
        var images = new List<ClassifierImage>();
        for (var k = 0; k < count; k++)
        {
            var abnormal = k % 2 == 1;
            var classes = abnormal ? visible.OrderBy(_ => rng.Next()).Take(2 + rng.Next(2)).ToList() : [];
            var (image, lesions) = PhantomChest.Render(size, size, classes, rng);
            images.Add(new ClassifierImage($"{seed}_{k}", () => image, lesions.Count > 0));
        }
        return images;
    }

    RunDirectory Run(string name) => RunDirectory.Create(new ExperimentConfig { Name = name, Output = new OutputConfig { RunsDir = temp } });

    [Fact]
    public void Separates_held_out_phantom_normal_and_abnormal_images_better_than_chance()
    {
        var config = new ClassifierConfig { Arch = "resnet18", InputSize = 64, Epochs = 6, BatchSize = 8, Lr = 2e-3 };
        var train = Phantoms(48, seed: 1, size: 96);
        var validation = Phantoms(24, seed: 2, size: 96);
        using var model = new NormalAbnormalClassifier(config.Arch, config.InputSize);
        var run = Run("separate");
        var epochs = new List<ClassifierEpoch>();
        using (var trainer = new ClassifierTrainer(config, 7, "cpu", model, train, validation, run))
        {
            trainer.EpochDone += epochs.Add;
            Assert.True(trainer.Fit());
        }
        Assert.Equal(6, epochs.Count);
        Assert.True(epochs[^1].Loss < epochs[0].Loss, $"training BCE did not fall: {epochs[0].Loss} → {epochs[^1].Loss}");
        var best = epochs.Max(e => e.ValAuc);
        Assert.True(best > 0.75, $"best validation AUC {best} (chance 0.5): {string.Join(", ", epochs.Select(e => e.ValAuc.ToString("0.00")))}");
        Assert.True(File.Exists(run.BestCheckpoint) && File.Exists(run.LastCheckpoint));
        Assert.Equal(6, File.ReadAllLines(run.MetricsCsv).Length - 1);

        // The best checkpoint rebuilds the network (arch and input size from its metadata) and scores as its epoch did.
        using var loaded = NormalAbnormalClassifier.Load(run.BestCheckpoint);
        Assert.Equal(("resnet18", 64), (loaded.Arch, loaded.InputSize));
        var p = ClassifierTrainer.Predict(loaded, validation.Select(v => v.Load).ToList());
        Assert.Equal(best, CxrLab.Evaluation.BinaryMetrics.RocAuc(p.Select(x => (double)x).ToList(), validation.Select(v => v.Abnormal).ToList()), 4);
    }

    [Fact]
    public void A_run_cancelled_mid_epoch_resumes_to_the_same_weights_and_metrics()
    {
        var config = new ClassifierConfig { Arch = "resnet18", InputSize = 32, Epochs = 2, BatchSize = 4, Lr = 1e-3 };
        var train = Phantoms(12, seed: 3, size: 48);
        var validation = Phantoms(6, seed: 4, size: 48);

        var straight = Run("straight");
        Dictionary<string, float[]> expected;
        using (var model = new NormalAbnormalClassifier(config.Arch, config.InputSize))
        using (var trainer = new ClassifierTrainer(config, 11, "cpu", model, train, validation, straight))
        {
            Assert.True(trainer.Fit());
            expected = Weights(model);
        }

        var interrupted = Run("interrupted");
        using (var cts = new CancellationTokenSource())
        using (var model = new NormalAbnormalClassifier(config.Arch, config.InputSize))
        using (var trainer = new ClassifierTrainer(config, 11, "cpu", model, train, validation, interrupted))
        {
            trainer.StepDone += (epoch, batch, _, _) => { if (epoch == 1 && batch == 1) cts.Cancel(); };
            Assert.False(trainer.Fit(cts.Token));
            Assert.Equal((1, 1), (trainer.State.Epoch, trainer.State.BatchInEpoch));
        }
        using (var model = new NormalAbnormalClassifier(config.Arch, config.InputSize))   // a fresh process's view: new random init
        using (var trainer = new ClassifierTrainer(config, 11, "cpu", model, train, validation, interrupted))
        {
            trainer.Resume(interrupted.LastCheckpoint);
            Assert.True(trainer.Fit());
            var resumed = Weights(model);
            Assert.Equal(expected.Keys.Order(), resumed.Keys.Order());
            foreach (var (key, values) in expected) Assert.True(values.SequenceEqual(resumed[key]), $"{key} differs after resume");
        }
        Assert.Equal(WithoutSeconds(straight.MetricsCsv), WithoutSeconds(interrupted.MetricsCsv));
    }

    /// <summary>A metrics CSV's rows without the wall-clock column.</summary>
    static List<string> WithoutSeconds(string csv)
    {
        var lines = File.ReadAllLines(csv);
        var drop = Array.IndexOf(lines[0].Split(','), "epoch_seconds");
        Assert.True(drop >= 0 && lines.Length == 3, $"{csv}: {lines.Length - 1} rows, header {lines[0]}");
        return lines.Select(l => string.Join(",", l.Split(',').Where((_, i) => i != drop))).ToList();
    }

    static Dictionary<string, float[]> Weights(NormalAbnormalClassifier model) =>
        model.state_dict().Where(kv => kv.Value.DType == ScalarType.Float32).ToDictionary(kv => kv.Key, kv => kv.Value.contiguous().ToArray<float>());

    [Fact]
    public void Unknown_archs_and_bad_settings_are_reported_by_key()
    {
        Assert.Throws<ArgumentException>(() => new NormalAbnormalClassifier("resnet7"));
        var problems = new ClassifierConfig { Arch = "vgg", Epochs = 0, FilterLow = 1.5 }.Problems().Select(p => p.Key).ToList();
        Assert.Equal(["arch", "epochs", "filter_low"], problems);
        using var effnet = new NormalAbnormalClassifier("efficientnet_b0", 64);
        using var x = torch.zeros([2, 3, 64, 64]);
        using var logits = effnet.forward(x);
        Assert.Equal([2L], logits.shape);
    }
}
