using CxrLab.Models.Detection;
using CxrLab.Torch;

namespace CxrLab.Training;

/// <summary>One cell of a threshold sweep: the validation score with detections kept above <paramref name="Confidence"/>
/// after NMS at <paramref name="Nms"/>, and how many detections that kept.</summary>
public sealed record SweepCell(double Confidence, double Nms, double Score, int Detections);

/// <summary>A confidence × NMS grid of validation scores (rows: confidence, columns: NMS IoU), row-major.</summary>
public sealed record SweepGrid(IReadOnlyList<double> Confidences, IReadOnlyList<double> Nms, IReadOnlyList<SweepCell> Cells)
{
    public SweepCell this[int confidence, int nms] => Cells[confidence * Nms.Count + nms];

    /// <summary>The best cell (the first of equals, in row order).</summary>
    public SweepCell Best => Cells.MaxBy(c => c.Score)!;

    /// <summary>Scores as a [confidence][nms] array (a heat map's z).</summary>
    public double[][] Scores => Enumerable.Range(0, Confidences.Count).Select(i => Enumerable.Range(0, Nms.Count).Select(j => this[i, j].Score).ToArray()).ToArray();

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

/// <summary>Sweeps detection confidence × NMS IoU on a validation set with the task's own metric (the RSNA seed tuned
/// these by hand). The network runs once per batch (<see cref="IDetector.PredictCandidates"/>); every grid cell is only
/// post-processing (<see cref="IDetector.SelectDetections"/>), so a 6 × 5 grid costs about one validation pass.</summary>
public static class ThresholdSweep
{
    /// <summary>The default grid: confidence 0.05…0.95 (rows), NMS IoU 0.05…0.7 (columns).</summary>
    public static readonly double[] DefaultConfidences = [0.05, 0.1, 0.3, 0.5, 0.7, 0.9, 0.95];
    public static readonly double[] DefaultNms = [0.05, 0.1, 0.3, 0.5, 0.7];

    /// <param name="model">The detector (put in eval mode here; its other post-processing options are kept).</param>
    /// <param name="validation">Validation samples as the trainer validates on them (epoch −1: no augmentation).</param>
    /// <param name="metric">The task's validation metric (e.g. <c>val_rsna_map</c>, <c>val_map40</c>).</param>
    /// <param name="confidences">Score thresholds (rows), each in [0, 1].</param>
    /// <param name="nms">NMS IoU thresholds (columns), each in (0, 1].</param>
    /// <param name="batchSize">Images per network pass.</param>
    public static SweepGrid Run(IDetector model, IDetectionDataset validation, ValidationMetric metric, IReadOnlyList<double>? confidences = null, IReadOnlyList<double>? nms = null, int batchSize = 4)
    {
        confidences ??= DefaultConfidences;
        nms ??= DefaultNms;
        if (confidences.Count == 0 || nms.Count == 0) throw new ArgumentException("a sweep needs at least one confidence and one NMS threshold");
        foreach (var c in confidences)
            if (!(c is >= 0 and <= 1)) throw new ArgumentOutOfRangeException(nameof(confidences), $"confidence {c} is outside [0, 1]");
        foreach (var n in nms)
            if (!(n is > 0 and <= 1)) throw new ArgumentOutOfRangeException(nameof(nms), $"NMS IoU {n} is outside (0, 1]");
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), "the batch needs at least one image");
        var perCell = confidences.SelectMany(_ => nms).Select(_ => new List<ValidationItem>(validation.Count)).ToArray();
        var options = confidences.SelectMany(c => nms.Select(n => model.Postprocess with { ScoreThresh = c, NmsThresh = n })).ToArray();
        model.Module.eval();
        for (var start = 0; start < validation.Count; start += batchSize)
        {
            var batch = Enumerable.Range(start, Math.Min(batchSize, validation.Count - start)).Select(i => validation.Load(i, -1)).ToList();
            try
            {
                using var candidates = model.PredictCandidates(batch.Select(s => s.Image).ToList());
                for (var cell = 0; cell < options.Length; cell++)
                {
                    using var scope = torch.NewDisposeScope();
                    var selected = model.SelectDetections(candidates, options[cell]);
                    for (var k = 0; k < selected.Count; k++) perCell[cell].Add(DatasetPrediction.Item(batch[k], selected[k]));
                }
            }
            finally
            {
                foreach (var s in batch) s.Dispose();
            }
        }
        var cells = options.Select((o, cell) => new SweepCell(o.ScoreThresh, o.NmsThresh, metric.Compute(perCell[cell]), perCell[cell].Sum(i => i.Scores.Length))).ToList();
        return new SweepGrid(confidences.ToList(), nms.ToList(), cells);
    }
}
