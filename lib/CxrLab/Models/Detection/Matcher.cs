using CxrLab.Torch;

namespace CxrLab.Models.Detection;

/// <summary>Assigns each prediction (anchor or proposal) the ground-truth box it overlaps most
/// (torchvision's <c>det_utils.Matcher</c>). Result per prediction: a GT index ≥ 0,
/// <see cref="BelowLowThreshold"/> (background) or <see cref="BetweenThresholds"/> (ignored).</summary>
public sealed class Matcher
{
    public const long BelowLowThreshold = -1;
    public const long BetweenThresholds = -2;

    public Matcher(double highThreshold, double lowThreshold, bool allowLowQualityMatches = false)
    {
        if (lowThreshold > highThreshold) throw new ArgumentException($"low threshold {lowThreshold} must be ≤ high threshold {highThreshold}");
        HighThreshold = highThreshold;
        LowThreshold = lowThreshold;
        AllowLowQualityMatches = allowLowQualityMatches;
    }

    public double HighThreshold { get; }
    public double LowThreshold { get; }

    /// <summary>Also match each GT's best predictions (ties included) even below the high threshold.</summary>
    public bool AllowLowQualityMatches { get; }

    /// <param name="matchQuality">IoU <c>[M ground truths, N predictions]</c>; M and N must be positive.</param>
    /// <returns>int64 <c>[N]</c>.</returns>
    public Tensor Match(Tensor matchQuality)
    {
        if (matchQuality.numel() == 0)
            throw new ArgumentException(matchQuality.size(0) == 0
                ? "no ground-truth boxes for an image during training (give empty targets to the model, which handles them)"
                : "no proposal boxes for an image during training");
        using var scope = torch.NewDisposeScope();
        var (matchedVals, matches) = matchQuality.max(0);
        var allMatches = AllowLowQualityMatches ? matches.clone() : null;
        var below = matchedVals < LowThreshold;
        var between = (matchedVals >= LowThreshold).logical_and(matchedVals < HighThreshold);
        matches.masked_fill_(below, BelowLowThreshold);
        matches.masked_fill_(between, BetweenThresholds);
        if (allMatches is not null)
        {
            var (highest, _) = matchQuality.max(1);
            var pairs = matchQuality.eq(highest[.., TensorIndex.NewAxis]).nonzero();
            var predIndices = pairs[.., 1];
            matches[predIndices] = allMatches[predIndices];
        }
        return scope.MoveToOuter(matches);
    }
}

/// <summary>Picks a fixed-size, fixed-positive-fraction sample of predictions per image for the
/// loss (torchvision's <c>BalancedPositiveNegativeSampler</c>). Uses libtorch's <c>randperm</c>
/// in torchvision's call order, so with the same seed it draws the same samples as PyTorch.</summary>
public sealed class BalancedPositiveNegativeSampler(int batchSizePerImage, double positiveFraction)
{
    public int BatchSizePerImage { get; } = batchSizePerImage;
    public double PositiveFraction { get; } = positiveFraction;

    /// <param name="matchedLabels">Per image, int64 <c>[N]</c>: ≥ 1 positive, 0 negative, -1 ignored.</param>
    /// <returns>Per image, uint8 masks <c>[N]</c> of the sampled positives and negatives.</returns>
    public (List<Tensor> Positive, List<Tensor> Negative) Sample(IReadOnlyList<Tensor> matchedLabels)
    {
        var pos = new List<Tensor>();
        var neg = new List<Tensor>();
        foreach (var labels in matchedLabels)
        {
            using var scope = torch.NewDisposeScope();
            var positive = (labels >= 1).nonzero().squeeze(1);
            var negative = labels.eq(0).nonzero().squeeze(1);
            var numPos = Math.Min(positive.numel(), (long)(BatchSizePerImage * PositiveFraction));
            var numNeg = Math.Min(negative.numel(), BatchSizePerImage - numPos);
            var perm1 = torch.randperm(positive.numel(), positive.device)[..(int)numPos];
            var perm2 = torch.randperm(negative.numel(), negative.device)[..(int)numNeg];
            var posMask = torch.zeros_like(labels, ScalarType.UInt8);
            var negMask = torch.zeros_like(labels, ScalarType.UInt8);
            posMask.index_fill_([positive[perm1]], 1);
            negMask.index_fill_([negative[perm2]], 1);
            pos.Add(scope.MoveToOuter(posMask));
            neg.Add(scope.MoveToOuter(negMask));
        }
        return (pos, neg);
    }
}
