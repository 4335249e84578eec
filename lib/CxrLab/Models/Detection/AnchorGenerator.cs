using CxrLab.Torch;

namespace CxrLab.Models.Detection;

/// <summary>Anchors for every feature-map location (torchvision's <c>AnchorGenerator</c>): per level,
/// one size set and one aspect-ratio set (ratio = height / width); anchors are zero-centred,
/// rounded, and shifted by <c>index × stride</c>, where stride = image size ÷ feature size.
/// Output per image: <c>[Σ H·W·A, 4]</c> xyxy in the (resized, padded) batch's pixels.</summary>
public sealed class AnchorGenerator
{
    readonly double[][] sizes;
    readonly double[][] aspectRatios;
    readonly Tensor[] cellAnchors;

    public AnchorGenerator(double[][] sizes, double[][] aspectRatios)
    {
        if (sizes.Length != aspectRatios.Length)
            throw new ArgumentException($"{sizes.Length} size sets but {aspectRatios.Length} aspect-ratio sets: give one of each per feature level");
        this.sizes = sizes;
        this.aspectRatios = aspectRatios;
        cellAnchors = sizes.Select((s, i) => GenerateAnchors(s, aspectRatios[i]).DetachFromDisposeScope()).ToArray();
    }

    /// <summary>torchvision's Faster R-CNN default: sizes 32…512 (one per FPN level), ratios 0.5/1/2.</summary>
    public static AnchorGenerator FpnDefault() => new(
        [[32], [64], [128], [256], [512]],
        Enumerable.Repeat(new double[] { 0.5, 1.0, 2.0 }, 5).ToArray());

    /// <summary>Anchors per location for each level.</summary>
    public int[] NumAnchorsPerLocation => sizes.Select((s, i) => s.Length * aspectRatios[i].Length).ToArray();

    static Tensor GenerateAnchors(double[] scales, double[] ratios)
    {
        using var scope = torch.NewDisposeScope();
        var scalesT = Tensor.From(scales.Select(x => (float)x).ToArray());
        var ratiosT = Tensor.From(ratios.Select(x => (float)x).ToArray());
        var hRatios = ratiosT.sqrt();
        var wRatios = 1 / hRatios;
        var ws = (wRatios[.., TensorIndex.NewAxis] * scalesT[TensorIndex.NewAxis, ..]).view(-1);
        var hs = (hRatios[.., TensorIndex.NewAxis] * scalesT[TensorIndex.NewAxis, ..]).view(-1);
        var baseAnchors = torch.stack([-ws, -hs, ws, hs], 1) / 2;
        return scope.MoveToOuter(baseAnchors.round());
    }

    /// <summary>Anchor sizes (pixels, the square root of the area) per level.</summary>
    public IReadOnlyList<IReadOnlyList<double>> Sizes => sizes;

    /// <summary>Aspect ratios (height / width) per level.</summary>
    public IReadOnlyList<IReadOnlyList<double>> AspectRatios => aspectRatios;

    /// <param name="imageHeight">Height of the padded batch tensor.</param>
    /// <param name="imageWidth">Width of the padded batch tensor.</param>
    /// <param name="featureShapes">Per level, (H, W) of the feature map.</param>
    /// <param name="dtype">Anchor dtype (the features').</param>
    /// <param name="device">Anchor device.</param>
    /// <returns>All levels' anchors concatenated, <c>[Σ H·W·A, 4]</c> (the RPN's order).</returns>
    public Tensor AnchorsForImage(long imageHeight, long imageWidth, IReadOnlyList<(long H, long W)> featureShapes, ScalarType dtype, Device device)
    {
        var perLevel = AnchorsPerLevel(imageHeight, imageWidth, featureShapes, dtype, device);
        try { return torch.cat(perLevel.Select(l => l.Anchors).ToArray(), 0); }
        finally { foreach (var l in perLevel) l.Anchors.Dispose(); }
    }

    /// <summary>The anchors of each level separately, with the level's grid and stride (inspection, drawing).
    /// Arguments as <see cref="AnchorsForImage"/>.</summary>
    public List<AnchorLevel> AnchorsPerLevel(long imageHeight, long imageWidth, IReadOnlyList<(long H, long W)> featureShapes, ScalarType dtype, Device device)
    {
        if (featureShapes.Count != cellAnchors.Length)
            throw new ArgumentException($"{featureShapes.Count} feature maps but anchors are defined for {cellAnchors.Length} levels");
        using var scope = torch.NewDisposeScope();
        var perLevel = new List<AnchorLevel>();
        for (var level = 0; level < featureShapes.Count; level++)
        {
            var (h, w) = featureShapes[level];
            // torchvision: stride = image_size // grid_size, as int64 tensors.
            var strideH = imageHeight / h;
            var strideW = imageWidth / w;
            var baseAnchors = cellAnchors[level].to(device, dtype);
            var shiftsX = torch.arange(0, w, 1, ScalarType.Int32, device) * strideW;
            var shiftsY = torch.arange(0, h, 1, ScalarType.Int32, device) * strideH;
            var grid = torch.meshgrid([shiftsY, shiftsX], "ij");
            var shiftY = grid[0].reshape(-1);
            var shiftX = grid[1].reshape(-1);
            var shifts = torch.stack([shiftX, shiftY, shiftX, shiftY], 1);
            var anchors = (shifts.view(-1, 1, 4) + baseAnchors.view(1, -1, 4)).reshape(-1, 4).to(dtype);
            perLevel.Add(new AnchorLevel(level, (h, w), (strideH, strideW), sizes[level], aspectRatios[level], scope.MoveToOuter(anchors)));
        }
        return perLevel;
    }
}

/// <summary>One feature level's anchors: <c>Anchors</c> <c>[H·W·A, 4]</c> xyxy in the padded batch's pixels,
/// ordered row, column, anchor (A = sizes × ratios per location, ratio-major as torchvision); the location
/// (row, col) is centred at (col·stride.X, row·stride.Y). The caller owns (disposes) <c>Anchors</c>.</summary>
public sealed record AnchorLevel(int Level, (long H, long W) FeatureSize, (long Y, long X) Stride,
    IReadOnlyList<double> Sizes, IReadOnlyList<double> AspectRatios, Tensor Anchors)
{
    /// <summary>Anchors per location.</summary>
    public int AnchorsPerLocation => Sizes.Count * AspectRatios.Count;

    /// <summary>All anchors of the level (H·W·A).</summary>
    public long Count => FeatureSize.H * FeatureSize.W * AnchorsPerLocation;

    /// <summary>The A anchors centred on feature-map location (<paramref name="row"/>, <paramref name="col"/>), <c>[A, 4]</c>.</summary>
    public Tensor At(long row, long col)
    {
        if (row < 0 || row >= FeatureSize.H || col < 0 || col >= FeatureSize.W)
            throw new ArgumentOutOfRangeException(nameof(row), $"location ({row}, {col}) is outside the {FeatureSize.H}×{FeatureSize.W} grid of level {Level}");
        var first = (row * FeatureSize.W + col) * AnchorsPerLocation;
        return Anchors[TensorIndex.Slice(first, first + AnchorsPerLocation)];
    }
}
