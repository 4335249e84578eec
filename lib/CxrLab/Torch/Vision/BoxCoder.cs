namespace CxrLab.Torch.Vision;

/// <summary>torchvision's BoxCoder: encodes ground-truth boxes relative to proposals as
/// (dx, dy, dw, dh) scaled by <see cref="Weights"/>, and decodes deltas back to xyxy boxes
/// (dw, dh clamped at <see cref="BboxXformClip"/> before exp).</summary>
public sealed class BoxCoder(double wx = 1, double wy = 1, double ww = 1, double wh = 1, double? bbox_xform_clip = null)
{
    public (double wx, double wy, double ww, double wh) Weights { get; } = (wx, wy, ww, wh);
    public double BboxXformClip { get; } = bbox_xform_clip ?? Math.Log(1000.0 / 16);

    /// <summary>Deltas [N, 4] that move <paramref name="proposals"/> onto <paramref name="reference_boxes"/> (both [N, 4]).</summary>
    public Tensor encode_single(Tensor reference_boxes, Tensor proposals)
    {
        using var scope = torch.NewDisposeScope();
        var p = proposals.unbind(1);
        var g = reference_boxes.unbind(1);
        var pw = p[2] - p[0];
        var ph = p[3] - p[1];
        var px = p[0] + 0.5 * pw;
        var py = p[1] + 0.5 * ph;
        var gw = g[2] - g[0];
        var gh = g[3] - g[1];
        var gx = g[0] + 0.5 * gw;
        var gy = g[1] + 0.5 * gh;
        var dx = Weights.wx * (gx - px) / pw;
        var dy = Weights.wy * (gy - py) / ph;
        var dw = Weights.ww * (gw / pw).log();
        var dh = Weights.wh * (gh / ph).log();
        return scope.MoveToOuter(torch.stack([dx, dy, dw, dh], 1));
    }

    /// <summary>Boxes [N, 4·k] from deltas <paramref name="rel_codes"/> [N, 4·k] applied to <paramref name="boxes"/> [N, 4].</summary>
    public Tensor decode_single(Tensor rel_codes, Tensor boxes)
    {
        using var scope = torch.NewDisposeScope();
        var b = boxes.to(rel_codes.DType).unbind(1);
        var widths = (b[2] - b[0]).unsqueeze(1);
        var heights = (b[3] - b[1]).unsqueeze(1);
        var cx = b[0].unsqueeze(1) + 0.5 * widths;
        var cy = b[1].unsqueeze(1) + 0.5 * heights;
        var dx = rel_codes[.., TensorIndex.Slice(0, null, 4)] / Weights.wx;
        var dy = rel_codes[.., TensorIndex.Slice(1, null, 4)] / Weights.wy;
        var dw = (rel_codes[.., TensorIndex.Slice(2, null, 4)] / Weights.ww).clamp_max(BboxXformClip);
        var dh = (rel_codes[.., TensorIndex.Slice(3, null, 4)] / Weights.wh).clamp_max(BboxXformClip);
        var pcx = dx * widths + cx;
        var pcy = dy * heights + cy;
        var halfW = 0.5 * (dw.exp() * widths);
        var halfH = 0.5 * (dh.exp() * heights);
        var stacked = torch.stack([pcx - halfW, pcy - halfH, pcx + halfW, pcy + halfH], 2);
        return scope.MoveToOuter(stacked.flatten(1));
    }

    /// <summary>Boxes [N, k, 4] from deltas [N, 4·k] applied to boxes [N, 4] (torchvision's <c>decode</c>).</summary>
    public Tensor decode(Tensor rel_codes, Tensor boxes)
    {
        using var scope = torch.NewDisposeScope();
        var n = boxes.size(0);
        return scope.MoveToOuter(decode_single(rel_codes.reshape(n, -1), boxes).reshape(n, -1, 4));
    }
}
