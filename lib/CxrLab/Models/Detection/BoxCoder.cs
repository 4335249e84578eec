using CxrLab.Torch;

namespace CxrLab.Models.Detection;

/// <summary>Encodes boxes as regression deltas (dx, dy, dw, dh) relative to reference boxes and
/// back (torchvision's <c>det_utils.BoxCoder</c>). Deltas are divided by <see cref="Weights"/>
/// on decode; dw/dh are clamped at <see cref="BoxXformClip"/> so exp() cannot overflow.</summary>
public sealed class BoxCoder(double wx, double wy, double ww, double wh, double? boxXformClip = null)
{
    /// <summary>log(1000/16), torchvision's default clamp.</summary>
    public static readonly double DefaultXformClip = Math.Log(1000.0 / 16);

    public (double Wx, double Wy, double Ww, double Wh) Weights { get; } = (wx, wy, ww, wh);
    public double BoxXformClip { get; } = boxXformClip ?? DefaultXformClip;

    /// <summary>Deltas <c>[N, 4]</c> that turn <paramref name="proposals"/> into <paramref name="referenceBoxes"/> (both <c>[N, 4]</c>).</summary>
    public Tensor Encode(Tensor referenceBoxes, Tensor proposals)
    {
        using var scope = torch.NewDisposeScope();
        var exWidths = proposals[.., 2] - proposals[.., 0];
        var exHeights = proposals[.., 3] - proposals[.., 1];
        var exCtrX = proposals[.., 0] + exWidths * 0.5;
        var exCtrY = proposals[.., 1] + exHeights * 0.5;
        var gtWidths = referenceBoxes[.., 2] - referenceBoxes[.., 0];
        var gtHeights = referenceBoxes[.., 3] - referenceBoxes[.., 1];
        var gtCtrX = referenceBoxes[.., 0] + gtWidths * 0.5;
        var gtCtrY = referenceBoxes[.., 1] + gtHeights * 0.5;
        // Same operation order as torchvision (wx * (a - b) / w) so float rounding matches.
        var dx = (gtCtrX - exCtrX) * Weights.Wx / exWidths;
        var dy = (gtCtrY - exCtrY) * Weights.Wy / exHeights;
        var dw = (gtWidths / exWidths).log() * Weights.Ww;
        var dh = (gtHeights / exHeights).log() * Weights.Wh;
        return scope.MoveToOuter(torch.stack([dx, dy, dw, dh], 1));
    }

    /// <summary>Applies deltas <c>[N, 4·k]</c> to boxes <c>[N, 4]</c>; returns <c>[N, k, 4]</c>.</summary>
    public Tensor Decode(Tensor relCodes, Tensor boxes)
    {
        using var scope = torch.NewDisposeScope();
        var n = boxes.size(0);
        var decoded = DecodeSingle(relCodes.reshape(n, -1), boxes);
        return scope.MoveToOuter(decoded.reshape(n, -1, 4));
    }

    /// <summary>Applies deltas <c>[N, 4·k]</c> to boxes <c>[N, 4]</c>; returns <c>[N, 4·k]</c>.</summary>
    public Tensor DecodeSingle(Tensor relCodes, Tensor boxes)
    {
        using var scope = torch.NewDisposeScope();
        boxes = boxes.to(relCodes.DType);
        var widths = boxes[.., 2] - boxes[.., 0];
        var heights = boxes[.., 3] - boxes[.., 1];
        var ctrX = boxes[.., 0] + widths * 0.5;
        var ctrY = boxes[.., 1] + heights * 0.5;
        var dx = relCodes[.., TensorIndex.Slice(0, null, 4)] / Weights.Wx;
        var dy = relCodes[.., TensorIndex.Slice(1, null, 4)] / Weights.Wy;
        var dw = (relCodes[.., TensorIndex.Slice(2, null, 4)] / Weights.Ww).clamp_max(BoxXformClip);
        var dh = (relCodes[.., TensorIndex.Slice(3, null, 4)] / Weights.Wh).clamp_max(BoxXformClip);
        var predCtrX = dx * widths[.., TensorIndex.NewAxis] + ctrX[.., TensorIndex.NewAxis];
        var predCtrY = dy * heights[.., TensorIndex.NewAxis] + ctrY[.., TensorIndex.NewAxis];
        var predW = dw.exp() * widths[.., TensorIndex.NewAxis];
        var predH = dh.exp() * heights[.., TensorIndex.NewAxis];
        // torchvision computes the half sizes with the centre-offset tensor c_to_c_h = 0.5 * h.
        var halfW = predW * 0.5;
        var halfH = predH * 0.5;
        var x1 = predCtrX - halfW;
        var y1 = predCtrY - halfH;
        var x2 = predCtrX + halfW;
        var y2 = predCtrY + halfH;
        var result = torch.stack([x1, y1, x2, y2], 2).flatten(1);
        return scope.MoveToOuter(result);
    }
}
