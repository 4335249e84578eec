using CxrLab.Models;
using CxrLab.Models.Detection;
using CxrLab.Torch;
using CxrLab.Tasks;
using CxrLab.Training;

namespace CxrLab.Experiments;

/// <summary>Turns an <see cref="ExperimentConfig"/> into a model (through <see cref="DetectorZoo"/>) and its prepared
/// data (through <see cref="DetectionTasks"/>), for <c>./cxr train</c>, the demo, benches and notebooks.</summary>
public static class ExperimentRunner
{
    /// <summary>The config's dataset (<c>data.dataset</c>, <see cref="DetectionTasks"/>) prepared: train and validation
    /// sets and the metric to validate with. <paramref name="log"/> gets one line per stage (cache, fold sizes).</summary>
    public static TaskData Data(ExperimentConfig config, Action<string>? log = null)
    {
        var task = DetectionTasks.Find(config.Data.Dataset);
        if (config.Model.NumClasses != task.ClassNames.Count)
            throw new ConfigException($"model.num_classes is {config.Model.NumClasses} but data.dataset '{task.Name}' has {task.ClassNames.Count} classes " +
                                      $"({string.Join(", ", task.ClassNames.Take(4))}{(task.ClassNames.Count > 4 ? ", …" : "")}); set model.num_classes: {task.ClassNames.Count}");
        return task.Prepare(config, log);
    }

    /// <summary>The detector spec a config describes: <c>model:</c> plus the family sections, for <see cref="DetectorZoo"/>.</summary>
    public static DetectorSpec SpecOf(ExperimentConfig config) => new(config.Model.Arch, config.Model.NumClasses)
    {
        InputSize = config.Model.InputSize,
        MaxSize = config.Model.MaxSize,
        NormLayer = config.Model.NormLayer switch
        {
            "frozen" => NormLayer.Frozen,
            "batchnorm" => NormLayer.BatchNorm,
            _ => null,
        },
        Pretrained = config.Model.Weights.Length > 0,
        ScoreThresh = config.Model.ScoreThresh,
        NmsThresh = config.Model.NmsThresh,
        MaxDetections = config.Model.MaxDetections,
        ClassAgnostic = config.Model.ClassAgnostic,
        FasterRcnn = config.FasterRcnn,
        EfficientDet = config.Efficientdet,
    };

    /// <summary>The model a config describes, built through the zoo, with <c>model.weights</c> loaded when given (a
    /// checkpoint with another class count keeps everything but the classifier, which starts fresh; logged).</summary>
    public static IDetector BuildModel(ExperimentConfig config, Action<string>? log = null)
    {
        torch.manual_seed((ulong)config.Seed);
        var model = DetectorZoo.Create(SpecOf(config));
        try
        {
            if (config.Model.Weights.Length > 0)
            {
                var result = model.LoadWeights(config.Model.Weights, new WeightsLoadOptions { Strict = false, ReinitClassifier = true, Log = log });
                log?.Invoke($"loaded {config.Model.Weights}" + (result.Missing.Count > 0 ? $" ({result.Missing.Count} tensors kept their fresh values: {string.Join(", ", result.Missing.Take(4))}…)" : ""));
            }
            if (config.Train.Device != "cpu") model.Module.to(Device.Parse(config.Train.Device));
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }
}
