namespace CxrLab.Torch.Nn;

/// <summary>Loss functions as torch.nn.functional / torchvision.ops define them. <c>reduction</c> is
/// "mean", "sum" or "none".</summary>
public static class Losses
{
    static readonly Op BceLogits = new("binary_cross_entropy_with_logits"), CrossEntropy = new("cross_entropy_loss");
    static readonly Op SmoothL1 = new("smooth_l1_loss"), L1 = new("l1_loss"), Mse = new("mse_loss"), Huber = new("huber_loss");

    static long Reduction(string reduction) => reduction switch
    {
        "none" => 0,
        "mean" => 1,
        "sum" => 2,
        _ => throw new ArgumentException($"reduction '{reduction}' is unknown; use none, mean or sum"),
    };

    static Tensor Reduce(Tensor loss, string reduction)
    {
        switch (reduction)
        {
            case "none": return loss;
            case "mean": using (loss) return loss.mean();
            case "sum": using (loss) return loss.sum();
            default: throw new ArgumentException($"reduction '{reduction}' is unknown; use none, mean or sum");
        }
    }

    /// <summary>Sigmoid + binary cross entropy in one stable step; <paramref name="pos_weight"/> [C] weighs positives per class.</summary>
    public static Tensor binary_cross_entropy_with_logits(Tensor input, Tensor target, Tensor? weight = null, Tensor? pos_weight = null, string reduction = "mean") =>
        BceLogits.Call(input, target, weight, pos_weight, Reduction(reduction));

    /// <summary>Cross entropy over class logits [N, C] (or [N, C, …]) with class-index targets; targets equal to
    /// <paramref name="ignore_index"/> contribute nothing; <paramref name="label_smoothing"/> in [0, 1].</summary>
    public static Tensor cross_entropy(Tensor input, Tensor target, Tensor? weight = null, long ignore_index = -100, double label_smoothing = 0, string reduction = "mean") =>
        CrossEntropy.Call(input, target, weight, Reduction(reduction), ignore_index, label_smoothing);

    /// <summary>Smooth L1 with transition point <paramref name="beta"/> (0 gives L1), as F.smooth_l1_loss.</summary>
    public static Tensor smooth_l1_loss(Tensor input, Tensor target, double beta = 1.0, string reduction = "mean") =>
        beta == 0 ? l1_loss(input, target, reduction) : SmoothL1.Call(input, target, Reduction(reduction), beta);

    public static Tensor l1_loss(Tensor input, Tensor target, string reduction = "mean") => L1.Call(input, target, Reduction(reduction));
    public static Tensor mse_loss(Tensor input, Tensor target, string reduction = "mean") => Mse.Call(input, target, Reduction(reduction));
    public static Tensor huber_loss(Tensor input, Tensor target, double delta = 1.0, string reduction = "mean") => Huber.Call(input, target, Reduction(reduction), delta);

    /// <summary>torchvision.ops.sigmoid_focal_loss (RetinaNet): BCE scaled by (1 − p_t)^γ and α-balanced
    /// (α &lt; 0 disables balancing).</summary>
    public static Tensor sigmoid_focal_loss(Tensor inputs, Tensor targets, double alpha = 0.25, double gamma = 2, string reduction = "none")
    {
        using var scope = torch.NewDisposeScope();
        var p = inputs.sigmoid();
        var ce = binary_cross_entropy_with_logits(inputs, targets, reduction: "none");
        var pt = p * targets + (1 - p) * (1 - targets);
        var loss = ce * (1 - pt).pow(gamma);
        if (alpha >= 0) loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss;
        return scope.MoveToOuter(Reduce(loss.alias(), reduction));
    }

    /// <summary>1 − GIoU for paired boxes [N, 4] xyxy (torchvision.ops.generalized_box_iou_loss).</summary>
    public static Tensor generalized_box_iou_loss(Tensor boxes1, Tensor boxes2, string reduction = "none", double eps = 1e-7)
    {
        using var scope = torch.NewDisposeScope();
        var (iou, union, _) = PairedIou(boxes1, boxes2, eps);
        var a = boxes1.unbind(-1);
        var b = boxes2.unbind(-1);
        var enclosing = (a[2].maximum(b[2]) - a[0].minimum(b[0])) * (a[3].maximum(b[3]) - a[1].minimum(b[1]));
        var loss = 1 - (iou - (enclosing - union) / (enclosing + eps));
        return scope.MoveToOuter(Reduce(loss.alias(), reduction));
    }

    /// <summary>1 − IoU for paired boxes [N, 4] xyxy.</summary>
    public static Tensor iou_loss(Tensor boxes1, Tensor boxes2, string reduction = "none", double eps = 1e-7)
    {
        using var scope = torch.NewDisposeScope();
        var (iou, _, _) = PairedIou(boxes1, boxes2, eps);
        return scope.MoveToOuter(Reduce(1 - iou, reduction));
    }

    // Elementwise IoU of paired boxes; callers own a dispose scope.
    static (Tensor iou, Tensor union, Tensor inter) PairedIou(Tensor boxes1, Tensor boxes2, double eps)
    {
        var a = boxes1.unbind(-1);
        var b = boxes2.unbind(-1);
        var iw = (a[2].minimum(b[2]) - a[0].maximum(b[0])).clamp_min(0);
        var ih = (a[3].minimum(b[3]) - a[1].maximum(b[1])).clamp_min(0);
        var inter = iw * ih;
        var union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
        return (inter / (union + eps), union, inter);
    }
}
