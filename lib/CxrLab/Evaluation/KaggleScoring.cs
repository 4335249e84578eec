using CxrLab.Data;

namespace CxrLab.Evaluation;

/// <summary>The VinBigData scores of one submission against one truth file.</summary>
public sealed record VinBigScore(MapResult Voc, MapResult Coco40, MapResult Coco, ValidationReport TruthReport, ValidationReport PredictionReport)
{
    /// <summary>The competition metric: VOC mAP at IoU &gt; 0.4.</summary>
    public double Map => Voc.Map;
}

/// <summary>The RSNA score of one submission against one truth file.</summary>
public sealed record RsnaScore(RsnaMetric.Result Result, ValidationReport TruthReport, ValidationReport PredictionReport)
{
    public double Score => Result.Score;
}

/// <summary>Scores Kaggle CSV files the way <c>./cxr score</c> does.</summary>
public static class KaggleScoring
{
    /// <summary>VinBigData: truth = a train.csv (several readers' boxes fused by <paramref name="fusion"/>;
    /// default none: every reader box is a truth box), predictions = a submission CSV.</summary>
    public static VinBigScore ScoreVinBig(string truthCsv, string predictionCsv, FusionOptions? fusion = null)
    {
        var truthReport = new ValidationReport();
        var truth = VinBigDataset.ReadTruth(truthCsv, fusion ?? FusionOptions.None, truthReport);
        var predReport = new ValidationReport();
        var (_, detections) = VinBigSubmission.Read(predictionCsv, predReport);
        return Score(truth, detections, truthReport, predReport);
    }

    public static VinBigScore Score(TruthSet truth, IReadOnlyList<Detection> detections, ValidationReport? truthReport = null, ValidationReport? predReport = null) =>
        new(VocEvaluator.Evaluate(truth, detections),
            CocoEvaluator.Evaluate(truth, detections, CocoEvaluator.VinBigThresholds),
            CocoEvaluator.Evaluate(truth, detections),
            truthReport ?? new ValidationReport(), predReport ?? new ValidationReport());

    /// <summary>RSNA: truth = stage_2_train_labels.csv, predictions = a submission CSV.</summary>
    public static RsnaScore ScoreRsna(string truthCsv, string predictionCsv)
    {
        var truthReport = new ValidationReport();
        var truth = RsnaDataset.ReadTruth(truthCsv, truthReport);
        var predReport = new ValidationReport();
        var (_, detections) = RsnaSubmission.Read(predictionCsv, predReport);
        return new RsnaScore(RsnaMetric.Evaluate(truth, detections), truthReport, predReport);
    }
}
