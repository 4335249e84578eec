using System.Diagnostics;
using System.Text.Json;
using CxrLab.Evaluation;
using CxrLab.Models.Classification;
using CxrLab.Tasks.VinBigData;
using CxrLab.Training;

namespace CxrLab.Experiments;

/// <summary>A trained normal/abnormal classifier (<c>result.json</c>): its validation ROC AUC and accuracy at p = 0.5 on
/// the held-out fold (the detectors' validation images), the images it saw, its best checkpoint and the file of its
/// validation probabilities (<c>image_id,p_abnormal</c>).</summary>
public sealed record ClassifierResult
{
    public string Arch { get; init; } = "";
    public int InputSize { get; init; }
    public int Epochs { get; init; }
    public int BestEpoch { get; init; }
    public int TrainImages { get; init; }
    public int TrainAbnormal { get; init; }
    public int ValidationImages { get; init; }
    public int ValidationAbnormal { get; init; }
    public double ValAuc { get; init; }
    public double ValAccuracy { get; init; }
    public double FilterLow { get; init; }
    public double WallSeconds { get; init; }
    public string Run { get; init; } = "";
    public string Checkpoint { get; init; } = "";
    public string Probabilities { get; init; } = "";
    public string FinishedUtc { get; init; } = "";

    public static ClassifierResult? TryLoad(string path) => GridCellResult.TryLoad<ClassifierResult>(path);

    public void Save(string path) => GridCellResult.Save(path, this);
}

/// <summary>Trains the normal/abnormal classifier of an experiment (<c>./cxr classifier train</c>, and once per grid):
/// the experiment's VinBigData fold with every training image (<see cref="VinBigClassifierData"/>), the <c>classifier:</c>
/// section's network and schedule (<see cref="ClassifierTrainer"/>), a run folder <c>{runs_dir}/{name}/{stamp}/</c>;
/// then its best checkpoint predicts the validation images (<c>val_p_abnormal.csv</c>) and is scored (<c>result.json</c>).</summary>
public static class ClassifierRunner
{
    public const string ProbabilitiesFileName = "val_p_abnormal.csv";
    public const string ResultFileName = "result.json";

    /// <summary>Trains (or with <paramref name="resume"/> continues the newest run of the config's name, finished or not)
    /// and scores. Null when cancelled (state saved).</summary>
    public static ClassifierResult? Train(ExperimentConfig config, bool resume = false, Action<string>? log = null,
        Action<ClassifierTrainer>? attach = null, CancellationToken cancellation = default)
    {
        if (config.Data.Dataset != "vinbigdata")
            throw new ConfigException($"data.dataset '{config.Data.Dataset}': the normal/abnormal classifier is VinBigData's (its 'No finding' rule)");
        var clock = Stopwatch.StartNew();
        var images = VinBigClassifierData.Prepare(config, log);
        var c = config.Classifier;
        var resumeFrom = resume ? RunDirectory.Latest(config) : null;
        var run = resumeFrom ?? RunDirectory.Create(config);
        int bestEpoch;
        Torch.torch.manual_seed((ulong)config.Seed);   // the same initial weights for the same seed
        using (var model = new NormalAbnormalClassifier(c.Arch, c.InputSize))
        using (var trainer = new ClassifierTrainer(c, config.Seed, config.Train.Device, model, images.Train, images.Validation, run))
        {
            if (resumeFrom is not null)
            {
                trainer.Resume(run.LastCheckpoint);
                log?.Invoke($"classifier: resuming {run.Path} at epoch {trainer.State.Epoch}, batch {trainer.State.BatchInEpoch}");
            }
            else log?.Invoke($"classifier {c.Arch} at {c.InputSize} px, {c.Epochs} epochs of {trainer.BatchesPerEpoch} batches → {run.Path}");
            attach?.Invoke(trainer);
            if (!trainer.Fit(cancellation)) return null;
            bestEpoch = trainer.Best.Epoch;
        }
        var checkpoint = File.Exists(run.BestCheckpoint) ? run.BestCheckpoint : run.LastCheckpoint;
        using var best = NormalAbnormalClassifier.Load(checkpoint, Torch.Device.Parse(config.Train.Device));
        var p = ClassifierTrainer.Predict(best, images.Validation.Select(v => v.Load).ToList(), c.BatchSize).Select(x => (double)x).ToList();
        var truth = images.Validation.Select(v => v.Abnormal).ToList();
        var probabilities = Path.Combine(run.Path, ProbabilitiesFileName);
        NormalFilter.WriteProbabilities(probabilities, images.Validation.Select((v, k) => KeyValuePair.Create(v.Id, p[k])));
        var result = new ClassifierResult
        {
            Arch = c.Arch, InputSize = c.InputSize, Epochs = c.Epochs,
            BestEpoch = bestEpoch,
            TrainImages = images.Train.Count, TrainAbnormal = images.Train.Count(i => i.Abnormal),
            ValidationImages = images.Validation.Count, ValidationAbnormal = truth.Count(t => t),
            ValAuc = Math.Round(BinaryMetrics.RocAuc(p, truth), 4), ValAccuracy = Math.Round(BinaryMetrics.Accuracy(p, truth), 4), FilterLow = c.FilterLow,
            WallSeconds = Math.Round(clock.Elapsed.TotalSeconds, 1), Run = run.Path, Checkpoint = checkpoint, Probabilities = probabilities,
            FinishedUtc = DateTime.UtcNow.ToString("u"),
        };
        result.Save(Path.Combine(run.Path, ResultFileName));
        log?.Invoke($"classifier: validation AUC {result.ValAuc:0.000}, accuracy {result.ValAccuracy:0.000} ({result.ValidationAbnormal}/{result.ValidationImages} abnormal) in {result.WallSeconds:0} s; {checkpoint}");
        return result;
    }
}
