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

    /// <param name="imageHeight">Height of the padded batch tensor.</param>
    /// <param name="imageWidth">Width of the padded batch tensor.</param>
    /// <param name="featureShapes">Per level, (H, W) of the feature map.</param>
    /// <param name="dtype">Anchor dtype (the features').</param>
    /// <param name="device">Anchor device.</param>
    public Tensor AnchorsForImage(long imageHeight, long imageWidth, IReadOnlyList<(long H, long W)> featureShapes, ScalarType dtype, Device device)
    {
        if (featureShapes.Count != cellAnchors.Length)
            throw new ArgumentException($"{featureShapes.Count} feature maps but anchors are defined for {cellAnchors.Length} levels");
        using var scope = torch.NewDisposeScope();
        var perLevel = new List<Tensor>();
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
            var anchors = (shifts.view(-1, 1, 4) + baseAnchors.view(1, -1, 4)).reshape(-1, 4);
            perLevel.Add(anchors);
        }
        return scope.MoveToOuter(torch.cat(perLevel, 0).to(dtype));
    }
}
