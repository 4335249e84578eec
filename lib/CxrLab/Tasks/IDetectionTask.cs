using CxrLab.Training;

namespace CxrLab.Tasks;

/// <summary>What a dataset brings to training and prediction, chosen by <c>data.dataset</c>: its task classes, how a
/// config's data becomes train/validation sets, the competition metric it is scored with, and its submission format.
/// Each dataset's pieces live in its own folder (<c>Tasks/VinBigData</c>, <c>Tasks/Rsna</c>, <c>Tasks/Shapes</c>).</summary>
public interface IDetectionTask
{
    /// <summary>The <c>data.dataset</c> value, e.g. <c>vinbigdata</c>.</summary>
    string Name { get; }

    /// <summary>Task class names by id 0..K−1 (K = <c>model.num_classes</c>).</summary>
    IReadOnlyList<string> ClassNames { get; }

    /// <summary>Names by id of the classes the metric scores: <see cref="ClassNames"/> plus any the competition adds (VinBigData's
    /// "No finding", 14, scored as an image-level box); for per-class AP lines and plots.</summary>
    IReadOnlyList<string> MetricClassNames => ClassNames;

    /// <summary>Train and validation sets for a config (caches built, folds split) and the metric to validate with.</summary>
    TaskData Prepare(ExperimentConfig config, Action<string>? log = null);

    /// <summary>Writes the competition's submission CSV for predictions in each image's original pixels (task class ids).</summary>
    void WriteSubmission(string path, IReadOnlyList<ImagePrediction> predictions);
}

/// <summary>A config's prepared data: what the trainer reads and how it scores validation.</summary>
public sealed record TaskData(IDetectionDataset Train, IDetectionDataset Validation, ValidationMetric Metric);

/// <summary>One image's detections in its original pixels with task class ids (boxes xyxy rows).</summary>
public sealed record ImagePrediction(string ImageId, float[][] Boxes, float[] Scores, long[] Labels);
