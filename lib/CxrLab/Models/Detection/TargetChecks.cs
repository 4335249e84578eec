using CxrLab.Torch;

namespace CxrLab.Models.Detection;

/// <summary>The checks every detector applies to a training target where it enters the model, so a bad box or
/// label fails with its image, row and value instead of deep inside a loss.</summary>
public static class TargetChecks
{
    /// <summary>Boxes <c>[K, 4]</c> with positive width and height, <c>K</c> labels in 0..<paramref name="numClasses"/>−1 (task ids).</summary>
    public static void Validate(DetectionTarget t, int index, int numClasses)
    {
        if (t.Boxes.dim() != 2 || t.Boxes.size(1) != 4) throw new ArgumentException($"target {index}: boxes must be [K, 4], got [{string.Join(", ", t.Boxes.shape)}]");
        if (t.Labels.dim() != 1 || t.Labels.size(0) != t.Boxes.size(0)) throw new ArgumentException($"target {index}: {t.Boxes.size(0)} boxes but labels of shape [{string.Join(", ", t.Labels.shape)}]");
        if (t.Boxes.size(0) == 0) return;
        using var scope = torch.NewDisposeScope();
        var degenerate = (t.Boxes[.., 2..] <= t.Boxes[.., ..2]).any(1).nonzero();
        if (degenerate.numel() > 0)
        {
            var row = degenerate[0, 0].item<long>();
            var b = t.Boxes[row].to(ScalarType.Float32).ToArray<float>();
            throw new ArgumentException($"target {index}: box {row} [{string.Join(", ", b)}] has zero or negative width/height; drop degenerate boxes before training");
        }
        var labels = t.Labels.to(ScalarType.Int64);
        var (lo, hi) = (labels.min().item<long>(), labels.max().item<long>());
        if (lo < 0 || hi >= numClasses)
            throw new ArgumentException($"target {index}: labels must be task class ids 0..{numClasses - 1}, got {lo}..{hi}; check model.num_classes ({numClasses}) against the dataset");
    }
}
