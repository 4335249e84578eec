using CxrLab.Torch.Serialization;
using CxrLab.Training;

namespace CxrLab.Tests.Training;

public sealed class TrainingInfrastructureTests : IDisposable
{
    readonly string temp = Directory.CreateTempSubdirectory("cxr-training-").FullName;

    public void Dispose() => Directory.Delete(temp, recursive: true);

    /// <summary>A resumed run continues in a new process, so the data order may not depend on anything .NET
    /// randomises per process (HashCode, string hashes). Pinned: these are SplitMix64-seeded System.Random shuffles,
    /// whose sequence .NET keeps fixed; with a per-process hash they would differ from run to run.</summary>
    [Fact]
    public void Epoch_order_is_the_same_in_every_process()
    {
        Assert.Equal([3, 1, 11, 6, 8, 5, 9, 0, 7, 4, 2, 10], Trainer.EpochOrder(12, 42, 0));
        Assert.Equal([10, 5, 3, 8, 9, 7, 0, 11, 4, 2, 1, 6], Trainer.EpochOrder(12, 42, 1));
        Assert.NotEqual(Trainer.EpochOrder(12, 42, 0), Trainer.EpochOrder(12, 43, 0));
    }

    [Fact]
    public void Warmup_then_cosine_matches_closed_form()
    {
        var s = new LearningRateSchedule(new ScheduleConfig
        {
            Name = ScheduleKind.Cosine, Warmup = WarmupKind.Linear, WarmupIters = 10, WarmupFactor = 0.1, FinalLrRatio = 0.05,
        }, stepsPerEpoch: 20, epochs: 5);
        Assert.Equal(0.1, s.Factor(0), 12);
        Assert.Equal(0.1 + 0.9 * 0.5, s.Factor(5), 12);
        Assert.Equal(1.0, s.Factor(10), 12);
        // halfway through the 90 post-warmup steps the cosine is at the midpoint
        Assert.Equal(0.05 + 0.95 * 0.5, s.Factor(55), 12);
        Assert.Equal(0.05, s.Factor(100), 12);
        for (long i = 11; i < 100; i++) Assert.True(s.Factor(i) < s.Factor(i - 1));
    }

    [Fact]
    public void Multistep_drops_at_milestone_epochs_and_quadratic_warmup()
    {
        var s = new LearningRateSchedule(new ScheduleConfig
        {
            Name = ScheduleKind.MultiStep, Milestones = [2, 3], Gamma = 0.1, Warmup = WarmupKind.Quadratic, WarmupIters = 4, WarmupFactor = 0.001,
        }, stepsPerEpoch: 10, epochs: 4);
        Assert.Equal(0.001 + 0.999 * 0.25, s.Factor(2), 12);
        Assert.Equal(1.0, s.Factor(19), 12);
        Assert.Equal(0.1, s.Factor(20), 12);
        Assert.Equal(0.01, s.Factor(39), 12);
    }

    [Fact]
    public void Early_stopping_counts_validations_without_gain()
    {
        var es = new EarlyStopping(patience: 2, minDelta: 0.01);
        Assert.True(es.Update(0.30, 0));
        Assert.False(es.Update(0.305, 1)); // below min delta
        Assert.False(es.ShouldStop);
        Assert.True(es.Update(0.40, 2));
        Assert.False(es.Update(0.2, 3));
        Assert.False(es.Update(0.39, 4));
        Assert.True(es.ShouldStop);
        Assert.Equal(2, es.BestEpoch);
        var copy = new EarlyStopping(2, 0.01);
        copy.Restore(es.State);
        Assert.True(copy.ShouldStop);
        Assert.Equal(0.40, copy.Best);
        Assert.False(new EarlyStopping(0).ShouldStop);
    }

    [Fact]
    public void Run_directory_layout_and_latest()
    {
        var config = new ExperimentConfig { Name = "tiny", Output = new OutputConfig { RunsDir = temp } };
        var when = new DateTime(2026, 1, 2, 3, 4, 5);
        var a = RunDirectory.Create(config, when);
        var b = RunDirectory.Create(config, when);
        Assert.Equal(Path.Combine(temp, "tiny", "20260102-030405"), a.Path);
        Assert.Equal(a.Path + "-2", b.Path);
        Assert.True(File.Exists(a.ConfigFile));
        Assert.Equal("tiny", ExperimentConfigLoader.LoadFile(a.ConfigFile).Name);
        Assert.Null(RunDirectory.Latest(config)); // no checkpoint yet
        new TrainingCheckpoint().Save(a.LastCheckpoint);
        Assert.Equal(a.Path, RunDirectory.Latest(config)!.Path);
        Assert.Throws<FileNotFoundException>(() => RunDirectory.Open(b.Path));
    }

    [Fact]
    public void Metrics_log_writes_csv_and_json_lines_and_truncates_on_resume()
    {
        var csv = Path.Combine(temp, "m.csv");
        var jsonl = Path.Combine(temp, "m.jsonl");
        var log = MetricsLog.Open(csv, jsonl);
        log.Append(new Dictionary<string, double> { ["epoch"] = 0, ["loss"] = 1.5 });
        log.Append(new Dictionary<string, double> { ["epoch"] = 1, ["loss"] = 1.25, ["val_map40"] = 0.5 });
        log.Append(new Dictionary<string, double> { ["epoch"] = 2, ["loss"] = double.NaN });
        Assert.Equal(["epoch,loss,val_map40", "0,1.5,", "1,1.25,0.5", "2,,"], File.ReadAllLines(csv));
        Assert.Equal(3, File.ReadAllLines(jsonl).Length);
        Assert.True(double.IsNaN(MetricsLog.Open(csv, jsonl).Rows[2]["loss"]));

        var resumed = MetricsLog.Open(csv, jsonl, keepThroughEpoch: 0);
        Assert.Single(resumed.Rows);
        Assert.Equal(["epoch,loss", "0,1.5"], File.ReadAllLines(csv));
        Assert.Single(File.ReadAllLines(jsonl));
        Assert.Throws<ArgumentException>(() => resumed.Append(new Dictionary<string, double> { ["loss"] = 1 }));
    }

    [Fact]
    public void Checkpoint_round_trips_groups_state_and_metadata()
    {
        var path = Path.Combine(temp, "ckpt", "last.ckpt");
        var weights = StoredTensor.From<float>([1f, 2f, 3f, 4f], 2, 2);
        var ckpt = new TrainingCheckpoint
        {
            State = new TrainerState
            {
                Epoch = 3, BatchInEpoch = 2, Step = 41, Metric = "val_map40",
                EarlyStopping = new EarlyStoppingState(0.25, 2, 1), Extra = { ["note"] = "x" },
            },
            Groups =
            {
                ["model"] = new() { ["backbone.body.conv1.weight"] = weights },
                ["optimizer"] = new() { ["0.momentum_buffer"] = StoredTensor.From<float>([0.5f], 1) },
                ["rng"] = new() { ["cpu"] = StoredTensor.From<byte>([1, 2, 3], 3) },
            },
            GroupMetadata = { ["optimizer"] = "{\"lr\":0.01}" },
        };
        ckpt.Save(path);
        Assert.False(File.Exists(path + ".tmp"));
        Assert.True(TrainingCheckpoint.IsTrainingCheckpoint(path));
        var back = TrainingCheckpoint.Load(path);
        Assert.Equal(ckpt.State with { Extra = back.State.Extra }, back.State);
        Assert.Equal("x", back.State.Extra["note"]);
        Assert.Equal([1f, 2f, 3f, 4f], back.Groups["model"]["backbone.body.conv1.weight"].ToArray<float>());
        Assert.Equal([2L, 2L], back.Groups["model"]["backbone.body.conv1.weight"].Shape);
        Assert.Equal([1, 2, 3], back.Groups["rng"]["cpu"].ToArray<byte>());
        Assert.Equal("{\"lr\":0.01}", back.GroupMetadata["optimizer"]);
        Assert.Equal(weights.Data, TrainingCheckpoint.LoadModelStateDict(path)["backbone.body.conv1.weight"].Data);

        // Plain safetensors are weights, not a resumable checkpoint.
        var plain = Path.Combine(temp, "plain.safetensors");
        SafeTensors.Write(plain, [new("w", weights)]);
        Assert.False(TrainingCheckpoint.IsTrainingCheckpoint(plain));
        Assert.Contains("not a CXR Lab training checkpoint", Assert.Throws<CheckpointException>(() => TrainingCheckpoint.Load(plain)).Message);
    }
}
