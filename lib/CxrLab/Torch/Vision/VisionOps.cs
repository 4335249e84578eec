using CxrLab.Interop;

namespace CxrLab.Torch.Vision;

/// <summary>torchvision.ops for detection: box IoU, NMS, RoIAlign. Boxes are float [N, 4] xyxy in absolute
/// pixels. NMS and RoIAlign run as native kernels (torch_vision_ops.cpp, parity-tested against torchvision);
/// everything else is tensor ops, never per-box loops in C#.</summary>
public static class VisionOps
{
    /// <summary>(x2 − x1)·(y2 − y1) per box, [N].</summary>
    public static Tensor box_area(Tensor boxes)
    {
        using var scope = torch.NewDisposeScope();
        var b = boxes.unbind(-1);
        return scope.MoveToOuter((b[2] - b[0]) * (b[3] - b[1]));
    }

    /// <summary>Pairwise IoU [N, M] of boxes1 [N, 4] and boxes2 [M, 4].</summary>
    public static Tensor box_iou(Tensor boxes1, Tensor boxes2)
    {
        using var scope = torch.NewDisposeScope();
        var (inter, union) = InterUnion(boxes1, boxes2);
        return scope.MoveToOuter(inter / union);
    }

    /// <summary>Pairwise generalized IoU [N, M].</summary>
    public static Tensor generalized_box_iou(Tensor boxes1, Tensor boxes2)
    {
        using var scope = torch.NewDisposeScope();
        var (inter, union) = InterUnion(boxes1, boxes2);
        var iou = inter / union;
        var lt = boxes1[.., TensorIndex.NewAxis, ..2].minimum(boxes2[.., ..2]);
        var rb = boxes1[.., TensorIndex.NewAxis, 2..].maximum(boxes2[.., 2..]);
        var wh = (rb - lt).clamp_min(0);
        var area = wh[.., .., 0] * wh[.., .., 1];
        return scope.MoveToOuter(iou - (area - union) / area);
    }

    static (Tensor inter, Tensor union) InterUnion(Tensor boxes1, Tensor boxes2)
    {
        var area1 = box_area(boxes1);
        var area2 = box_area(boxes2);
        var lt = boxes1[.., TensorIndex.NewAxis, ..2].maximum(boxes2[.., ..2]);
        var rb = boxes1[.., TensorIndex.NewAxis, 2..].minimum(boxes2[.., 2..]);
        var wh = (rb - lt).clamp_min(0);
        var inter = wh[.., .., 0] * wh[.., .., 1];
        return (inter, area1[.., TensorIndex.NewAxis] + area2 - inter);
    }

    /// <summary>Greedy non-maximum suppression: int64 indices of kept boxes in decreasing score order;
    /// a box is dropped when its IoU with a kept, higher-scoring box exceeds <paramref name="iou_threshold"/>.</summary>
    public static Tensor nms(Tensor boxes, Tensor scores, double iou_threshold)
    {
        var result = new Tensor(Shim.cxr_vision_nms(boxes.Handle, scores.Handle, iou_threshold));
        GC.KeepAlive(boxes); GC.KeepAlive(scores);
        return result;
    }

    /// <summary>NMS within each category <paramref name="idxs"/> independently (torchvision's coordinate-offset trick).</summary>
    public static Tensor batched_nms(Tensor boxes, Tensor scores, Tensor idxs, double iou_threshold)
    {
        if (boxes.numel() == 0) return torch.empty([0], ScalarType.Int64, boxes.device);
        using var scope = torch.NewDisposeScope();
        var maxCoordinate = boxes.max();
        var offsets = idxs.to(boxes.DType) * (maxCoordinate + 1);
        var shifted = boxes + offsets[.., TensorIndex.NewAxis];
        return scope.MoveToOuter(nms(shifted, scores, iou_threshold));
    }

    /// <summary>RoIAlign (Mask R-CNN): pools each region of <paramref name="input"/> [N, C, H, W] to
    /// [K, C, outH, outW]. <paramref name="rois"/> is [K, 5] (batch index, x1, y1, x2, y2) in input-image
    /// pixels, scaled by <paramref name="spatial_scale"/> (e.g. 1/16); <paramref name="sampling_ratio"/> ≤ 0
    /// picks ceil(roi size / output size) samples per bin; <paramref name="aligned"/> shifts by half a pixel
    /// (detectron2's correct alignment). Gradients flow to <paramref name="input"/>.</summary>
    public static Tensor roi_align(Tensor input, Tensor rois, long[] output_size, double spatial_scale = 1.0, long sampling_ratio = -1, bool aligned = false)
    {
        var result = new Tensor(Shim.cxr_vision_roi_align(input.Handle, rois.Handle, spatial_scale, output_size[0], output_size[^1], sampling_ratio, aligned ? 1 : 0));
        GC.KeepAlive(input); GC.KeepAlive(rois);
        return result;
    }

    /// <summary>RoIAlign with one box tensor [Ki, 4] per image (torchvision's list form).</summary>
    public static Tensor roi_align(Tensor input, Tensor[] boxes, long[] output_size, double spatial_scale = 1.0, long sampling_ratio = -1, bool aligned = false)
    {
        using var scope = torch.NewDisposeScope();
        return scope.MoveToOuter(roi_align(input, ToRois(boxes), output_size, spatial_scale, sampling_ratio, aligned));
    }

    /// <summary>Per-image boxes → [K, 5] rows (batch index, x1, y1, x2, y2).</summary>
    public static Tensor ToRois(Tensor[] boxes)
    {
        using var scope = torch.NewDisposeScope();
        var parts = boxes.Select((b, i) => torch.cat([torch.full([b.size(0), 1], (double)i, b.DType, b.device), b], 1)).ToArray();
        return scope.MoveToOuter(torch.cat(parts, 0));
    }
}

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
