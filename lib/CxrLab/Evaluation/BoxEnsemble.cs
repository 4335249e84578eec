using CxrLab.Data;

namespace CxrLab.Evaluation;

/// <summary>How a fused box's confidence is computed (ensemble-boxes' <c>conf_type</c>).</summary>
public enum WbfConfidence
{
    /// <summary>Mean of the members' weighted scores × min(models, members) / Σ weights (capped unless overflow is allowed).</summary>
    Avg,
    /// <summary>Largest member score / largest model weight.</summary>
    Max,
    /// <summary>Mean over boxes, then rescaled by the weights of the distinct models present.</summary>
    BoxAndModelAvg,
    /// <summary>Weighted mean that counts the models that drew no box in the cluster.</summary>
    AbsentModelAwareAvg,
}

/// <summary>Settings of <see cref="BoxEnsemble"/>'s weighted boxes fusion; defaults are ensemble-boxes' (iou_thr 0.55,
/// skip_box_thr 0, conf_type avg, allows_overflow false). The VinBigData winners fused at IoU 0.4 (<see cref="Kaggle"/>).</summary>
public sealed record WbfOptions(double IouThreshold = 0.55, double SkipBoxThreshold = 0, WbfConfidence Confidence = WbfConfidence.Avg, bool AllowsOverflow = false)
{
    /// <summary>The VinBigData winners' setting: IoU 0.4.</summary>
    public static WbfOptions Kaggle { get; } = new(IouThreshold: 0.4);
}

/// <summary>One box of one model on one image.</summary>
public readonly record struct ScoredBox(Box Box, float Score, int Label);

/// <summary>Weighted boxes fusion of several models' predictions (Solovyev, Wang, Gabruseva 2021; the algorithm of
/// ZFTurbo's <c>ensemble-boxes</c> <c>weighted_boxes_fusion</c>): per label, boxes in descending weighted score join the
/// fused box they overlap best (IoU &gt; threshold, against the fused box as it is so far) or start one; a fused box is
/// the score-weighted mean of its members; its confidence is rescaled by how many models agree. Unlike
/// <c>ensemble-boxes</c> coordinates are not clipped to [0, 1]: any pixel frame works (swapped corners are ordered, zero-area
/// boxes skipped, as there).</summary>
public static class BoxEnsemble
{
    /// <summary>Fuses one image's boxes from <paramref name="models"/> (one list per model). <paramref name="weights"/>: one per
    /// model, default 1. Result in descending confidence.</summary>
    public static List<ScoredBox> WeightedBoxesFusion(IReadOnlyList<IReadOnlyList<ScoredBox>> models, WbfOptions? options = null, IReadOnlyList<double>? weights = null)
    {
        options ??= new WbfOptions();
        var w = weights?.ToArray() ?? Enumerable.Repeat(1.0, models.Count).ToArray();
        if (w.Length != models.Count) throw new ArgumentException($"{w.Length} weights for {models.Count} models");
        var weightSum = w.Sum();

        // Prefilter: [label, weighted score, weight, model, x1, y1, x2, y2] grouped by label, descending score.
        var byLabel = new SortedDictionary<int, List<Member>>();
        for (var t = 0; t < models.Count; t++)
            foreach (var d in models[t])
            {
                if (d.Score < options.SkipBoxThreshold) continue;
                double x1 = Math.Min(d.Box.X1, d.Box.X2), x2 = Math.Max(d.Box.X1, d.Box.X2);
                double y1 = Math.Min(d.Box.Y1, d.Box.Y2), y2 = Math.Max(d.Box.Y1, d.Box.Y2);
                if ((x2 - x1) * (y2 - y1) == 0) continue;
                if (!byLabel.TryGetValue(d.Label, out var list)) byLabel[d.Label] = list = [];
                list.Add(new Member(d.Score * w[t], w[t], t, x1, y1, x2, y2));
            }

        var fused = new List<(double Score, ScoredBox Box)>();
        foreach (var (label, members) in byLabel)
        {
            var sorted = members.OrderByDescending(m => m.Score).ToList();
            var clusters = new List<List<Member>>();
            var boxes = new List<Member>();   // each cluster's fused box so far
            foreach (var m in sorted)
            {
                var best = -1;
                var bestIou = options.IouThreshold;
                for (var i = 0; i < boxes.Count; i++)
                {
                    var iou = Iou(boxes[i], m);
                    if (iou > bestIou) { bestIou = iou; best = i; }
                }
                if (best >= 0)
                {
                    clusters[best].Add(m);
                    boxes[best] = Weighted(clusters[best], options.Confidence);
                }
                else
                {
                    clusters.Add([m]);
                    boxes.Add(m);
                }
            }
            for (var i = 0; i < clusters.Count; i++)
            {
                var c = clusters[i];
                var b = boxes[i];
                var score = options.Confidence switch
                {
                    WbfConfidence.BoxAndModelAvg => b.Score * c.Count / b.Weight * c.DistinctBy(m => m.Model).Sum(m => m.Weight) / weightSum,
                    WbfConfidence.AbsentModelAwareAvg => b.Score * c.Count / (b.Weight + Enumerable.Range(0, w.Length).Where(t => c.All(m => m.Model != t)).Sum(t => w[t])),
                    WbfConfidence.Max => b.Score / w.Max(),
                    _ when !options.AllowsOverflow => b.Score * Math.Min(w.Length, c.Count) / weightSum,
                    _ => b.Score * c.Count / weightSum,
                };
                fused.Add((score, new ScoredBox(new Box((float)b.X1, (float)b.Y1, (float)b.X2, (float)b.Y2), (float)score, label)));
            }
        }
        return fused.OrderByDescending(f => f.Score).Select(f => f.Box).ToList();
    }

    /// <summary>Fuses whole prediction sets (e.g. submissions of several models): image by image over the union of
    /// <paramref name="imageIds"/>, boxes in the models' common pixel frame.</summary>
    public static List<Detection> WeightedBoxesFusion(IReadOnlyList<IReadOnlyList<Detection>> models, IEnumerable<string> imageIds, WbfOptions? options = null,
        IReadOnlyList<double>? weights = null)
    {
        var perModel = models.Select(m => m.ToLookup(d => d.ImageId, StringComparer.Ordinal)).ToList();
        var result = new List<Detection>();
        foreach (var id in imageIds.Distinct(StringComparer.Ordinal))
        {
            var boxes = perModel.Select(l => (IReadOnlyList<ScoredBox>)l[id].Select(d => new ScoredBox(d.Box, d.Score, d.Label)).ToList()).ToList();
            result.AddRange(WeightedBoxesFusion(boxes, options, weights).Select(b => new Detection(id, b.Label, b.Score, b.Box)));
        }
        return result;
    }

    readonly record struct Member(double Score, double Weight, int Model, double X1, double Y1, double X2, double Y2);

    /// <summary>The score-weighted mean box of a cluster; score = mean (avg) or max of the members' weighted scores.</summary>
    static Member Weighted(List<Member> members, WbfConfidence confidence)
    {
        double x1 = 0, y1 = 0, x2 = 0, y2 = 0, conf = 0, max = 0, weight = 0;
        foreach (var m in members)
        {
            x1 += m.Score * m.X1; y1 += m.Score * m.Y1; x2 += m.Score * m.X2; y2 += m.Score * m.Y2;
            conf += m.Score;
            max = Math.Max(max, m.Score);
            weight += m.Weight;
        }
        var score = confidence == WbfConfidence.Max ? max : conf / members.Count;
        return new Member(score, weight, -1, x1 / conf, y1 / conf, x2 / conf, y2 / conf);
    }

    static double Iou(Member a, Member b)
    {
        var iw = Math.Max(0, Math.Min(a.X2, b.X2) - Math.Max(a.X1, b.X1));
        var ih = Math.Max(0, Math.Min(a.Y2, b.Y2) - Math.Max(a.Y1, b.Y1));
        var inter = iw * ih;
        var union = (a.X2 - a.X1) * (a.Y2 - a.Y1) + (b.X2 - b.X1) * (b.Y2 - b.Y1) - inter;
        return inter / union;
    }
}
