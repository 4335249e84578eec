using CxrLab.Data;

namespace CxrLab.Evaluation;

/// <summary>The RSNA Pneumonia Detection metric: per image, for IoU thresholds 0.40, 0.45, …, 0.75,
/// predictions in descending confidence (ties keep input order) each match the unmatched truth box of
/// highest IoU strictly above the threshold; score_t = TP / (TP + FP + FN); the image scores the mean over
/// thresholds; the result is the mean over images. An image without truth but with predictions scores 0;
/// an image with neither is skipped. Only images of the truth are scored.</summary>
public static class RsnaMetric
{
    /// <summary>0.40 … 0.75 in steps of 0.05 (numpy.linspace(0.4, 0.75, 8) values).</summary>
    public static IReadOnlyList<double> Thresholds { get; } = CocoEvaluator.Linspace(0.4, 0.75, 8);

    public sealed record ImageScore(string ImageId, int TruthCount, int PredictionCount, double Score);

    /// <summary>Final score, the per-threshold means over scored images, and per-image scores.</summary>
    public sealed record Result(double Score, IReadOnlyList<double> PerThreshold, IReadOnlyList<ImageScore> Images, int SkippedImages, int IgnoredDetections);

    public static Result Evaluate(TruthSet truth, IEnumerable<Detection> detections)
    {
        var dets = detections.ToList();
        var ignored = dets.Count(d => !truth.Contains(d.ImageId));
        var gtByImage = truth.Boxes.GroupBy(b => b.ImageId, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Select(b => b.Box).ToList(), StringComparer.Ordinal);
        var dtByImage = dets.Where(d => truth.Contains(d.ImageId)).GroupBy(d => d.ImageId, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.OrderByDescending(d => d.Score).Select(d => d.Box).ToList(), StringComparer.Ordinal);
        var images = new List<ImageScore>();
        var perThreshold = new double[Thresholds.Count];
        var skipped = 0;
        foreach (var id in truth.ImageIds)
        {
            var gt = gtByImage.GetValueOrDefault(id) ?? [];
            var dt = dtByImage.GetValueOrDefault(id) ?? [];
            if (gt.Count == 0 && dt.Count == 0) { skipped++; continue; }
            double sum = 0;
            for (var t = 0; t < Thresholds.Count; t++)
            {
                var s = ScoreAt(gt, dt, Thresholds[t]);
                perThreshold[t] += s;
                sum += s;
            }
            images.Add(new ImageScore(id, gt.Count, dt.Count, sum / Thresholds.Count));
        }
        var n = images.Count;
        return new Result(n == 0 ? 0 : images.Average(i => i.Score), perThreshold.Select(v => n == 0 ? 0 : v / n).ToList(), images, skipped, ignored);
    }

    /// <summary>TP / (TP + FP + FN) of one image at one threshold; <paramref name="predictions"/> already in
    /// descending confidence.</summary>
    public static double ScoreAt(IReadOnlyList<Box> truth, IReadOnlyList<Box> predictions, double threshold)
    {
        if (truth.Count == 0) return 0; // predictions without truth: all false positives
        var used = new bool[truth.Count];
        var tp = 0;
        foreach (var p in predictions)
        {
            double best = threshold; var m = -1;
            for (var g = 0; g < truth.Count; g++)
            {
                if (used[g]) continue;
                var iou = BoxMath.Iou(p, truth[g]);
                if (iou > best) { best = iou; m = g; }
            }
            if (m >= 0) { used[m] = true; tp++; }
        }
        var fp = predictions.Count - tp;
        var fn = truth.Count - tp;
        return (double)tp / (tp + fp + fn);
    }
}
