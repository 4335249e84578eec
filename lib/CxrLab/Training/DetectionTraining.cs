using CxrLab.Models.Detection;
using CxrLab.Torch;

namespace CxrLab.Training;

/// <summary>One image ready for a model: <c>Image</c> <c>[3, H, W]</c> float in [0, 1] and its target
/// with task class ids (0..K−1). The caller disposes the tensors.</summary>
public sealed record DetectionSample(string Id, Tensor Image, DetectionTarget Target) : IDisposable
{
    public void Dispose()
    {
        Image.Dispose();
        Target.Boxes.Dispose();
        Target.Labels.Dispose();
    }
}

/// <summary>The trainer's view of a dataset. <see cref="Load"/> must be a pure function of
/// (index, epoch) — augmentation randomness seeded from them — so a resumed run sees exactly the
/// images an uninterrupted one would. <c>epoch</c> is -1 for validation (no augmentation).</summary>
public interface IDetectionDataset
{
    int Count { get; }
    DetectionSample Load(int index, int epoch);
}

/// <summary>A prediction next to its truth, for validation metrics (task class ids, input pixels).</summary>
public sealed record ValidationItem(string Id, float[][] TruthBoxes, long[] TruthLabels, float[][] Boxes, float[] Scores, long[] Labels);

/// <summary>The validation score the trainer maximises (best checkpoint, early stopping); e.g. the
/// VinBigData mAP@0.4 from the Evaluation library, wrapped with <see cref="From"/>.</summary>
public abstract class ValidationMetric
{
    /// <summary>Column name in the metrics log, e.g. <c>val_map40</c>.</summary>
    public abstract string Name { get; }

    public abstract double Compute(IReadOnlyList<ValidationItem> items);

    /// <summary>Per-class AP of the latest <see cref="Compute"/>, when the metric keeps it (for logs, plots and reports).</summary>
    public virtual Evaluation.MapResult? Last => null;

    public static ValidationMetric From(string name, Func<IReadOnlyList<ValidationItem>, double> compute) => new Delegated(name, compute);

    sealed class Delegated(string name, Func<IReadOnlyList<ValidationItem>, double> compute) : ValidationMetric
    {
        public override string Name => name;
        public override double Compute(IReadOnlyList<ValidationItem> items) => compute(items);
    }
}

/// <summary>Pascal-VOC style mean average precision at one IoU threshold over the classes that
/// have truth (all-point interpolation; a prediction is a true positive when its best-IoU
/// unmatched truth of the same class exceeds the threshold). The project's Kaggle metric lives
/// in Evaluation; this one needs nothing but the predictions, for trainers and tests.</summary>
public sealed class MeanAveragePrecision(double iouThreshold = 0.4) : ValidationMetric
{
    public override string Name => $"val_map{(int)Math.Round(iouThreshold * 100)}";

    public override double Compute(IReadOnlyList<ValidationItem> items)
    {
        var classes = items.SelectMany(i => i.TruthLabels).Distinct().Order().ToList();
        if (classes.Count == 0) return 0;
        var aps = new List<double>();
        foreach (var c in classes)
        {
            var truthCount = items.Sum(i => i.TruthLabels.Count(l => l == c));
            var preds = items.SelectMany((item, n) => item.Labels.Select((l, k) => (l, k)).Where(p => p.l == c).Select(p => (n, p.k, score: item.Scores[p.k])))
                .OrderByDescending(p => p.score).ToList();
            var used = items.Select(i => new bool[i.TruthBoxes.Length]).ToArray();
            var tp = new double[preds.Count];
            for (var j = 0; j < preds.Count; j++)
            {
                var item = items[preds[j].n];
                var box = item.Boxes[preds[j].k];
                var best = -1;
                var bestIou = 0.0;
                for (var t = 0; t < item.TruthBoxes.Length; t++)
                {
                    if (item.TruthLabels[t] != c) continue;
                    var iou = Iou(box, item.TruthBoxes[t]);
                    if (iou > bestIou) { bestIou = iou; best = t; }
                }
                if (best >= 0 && bestIou > iouThreshold && !used[preds[j].n][best]) { used[preds[j].n][best] = true; tp[j] = 1; }
            }
            double cumTp = 0;
            var precision = new double[preds.Count];
            var recall = new double[preds.Count];
            for (var j = 0; j < preds.Count; j++)
            {
                cumTp += tp[j];
                precision[j] = cumTp / (j + 1);
                recall[j] = cumTp / truthCount;
            }
            // all-point interpolation: area under the precision envelope
            double ap = 0, previousRecall = 0;
            for (var j = 0; j < preds.Count; j++)
            {
                var envelope = precision.Skip(j).Max();
                ap += (recall[j] - previousRecall) * envelope;
                previousRecall = recall[j];
            }
            aps.Add(ap);
        }
        return aps.Average();
    }

    static double Iou(float[] a, float[] b)
    {
        var iw = Math.Min(a[2], b[2]) - Math.Max(a[0], b[0]);
        var ih = Math.Min(a[3], b[3]) - Math.Max(a[1], b[1]);
        if (iw <= 0 || ih <= 0) return 0;
        var inter = (double)iw * ih;
        return inter / ((a[2] - a[0]) * (double)(a[3] - a[1]) + (b[2] - b[0]) * (double)(b[3] - b[1]) - inter);
    }
}
