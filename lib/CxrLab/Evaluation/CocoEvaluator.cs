using CxrLab.Data;

namespace CxrLab.Evaluation;

/// <summary>COCO-style box AP, following pycocotools' <c>COCOeval</c> (iouType bbox, area "all", no
/// crowd): per image and class, detections sorted by score and cut at <c>maxDetections</c>; at each IoU
/// threshold a detection matches the unmatched truth box with the highest IoU ≥ the threshold (on equal
/// IoU the later box); per class, detections of all images (in ordinal image-id order) sorted by score
/// (stable), precision envelope sampled at 101 recall points. AP of a class = mean over thresholds;
/// mAP = mean over classes with truth.</summary>
public static class CocoEvaluator
{
    /// <summary>COCO's 0.50:0.05:0.95 (numpy.linspace(.5, .95, 10) values exactly).</summary>
    public static IReadOnlyList<double> CocoThresholds { get; } = Linspace(0.5, 0.95, 10);

    /// <summary>The VinBigData COCOeval variant used by public notebooks: one threshold 0.4.</summary>
    public static IReadOnlyList<double> VinBigThresholds { get; } = [0.4];

    public static MapResult Evaluate(TruthSet truth, IEnumerable<Detection> detections, IReadOnlyList<double>? iouThresholds = null, int maxDetections = 100)
    {
        var thresholds = iouThresholds ?? CocoThresholds;
        var dets = detections.ToList();
        var ignored = dets.Count(d => !truth.Contains(d.ImageId));
        var images = truth.ImageIds.Order(StringComparer.Ordinal).ToList();
        var perClass = new List<ClassAp>();
        foreach (var label in truth.Labels)
        {
            var gtByImage = truth.Boxes.Where(b => b.Label == label).GroupBy(b => b.ImageId, StringComparer.Ordinal)
                .ToDictionary(g => g.Key, g => g.Select(b => b.Box).ToList(), StringComparer.Ordinal);
            var dtByImage = dets.Where(d => d.Label == label && truth.Contains(d.ImageId)).GroupBy(d => d.ImageId, StringComparer.Ordinal)
                .ToDictionary(g => g.Key, g => g.OrderByDescending(d => d.Score).Take(maxDetections).ToList(), StringComparer.Ordinal);
            var npos = gtByImage.Values.Sum(l => l.Count);

            // Per threshold: (score, matched) of every kept detection, images in order.
            var scores = new List<float>();
            var matchedAt = new List<bool[]>();
            foreach (var image in images)
            {
                if (!dtByImage.TryGetValue(image, out var dt)) continue;
                var gt = gtByImage.GetValueOrDefault(image) ?? [];
                var flags = new bool[thresholds.Count][];
                for (var t = 0; t < thresholds.Count; t++)
                {
                    flags[t] = new bool[dt.Count];
                    var gtUsed = new bool[gt.Count];
                    for (var d = 0; d < dt.Count; d++)
                    {
                        var best = Math.Min(thresholds[t], 1 - 1e-10);
                        var m = -1;
                        for (var g = 0; g < gt.Count; g++)
                        {
                            if (gtUsed[g]) continue;
                            var iou = BoxMath.Iou(dt[d].Box, gt[g]);
                            if (iou < best) continue;
                            best = iou; m = g;
                        }
                        if (m >= 0) { gtUsed[m] = true; flags[t][d] = true; }
                    }
                }
                for (var d = 0; d < dt.Count; d++)
                {
                    scores.Add(dt[d].Score);
                    matchedAt.Add(flags.Select(f => f[d]).ToArray());
                }
            }
            var order = Enumerable.Range(0, scores.Count).OrderByDescending(i => scores[i]).ToArray();
            double apSum = 0;
            PrCurve? firstCurve = null;
            var firstTp = 0;
            for (var t = 0; t < thresholds.Count; t++)
            {
                var recall = new double[order.Length];
                var precision = new double[order.Length];
                double tp = 0, fp = 0;
                for (var k = 0; k < order.Length; k++)
                {
                    if (matchedAt[order[k]][t]) tp++; else fp++;
                    recall[k] = tp / npos;
                    precision[k] = tp / (tp + fp + Spacing1);
                }
                apSum += AveragePrecision.Coco101(recall, precision);
                if (t == 0) { firstCurve = new PrCurve(recall, precision, order.Select(i => scores[i]).ToArray()); firstTp = (int)tp; }
            }
            perClass.Add(new ClassAp(label, npos, order.Length, firstTp, apSum / thresholds.Count, firstCurve ?? PrCurve.Empty));
        }
        var map = perClass.Count == 0 ? 0 : perClass.Average(c => c.Ap);
        return new MapResult(map, perClass, ignored);
    }

    /// <summary>numpy.linspace(start, stop, num) bit for bit: i·step + start, last point = stop.</summary>
    public static double[] Linspace(double start, double stop, int num)
    {
        var step = (stop - start) / (num - 1);
        var values = new double[num];
        for (var i = 0; i < num; i++) values[i] = i * step + start;
        values[num - 1] = stop;
        return values;
    }

    const double Spacing1 = 2.220446049250313e-16; // numpy.spacing(1), pycocotools' guard against 0/0
}
