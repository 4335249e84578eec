using CxrLab.Torch;
using CxrLab.Torch.Vision;

namespace CxrLab.Models.Detection;

/// <summary>Pools each box from the FPN level that matches its size (torchvision's
/// <c>MultiScaleRoIAlign</c>): level = floor(4 + log2(√area / 224) + 1e-6), clamped to the
/// levels present; level scales are inferred from the feature and image sizes as torchvision
/// does; pooling is the engine's native RoIAlign (aligned = false).</summary>
public sealed class MultiScaleRoIAlign(int outputSize = 7, int samplingRatio = 2, int canonicalScale = 224, int canonicalLevel = 4, IReadOnlyList<string>? featmapNames = null)
{
    static readonly Op Log2 = new("log2");

    /// <summary>The backbone's levels this pooler reads, finest first (torchvision: "0".."3").</summary>
    public IReadOnlyList<string> FeatmapNames { get; } = featmapNames ?? ["0", "1", "2", "3"];

    public int OutputSize { get; } = outputSize;
    public int SamplingRatio { get; } = samplingRatio;

    /// <param name="features">The pooled levels, finest first (FPN "0".."3").</param>
    /// <param name="boxes">Per image, <c>[K_i, 4]</c> in the resized image's pixels.</param>
    /// <param name="imageSizes">Per image, the resized (unpadded) (height, width).</param>
    /// <returns><c>[Σ K_i, C, out, out]</c>, boxes of image 0 first.</returns>
    public Tensor Forward(IReadOnlyList<Tensor> features, IReadOnlyList<Tensor> boxes, IReadOnlyList<(long H, long W)> imageSizes)
    {
        using var scope = torch.NewDisposeScope();
        var maxH = imageSizes.Max(s => s.H);
        // torchvision: scale = 2 ** round(log2(feature_h / image_h)), log2 taken in float32.
        var scales = features.Select(f => Math.Pow(2, Math.Round(Math.Log2((float)((double)f.size(2) / maxH))))).ToArray();
        var rois = VisionOps.ToRois(boxes.ToArray());
        long[] size = [OutputSize, OutputSize];
        if (features.Count == 1)
            return scope.MoveToOuter(VisionOps.roi_align(features[0], rois, size, scales[0], SamplingRatio));

        var kMin = -Math.Log2(scales[0]);
        var kMax = -Math.Log2(scales[^1]);
        var s = VisionOps.box_area(torch.cat(boxes.ToArray(), 0)).sqrt();
        var eps = torch.full([], 1e-6, s.DType, s.device);
        var levels = (Log2.Call(s / canonicalScale) + canonicalLevel + eps).floor().clamp(kMin, kMax).to(ScalarType.Int64) - (long)kMin;

        var result = torch.zeros([rois.size(0), features[0].size(1), OutputSize, OutputSize], features[0].DType, features[0].device);
        for (var level = 0; level < features.Count; level++)
        {
            var idx = levels.eq(level).nonzero().squeeze(1);
            if (idx.numel() == 0) continue;
            var pooled = VisionOps.roi_align(features[level], rois.index_select(0, idx), size, scales[level], SamplingRatio);
            result.index_put_([idx], pooled);
        }
        return scope.MoveToOuter(result);
    }
}
