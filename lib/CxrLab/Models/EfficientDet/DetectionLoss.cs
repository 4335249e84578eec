using CxrLab.Torch;

namespace CxrLab.Models.EfficientDet;

/// <summary>effdet's <c>loss_fn</c> (its default "new" focal loss): per level, the sigmoid focal loss
/// α_t (1 − p_t)^γ BCE(logit, target) over every anchor·class (targets one-hot, optionally label-smoothed for the BCE only),
/// and the Huber loss (δ) on the box deltas where the target delta is non-zero; both normalised by (Σ positives + 1),
/// the box loss also by 4. Total = class + box weight · box.</summary>
public static class DetectionLoss
{
    public static (Tensor Total, Tensor Class, Tensor Box) Compute(IReadOnlyList<Tensor> classOutputs, IReadOnlyList<Tensor> boxOutputs,
        AnchorTargets targets, EfficientDetOptions o)
    {
        using var scope = torch.NewDisposeScope();
        var normalizer = (targets.NumPositives.sum() + 1.0).to(ScalarType.Float32);
        var classLosses = new List<Tensor>();
        var boxLosses = new List<Tensor>();
        for (var l = 0; l < classOutputs.Count; l++)
        {
            var clsT = targets.ClassTargets[l];
            var (b, h, w) = (clsT.size(0), clsT.size(1), clsT.size(2));
            var oneHot = OneHot(clsT, o.NumClasses).view(b, h, w, -1);
            var logits = classOutputs[l].permute(0, 2, 3, 1).to(ScalarType.Float32);
            var focal = FocalLoss(logits, oneHot, o.Alpha, o.Gamma, normalizer, o.LabelSmoothing);
            var notIgnored = clsT.ne(-2L).unsqueeze(-1);
            classLosses.Add((focal.view(b, h, w, -1, o.NumClasses) * notIgnored).sum());
            boxLosses.Add(BoxLoss(boxOutputs[l].permute(0, 2, 3, 1).to(ScalarType.Float32), targets.BoxTargets[l], normalizer, o.Delta));
        }
        var classLoss = torch.stack(classLosses, -1).sum(-1);
        var boxLoss = torch.stack(boxLosses, -1).sum(-1);
        var total = classLoss + boxLoss * o.BoxLossWeight;
        scope.MoveToOuter(total, classLoss, boxLoss);
        return (total, classLoss, boxLoss);
    }

    /// <summary>effdet's <c>one_hot</c>: negative ids (background, ignored) give all-zero rows.</summary>
    public static Tensor OneHot(Tensor ids, int numClasses)
    {
        using var scope = torch.NewDisposeScope();
        var nonNeg = ids.ge(0L).unsqueeze(-1);
        var shape = ids.shape.Append(numClasses).ToArray();
        var index = ids.unsqueeze(-1) * nonNeg;
        var result = torch.zeros(shape, ScalarType.Float32).scatter(-1, index, 1.0) * nonNeg;
        return scope.MoveToOuter(result);
    }

    /// <summary>effdet's <c>new_focal_loss</c>, elementwise.</summary>
    public static Tensor FocalLoss(Tensor logits, Tensor targets, double alpha, double gamma, Tensor normalizer, double labelSmoothing = 0)
    {
        using var scope = torch.NewDisposeScope();
        var p = logits.sigmoid();
        var oneMinusT = 1.0 - targets;
        var pT = targets * p + oneMinusT * (1.0 - p);
        var alphaFactor = targets * alpha + oneMinusT * (1.0 - alpha);
        var modulating = (1.0 - pT).pow(gamma);
        var smoothed = labelSmoothing > 0 ? targets * (1.0 - labelSmoothing) + 0.5 * labelSmoothing : targets;
        var ce = BceWithLogits(logits, smoothed);
        var result = (1.0 / normalizer) * alphaFactor * modulating * ce;
        return scope.MoveToOuter(result);
    }

    static readonly Op BceOp = new("binary_cross_entropy_with_logits");

    /// <summary>F.binary_cross_entropy_with_logits(reduction='none').</summary>
    static Tensor BceWithLogits(Tensor logits, Tensor targets) => BceOp.Call(logits, targets, (Tensor?)null, (Tensor?)null, 0L);

    /// <summary>effdet's <c>_box_loss</c>: Huber(δ) summed where the target is non-zero, / (normalizer · 4).</summary>
    public static Tensor BoxLoss(Tensor boxOutputs, Tensor boxTargets, Tensor normalizer, double delta)
    {
        using var scope = torch.NewDisposeScope();
        var mask = boxTargets.ne(0.0);
        var absErr = (boxOutputs - boxTargets).abs();
        var quadratic = absErr.clamp_max(delta);
        var linear = absErr - quadratic;
        var loss = (quadratic.pow(2) * 0.5 + linear * delta) * mask;
        var result = loss.sum() / (normalizer * 4.0);
        return scope.MoveToOuter(result);
    }
}
