using CxrLab.Data;

namespace CxrLab.Evaluation;

/// <summary>PASCAL VOC style detection AP, the VinBigData competition metric as this project defines it
/// (../shared/REFERENCES.md): per class, detections in descending score (ties keep input order); a detection
/// is a true positive when its best-IoU truth box of the same class on the same image has IoU &gt;
/// <c>iouThreshold</c> and that box is not matched yet (otherwise a false positive: no fallback to the
/// second-best box); AP = all-point interpolated area; mAP = mean over classes that have truth.
/// Detections of classes without truth and on images outside the truth are ignored.</summary>
public static class VocEvaluator
{
    public const double VinBigIouThreshold = 0.4;

    public static MapResult Evaluate(TruthSet truth, IEnumerable<Detection> detections, double iouThreshold = VinBigIouThreshold)
    {
        var dets = detections.ToList();
        var ignored = dets.Count(d => !truth.Contains(d.ImageId));
        var perClass = new List<ClassAp>();
        foreach (var label in truth.Labels)
        {
            var (classDets, hits, npos) = MatchClass(truth, dets, label, iouThreshold);
            var recall = new double[classDets.Count];
            var precision = new double[classDets.Count];
            int tp = 0, fp = 0;
            for (var i = 0; i < classDets.Count; i++)
            {
                if (hits[i]) tp++; else fp++;
                recall[i] = (double)tp / npos;
                precision[i] = (double)tp / (tp + fp);
            }
            var ap = AveragePrecision.AllPoint(recall, precision);
            perClass.Add(new ClassAp(label, npos, classDets.Count, tp, ap,
                new PrCurve(recall, precision, classDets.Select(d => d.Score).ToArray())));
        }
        var map = perClass.Count == 0 ? 0 : perClass.Average(c => c.Ap);
        return new MapResult(map, perClass, ignored);
    }

    /// <summary>Every detection on a truth image with whether the metric counts it a true positive (the same matching as
    /// <see cref="Evaluate"/>); detections of classes without truth are false positives. E.g. to calibrate a detector's
    /// scores on held-out images.</summary>
    public static List<(Detection Detection, bool TruePositive)> Match(TruthSet truth, IEnumerable<Detection> detections, double iouThreshold = VinBigIouThreshold)
    {
        var dets = detections.Where(d => truth.Contains(d.ImageId)).ToList();
        var labels = truth.Labels.ToHashSet();
        var result = dets.Where(d => !labels.Contains(d.Label)).Select(d => (d, false)).ToList();
        foreach (var label in labels)
        {
            var (classDets, hits, _) = MatchClass(truth, dets, label, iouThreshold);
            result.AddRange(classDets.Select((d, i) => (d, hits[i])));
        }
        return result;
    }

    /// <summary>One class: its detections on truth images in descending score (ties keep input order), which of them are
    /// true positives, and the number of truth boxes.</summary>
    static (List<Detection> Detections, bool[] Hits, int Positives) MatchClass(TruthSet truth, List<Detection> dets, int label, double iouThreshold)
    {
        var gt = new Dictionary<string, List<Box>>(StringComparer.Ordinal);
        foreach (var t in truth.Boxes)
            if (t.Label == label)
            {
                if (!gt.TryGetValue(t.ImageId, out var list)) gt[t.ImageId] = list = [];
                list.Add(t.Box);
            }
        var matched = gt.ToDictionary(kv => kv.Key, kv => new bool[kv.Value.Count], StringComparer.Ordinal);
        var classDets = dets.Where(d => d.Label == label && truth.Contains(d.ImageId))
            .OrderByDescending(d => d.Score).ToList(); // OrderBy is stable: ties keep input order
        var hits = new bool[classDets.Count];
        for (var i = 0; i < classDets.Count; i++)
        {
            var d = classDets[i];
            if (!gt.TryGetValue(d.ImageId, out var boxes)) continue;
            double best = -1; var bestIndex = -1;
            for (var j = 0; j < boxes.Count; j++)
            {
                var iou = BoxMath.Iou(d.Box, boxes[j]);
                if (iou > best) { best = iou; bestIndex = j; }
            }
            var used = matched[d.ImageId];
            if (best > iouThreshold && !used[bestIndex]) { used[bestIndex] = true; hits[i] = true; }
        }
        return (classDets, hits, gt.Values.Sum(l => l.Count));
    }
}
