namespace CxrLab.Evaluation;

/// <summary>A monotone map from a score to the fraction of true positives at that score, fitted by isotonic regression
/// (pool adjacent violators) on scored samples. Each pooled block's value is smoothed by <c>prior</c> pseudo-samples,
/// half of them positive ((positives + ½) / (samples + 1) by default), so a block of one sample is not 0 or 1; smoothing
/// pulls small blocks further toward ½ than large ones, so each value is then raised to its predecessor's where it fell
/// below it. A small slope (<see cref="Slope"/> × score) keeps distinct scores of one block in their order.</summary>
public sealed class IsotonicCalibration
{
    /// <summary>Added per unit of raw score so that a block's scores stay ordered after the map.</summary>
    public const double Slope = 1e-4;

    readonly double[] upperScores;   // each block's highest score, ascending
    readonly double[] values;        // each block's smoothed fraction of positives, non-decreasing

    IsotonicCalibration(double[] upperScores, double[] values) => (this.upperScores, this.values) = (upperScores, values);

    /// <summary>The identity (no samples to fit on).</summary>
    public bool IsIdentity => values.Length == 0;

    /// <summary>Blocks of the fitted step function (for display).</summary>
    public int Blocks => values.Length;

    public static IsotonicCalibration Fit(IEnumerable<(double Score, bool Positive)> samples, double prior = 1)
    {
        if (prior < 0) throw new ArgumentOutOfRangeException(nameof(prior), prior, "the smoothing prior is a number of pseudo-samples ≥ 0");
        var blocks = new List<(double Positives, int Count, double Upper)>();
        foreach (var (score, positive) in samples.OrderBy(s => s.Score))
        {
            blocks.Add((positive ? 1 : 0, 1, score));
            // Pool while the newest block is not above the one before it: the fit must not decrease with the score.
            while (blocks.Count > 1 && blocks[^2].Positives / blocks[^2].Count >= blocks[^1].Positives / blocks[^1].Count)
            {
                var (last, before) = (blocks[^1], blocks[^2]);
                blocks.RemoveAt(blocks.Count - 1);
                blocks[^1] = (before.Positives + last.Positives, before.Count + last.Count, last.Upper);
            }
        }
        var values = blocks.Select(b => (b.Positives + prior / 2) / (b.Count + prior)).ToArray();
        for (var i = 1; i < values.Length; i++) values[i] = Math.Max(values[i], values[i - 1]);
        return new IsotonicCalibration(blocks.Select(b => b.Upper).ToArray(), values);
    }

    /// <summary>The calibrated score: the value of the first block whose scores reach <paramref name="score"/> (the last
    /// block above them), plus the slope term.</summary>
    public double Apply(double score)
    {
        if (values.Length == 0) return score;
        var i = Array.BinarySearch(upperScores, score);
        if (i < 0) i = ~i;
        return values[Math.Min(i, values.Length - 1)] + Slope * score;
    }
}

/// <summary>One detector's scores mapped to the precision its detections had at that score on held-out images
/// (<see cref="VocEvaluator.Match"/> decides true positives): one isotonic curve for the classes pooled, and one of its own
/// for each class in <c>separateLabels</c> (VinBigData's "No finding" line is an image-level score, not a box score). An
/// ensemble fuses such scores on one scale: families differ widely in how their raw scores relate to being right, and
/// WBF averages raw scores as if they did not.</summary>
public sealed class DetectionScoreCalibration
{
    readonly IsotonicCalibration pooled;
    readonly IReadOnlyDictionary<int, IsotonicCalibration> separate;

    DetectionScoreCalibration(IsotonicCalibration pooled, IReadOnlyDictionary<int, IsotonicCalibration> separate) => (this.pooled, this.separate) = (pooled, separate);

    public static DetectionScoreCalibration Fit(TruthSet truth, IEnumerable<Detection> detections, IReadOnlyCollection<int> separateLabels, double iouThreshold = VocEvaluator.VinBigIouThreshold)
    {
        var matched = VocEvaluator.Match(truth, detections, iouThreshold);
        var pooled = IsotonicCalibration.Fit(matched.Where(m => !separateLabels.Contains(m.Detection.Label)).Select(m => ((double)m.Detection.Score, m.TruePositive)));
        var separate = separateLabels.ToDictionary(l => l, l => IsotonicCalibration.Fit(matched.Where(m => m.Detection.Label == l).Select(m => ((double)m.Detection.Score, m.TruePositive))));
        return new DetectionScoreCalibration(pooled, separate);
    }

    public float Apply(Detection detection) =>
        (float)(separate.TryGetValue(detection.Label, out var own) ? own : pooled).Apply(detection.Score);

    public List<Detection> Apply(IEnumerable<Detection> detections) => detections.Select(d => d with { Score = Apply(d) }).ToList();
}
