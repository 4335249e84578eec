using CxrLab.Torch;

namespace CxrLab.Models.Detection;

/// <summary>RoIAlign (torchvision.ops.roi_align, <c>aligned=False</c>) written over
/// <c>grid_sample</c>, so gradients reach the features through a stock libtorch op. With a fixed
/// sampling ratio s, the s×s samples of every bin form a uniform (out·s)² grid over the box; a
/// bilinear read at each point (border-clamped, as roi_align clamps coordinates in [-1, 0] and
/// [size-1, size]) followed by an s×s average pool gives roi_align's value.</summary>
public static class RoIAlign
{
    /// <param name="features"><c>[N, C, H, W]</c>.</param>
    /// <param name="boxes">Per image, <c>[K_i, 4]</c> xyxy in image pixels.</param>
    /// <param name="outputSize">Pooled side (7 for box heads, 14 for mask heads).</param>
    /// <param name="spatialScale">Feature pixels per image pixel (1/stride).</param>
    /// <param name="samplingRatio">Samples per bin side (&gt; 0; torchvision's heads use 2).</param>
    /// <returns><c>[Σ K_i, C, out, out]</c>, boxes of image 0 first.</returns>
    public static Tensor Apply(Tensor features, IReadOnlyList<Tensor> boxes, int outputSize, double spatialScale, int samplingRatio)
    {
        if (samplingRatio <= 0) throw new ArgumentException("adaptive sampling (ratio ≤ 0) is not supported; give a positive sampling ratio such as 2");
        using var scope = torch.NewDisposeScope();
        var c = features.size(1);
        var h = features.size(2);
        var w = features.size(3);
        var g = (long)outputSize * samplingRatio;
        var pieces = new List<Tensor>();
        for (var i = 0; i < boxes.Count; i++)
        {
            var b = boxes[i];
            var k = b.size(0);
            if (k == 0) { pieces.Add(torch.zeros([0, c, outputSize, outputSize], features.DType, features.device)); continue; }
            var scaled = b.to(features.DType) * spatialScale;
            var x1 = scaled[.., 0..1];
            var y1 = scaled[.., 1..2];
            // roi_align (aligned=False) forces boxes to at least 1×1 feature pixel.
            var rw = (scaled[.., 2..3] - x1).clamp_min(1.0);
            var rh = (scaled[.., 3..4] - y1).clamp_min(1.0);
            var steps = (torch.arange(0, g, 1, features.DType, features.device) + 0.5) / g; // [g]
            var xs = x1 + rw * steps[TensorIndex.NewAxis, ..];   // [k, g]
            var ys = y1 + rh * steps[TensorIndex.NewAxis, ..];   // [k, g]
            // grid_sample's align_corners=True maps -1..1 to pixel centres 0..size-1.
            var gx = w > 1 ? xs * (2.0 / (w - 1)) - 1 : xs * 0;
            var gy = h > 1 ? ys * (2.0 / (h - 1)) - 1 : ys * 0;
            var gridX = gx[.., TensorIndex.NewAxis, ..].expand(k, g, g);
            var gridY = gy[.., .., TensorIndex.NewAxis].expand(k, g, g);
            var grid = torch.stack([gridX, gridY], 3).reshape(1, k * g, g, 2);
            var sampled = torch.grid_sample(features[i..(i + 1)], grid, "bilinear", "border", align_corners: true); // [1, C, k·g, g]
            // roi_align reads 0 for samples outside [-1, size]; zero those (only possible for boxes off the map).
            var inside = xs.ge(-1.0).logical_and(xs.le((double)w));
            var insideY = ys.ge(-1.0).logical_and(ys.le((double)h));
            var mask = insideY[.., .., TensorIndex.NewAxis].logical_and(inside[.., TensorIndex.NewAxis, ..]).to(features.DType).reshape(1, 1, k * g, g);
            sampled = (sampled * mask).reshape(c, k, g, g).permute(1, 0, 2, 3);
            pieces.Add(torch.avg_pool2d(sampled, [samplingRatio, samplingRatio]));
        }
        return scope.MoveToOuter(torch.cat(pieces, 0));
    }
}

/// <summary>Pools each box from the FPN level that matches its size (torchvision's
/// <c>MultiScaleRoIAlign</c>): level = floor(4 + log2(√area / 224) + 1e-6), clamped to the
/// levels present; level scales are inferred from the feature and image sizes.</summary>
public sealed class MultiScaleRoIAlign(int outputSize = 7, int samplingRatio = 2, int canonicalScale = 224, int canonicalLevel = 4)
{
    static readonly Op Log2 = new("log2");

    public int OutputSize { get; } = outputSize;
    public int SamplingRatio { get; } = samplingRatio;

    /// <param name="features">The pooled levels, finest first (FPN "0".."3").</param>
    /// <param name="boxes">Per image, <c>[K_i, 4]</c> in the resized image's pixels.</param>
    /// <param name="imageSizes">Per image, the resized (unpadded) (height, width).</param>
    public Tensor Forward(IReadOnlyList<Tensor> features, IReadOnlyList<Tensor> boxes, IReadOnlyList<(long H, long W)> imageSizes)
    {
        using var scope = torch.NewDisposeScope();
        var maxH = imageSizes.Max(s => s.H);
        var scales = features.Select(f => Math.Pow(2, Math.Round(Math.Log2((float)((double)f.size(2) / maxH))))).ToArray();
        if (features.Count == 1)
            return scope.MoveToOuter(RoIAlign.Apply(features[0], boxes, OutputSize, scales[0], SamplingRatio));

        var kMin = -Math.Log2(scales[0]);
        var kMax = -Math.Log2(scales[^1]);
        var allBoxes = torch.cat(boxes.ToArray(), 0);
        var imageIds = torch.cat(boxes.Select((b, i) => torch.full([b.size(0)], i, ScalarType.Int64, b.device)).ToArray(), 0);
        var s = BoxOps.BoxArea(allBoxes).sqrt();
        var eps = torch.full([], 1e-6, s.DType, s.device);
        var levels = (Log2.Call(s / canonicalScale) + canonicalLevel + eps).floor().clamp(kMin, kMax).to(ScalarType.Int64) - (long)kMin;

        var result = torch.zeros([allBoxes.size(0), features[0].size(1), OutputSize, OutputSize], features[0].DType, features[0].device);
        var levelHost = levels.cpu().ToArray<long>();
        var imageHost = imageIds.cpu().ToArray<long>();
        for (var level = 0; level < features.Count; level++)
        {
            var idx = Enumerable.Range(0, levelHost.Length).Where(j => levelHost[j] == level).ToArray();
            if (idx.Length == 0) continue;
            // roi_align takes a flat [K, 5] list with image ids; here: per-image box lists for this level.
            var perImage = new List<Tensor>();
            var order = new List<long>();
            for (var img = 0; img < boxes.Count; img++)
            {
                var mine = idx.Where(j => imageHost[j] == img).Select(j => (long)j).ToArray();
                perImage.Add(allBoxes.index_select(0, Tensor.From(mine).to(allBoxes.device)));
                order.AddRange(mine);
            }
            var pooled = RoIAlign.Apply(features[level], perImage, OutputSize, scales[level], SamplingRatio);
            result.index_put_([Tensor.From(order.ToArray()).to(allBoxes.device)], pooled);
        }
        return scope.MoveToOuter(result);
    }
}
