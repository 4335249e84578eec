namespace CxrLab.Evaluation;

/// <summary>A detection confusion matrix: rows are truth classes, columns predicted classes, with one extra
/// row and column (index <see cref="Background"/>) for "nothing": a truth box no detection matched
/// (row = its class, column = background) and a detection that matched no truth box (row = background).
/// Per image, detections with score ≥ the score threshold and truth boxes are paired greedily by
/// descending IoU (pairs with IoU &gt; the IoU threshold, any class), each box used once.</summary>
public sealed class ConfusionMatrix
{
    ConfusionMatrix(int classCount) { ClassCount = classCount; Counts = new int[classCount + 1, classCount + 1]; }

    public int ClassCount { get; }
    public int Background => ClassCount;

    /// <summary>[truth, predicted], each of size ClassCount + 1.</summary>
    public int[,] Counts { get; }

    public static ConfusionMatrix Compute(TruthSet truth, IEnumerable<Detection> detections, int classCount, float scoreThreshold = 0.25f, double iouThreshold = 0.4)
    {
        var matrix = new ConfusionMatrix(classCount);
        var gtByImage = truth.Boxes.GroupBy(b => b.ImageId, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.ToList(), StringComparer.Ordinal);
        var dtByImage = detections.Where(d => d.Score >= scoreThreshold && truth.Contains(d.ImageId))
            .GroupBy(d => d.ImageId, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.ToList(), StringComparer.Ordinal);
        foreach (var id in truth.ImageIds)
        {
            var gt = gtByImage.GetValueOrDefault(id) ?? [];
            var dt = dtByImage.GetValueOrDefault(id) ?? [];
            var pairs = new List<(double Iou, int G, int D)>();
            for (var g = 0; g < gt.Count; g++)
                for (var d = 0; d < dt.Count; d++)
                {
                    var iou = BoxMath.Iou(gt[g].Box, dt[d].Box);
                    if (iou > iouThreshold) pairs.Add((iou, g, d));
                }
            var gUsed = new bool[gt.Count];
            var dUsed = new bool[dt.Count];
            foreach (var (_, g, d) in pairs.OrderByDescending(p => p.Iou))
            {
                if (gUsed[g] || dUsed[d]) continue;
                gUsed[g] = dUsed[d] = true;
                matrix.Counts[matrix.Index(gt[g].Label), matrix.Index(dt[d].Label)]++;
            }
            for (var g = 0; g < gt.Count; g++) if (!gUsed[g]) matrix.Counts[matrix.Index(gt[g].Label), matrix.Background]++;
            for (var d = 0; d < dt.Count; d++) if (!dUsed[d]) matrix.Counts[matrix.Background, matrix.Index(dt[d].Label)]++;
        }
        return matrix;
    }

    int Index(int label) => label >= 0 && label < ClassCount
        ? label
        : throw new ArgumentOutOfRangeException(nameof(label), label, $"class id outside 0..{ClassCount - 1}");
}
