using CxrLab.Data;
using CxrLab.Evaluation;
using CxrLab.Training;

namespace CxrLab.Tasks.VinBigData;

/// <summary>Kaggle's VinBigData chest X-ray abnormality detection: 14 findings (ids 0–13; "No finding" 14 is not a
/// model class but a submission rule), Kaggle layout or PNG cache (<see cref="VinBigTraining"/>), the competition's
/// mAP@0.4 (<see cref="VinBigValidationMetric"/>), and the submission CSV with the No-finding rule.</summary>
public sealed class VinBigTask : IDetectionTask
{
    public string Name => "vinbigdata";

    public IReadOnlyList<string> ClassNames { get; } = VinBigClasses.Names.Take(VinBigClasses.FindingCount).ToArray();

    /// <summary>The findings and "No finding" (14), which Kaggle's mAP@0.4 scores too.</summary>
    public IReadOnlyList<string> MetricClassNames => VinBigClasses.Names;

    public TaskData Prepare(ExperimentConfig config, Action<string>? log = null)
    {
        var fold = VinBigTraining.Prepare(config, log);
        var (train, validation) = VinBigTraining.Datasets(config, fold);
        return new TaskData(train, validation, new VinBigValidationMetric(fold.Validation));
    }

    public void WriteSubmission(string path, IReadOnlyList<ImagePrediction> predictions) =>
        VinBigSubmission.Write(path, predictions.Select(p => p.ImageId), predictions.SelectMany(ToKaggle));

    /// <summary>One image's Kaggle rows: its findings, plus the "No finding" line (class 14, box 0 0 1 1) scored
    /// 1 − the best finding score — the rule the demo, validation and <c>./cxr predict --submission</c> all use, so one
    /// model scores one way.</summary>
    public static IEnumerable<Detection> ToKaggle(ImagePrediction p)
    {
        var best = 0f;
        for (var k = 0; k < p.Labels.Length; k++)
        {
            var b = p.Boxes[k];
            best = Math.Max(best, p.Scores[k]);
            yield return new Detection(p.ImageId, (int)p.Labels[k], p.Scores[k], new Box(b[0], b[1], b[2], b[3]));
        }
        yield return new Detection(p.ImageId, VinBigClasses.NoFinding, 1 - best, VinBigClasses.NoFindingBox);
    }
}
