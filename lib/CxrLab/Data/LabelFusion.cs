namespace CxrLab.Data;

/// <summary>A box from one source — a radiologist (<see cref="Source"/> = rad_id) or a model of an
/// ensemble — with its class and confidence (1 for a radiologist).</summary>
public readonly record struct SourceBox(string Source, int Label, Box Box, float Score = 1f);

/// <summary>A fused box: <see cref="Score"/> is the agreement — the share of the image's sources
/// (readers or models, weighted) that drew a box in this cluster, times their mean confidence.
/// <see cref="Sources"/> counts the distinct sources in the cluster. <see cref="Source"/> names the one source
/// whose box this is unchanged (None, KeepOneReader, and the kept box of NMS); null for a WBF average.</summary>
public readonly record struct FusedBox(int Label, Box Box, float Score, int Sources, string? Source = null);

public enum FusionMethod
{
    /// <summary>Every source's box is kept as it is.</summary>
    None,
    /// <summary>Weighted boxes fusion (Solovyev et al.): clusters by IoU, averages coordinates weighted by confidence.</summary>
    Wbf,
    /// <summary>Non-maximum suppression per class: the first/highest box of each overlapping group is kept.</summary>
    Nms,
    /// <summary>Only the boxes of one source per image (the one with the most boxes; ties: first seen).</summary>
    KeepOneReader,
}

/// <summary>Fusion settings. <see cref="IouThreshold"/>: boxes of one class overlapping more than this
/// (IoU &gt;) belong together (0.4 is the VinBigData winners' value). <see cref="SkipThreshold"/>: boxes
/// with a lower confidence are dropped before fusing.</summary>
public sealed record FusionOptions(FusionMethod Method = FusionMethod.Wbf, float IouThreshold = 0.4f, float SkipThreshold = 0f)
{
    public static FusionOptions None { get; } = new(FusionMethod.None);
}

/// <summary>Fuses several sources' boxes on one image. "No finding" is not a box: callers pass abnormal
/// boxes only; an image whose fused list is empty is a "No finding" image.</summary>
public static class LabelFusion
{
    /// <summary>Fuses the boxes of one image. <paramref name="sourceCount"/> is how many sources looked at
    /// the image (readers including those who found nothing; default: the distinct sources present).</summary>
    public static List<FusedBox> Fuse(IReadOnlyList<SourceBox> boxes, FusionOptions options, int? sourceCount = null)
    {
        var kept = boxes.Where(b => b.Score >= options.SkipThreshold && b.Box.IsValid).ToList();
        var sources = Math.Max(1, sourceCount ?? kept.Select(b => b.Source).Distinct().Count());
        return options.Method switch
        {
            FusionMethod.None => kept.Select(b => new FusedBox(b.Label, b.Box, b.Score / sources, 1, b.Source)).ToList(),
            FusionMethod.Wbf => WeightedBoxesFusion(kept, options.IouThreshold, sources),
            FusionMethod.Nms => NonMaximumSuppression(kept, options.IouThreshold, sources),
            FusionMethod.KeepOneReader => KeepOneReader(kept, sources),
            _ => throw new ArgumentOutOfRangeException(nameof(options), options.Method, "unknown fusion method"),
        };
    }

    /// <summary>Weighted boxes fusion: per class, boxes in descending confidence (stable) join the fused box
    /// they overlap best (IoU &gt; threshold) or start a new one; a fused box's coordinates are the
    /// confidence-weighted mean of its members; its score is the members' mean confidence × (distinct
    /// sources in the cluster, at most <paramref name="sourceCount"/>) / <paramref name="sourceCount"/>.</summary>
    public static List<FusedBox> WeightedBoxesFusion(IReadOnlyList<SourceBox> boxes, float iouThreshold, int sourceCount)
    {
        var result = new List<FusedBox>();
        foreach (var label in boxes.Select(b => b.Label).Distinct().Order())
        {
            var clusters = new List<List<SourceBox>>();
            var fused = new List<Box>();
            foreach (var b in boxes.Where(b => b.Label == label).OrderByDescending(b => b.Score))
            {
                var best = -1; var bestIou = iouThreshold;
                for (var i = 0; i < fused.Count; i++)
                {
                    var iou = fused[i].Iou(b.Box);
                    if (iou > bestIou) { bestIou = iou; best = i; }
                }
                if (best < 0) { clusters.Add([b]); fused.Add(b.Box); }
                else { clusters[best].Add(b); fused[best] = WeightedMean(clusters[best]); }
            }
            for (var i = 0; i < clusters.Count; i++)
            {
                var distinct = clusters[i].Select(b => b.Source).Distinct().Count();
                var meanScore = clusters[i].Average(b => b.Score);
                result.Add(new FusedBox(label, fused[i], (float)(meanScore * Math.Min(distinct, sourceCount) / sourceCount), distinct));
            }
        }
        return result;
    }

    /// <summary>NMS per class: boxes in descending confidence (stable); a box overlapping an already kept box
    /// (IoU &gt; threshold) is suppressed and counts towards that box's agreement.</summary>
    public static List<FusedBox> NonMaximumSuppression(IReadOnlyList<SourceBox> boxes, float iouThreshold, int sourceCount)
    {
        var result = new List<FusedBox>();
        foreach (var label in boxes.Select(b => b.Label).Distinct().Order())
        {
            var keptBoxes = new List<SourceBox>();
            var members = new List<HashSet<string>>();
            var scoreSums = new List<(double Sum, int N)>();
            foreach (var b in boxes.Where(b => b.Label == label).OrderByDescending(b => b.Score))
            {
                var hit = -1;
                for (var i = 0; i < keptBoxes.Count && hit < 0; i++)
                    if (keptBoxes[i].Box.Iou(b.Box) > iouThreshold) hit = i;
                if (hit < 0) { keptBoxes.Add(b); members.Add([b.Source]); scoreSums.Add((b.Score, 1)); }
                else { members[hit].Add(b.Source); scoreSums[hit] = (scoreSums[hit].Sum + b.Score, scoreSums[hit].N + 1); }
            }
            for (var i = 0; i < keptBoxes.Count; i++)
            {
                var mean = scoreSums[i].Sum / scoreSums[i].N;
                result.Add(new FusedBox(label, keptBoxes[i].Box, (float)(mean * Math.Min(members[i].Count, sourceCount) / sourceCount), members[i].Count, keptBoxes[i].Source));
            }
        }
        return result;
    }

    /// <summary>Keeps the boxes of the source with the most boxes (ties: the first seen).</summary>
    public static List<FusedBox> KeepOneReader(IReadOnlyList<SourceBox> boxes, int sourceCount)
    {
        if (boxes.Count == 0) return [];
        var chosen = boxes.GroupBy(b => b.Source, StringComparer.Ordinal)
            .Select((g, order) => (g.Key, Count: g.Count(), order))
            .OrderByDescending(g => g.Count).ThenBy(g => g.order).First().Key;
        return boxes.Where(b => b.Source == chosen).Select(b => new FusedBox(b.Label, b.Box, b.Score / sourceCount, 1, b.Source)).ToList();
    }

    static Box WeightedMean(List<SourceBox> cluster)
    {
        double w = 0, x1 = 0, y1 = 0, x2 = 0, y2 = 0;
        foreach (var b in cluster)
        {
            var s = Math.Max(b.Score, 1e-6f);
            w += s; x1 += s * b.Box.X1; y1 += s * b.Box.Y1; x2 += s * b.Box.X2; y2 += s * b.Box.Y2;
        }
        return new Box((float)(x1 / w), (float)(y1 / w), (float)(x2 / w), (float)(y2 / w));
    }
}

/// <summary>How many boxes a fusion kept, overall and per class (for the report the issue asks for).</summary>
public sealed record FusionReport(FusionMethod Method, int Images, int NoFindingImages, int BoxesIn, int BoxesOut,
    IReadOnlyDictionary<int, int> BoxesInPerClass, IReadOnlyDictionary<int, int> BoxesOutPerClass)
{
    public override string ToString() =>
        $"{Method}: {BoxesIn} reader boxes → {BoxesOut} boxes on {Images} images ({NoFindingImages} \"No finding\")";
}
