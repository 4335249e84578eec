using CxrLab.Imaging;

namespace CxrLab.Data;

/// <summary>The annotations of one image, indexed together: box i has label i (and mask i when
/// masks are present). Boxes are xyxy in absolute pixels of an image of <see cref="Width"/> ×
/// <see cref="Height"/>. Labels are dataset class ids (VinBigData 0–13 abnormal, 14 "No finding").
/// Lengths are checked where the target is made.</summary>
public sealed record Target
{
    public Target(int width, int height, IReadOnlyList<Box> boxes, IReadOnlyList<int> labels, IReadOnlyList<Image>? masks = null)
    {
        if (width <= 0 || height <= 0) throw new ArgumentException($"image size {width}×{height} must be positive");
        if (boxes.Count != labels.Count)
            throw new ArgumentException($"{boxes.Count} boxes but {labels.Count} labels: every box needs one label");
        if (masks is not null && masks.Count != boxes.Count)
            throw new ArgumentException($"{boxes.Count} boxes but {masks.Count} masks: every box needs one mask");
        Width = width;
        Height = height;
        Boxes = boxes;
        Labels = labels;
        Masks = masks;
    }

    public int Width { get; }
    public int Height { get; }
    public IReadOnlyList<Box> Boxes { get; }
    public IReadOnlyList<int> Labels { get; }

    /// <summary>Optional per-instance masks (one channel, Height × Width, 0 or 1).</summary>
    public IReadOnlyList<Image>? Masks { get; }

    public int Count => Boxes.Count;

    public static Target Empty(int width, int height) => new(width, height, [], []);
}
