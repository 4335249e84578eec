using CxrLab.Data;
using CxrLab.Evaluation;
using CxrLab.Training;

namespace CxrLab.Tasks.Rsna;

/// <summary>Kaggle's RSNA Pneumonia Detection: one class (Lung Opacity, id 0), Kaggle layout or PNG cache
/// (<see cref="RsnaTraining"/>, boxes as instance masks for Mask R-CNN), the competition's metric
/// (<see cref="RsnaValidationMetric"/>), and the <c>patientId,PredictionString</c> submission with <c>conf x y w h</c>
/// in original DICOM pixels (empty for negatives).</summary>
public sealed class RsnaTask : IDetectionTask
{
    public string Name => "rsna";

    public IReadOnlyList<string> ClassNames { get; } = [RsnaClasses.LungOpacityName];

    public TaskData Prepare(ExperimentConfig config, Action<string>? log = null)
    {
        var split = RsnaTraining.Prepare(config, log);
        var (train, validation) = RsnaTraining.Datasets(config, split);
        return new TaskData(train, validation, new RsnaValidationMetric(split.Validation));
    }

    public void WriteSubmission(string path, IReadOnlyList<ImagePrediction> predictions) =>
        RsnaSubmission.Write(path, predictions.Select(p => p.ImageId), predictions.SelectMany(p =>
            p.Boxes.Select((b, k) => new Detection(p.ImageId, RsnaClasses.LungOpacity, p.Scores[k], new Box(b[0], b[1], b[2], b[3])))));
}
