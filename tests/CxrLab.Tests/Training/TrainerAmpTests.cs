using CxrLab.Torch;
using CxrLab.Torch.Amp;
using CxrLab.Training;
using FrcnnModel = CxrLab.Models.FasterRcnn.FasterRcnn;

namespace CxrLab.Tests.Training;

/// <summary>The trainer with <c>train.amp</c> (bfloat16 autocast on this CPU machine) and with a loss
/// scaler, on the tiny Faster R-CNN of <see cref="TrainerTests"/>: finite losses, and exact resume.</summary>
[Collection(TorchRngCollection.Name)]
public sealed class TrainerAmpTests : IDisposable
{
    readonly string temp = Directory.CreateTempSubdirectory("cxr-trainer-amp-").FullName;

    public void Dispose() => Directory.Delete(temp, recursive: true);

    ExperimentConfig Config(string name, bool amp) => ExperimentConfigLoader.Load($$"""
        name: {{name}}
        seed: 7
        model: {arch: fasterrcnn_resnet18_fpn, num_classes: 2, input_size: 96, max_size: 96}
        optimizer: {name: sgd, lr: 0.01, momentum: 0.9, weight_decay: 0.0001}
        schedule: {name: cosine, warmup: linear, warmup_iters: 2}
        train: {epochs: 1, batch_size: 1, accumulate: 1, clip_grad_norm: 10, amp: {{(amp ? "true" : "false")}}}
        output: {runs_dir: {{temp}}}
        """, "test.yaml");

    static (Trainer Trainer, FrcnnModel Model) Build(ExperimentConfig config, RunDirectory run, GradScaler? scaler = null)
    {
        torch.manual_seed(11);
        var model = FrcnnModel.ResNet18Fpn(TrainerTests.TinyOptions());
        var trainSet = new InMemoryDetectionDataset(TrainerTests.Shapes(3, 1), seed: config.Seed);
        var valSet = new InMemoryDetectionDataset(TrainerTests.Shapes(1, 2));
        return (new Trainer(config, model, trainSet, valSet, new MeanAveragePrecision(0.4), run, scaler), model);
    }

    /// <summary>Runs to the end; or cancels after step 1 and resumes in a fresh trainer from the checkpoint.
    /// Returns the epoch row and the final scaler state (if any).</summary>
    static (IReadOnlyDictionary<string, double> Row, GradScalerState? Scaler, string? Note) Run(ExperimentConfig config, bool interrupt, Func<GradScaler?> scaler)
    {
        var run = RunDirectory.Create(config);
        var (t1, m1) = Build(config, run, scaler());
        using var cts = new CancellationTokenSource();
        if (interrupt) t1.Progress += p => { if (p.Phase == "train" && p.Step == 1) cts.Cancel(); };
        var note = t1.PrecisionNote;
        GradScalerState? state;
        using (t1) using (m1)
        {
            Assert.Equal(interrupt ? TrainingOutcome.Cancelled : TrainingOutcome.Completed, t1.Fit(cts.Token));
            state = t1.Scaler?.state_dict();
        }
        if (interrupt)
        {
            var (t2, m2) = Build(config, RunDirectory.Open(run.Path), scaler());
            using (t2) using (m2)
            {
                t2.Resume(run.LastCheckpoint);
                Assert.Equal(1, t2.State.Step);
                if (state is not null) Assert.Equal(state, t2.Scaler!.state_dict());  // the scaler came back from the checkpoint
                Assert.Equal(TrainingOutcome.Completed, t2.Fit());
                state = t2.Scaler?.state_dict();
            }
        }
        var rows = MetricsLog.Open(run).Rows;
        Assert.Single(rows);
        return (rows[0], state, note);
    }

    static readonly string[] Keys = ["loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg", "loss", "lr", "val_map40"];

    static void AssertSameRow(IReadOnlyDictionary<string, double> a, IReadOnlyDictionary<string, double> b, string what)
    {
        foreach (var key in Keys)
            Assert.True(Math.Abs(a[key] - b[key]) <= 1e-6 * (1 + Math.Abs(a[key])), $"{what} {key}: uninterrupted {a[key]}, resumed {b[key]}");
    }

    [Fact]
    public void Amp_on_cpu_trains_in_bfloat16_with_finite_losses_and_resumes_exactly()
    {
        var amp = Config("amp", amp: true);
        var (uninterrupted, _, note) = Run(amp, interrupt: false, () => null);
        var (resumed, _, _) = Run(amp, interrupt: true, () => null);
        Assert.Contains("bfloat16", note);
        Assert.All(Keys, k => Assert.True(double.IsFinite(uninterrupted[k]), $"{k} = {uninterrupted[k]}"));
        AssertSameRow(uninterrupted, resumed, "amp");

        // Autocast really ran: the same run in float32 logs close but different losses.
        var (fp32, _, fp32Note) = Run(Config("fp32", amp: false), interrupt: false, () => null);
        Assert.Null(fp32Note);
        Assert.NotEqual(fp32["loss"], uninterrupted["loss"]);
        Assert.True(Math.Abs(fp32["loss"] - uninterrupted["loss"]) < 0.1 * fp32["loss"], $"float32 loss {fp32["loss"]}, bfloat16 autocast {uninterrupted["loss"]}");
    }

    [Fact]
    public void Amp_is_a_yaml_key_and_a_set_override_and_is_written_to_the_run_log()
    {
        Assert.True(Config("yaml", amp: true).Train.Amp);
        var overridden = ExperimentConfigLoader.Load("name: x\n", "x.yaml", ["train.amp=true"]);
        Assert.True(overridden.Train.Amp);
        Assert.False(ExperimentConfigLoader.Load("name: x\n").Train.Amp);
        var config = Config("note", amp: true);
        var run = RunDirectory.Create(config);
        var (trainer, model) = Build(config, run);
        using (trainer) using (model)
        {
            Assert.Null(trainer.Scaler);  // CPU: bfloat16 needs no loss scaling
            Assert.Contains("bfloat16 autocast without loss scaling", File.ReadAllText(run.LogFile));
        }
    }

    [Fact]
    public void A_loss_scaler_in_the_trainer_keeps_losses_and_its_state_resumes_exactly()
    {
        // Scaling by powers of two is exact in float32, so the losses equal unscaled training; with
        // growth every clean step the scale doubles per step (1024 → 8192 after 3), so a resume that
        // lost the scaler state would end on another scale.
        var config = Config("scaled", amp: false);
        GradScaler Scaler() => new(init_scale: 1024, growth_interval: 1);
        var (uninterrupted, stateA, _) = Run(config, interrupt: false, Scaler);
        var (resumed, stateB, _) = Run(config, interrupt: true, Scaler);
        var (plain, none, _) = Run(config, interrupt: false, () => null);
        Assert.Null(none);
        Assert.Equal(new GradScalerState(8192, 2, 0.5, 1, 0), stateA);
        Assert.Equal(stateA, stateB);
        AssertSameRow(uninterrupted, resumed, "scaled");
        AssertSameRow(plain, uninterrupted, "scaled vs plain");

        // Accumulating two micro-batches per step: each micro-batch loss is scaled, the sum unscaled
        // once before clipping; still the same losses as unscaled accumulation.
        var accumulating = Config("accumulate", amp: false);
        accumulating.Train.Accumulate = 2;
        var (scaledAcc, stateAcc, _) = Run(accumulating, interrupt: false, Scaler);
        var (plainAcc, _, _) = Run(accumulating, interrupt: false, () => null);
        Assert.Equal(new GradScalerState(4096, 2, 0.5, 1, 0), stateAcc);  // 3 batches → 2 optimizer steps
        AssertSameRow(plainAcc, scaledAcc, "accumulated scaled vs plain");
    }
}
