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

/// <summary>One cell of a threshold sweep: the RSNA score with detections kept above <paramref name="Confidence"/>
/// after NMS at <paramref name="Nms"/>.</summary>
public sealed record SweepCell(double Confidence, double Nms, double Score, int Detections);

/// <summary>A confidence × NMS grid of RSNA scores (rows: confidence, columns: NMS IoU).</summary>
public sealed record SweepGrid(IReadOnlyList<double> Confidences, IReadOnlyList<double> Nms, IReadOnlyList<SweepCell> Cells)
{
    public SweepCell this[int confidence, int nms] => Cells[confidence * Nms.Count + nms];

    /// <summary>The best cell (the first of equals, in row order).</summary>
    public SweepCell Best => Cells.MaxBy(c => c.Score)!;

    /// <summary>A fixed-width text table (rows confidence, columns NMS), best cell starred.</summary>
    public string ToTable()
    {
        var sb = new System.Text.StringBuilder();
        sb.Append("conf \\ nms").Append(string.Concat(Nms.Select(n => $"{n,8:0.00}"))).AppendLine();
        var best = Best;
        for (var i = 0; i < Confidences.Count; i++)
        {
            sb.Append($"{Confidences[i],10:0.00}");
            for (var j = 0; j < Nms.Count; j++)
            {
                var c = this[i, j];
                sb.Append($"{c.Score,7:0.000}{(ReferenceEquals(c, best) ? "*" : " ")}");
            }
            sb.AppendLine();
        }
        return sb.ToString();
    }
}

/// <summary>The seed tuned detection confidence and NMS IoU by hand; this sweeps them on the validation split. The network
/// runs once per batch (<see cref="IDetector.PredictCandidates"/>); every grid cell is only post-processing
/// (<see cref="IDetector.SelectDetections"/>), so a 6 × 5 grid costs about one validation pass.</summary>
public static class RsnaThresholdSweep
{
    /// <summary>The default grid: confidence 0.5…0.95, NMS IoU 0.05…0.5.</summary>
    public static readonly double[] DefaultConfidences = [0.5, 0.6, 0.7, 0.8, 0.9, 0.95];
    public static readonly double[] DefaultNms = [0.05, 0.1, 0.2, 0.3, 0.5];

    /// <param name="model">The detector (put in eval mode here).</param>
    /// <param name="samples">Validation images (cache pixels), e.g. <see cref="RsnaSamples"/> over <paramref name="validation"/>.</param>
    /// <param name="validation">The same images' dataset: truth and original sizes.</param>
    /// <param name="confidences">Score thresholds (rows).</param>
    /// <param name="nms">NMS IoU thresholds (columns).</param>
    /// <param name="batchSize">Images per network pass.</param>
    public static SweepGrid Run(IDetector model, IDetectionDataset samples, DetectionDataset validation, IReadOnlyList<double>? confidences = null, IReadOnlyList<double>? nms = null, int batchSize = 4)
    {
        confidences ??= DefaultConfidences;
        nms ??= DefaultNms;
        var infos = validation.Items.DistinctBy(i => i.ImageId).ToDictionary(i => i.ImageId, i => i.Info, StringComparer.Ordinal);
        var truth = validation.ToTruth(noFindingBox: false);
        var perCell = confidences.SelectMany(_ => nms).Select(_ => new List<(string, float[][], float[])>()).ToArray();
        model.Module.eval();
        for (var start = 0; start < samples.Count; start += batchSize)
        {
            var batch = Enumerable.Range(start, Math.Min(batchSize, samples.Count - start)).Select(i => samples.Load(i, -1)).ToList();
            try
            {
                using var candidates = model.PredictCandidates(batch.Select(s => s.Image).ToList());
                for (var c = 0; c < confidences.Count; c++)
                for (var n = 0; n < nms.Count; n++)
                {
                    var options = model.Postprocess with { ScoreThresh = confidences[c], NmsThresh = nms[n] };
                    var selected = model.SelectDetections(candidates, options);
                    for (var k = 0; k < selected.Count; k++)
                    {
                        using var d = selected[k];
                        var flat = d.Boxes.to(ScalarType.Float32).contiguous().ToArray<float>();
                        var boxes = Enumerable.Range(0, flat.Length / 4).Select(r => flat[(r * 4)..(r * 4 + 4)]).ToArray();
                        perCell[c * nms.Count + n].Add((batch[k].Id, boxes, d.Scores.to(ScalarType.Float32).ToArray<float>()));
                    }
                }
            }
            finally
            {
                foreach (var s in batch) s.Dispose();
            }
        }
        var cells = new List<SweepCell>();
        for (var c = 0; c < confidences.Count; c++)
        for (var n = 0; n < nms.Count; n++)
        {
            var dets = RsnaValidationMetric.ToDetections(perCell[c * nms.Count + n], infos);
            cells.Add(new SweepCell(confidences[c], nms[n], RsnaMetric.Evaluate(truth, dets).Score, dets.Count));
        }
        return new SweepGrid(confidences.ToList(), nms.ToList(), cells);
    }
}
