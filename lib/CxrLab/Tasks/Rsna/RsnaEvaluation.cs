using CxrLab.Data;
using CxrLab.Evaluation;
using CxrLab.Models.Detection;
using CxrLab.Torch;
using CxrLab.Training;

namespace CxrLab.Tasks.Rsna;

/// <summary>The RSNA Pneumonia metric (mean over images of TP/(TP+FP+FN) averaged over IoU 0.40…0.75, <see cref="RsnaMetric"/>)
/// on a validation subset: detections mapped from cache pixels to the original DICOM pixels, truth from the dataset.</summary>
public sealed class RsnaValidationMetric(DetectionDataset validation) : ValidationMetric
{
    readonly Dictionary<string, ImageInfo> infos = validation.Items.DistinctBy(i => i.ImageId).ToDictionary(i => i.ImageId, i => i.Info, StringComparer.Ordinal);
    readonly TruthSet truth = validation.ToTruth(noFindingBox: false);

    public override string Name => "val_rsna_map";

    /// <summary>The result of the latest <see cref="Compute"/> (per threshold and per image).</summary>
    public RsnaMetric.Result? LastResult { get; private set; }

    public override double Compute(IReadOnlyList<ValidationItem> items)
    {
        LastResult = RsnaMetric.Evaluate(truth, ToDetections(items.Select(i => (i.Id, i.Boxes, i.Scores)), infos));
        return LastResult.Score;
    }

    /// <summary>Model outputs in cache pixels → RSNA detections (class 0) in original pixels.</summary>
    public static List<Detection> ToDetections(IEnumerable<(string Id, float[][] Boxes, float[] Scores)> items, IReadOnlyDictionary<string, ImageInfo> infos)
    {
        var detections = new List<Detection>();
        foreach (var (id, boxes, scores) in items)
        {
            var info = infos[id];
            for (var k = 0; k < boxes.Length; k++)
                detections.Add(new Detection(id, RsnaClasses.LungOpacity, scores[k], info.ToOriginal(new Box(boxes[k][0], boxes[k][1], boxes[k][2], boxes[k][3]))));
        }
        return detections;
    }
}

/// <summary>The seed tuned detection confidence and NMS IoU by hand; this sweeps them on the validation split with the
/// RSNA metric (<see cref="ThresholdSweep"/>: the network runs once per batch, each cell is only post-processing).</summary>
public static class RsnaThresholdSweep
{
    /// <summary>The default grid: confidence 0.5…0.95, NMS IoU 0.05…0.5 (around the seed's 0.7 and 0.1).</summary>
    public static readonly double[] DefaultConfidences = [0.5, 0.6, 0.7, 0.8, 0.9, 0.95];
    public static readonly double[] DefaultNms = [0.05, 0.1, 0.2, 0.3, 0.5];

    /// <param name="model">The detector (put in eval mode here).</param>
    /// <param name="samples">Validation images (cache pixels), e.g. <see cref="RsnaSamples"/> over <paramref name="validation"/>.</param>
    /// <param name="validation">The same images' dataset: truth and original sizes.</param>
    /// <param name="confidences">Score thresholds (rows).</param>
    /// <param name="nms">NMS IoU thresholds (columns).</param>
    /// <param name="batchSize">Images per network pass.</param>
    public static SweepGrid Run(IDetector model, IDetectionDataset samples, DetectionDataset validation, IReadOnlyList<double>? confidences = null, IReadOnlyList<double>? nms = null, int batchSize = 4) =>
        ThresholdSweep.Run(model, samples, new RsnaValidationMetric(validation), confidences ?? DefaultConfidences, nms ?? DefaultNms, batchSize);
}
