using CxrLab.Torch;

namespace CxrLab.Models.Detection;

/// <summary>Ground truth for one image in model terms: <c>Boxes</c> float <c>[K, 4]</c> xyxy pixels,
/// <c>Labels</c> int64 <c>[K]</c> in the model's numbering (1..numClasses−1; 0 is background), and for instance
/// segmentation (Mask R-CNN) <c>Masks</c> <c>[K, H, W]</c> (uint8/bool, 1 inside the object) in the image's pixels.</summary>
public sealed record DetectionTarget(Tensor Boxes, Tensor Labels, Tensor? Masks = null)
{
    /// <summary>An image without objects (trains the background; zero box loss).</summary>
    public static DetectionTarget Empty() => new(torch.zeros(0, 4), torch.zeros([0], ScalarType.Int64));

    /// <summary>From float xyxy rows and labels.</summary>
    public static DetectionTarget From(float[] boxesXyxy, long[] labels)
    {
        if (boxesXyxy.Length != labels.Length * 4) throw new ArgumentException($"{boxesXyxy.Length / 4.0} boxes but {labels.Length} labels");
        return new(Tensor.From(boxesXyxy, labels.Length, 4), Tensor.From(labels));
    }
}

/// <summary>Detections for one image: <c>Boxes</c> <c>[D, 4]</c> xyxy in the input image's pixels,
/// <c>Scores</c> <c>[D]</c> descending, <c>Labels</c> int64 <c>[D]</c> (task class ids from <see cref="IDetector.Predict"/>),
/// optional <c>Masks</c> <c>[D, H, W]</c> bool in the input image's pixels (instance-segmentation models).
/// Disposable as one unit.</summary>
public sealed record Detections(Tensor Boxes, Tensor Scores, Tensor Labels, Tensor? Masks = null) : IDisposable
{
    /// <summary>Detections kept.</summary>
    public long Count => Scores.size(0);

    /// <summary>The same rows of every field.</summary>
    public Detections Index(Tensor keep) =>
        new(Boxes.index_select(0, keep), Scores.index_select(0, keep), Labels.index_select(0, keep), Masks?.index_select(0, keep));

    public IEnumerable<Tensor> Tensors => Masks is null ? [Boxes, Scores, Labels] : [Boxes, Scores, Labels, Masks];

    public void Dispose()
    {
        foreach (var t in Tensors) t.Dispose();
    }
}

/// <summary>A padded batch: <c>Tensors</c> <c>[N, 3, H, W]</c>, and each image's resized size before padding.</summary>
public sealed record ImageList(Tensor Tensors, IReadOnlyList<(long H, long W)> ImageSizes);

/// <summary>torchvision's <c>GeneralizedRCNNTransform</c>: normalise with ImageNet mean/std, resize
/// so the short side is <see cref="MinSize"/> unless the long side would exceed <see cref="MaxSize"/>
/// (bilinear, align_corners false), scale the target boxes alike, pad bottom/right to a multiple of
/// 32; <see cref="Postprocess"/> maps boxes back to the original pixels.</summary>
public sealed class GeneralizedRCNNTransform(int minSize = 800, int maxSize = 1333, double[]? imageMean = null, double[]? imageStd = null, int sizeDivisible = 32)
{
    public int MinSize { get; } = minSize;
    public int MaxSize { get; } = maxSize;
    public double[] ImageMean { get; } = imageMean ?? [0.485, 0.456, 0.406];
    public double[] ImageStd { get; } = imageStd ?? [0.229, 0.224, 0.225];
    public int SizeDivisible { get; } = sizeDivisible;

    /// <param name="images">Per image <c>[3, H, W]</c> float in [0, 1].</param>
    /// <param name="targets">Optional per-image targets (boxes in the input pixels); returned resized.</param>
    /// <param name="training">Training mode: like torchvision, one uniform draw per image picks the
    /// short side from the (here single) choice, which keeps libtorch's random stream in step with
    /// PyTorch's so seeded runs sample the same anchors and proposals.</param>
    public (ImageList Images, List<DetectionTarget>? Targets) Forward(IReadOnlyList<Tensor> images, IReadOnlyList<DetectionTarget>? targets = null, bool training = false)
    {
        if (images.Count == 0) throw new ArgumentException("no images given");
        if (targets is not null && targets.Count != images.Count) throw new ArgumentException($"{images.Count} images but {targets.Count} targets");
        var resized = new List<Tensor>();
        var outTargets = targets is null ? null : new List<DetectionTarget>();
        using var mean = Tensor.From(ImageMean.Select(v => (float)v).ToArray()).reshape(-1, 1, 1);
        using var std = Tensor.From(ImageStd.Select(v => (float)v).ToArray()).reshape(-1, 1, 1);
        for (var i = 0; i < images.Count; i++)
        {
            var image = images[i];
            if (image.dim() != 3) throw new ArgumentException($"image {i} has shape [{string.Join(", ", image.shape)}]; expected [C, H, W]");
            var normalized = (image - mean.to(image.device, image.DType)) / std.to(image.device, image.DType);
            var (h, w) = (image.size(1), image.size(2));
            if (training) { using var draw = torch.empty([1]).uniform_(0.0, 1.0); }
            var (nh, nw) = ResizedSize(h, w);
            var scaled = torch.interpolate(normalized.unsqueeze(0), size: [nh, nw], mode: "bilinear", align_corners: false).squeeze(0);
            resized.Add(scaled);
            if (targets is not null)
                outTargets!.Add(targets[i] with { Boxes = ResizeBoxes(targets[i].Boxes, (h, w), (nh, nw)), Masks = ResizeMasks(targets[i].Masks, nh, nw) });
        }
        return (Batch(resized), outTargets);
    }

    /// <summary>The resized (unpadded) size of an H × W image, computed as torchvision does (float32 scale, floor).</summary>
    public (long H, long W) ResizedSize(long h, long w)
    {
        float minSide = Math.Min(h, w), maxSide = Math.Max(h, w);
        var scale = Math.Min((float)MinSize / minSide, (float)MaxSize / maxSide);
        return ((long)Math.Floor(h * (double)scale), (long)Math.Floor(w * (double)scale));
    }

    ImageList Batch(IReadOnlyList<Tensor> images)
    {
        var maxH = images.Max(t => t.size(1));
        var maxW = images.Max(t => t.size(2));
        var stride = (double)SizeDivisible;
        var padH = (long)(Math.Ceiling(maxH / stride) * stride);
        var padW = (long)(Math.Ceiling(maxW / stride) * stride);
        var padded = images.Select(t => torch.pad(t, [0, padW - t.size(2), 0, padH - t.size(1)])).ToArray();
        return new ImageList(torch.stack(padded, 0), images.Select(t => (t.size(1), t.size(2))).ToList());
    }

    /// <summary>Scales xyxy boxes from one image size to another (float32 ratios, as torchvision).</summary>
    public static Tensor ResizeBoxes(Tensor boxes, (long H, long W) from, (long H, long W) to)
    {
        var rh = (double)((float)to.H / (float)from.H);
        var rw = (double)((float)to.W / (float)from.W);
        using var ratio = Tensor.From([(float)rw, (float)rh, (float)rw, (float)rh]);
        return boxes * ratio.to(boxes.device, boxes.DType);
    }

    /// <summary>Target masks resized as torchvision does (nearest, to the resized image's size), back to uint8.</summary>
    static Tensor? ResizeMasks(Tensor? masks, long nh, long nw)
    {
        if (masks is null) return null;
        if (masks.size(0) == 0) return torch.zeros([0, nh, nw], ScalarType.UInt8, masks.device);
        using var asFloat = masks.unsqueeze(1).to(ScalarType.Float32);
        using var resized = torch.interpolate(asFloat, size: [nh, nw], mode: "nearest");
        return resized[.., 0].to(ScalarType.UInt8);
    }

    /// <summary>Maps detections from the resized images back to the original sizes; mask probabilities <c>[D, 1, M, M]</c>
    /// (Mask R-CNN) are pasted into the original image and thresholded at 0.5 (<see cref="MaskOps.PasteMasks"/>).</summary>
    public List<Detections> Postprocess(IReadOnlyList<Detections> detections, IReadOnlyList<(long H, long W)> imageSizes, IReadOnlyList<(long H, long W)> originalSizes) =>
        detections.Select((d, i) =>
        {
            var boxes = ResizeBoxes(d.Boxes, imageSizes[i], originalSizes[i]);
            var masks = d.Masks is { } m && m.dim() == 4 ? MaskOps.PasteMasks(m, boxes, originalSizes[i].H, originalSizes[i].W) : d.Masks;
            return d with { Boxes = boxes, Masks = masks };
        }).ToList();
}
