using CxrLab.Data;

namespace CxrLab.Evaluation;

/// <summary>One scored detection on one image; <see cref="Box"/> is xyxy in absolute pixels of the
/// frame the truth uses (original pixels for Kaggle scoring).</summary>
public readonly record struct Detection(string ImageId, int Label, float Score, Box Box);

/// <summary>One truth box on one image (xyxy absolute pixels).</summary>
public readonly record struct TruthBox(string ImageId, int Label, Box Box);

/// <summary>The truth of a scoring run: every scored image (also those without boxes) and their boxes.
/// Detections on images outside <see cref="ImageIds"/> are ignored by every metric (and counted).</summary>
public sealed class TruthSet
{
    public TruthSet(IEnumerable<string> imageIds, IEnumerable<TruthBox> boxes)
    {
        var ids = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var id in imageIds) if (seen.Add(id)) ids.Add(id);
        Boxes = boxes.ToList();
        foreach (var b in Boxes)
            if (seen.Add(b.ImageId)) ids.Add(b.ImageId);
        ImageIds = ids;
        imageSet = seen;
    }

    readonly HashSet<string> imageSet;

    /// <summary>Scored images in first-seen order.</summary>
    public IReadOnlyList<string> ImageIds { get; }
    public IReadOnlyList<TruthBox> Boxes { get; }
    public bool Contains(string imageId) => imageSet.Contains(imageId);

    /// <summary>Class ids that have at least one truth box, ascending.</summary>
    public IReadOnlyList<int> Labels => Boxes.Select(b => b.Label).Distinct().Order().ToList();
}

/// <summary>Box geometry in double precision, shared by the metrics so every metric computes the
/// same IoU from the same float coordinates.</summary>
public static class BoxMath
{
    /// <summary>Intersection over union with continuous (no +1) areas; 0 when the union is empty.</summary>
    public static double Iou(Box a, Box b)
    {
        double iw = Math.Min((double)a.X2, b.X2) - Math.Max((double)a.X1, b.X1);
        double ih = Math.Min((double)a.Y2, b.Y2) - Math.Max((double)a.Y1, b.Y1);
        if (iw <= 0 || ih <= 0) return 0;
        var inter = iw * ih;
        var union = Area(a) + Area(b) - inter;
        return union > 0 ? inter / union : 0;
    }

    public static double Area(Box a)
    {
        double w = (double)a.X2 - a.X1, h = (double)a.Y2 - a.Y1;
        return w > 0 && h > 0 ? w * h : 0;
    }
}
