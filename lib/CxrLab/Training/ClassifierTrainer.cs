using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using CxrLab.Augment;
using CxrLab.Evaluation;
using CxrLab.Imaging;
using CxrLab.Models.Classification;
using CxrLab.Torch;
using CxrLab.Torch.Nn;
using CxrLab.Torch.Optim;
using CxrLab.Torch.Serialization;

namespace CxrLab.Training;

/// <summary>One image for the normal/abnormal classifier: its id, how to read its pixels (one or three channels in [0, 1])
/// and its label (abnormal = has any finding).</summary>
public sealed record ClassifierImage(string Id, Func<Image> Load, bool Abnormal);

/// <summary>One epoch of classifier training as logged (<c>metrics.csv</c>): mean training BCE, and on the validation
/// images BCE, ROC AUC and accuracy at p = 0.5.</summary>
public sealed record ClassifierEpoch(int Epoch, int Epochs, double Lr, double Loss, double ValLoss, double ValAuc, double ValAccuracy, double Seconds);

/// <summary>Trains a <see cref="NormalAbnormalClassifier"/> with binary cross-entropy: seeded shuffles per epoch
/// (<see cref="Trainer.EpochOrder(int, long, int)"/>), a horizontal flip drawn from (seed, epoch, index), AdamW with no
/// decay on norms and biases, linear warmup over the first epoch then cosine to 5% (<see cref="LearningRateSchedule"/>),
/// validation (BCE, AUC, accuracy) after every epoch, atomic <c>last</c>/<c>best</c> (lowest validation BCE) <see cref="TrainingCheckpoint"/>s
/// in a <see cref="RunDirectory"/>, and exact resume: like the detector <see cref="Trainer"/>, every random choice is a
/// function of (seed, epoch, batch), and cancellation saves the state after an optimizer step.</summary>
public sealed class ClassifierTrainer : IDisposable
{
    readonly ClassifierConfig config;
    readonly long seed;
    readonly NormalAbnormalClassifier model;
    readonly IReadOnlyList<ClassifierImage> train, validation;
    readonly Device device;
    readonly AdamW optimizer;
    readonly double[] baseLrs;
    readonly LearningRateSchedule schedule;
    readonly EarlyStopping best = new(0);
    readonly int batchesPerEpoch;
    TrainerState state = new();
    double partialLoss;
    int partialBatches;

    public ClassifierTrainer(ClassifierConfig config, long seed, string device, NormalAbnormalClassifier model,
        IReadOnlyList<ClassifierImage> train, IReadOnlyList<ClassifierImage> validation, RunDirectory run)
    {
        if (train.Count == 0) throw new ArgumentException("the classifier's training set is empty; check data.root and data.limit");
        (this.config, this.seed, this.model, this.train, this.validation, Run) = (config, seed, model, train, validation, run);
        this.device = Device.Parse(device);
        model.to(this.device);
        batchesPerEpoch = (train.Count + config.BatchSize - 1) / config.BatchSize;
        var decay = model.parameters().Where(p => p.dim() > 1).ToList();
        var noDecay = model.parameters().Where(p => p.dim() <= 1).ToList();
        optimizer = new AdamW([new ParamGroup(decay, new() { ["weight_decay"] = config.WeightDecay }), new ParamGroup(noDecay, new() { ["weight_decay"] = 0.0 })],
            config.Lr, weight_decay: config.WeightDecay);
        baseLrs = optimizer.param_groups.Select(g => g.lr).ToArray();
        schedule = new LearningRateSchedule(new ScheduleConfig
        {
            Name = ScheduleKind.Cosine, Warmup = WarmupKind.Linear, WarmupEpochs = 1, WarmupFactor = 0.01, FinalLrRatio = 0.05,
        }, batchesPerEpoch, config.Epochs);
        Log = MetricsLog.Open(run);
    }

    public RunDirectory Run { get; }
    public MetricsLog Log { get; private set; }
    public TrainerState State => state;
    public int BatchesPerEpoch => batchesPerEpoch;

    /// <summary>Lowest validation BCE so far and its epoch (∞ / −1 before the first validation).</summary>
    public (double ValLoss, int Epoch) Best => (-best.Best, best.BestEpoch);

    /// <summary>Raised after every epoch's validation.</summary>
    public event Action<ClassifierEpoch>? EpochDone;

    /// <summary>Raised after every optimizer step: (epoch, batch, batches per epoch, loss).</summary>
    public event Action<int, int, int, double>? StepDone;

    /// <summary>Runs (or continues) training to <c>classifier.epochs</c>; false when cancelled (state saved in last.ckpt).</summary>
    public bool Fit(CancellationToken cancellation = default)
    {
        for (var epoch = state.Epoch; epoch < config.Epochs; epoch++)
        {
            var clock = Stopwatch.StartNew();
            model.train();
            var order = Trainer.EpochOrder(train.Count, seed, epoch);
            if (state.BatchInEpoch == 0) { partialLoss = 0; partialBatches = 0; }
            for (var b = state.BatchInEpoch; b < batchesPerEpoch; b++)
            {
                var indices = order.Skip(b * config.BatchSize).Take(config.BatchSize).ToArray();
                torch.manual_seed((ulong)(seed * 1_000_003L + epoch * 10_007L + b) & 0x7fff_ffff_ffffL);
                var loss = TrainBatch(indices, epoch);
                partialLoss += loss;
                partialBatches++;
                state = state with { Step = state.Step + 1, Epoch = epoch, BatchInEpoch = b + 1 };
                StepDone?.Invoke(epoch, b + 1, batchesPerEpoch, loss);
                if (cancellation.IsCancellationRequested && b + 1 < batchesPerEpoch)
                {
                    SaveCheckpoint(Run.LastCheckpoint);
                    return false;
                }
            }
            var p = Predict(model, validation.Select(v => v.Load).ToList(), config.BatchSize);
            var truth = validation.Select(v => v.Abnormal).ToList();
            var probabilities = p.Select(x => (double)x).ToList();
            var row = new ClassifierEpoch(epoch, config.Epochs, optimizer.param_groups[0].lr, partialLoss / Math.Max(1, partialBatches),
                BinaryMetrics.LogLoss(probabilities, truth), BinaryMetrics.RocAuc(probabilities, truth), BinaryMetrics.Accuracy(probabilities, truth), clock.Elapsed.TotalSeconds);
            // The best checkpoint is the lowest validation BCE, not the highest AUC: the filter thresholds P(abnormal) itself
            // (p < 0.08), so calibration matters, and AUC ties at 1.0 on small sets would keep the first, worst-calibrated epoch.
            var improved = best.Update(-row.ValLoss, epoch);
            Log.Append(new Dictionary<string, double>
            {
                ["epoch"] = epoch, ["lr"] = row.Lr, ["loss"] = row.Loss, ["val_loss"] = row.ValLoss, ["val_auc"] = row.ValAuc,
                ["val_accuracy"] = row.ValAccuracy, ["epoch_seconds"] = row.Seconds,
            });
            state = state with { Epoch = epoch + 1, BatchInEpoch = 0, EarlyStopping = best.State, Metric = "val_loss" };
            partialLoss = 0;
            partialBatches = 0;
            SaveCheckpoint(Run.LastCheckpoint);
            if (improved) File.Copy(Run.LastCheckpoint, Run.BestCheckpoint, overwrite: true);
            EpochDone?.Invoke(row);
            if (cancellation.IsCancellationRequested && epoch + 1 < config.Epochs) return false;
        }
        return true;
    }

    double TrainBatch(int[] indices, int epoch)
    {
        using var scope = torch.NewDisposeScope();
        var images = new List<Tensor>(indices.Length);
        foreach (var i in indices)
        {
            var t = InMemoryDetectionDataset.ToTensor(ChannelsOf(train[i].Load()));
            // The flip is a function of (seed, epoch, image index): a resumed run sees the same images.
            var flip = config.FlipProb > 0 && new Random(SampleSeed.ToInt32(SampleSeed.Of((ulong)seed, epoch, i))).NextDouble() < config.FlipProb;
            images.Add(flip ? t.flip(2) : t);
        }
        var x = model.Preprocess(images, device);
        var target = torch.tensor(indices.Select(i => train[i].Abnormal ? 1f : 0f).ToArray(), indices.Length).to(device);
        var logits = model.forward(x);
        var loss = Losses.binary_cross_entropy_with_logits(logits, target);
        var value = (double)loss.item<float>();
        if (!double.IsFinite(value)) throw new InvalidOperationException($"classifier loss became {value} at epoch {epoch}; lower classifier.lr");
        loss.backward();
        var factor = schedule.Factor(state.Step);
        for (var k = 0; k < baseLrs.Length; k++) optimizer.param_groups[k].lr = baseLrs[k] * factor;
        optimizer.step();
        optimizer.zero_grad();
        return value;
    }

    /// <summary>One channel (the PNG cache's grey) or three; an alpha channel is not an X-ray.</summary>
    static Image ChannelsOf(Image image) => image.Channels is 1 or 3 ? image
        : throw new ArgumentException($"a classifier image has {image.Channels} channels; give grey or RGB images");

    /// <summary>P(abnormal) of each image, in batches of <paramref name="batchSize"/>, without gradients.</summary>
    public static float[] Predict(NormalAbnormalClassifier model, IReadOnlyList<Func<Image>> images, int batchSize = 16)
    {
        var result = new List<float>(images.Count);
        for (var start = 0; start < images.Count; start += batchSize)
        {
            using var scope = torch.NewDisposeScope();
            var batch = images.Skip(start).Take(batchSize).Select(load => InMemoryDetectionDataset.ToTensor(ChannelsOf(load()))).ToList();
            result.AddRange(model.PredictProbabilities(batch));
        }
        return result.ToArray();
    }

    static StoredTensor Store(Tensor t)
    {
        using var c = t.detach().cpu().contiguous();
        return new StoredTensor(c.DType, c.shape, c.ToBytes());
    }

    /// <summary>Weights, optimizer and state, with the classifier's arch and input size so
    /// <see cref="NormalAbnormalClassifier.Load"/> rebuilds it (atomic).</summary>
    public void SaveCheckpoint(string path)
    {
        using var opt = optimizer.state_dict();
        var extra = new Dictionary<string, string>
        {
            ["partial_batches"] = partialBatches.ToString(CultureInfo.InvariantCulture),
            ["partial_loss"] = partialLoss.ToString("R", CultureInfo.InvariantCulture),
        };
        new TrainingCheckpoint
        {
            State = state with { Extra = extra },
            Groups =
            {
                ["model"] = model.state_dict().ToDictionary(kv => kv.Key, kv => Store(kv.Value)),
                ["optimizer"] = opt.Tensors.ToDictionary(kv => kv.Key, kv => Store(kv.Value)),
            },
            GroupMetadata = { ["optimizer"] = JsonSerializer.Serialize(opt.Groups), [NormalAbnormalClassifier.MetadataGroup] = model.Metadata() },
        }.Save(path);
    }

    /// <summary>Restores what <see cref="SaveCheckpoint"/> wrote; metrics rows after the saved epoch are dropped.</summary>
    public void Resume(string path)
    {
        var ckpt = TrainingCheckpoint.Load(path);
        if (!ckpt.GroupMetadata.TryGetValue(NormalAbnormalClassifier.MetadataGroup, out var meta) || meta != model.Metadata())
            throw new CheckpointException($"{path} was written for another classifier ({meta ?? "none"}) than {model.Metadata()}; start a new run");
        using (var scope = torch.NewDisposeScope())
        {
            model.load_state_dict(ckpt.Groups["model"].ToDictionary(kv => kv.Key, kv => Tensor.FromBytes(kv.Value.Data, kv.Value.DType, kv.Value.Shape).to(device)));
            var optTensors = ckpt.Groups.GetValueOrDefault("optimizer", []).ToDictionary(kv => kv.Key, kv => Tensor.FromBytes(kv.Value.Data, kv.Value.DType, kv.Value.Shape).to(device));
            var optGroups = JsonSerializer.Deserialize<List<Dictionary<string, double>>>(ckpt.GroupMetadata["optimizer"]) ?? [];
            optimizer.load_state_dict(new OptimizerState(optTensors, optGroups));
        }
        state = ckpt.State;
        best.Restore(state.EarlyStopping);
        partialBatches = int.Parse(state.Extra.GetValueOrDefault("partial_batches", "0"), CultureInfo.InvariantCulture);
        partialLoss = double.Parse(state.Extra.GetValueOrDefault("partial_loss", "0"), CultureInfo.InvariantCulture);
        Log = MetricsLog.Open(Run, keepThroughEpoch: state.Epoch - 1);
    }

    public void Dispose() => optimizer.Dispose();
}
