using CxrLab.Torch;

namespace CxrLab.Models.Detection;

/// <summary>The detection losses as single ATen calls (reduction codes: 0 none, 1 mean, 2 sum).</summary>
public static class Losses
{
    static readonly Op SmoothL1 = new("smooth_l1_loss");
    static readonly Op BceWithLogits = new("binary_cross_entropy_with_logits");
    static readonly Op CrossEntropyLoss = new("cross_entropy_loss");

    /// <summary>Sum of smooth-L1 over all elements (torchvision's box losses, beta 1/9).</summary>
    public static Tensor SmoothL1Sum(Tensor input, Tensor target, double beta) => SmoothL1.Call(input, target, 2L, beta);

    /// <summary>Mean binary cross-entropy on logits.</summary>
    public static Tensor BinaryCrossEntropyWithLogits(Tensor logits, Tensor target) =>
        BceWithLogits.Call(logits, target, (Tensor?)null, (Tensor?)null, 1L);

    /// <summary>Mean cross-entropy over int64 class targets.</summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor target) =>
        CrossEntropyLoss.Call(logits, target, (Tensor?)null, 1L, -100L, 0.0);
}
