using CxrLab.Models.FasterRcnn;
using CxrLab.Torch;
using CxrLab.Torch.Nn;

namespace CxrLab.Training;

/// <summary>Turns an <see cref="ExperimentConfig"/> into a model, datasets and a <see cref="Trainer"/>
/// (used by <c>./cxr train</c> and notebooks).</summary>
public static class ExperimentRunner
{
    /// <summary>Datasets for configs the runner does not know itself (built in: <c>shapes</c>, synthetic, and
    /// <c>vinbigdata</c>, see <see cref="VinBigTraining"/>): assign this to read others (train, validation).</summary>
    public static Func<ExperimentConfig, (IDetectionDataset Train, IDetectionDataset Validation)>? DatasetFactory { get; set; }

    public static (IDetectionDataset Train, IDetectionDataset Validation) Datasets(ExperimentConfig config)
    {
        if (config.Data.Dataset == "shapes")
        {
            var count = config.Data.Limit > 0 ? config.Data.Limit : 32;
            return (new InMemoryDetectionDataset(ShapesDataset.Generate(count, (int)config.Seed, config.Data.CacheSize)),
                    new InMemoryDetectionDataset(ShapesDataset.Generate(Math.Max(2, count / 4), (int)config.Seed + 1, config.Data.CacheSize)));
        }
        if (config.Data.Dataset == "vinbigdata")
        {
            var fold = VinBigTraining.Prepare(config, Log);
            return VinBigTraining.Datasets(config, fold);
        }
        if (DatasetFactory is { } factory) return factory(config);
        throw new NotSupportedException(
            $"data.dataset '{config.Data.Dataset}' needs the dataset library, which is not wired into the trainer in this build; " +
            "use data.dataset: shapes for a synthetic smoke run");
    }

    /// <summary>Where <see cref="Datasets"/> reports its stages (cache, fold sizes); null = silent.</summary>
    public static Action<string>? Log { get; set; }

    /// <summary>The validation metric for a dataset: the Kaggle VinBigData mAP@0.4 (original pixels, No-finding
    /// class) for VinBigData sets, else the trainer's plain <see cref="MeanAveragePrecision"/> at IoU 0.4.</summary>
    public static ValidationMetric Metric(IDetectionDataset validation) =>
        validation is DetectionDatasetSamples { Dataset.Name: var name } samples && name.StartsWith("vinbig", StringComparison.Ordinal)
            ? new VinBigValidationMetric(samples.Dataset)
            : new MeanAveragePrecision(0.4);

    /// <summary><c>model.norm_layer</c>, or torchvision's rule when it is empty: FrozenBatchNorm2d when weights
    /// are loaded (pretrained statistics stay fixed), BatchNorm2d when training from a random init (FrozenBatchNorm
    /// with its identity statistics would leave the network without any normalisation).</summary>
    public static Models.Detection.NormLayer NormLayerOf(ModelConfig model) => model.NormLayer switch
    {
        "frozen" => Models.Detection.NormLayer.Frozen,
        "batchnorm" => Models.Detection.NormLayer.BatchNorm,
        _ => model.Weights.Length > 0 ? Models.Detection.NormLayer.Frozen : Models.Detection.NormLayer.BatchNorm,
    };

    /// <summary>The model a config describes, with <c>model.weights</c> loaded when given (a checkpoint
    /// with another class count keeps its backbone and RPN; the head starts fresh).</summary>
    public static FasterRcnn BuildModel(ExperimentConfig config, Action<string>? log = null)
    {
        torch.manual_seed((ulong)config.Seed);
        var model = FasterRcnn.Create(config.Model.Arch, new FasterRcnnOptions
        {
            NumClasses = config.Model.NumClasses,
            MinSize = config.Model.MinSize,
            MaxSize = config.Model.MaxSize,
            TrainableBackboneLayers = config.Model.TrainableBackboneLayers,
            FpnChannels = config.Model.FpnChannels,
            RepresentationSize = config.Model.RepresentationSize,
            NormLayer = NormLayerOf(config.Model),
            AnchorSizes = [.. config.Model.AnchorSizes],
            AspectRatios = [.. config.Model.AspectRatios],
            Rpn = new Models.Detection.RpnOptions
            {
                BatchSizePerImage = config.Model.RpnBatchSizePerImage,
                PostNmsTopNTrain = config.Model.RpnPostNmsTopNTrain,
                PostNmsTopNTest = config.Model.RpnPostNmsTopNTest,
            },
            RoIHeads = new Models.Detection.RoIHeadsOptions
            {
                ScoreThresh = config.Model.ScoreThresh,
                DetectionsPerImage = config.Model.DetectionsPerImage,
                BatchSizePerImage = config.Model.RoiBatchSizePerImage,
            },
        });
        if (config.Model.Weights.Length > 0)
        {
            var result = model.LoadWeights(config.Model.Weights, strict: false, skipClassMismatch: true);
            log?.Invoke($"loaded {config.Model.Weights}" + (result.Missing.Count > 0 ? $" ({result.Missing.Count} tensors kept their fresh values: {string.Join(", ", result.Missing.Take(4))}…)" : ""));
        }
        if (config.Train.Device != "cpu") model.to(Device.Parse(config.Train.Device));
        return model;
    }
}
