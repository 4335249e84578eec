using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using CxrLab.Augment;
using CxrLab.Interop;
using CxrLab.Models.Detection;
using CxrLab.Torch;
using CxrLab.Torch.Amp;
using CxrLab.Torch.Nn;
using CxrLab.Torch.Optim;
using CxrLab.Torch.Serialization;
using CxrLab.Training.Distributed;

namespace CxrLab.Training;

/// <summary>Progress of a run, reported after every optimizer step and every validation.</summary>
public sealed record TrainingProgress(int Epoch, int Epochs, int Batch, int BatchesPerEpoch, long Step, double Lr,
    IReadOnlyDictionary<string, double> Losses, double ImagesPerSecond, TimeSpan Elapsed, string Phase);

/// <summary>How a call to <see cref="Trainer.Fit"/> ended.</summary>
public enum TrainingOutcome { Completed, EarlyStopped, Cancelled }

/// <summary>Trains any <see cref="IDetector"/> from an <see cref="ExperimentConfig"/>: epochs of
/// shuffled batches, gradient accumulation, SGD/AdamW with no weight decay on norms and biases,
/// warmup + cosine/multistep learning rate, gradient clipping, optional EMA, validation with a
/// pluggable metric each <c>val_every</c> epochs, atomic <c>last</c>/<c>best</c> checkpoints,
/// early stopping, and exact resume. Exactness comes from making every random choice a function
/// of (seed, epoch, batch): the data order is a seeded shuffle per epoch, datasets seed
/// augmentation from (index, epoch), and libtorch's generator is re-seeded before every batch
/// (which fixes the RPN/RoI samplers); so a resumed run logs the same losses as an uninterrupted one.
/// Cancellation (the token) is honoured after an optimizer step: the state is saved and resuming
/// continues inside the epoch.
/// With <c>train.amp</c> the forward pass and losses run under autocast on the training device:
/// float16 on CUDA with dynamic loss scaling (<see cref="GradScaler"/>: each micro-batch's loss is
/// scaled, gradients are unscaled once before clipping, a step with inf/NaN gradients is skipped and
/// the scale backs off); bfloat16 on CPU without scaling (bfloat16 has float32's exponent range).
/// Backward runs outside autocast; validation runs in float32.</summary>
public sealed class Trainer : IDisposable
{
    readonly ExperimentConfig config;
    readonly Module module;
    readonly IDetector model;
    readonly IDetectionDataset train;
    readonly TrainingRecipe? recipe;
    readonly IDetectionDataset? validation;
    readonly ValidationMetric metric;
    readonly Optimizer optimizer;
    readonly ModelEma? ema;
    readonly LearningRateSchedule schedule;
    readonly EarlyStopping earlyStopping;
    readonly int batchesPerEpoch;
    readonly long stepsPerEpoch;
    readonly double[] baseLrs;
    readonly DeviceType deviceType;
    readonly GradScaler? scaler;
    readonly DataParallelTraining? distributed;
    TrainerState state = new();
    Dictionary<string, double> partialSums = [];
    int partialBatches;

    /// <summary>A trainer for <paramref name="model"/>. <paramref name="scaler"/> replaces the default loss
    /// scaler (a default <see cref="GradScaler"/> with <c>train.amp</c> on CUDA, none otherwise); the
    /// trainer disposes it. <paramref name="distributed"/> makes this trainer one replica of a data-parallel run
    /// (its shard of each epoch, gradients averaged over ranks, rank 0 alone writes files); the caller disposes it.</summary>
    public Trainer(ExperimentConfig config, IDetector model, IDetectionDataset train, IDetectionDataset? validation, ValidationMetric? metric, RunDirectory run,
        GradScaler? scaler = null, DataParallelTraining? distributed = null)
    {
        this.distributed = distributed;
        this.config = config;
        this.model = model;
        module = model.Module;
        if (train.Count == 0) throw new ArgumentException("the training set is empty; check data.root and data.limit");
        this.validation = validation;
        this.metric = metric ?? new MeanAveragePrecision(0.4);
        Run = run;
        var imagesPerEpoch = distributed?.SamplesPerRank(train.Count) ?? train.Count;
        batchesPerEpoch = (imagesPerEpoch + config.Train.BatchSize - 1) / config.Train.BatchSize;
        stepsPerEpoch = (batchesPerEpoch + config.Train.Accumulate - 1) / config.Train.Accumulate;
        if (config.Train.Recipe == TrainingRecipeKind.Reference)
        {
            recipe = model.TrainingRecipe ?? throw new ConfigException(
                $"train.recipe: reference, but {model.Arch} has no reference recipe of its own; use train.recipe: config (the optimizer:, schedule: and train: keys)");
            RecipeNote = ApplyRecipe(recipe, config.Train.BatchSize * config.Train.Accumulate * (distributed?.WorldSize ?? 1));
            if (recipe.Augmentation(0, config.Train.Epochs) is not null || recipe.Augmentation(config.Train.Epochs - 1, config.Train.Epochs) is not null)
            {
                if (train is IEpochAugmentable augmentable) train = augmentable.WithEpochAugmentation(epoch => recipe.Augmentation(epoch, config.Train.Epochs));
                else RecipeNote += $"; its augmentation is not applied: the training set ({train.GetType().Name}) takes no per-epoch augmentation";
            }
        }
        this.train = train;
        schedule = new LearningRateSchedule(config.Schedule, stepsPerEpoch, config.Train.Epochs);
        optimizer = BuildOptimizer();
        baseLrs = optimizer.param_groups.Select(g => g.lr).ToArray();
        ema = config.Train.Ema ? new ModelEma(module, config.Train.EmaDecay) : null;
        earlyStopping = new EarlyStopping(config.Train.EarlyStoppingPatience, config.Train.EarlyStoppingMinDelta);
        Log = MetricsLog.Open(run);
        deviceType = Device.Parse(config.Train.Device).Type;
        if (config.Train.Amp)
        {
            if (deviceType == DeviceType.CUDA) scaler ??= new GradScaler();
            PrecisionNote = deviceType == DeviceType.CUDA
                ? "train.amp: mixed precision, CUDA autocast to float16 with dynamic loss scaling (GradScaler)"
                : "train.amp on CPU: mixed precision is bfloat16 autocast without loss scaling (float16 autocast is CUDA only); " +
                  "on CPUs without native bfloat16 instructions it is usually slower than float32";
            if (Writes) File.AppendAllText(run.LogFile, PrecisionNote + Environment.NewLine);
        }
        this.scaler = scaler;
        if (RecipeNote is not null && Writes) File.AppendAllText(run.LogFile, RecipeNote + Environment.NewLine);
    }

    /// <summary>Writes the recipe's optimizer, schedule and EMA numbers into the config's keys (so everything after this
    /// reads one set of values) and says what they are.</summary>
    string ApplyRecipe(TrainingRecipe r, int imagesPerStep)
    {
        var h = r.Hyperparameters(imagesPerStep);
        var (o, s, t) = (config.Optimizer, config.Schedule, config.Train);
        o.Name = Enum.Parse<OptimizerKind>(h.Optimizer, ignoreCase: true);
        (o.Lr, o.Momentum, o.Nesterov, o.WeightDecay, o.DecayNormAndBias) = (h.Lr, h.Momentum, h.Nesterov, h.WeightDecay, false);
        s.Name = Enum.Parse<ScheduleKind>(h.Schedule, ignoreCase: true);
        (s.WarmupEpochs, s.WarmupFactor, s.FinalLrRatio, s.FinalConstantEpochs) = (h.WarmupEpochs, h.WarmupFactor, h.FinalLrRatio, h.FinalConstantEpochs);
        (t.Ema, t.EmaDecay) = (h.Ema, h.EmaDecay);
        return string.Create(CultureInfo.InvariantCulture,
            $"train.recipe: reference ({r.Name}): {h.Optimizer} lr {h.Lr:g4} for {imagesPerStep} images per step, momentum {h.Momentum}{(h.Nesterov ? " nesterov" : "")}, " +
            $"weight_decay {h.WeightDecay} on conv/linear weights; {h.Schedule} warmup_epochs {h.WarmupEpochs} final_lr_ratio {h.FinalLrRatio} " +
            $"final_constant_epochs {h.FinalConstantEpochs}; ema {(h.Ema ? h.EmaDecay.ToString(CultureInfo.InvariantCulture) : "off")}");
    }

    /// <summary>With <c>train.recipe: reference</c>: the family recipe's numbers now in the config (also in <c>train.log</c>).</summary>
    public string? RecipeNote { get; }

    /// <summary>Lines the run reports as it goes (a recipe's phase switch); also appended to <c>train.log</c>.</summary>
    public event Action<string>? Note;

    /// <summary>How the run computes when <c>train.amp</c> is set (also written once to the run's
    /// <c>train.log</c>); null for plain float32.</summary>
    public string? PrecisionNote { get; }

    /// <summary>The loss scaler: the one given to the constructor, else a default one with <c>train.amp</c> on CUDA; null otherwise.</summary>
    public GradScaler? Scaler => scaler;

    public RunDirectory Run { get; }

    /// <summary>False on the ranks of a distributed run other than 0: only rank 0 writes the run's files.</summary>
    public bool Writes => distributed?.IsWriter ?? true;
    public MetricsLog Log { get; private set; }
    public ExperimentConfig Config => config;
    public ValidationMetric Metric => metric;
    public IDetector Model => model;
    public int BatchesPerEpoch => batchesPerEpoch;

    /// <summary>The training set as the trainer draws it (with a reference recipe's per-epoch augmentation, when it has one).</summary>
    public IDetectionDataset TrainingSet => train;
    public TrainerState State => state;

    /// <summary>Raised after each optimizer step and after validation.</summary>
    public event Action<TrainingProgress>? Progress;

    Optimizer BuildOptimizer()
    {
        var o = config.Optimizer;
        var trainable = module.named_parameters().Where(p => p.parameter.requires_grad).ToList();
        if (trainable.Count == 0) throw new InvalidOperationException("the model has no trainable parameters (model.trainable_backbone_layers and frozen heads?)");
        // Norm weights and biases (1-D) get no weight decay unless asked (the usual detection recipe).
        var decay = trainable.Where(p => o.DecayNormAndBias || p.parameter.dim() > 1).Select(p => p.parameter).ToList();
        var noDecay = trainable.Where(p => !o.DecayNormAndBias && p.parameter.dim() <= 1).Select(p => p.parameter).ToList();
        var groups = new List<ParamGroup> { new(decay, new() { ["weight_decay"] = o.WeightDecay }) };
        if (noDecay.Count > 0) groups.Add(new ParamGroup(noDecay, new() { ["weight_decay"] = 0.0 }));
        return o.Name switch
        {
            OptimizerKind.Sgd => new SGD(groups, o.Lr, o.Momentum, 0, o.WeightDecay, o.Nesterov),
            OptimizerKind.AdamW => new AdamW(groups, o.Lr, o.Betas[0], o.Betas[1], o.Eps, o.WeightDecay),
            _ => throw new ArgumentException($"unknown optimizer {o.Name}"),
        };
    }

    void SetLearningRate(long step)
    {
        var factor = schedule.Factor(step);
        for (var k = 0; k < baseLrs.Length; k++) optimizer.param_groups[k].lr = baseLrs[k] * factor;
    }

    /// <summary>The (seeded) order of training images in <paramref name="epoch"/>.</summary>
    public int[] EpochOrder(int epoch) => EpochOrder(train.Count, config.Seed, epoch);

    /// <summary>The seeded order of <paramref name="count"/> images in <paramref name="epoch"/>: the same in every process
    /// (a resumed run continues in a new one), so the seed is mixed with SplitMix64 — never HashCode, which .NET
    /// randomises per process.</summary>
    public static int[] EpochOrder(int count, long seed, int epoch)
    {
        var order = Enumerable.Range(0, count).ToArray();
        new Random(SampleSeed.ToInt32(SampleSeed.Of((ulong)seed, epoch, 0x5eed))).Shuffle(order);
        return order;
    }

    static ulong BatchSeed(long seed, int epoch, int batch) => (ulong)(seed * 1_000_003L + epoch * 10_007L + batch) & 0x7fff_ffff_ffffL;

    /// <summary>Runs (or continues) training until the configured epochs, early stopping or cancellation.</summary>
    public TrainingOutcome Fit(CancellationToken cancellation = default)
    {
        var clock = Stopwatch.StartNew();
        for (var epoch = state.Epoch; epoch < config.Train.Epochs; epoch++)
        {
            module.train();
            var order = distributed?.Shard(EpochOrder(epoch)) ?? EpochOrder(epoch);
            var startBatch = state.BatchInEpoch;
            if (startBatch == 0) { partialSums = []; partialBatches = 0; }
            if (startBatch == 0 && recipe?.EpochNote(epoch, config.Train.Epochs) is { } note)
            {
                if (Writes) File.AppendAllText(Run.LogFile, note + Environment.NewLine);
                Note?.Invoke(note);
            }
            var epochClock = Stopwatch.StartNew();
            var imagesSeen = 0;
            optimizer.zero_grad();
            for (var b = startBatch; b < batchesPerEpoch; b++)
            {
                var indices = order.Skip(b * config.Train.BatchSize).Take(config.Train.BatchSize).ToArray();
                torch.manual_seed(BatchSeed(config.Seed, epoch, b));
                recipe?.BeforeEpochBatch(epoch, config.Train.Epochs);
                if (model is ITrainingForwardCounter counter) counter.TrainForwards = (long)epoch * batchesPerEpoch + b;  // resumes continue the sequence
                var endOfAccumulation = (b + 1) % config.Train.Accumulate == 0 || b == batchesPerEpoch - 1;
                var values = TrainBatch(indices, epoch, endOfAccumulation);
                foreach (var (k, v) in values) partialSums[k] = partialSums.GetValueOrDefault(k) + v;
                partialBatches++;
                imagesSeen += indices.Length;
                if (!endOfAccumulation) continue;
                OptimizerStep();
                state = state with { Step = state.Step + 1, BatchInEpoch = b + 1, Epoch = epoch };
                Progress?.Invoke(new TrainingProgress(epoch, config.Train.Epochs, b + 1, batchesPerEpoch, state.Step, optimizer.param_groups[0].lr,
                    values, imagesSeen / Math.Max(1e-9, epochClock.Elapsed.TotalSeconds), clock.Elapsed, "train"));
                // Ranks stop together (a SIGTERM may reach them a step apart): any rank's request stops all.
                var cancel = distributed?.AnyRank(cancellation.IsCancellationRequested) ?? cancellation.IsCancellationRequested;
                if (cancel && b + 1 < batchesPerEpoch)
                {
                    SaveCheckpoint(Run.LastCheckpoint);
                    return TrainingOutcome.Cancelled;
                }
            }
            if (distributed is not null) partialSums = distributed.Average(partialSums);  // the logged losses are every rank's mean
            var row = new Dictionary<string, double> { ["epoch"] = epoch, ["lr"] = optimizer.param_groups[0].lr };
            foreach (var (k, v) in partialSums) row[k] = v / Math.Max(1, partialBatches);
            row["loss"] = partialSums.Values.Sum() / Math.Max(1, partialBatches);
            var improved = false;
            var isLast = epoch == config.Train.Epochs - 1;
            if (validation is not null && ((epoch + 1) % config.Train.ValEvery == 0 || isLast))
            {
                var score = Validate();
                row[metric.Name] = score;
                improved = earlyStopping.Update(score, epoch);
                Progress?.Invoke(new TrainingProgress(epoch, config.Train.Epochs, batchesPerEpoch, batchesPerEpoch, state.Step, optimizer.param_groups[0].lr,
                    new Dictionary<string, double> { [metric.Name] = score }, 0, clock.Elapsed, "validate"));
            }
            row["epoch_seconds"] = epochClock.Elapsed.TotalSeconds;
            if (Writes) Log.Append(row);
            state = state with { Epoch = epoch + 1, BatchInEpoch = 0, EarlyStopping = earlyStopping.State, Metric = metric.Name };
            partialSums = [];
            partialBatches = 0;
            SaveCheckpoint(Run.LastCheckpoint);
            if (improved && Writes) File.Copy(Run.LastCheckpoint, Run.BestCheckpoint, overwrite: true);
            if (earlyStopping.ShouldStop) return TrainingOutcome.EarlyStopped;
            if ((distributed?.AnyRank(cancellation.IsCancellationRequested) ?? cancellation.IsCancellationRequested) && !isLast) return TrainingOutcome.Cancelled;
        }
        return TrainingOutcome.Completed;
    }

    Dictionary<string, double> TrainBatch(int[] indices, int epoch, bool synchronize)
    {
        using var scope = torch.NewDisposeScope();
        var samples = indices.Select(i => train.Load(i, epoch)).ToList();
        try
        {
            Dictionary<string, Tensor> losses;
            Tensor total;
            // Forward and loss under autocast (when train.amp), backward outside it, as PyTorch's AMP recipe.
            distributed?.BeforeForward(synchronize);
            using (config.Train.Amp ? torch.autocast(deviceType) : null)
            {
                losses = model.ForwardTrain(samples.Select(s => s.Image).ToList(), samples.Select(s => s.Target).ToList());
                total = losses.Values.Aggregate((a, b) => a + b);
            }
            var values = losses.ToDictionary(kv => kv.Key, kv => (double)kv.Value.item<float>());
            if (values.Values.Any(v => !double.IsFinite(v)))
                throw new InvalidOperationException($"loss became {string.Join(", ", values.Select(kv => $"{kv.Key}={kv.Value}"))} at epoch {epoch}; " +
                                                    "lower optimizer.lr, raise schedule.warmup_iters or set train.clip_grad_norm");
            var objective = config.Train.Accumulate > 1 ? total / config.Train.Accumulate : total;
            distributed?.BeforeBackward(objective, synchronize);
            (scaler?.scale(objective) ?? objective).backward();
            return values;
        }
        catch (TorchException e) when (e.Message.Contains("out of memory", StringComparison.OrdinalIgnoreCase) || e.Message.Contains("can't allocate", StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidOperationException(
                $"out of memory with train.batch_size {config.Train.BatchSize} at {model.Preprocessing.InputSize} px. " +
                $"Use a smaller batch with accumulation to keep the effective batch (e.g. --set train.batch_size={Math.Max(1, config.Train.BatchSize / 2)} " +
                $"--set train.accumulate={config.Train.Accumulate * 2}), or smaller inputs (--set model.input_size=…). libtorch said: {e.Message}", e);
        }
        finally
        {
            foreach (var s in samples) s.Dispose();
        }
    }

    void OptimizerStep()
    {
        SetLearningRate(state.Step);
        scaler?.unscale_(optimizer);  // clip the true gradients, not the scaled ones
        if (config.Train.ClipGradNorm > 0)
            GradClip.clip_grad_norm_(optimizer.param_groups.SelectMany(g => g.Params), config.Train.ClipGradNorm);
        if (scaler is null) optimizer.step();
        else
        {
            scaler.step(optimizer);  // skipped when a gradient is inf/NaN
            scaler.update();
        }
        optimizer.zero_grad();
        ema?.Update(module);
    }

    /// <summary>Validation score with the current (or EMA) weights.</summary>
    public double Validate()
    {
        if (validation is null) throw new InvalidOperationException("no validation set");
        ema?.SwapInto(module);
        try
        {
            module.eval();
            var items = new List<ValidationItem>();
            var mine = distributed?.ValidationIndices(validation.Count).ToArray() ?? Enumerable.Range(0, validation.Count).ToArray();
            for (var start = 0; start < mine.Length; start += config.Train.BatchSize)
            {
                using var scope = torch.NewDisposeScope();
                var samples = mine.Skip(start).Take(config.Train.BatchSize).Select(i => validation.Load(i, -1)).ToList();
                var detections = model.Predict(samples.Select(s => s.Image).ToList());
                for (var k = 0; k < samples.Count; k++)
                {
                    var t = samples[k].Target;
                    items.Add(new ValidationItem(samples[k].Id, Rows(t.Boxes), t.Labels.to(ScalarType.Int64).ToArray<long>(),
                        Rows(detections[k].Boxes), detections[k].Scores.to(ScalarType.Float32).ToArray<float>(), detections[k].Labels.ToArray<long>()));
                }
                foreach (var s in samples) s.Dispose();
            }
            return metric.Compute(distributed?.Gather(items) ?? items);
        }
        finally
        {
            module.train();
            ema?.SwapInto(module);
        }
    }

    static float[][] Rows(Tensor boxes)
    {
        var flat = boxes.to(ScalarType.Float32).contiguous().ToArray<float>();
        return Enumerable.Range(0, flat.Length / 4).Select(i => flat[(i * 4)..(i * 4 + 4)]).ToArray();
    }

    // ---------------------------------------------------------------- checkpoints

    static StoredTensor Store(Tensor t)
    {
        using var c = t.detach().cpu().contiguous();
        return new StoredTensor(c.DType, c.shape, c.ToBytes());
    }

    /// <summary>Writes model, EMA, optimizer and trainer state (atomically).</summary>
    public void SaveCheckpoint(string path)
    {
        if (!Writes) return;  // rank 0 holds the same weights and optimizer state as every other rank
        var groups = new Dictionary<string, Dictionary<string, StoredTensor>>
        {
            ["model"] = module.state_dict().ToDictionary(kv => kv.Key, kv => Store(kv.Value)),
        };
        using var opt = optimizer.state_dict();
        groups["optimizer"] = opt.Tensors.ToDictionary(kv => kv.Key, kv => Store(kv.Value));
        if (ema is not null) groups["ema"] = ema.State.ToDictionary(kv => kv.Key, kv => Store(kv.Value));
        var extra = new Dictionary<string, string>
        {
            ["partial_batches"] = partialBatches.ToString(CultureInfo.InvariantCulture),
            ["partial_sums"] = JsonSerializer.Serialize(partialSums),
            ["ema_updates"] = (ema?.Updates ?? 0).ToString(CultureInfo.InvariantCulture),
            ["world_size"] = (distributed?.WorldSize ?? 1).ToString(CultureInfo.InvariantCulture),
        };
        var checkpoint = new TrainingCheckpoint
        {
            State = state with { Extra = extra },
            Groups = groups,
            GroupMetadata = { ["optimizer"] = JsonSerializer.Serialize(opt.Groups) },
        };
        if (scaler is not null) checkpoint.GroupMetadata["grad_scaler"] = JsonSerializer.Serialize(scaler.state_dict());
        checkpoint.Save(path);
    }

    /// <summary>Restores everything <see cref="SaveCheckpoint"/> wrote; metrics rows after the saved epoch are dropped.</summary>
    public void Resume(string path)
    {
        var ckpt = TrainingCheckpoint.Load(path);
        using (var scope = torch.NewDisposeScope())
        {
            var weights = ckpt.Groups["model"].ToDictionary(kv => kv.Key, kv => Tensor.FromBytes(kv.Value.Data, kv.Value.DType, kv.Value.Shape));
            module.load_state_dict(weights);
            var optTensors = ckpt.Groups.GetValueOrDefault("optimizer", []).ToDictionary(kv => kv.Key, kv => Tensor.FromBytes(kv.Value.Data, kv.Value.DType, kv.Value.Shape));
            var optGroups = JsonSerializer.Deserialize<List<Dictionary<string, double>>>(ckpt.GroupMetadata["optimizer"]) ?? [];
            optimizer.load_state_dict(new OptimizerState(optTensors, optGroups));
            if (ema is not null && ckpt.Groups.TryGetValue("ema", out var emaGroup))
                ema.Load(emaGroup.ToDictionary(kv => kv.Key, kv => Tensor.FromBytes(kv.Value.Data, kv.Value.DType, kv.Value.Shape)),
                    long.Parse(ckpt.State.Extra.GetValueOrDefault("ema_updates", "0"), CultureInfo.InvariantCulture));
        }
        // A checkpoint without scaler state (written without train.amp, or on CPU) starts the scale fresh.
        if (scaler is not null && ckpt.GroupMetadata.TryGetValue("grad_scaler", out var scalerJson))
            scaler.load_state_dict(JsonSerializer.Deserialize<GradScalerState>(scalerJson)
                                   ?? throw new CheckpointException($"{path}: empty grad_scaler state"));
        state = ckpt.State;
        earlyStopping.Restore(state.EarlyStopping);
        partialBatches = int.Parse(state.Extra.GetValueOrDefault("partial_batches", "0"), CultureInfo.InvariantCulture);
        partialSums = JsonSerializer.Deserialize<Dictionary<string, double>>(state.Extra.GetValueOrDefault("partial_sums", "{}")) ?? [];
        var savedWorld = int.Parse(state.Extra.GetValueOrDefault("world_size", "1"), CultureInfo.InvariantCulture);
        ResumeNote = DataParallelTraining.ResumeNote(savedWorld, distributed?.WorldSize ?? 1, config.Train.BatchSize);
        if (ResumeNote is not null && state.BatchInEpoch > 0)
        {
            // Another world size shards the epoch differently: restart the interrupted epoch from its start.
            state = state with { BatchInEpoch = 0 };
            partialBatches = 0;
            partialSums = [];
        }
        if (Writes) Log = MetricsLog.Open(Run, keepThroughEpoch: state.Epoch - 1);
    }

    /// <summary>Set by <see cref="Resume"/> when the checkpoint was written by another number of ranks: what that changes.</summary>
    public string? ResumeNote { get; private set; }

    public void Dispose()
    {
        optimizer.Dispose();
        ema?.Dispose();
        scaler?.Dispose();
    }
}
