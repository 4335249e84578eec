namespace CxrLab.Evaluation;

/// <summary>A precision–recall curve: one point per detection in descending score order.</summary>
public sealed record PrCurve(double[] Recall, double[] Precision, float[] Scores)
{
    public static PrCurve Empty { get; } = new([], [], []);
}

/// <summary>AP of one class. <see cref="TruthCount"/> truth boxes, <see cref="DetectionCount"/> scored
/// detections (on truth images), <see cref="TruePositives"/> of them matched.</summary>
public sealed record ClassAp(int Label, int TruthCount, int DetectionCount, int TruePositives, double Ap, PrCurve Curve);

/// <summary>A mean AP over the classes that have truth, with the per-class parts.</summary>
public sealed record MapResult(double Map, IReadOnlyList<ClassAp> PerClass, int IgnoredDetections)
{
    public double ApOf(int label) => PerClass.FirstOrDefault(c => c.Label == label)?.Ap ?? double.NaN;
}

/// <summary>Interpolations of the area under a precision–recall curve.</summary>
public static class AveragePrecision
{
    /// <summary>PASCAL VOC 2010+ all-point AP: the area under the monotone precision envelope,
    /// summed where recall changes. <paramref name="recall"/> must be non-decreasing.</summary>
    public static double AllPoint(IReadOnlyList<double> recall, IReadOnlyList<double> precision)
    {
        var n = recall.Count;
        var mrec = new double[n + 2];
        var mpre = new double[n + 2];
        mrec[n + 1] = 1;
        for (var i = 0; i < n; i++) { mrec[i + 1] = recall[i]; mpre[i + 1] = precision[i]; }
        for (var i = n; i >= 1; i--) mpre[i - 1] = Math.Max(mpre[i - 1], mpre[i]);
        double ap = 0;
        for (var i = 0; i <= n; i++)
            if (mrec[i + 1] != mrec[i]) ap += (mrec[i + 1] - mrec[i]) * mpre[i + 1];
        return ap;
    }

    /// <summary>COCO's 101-point interpolation (pycocotools <c>accumulate</c>): the precision envelope
    /// sampled at recall 0, 0.01, …, 1 (first point with recall ≥ the threshold; 0 past the end), averaged.</summary>
    public static double Coco101(IReadOnlyList<double> recall, IReadOnlyList<double> precision)
    {
        var n = recall.Count;
        var pr = precision.ToArray();
        for (var i = n - 1; i > 0; i--) if (pr[i] > pr[i - 1]) pr[i - 1] = pr[i];
        double sum = 0;
        for (var r = 0; r <= 100; r++)
        {
            var threshold = RecallThreshold(r);
            // searchsorted(rc, threshold, side='left'): first index with rc[i] >= threshold.
            int lo = 0, hi = n;
            while (lo < hi) { var mid = (lo + hi) >> 1; if (recall[mid] < threshold) lo = mid + 1; else hi = mid; }
            if (lo < n) sum += pr[lo];
        }
        return sum / 101;
    }

    /// <summary>numpy.linspace(0, 1, 101)[r] exactly (r·0.01, last point 1).</summary>
    static double RecallThreshold(int r) => r == 100 ? 1.0 : r * (1.0 / 100);
}
