using CxrLab.Augment;
using CxrLab.Data;
using CxrLab.Imaging;
using CxrLab.Models.Detection;
using CxrLab.Torch;

namespace CxrLab.Training;

/// <summary>Augments one image and its target (boxes follow the pixels). The <see cref="Random"/> is
/// seeded from (seed, index, epoch), so the result is reproducible.</summary>
public delegate (Image Image, Target Target) AugmentFunc(Image image, Target target, Random random);

/// <summary>The seam between the data library and the trainer: a list of (id, image, target)
/// items — images one- or three-channel in [0, 1], targets in dataset class ids — turned into model
/// samples (grey replicated to 3 channels, labels mapped with <paramref name="labelMap"/>, by
/// default the class id itself: models take task ids and keep any background class to themselves). Items whose label map returns null (e.g.
/// VinBigData's "No finding", class 14) are dropped from the target, as are degenerate boxes.
/// Optional augmentation is applied to training epochs only (epoch ≥ 0).</summary>
public sealed class InMemoryDetectionDataset(IReadOnlyList<(string Id, Image Image, Target Target)> items, Func<int, long?>? labelMap = null, AugmentFunc? augment = null, long seed = 0) : IDetectionDataset
{
    readonly Func<int, long?> map = labelMap ?? (id => id);

    public int Count => items.Count;

    public DetectionSample Load(int index, int epoch)
    {
        var (id, image, target) = items[index];
        if (augment is not null && epoch >= 0)
        {
            // SplitMix64, not HashCode (randomised per process): the same augmentation in every run.
            var random = new Random(SampleSeed.ToInt32(SampleSeed.Of((ulong)seed, epoch, index)));
            (image, target) = augment(image.Clone(), target, random);
        }
        return new DetectionSample(id, ToTensor(image), ToModelTarget(target, map));
    }

    /// <summary>An image as the detectors take it: <c>[3, H, W]</c> float (grey replicated).</summary>
    public static Tensor ToTensor(Image image)
    {
        if (image.Channels is not (1 or 3)) throw new ArgumentException($"images must have 1 or 3 channels, got {image.Channels}");
        using var scope = torch.NewDisposeScope();
        var hwc = Tensor.From(image.Data, image.Rows, image.Cols, image.Channels);
        var chw = hwc.permute(2, 0, 1);
        var three = image.Channels == 1 ? chw.expand(3, image.Rows, image.Cols) : chw;
        return scope.MoveToOuter(three.contiguous());
    }

    /// <summary>Dataset target → model target (boxes xyxy float, labels int64 via <paramref name="map"/>).</summary>
    public static DetectionTarget ToModelTarget(Target target, Func<int, long?> map)
    {
        var boxes = new List<float>();
        var labels = new List<long>();
        for (var i = 0; i < target.Count; i++)
        {
            var b = target.Boxes[i];
            if (!b.IsValid || map(target.Labels[i]) is not { } label) continue;
            boxes.AddRange([b.X1, b.Y1, b.X2, b.Y2]);
            labels.Add(label);
        }
        return DetectionTarget.From(boxes.ToArray(), labels.ToArray());
    }
}
