using CxrLab.Interop;

namespace CxrLab.Torch.Vision;

/// <summary>torchvision.ops for detection, with torchvision's names and behaviour: box area, IoU, GIoU, format
/// conversion, clipping, small-box removal, NMS, batched NMS, RoIAlign. Boxes are float [N, 4] xyxy in absolute
/// pixels (<c>0 ≤ x1 &lt; x2</c>, <c>0 ≤ y1 &lt; y2</c>) unless a format says otherwise. Everything is tensor ops
/// that stay on the boxes' device; NMS and RoIAlign pick their kernel by device (<see cref="VisionKernels"/>: our
/// native kernels on CPU, torchvision's or an aten composition elsewhere).</summary>
public static class VisionOps
{
    static readonly Op TorchvisionNms = new("torchvision::nms");
    static readonly Op TorchvisionRoiAlign = new("torchvision::roi_align");
    static readonly Op Unique = new("aten::_unique2");

    /// <summary>The box formats of <see cref="box_convert"/>: corners, corner + size, centre + size.</summary>
    public static readonly IReadOnlyList<string> BoxFormats = ["xyxy", "xywh", "cxcywh"];

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

    /// <summary>Pairwise generalized IoU [N, M]: IoU − (hull area − union) / hull area, hull = the smallest box
    /// enclosing both.</summary>
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

    /// <summary>Boxes [..., 4] from <paramref name="in_fmt"/> to <paramref name="out_fmt"/>, each one of
    /// "xyxy" (corners), "xywh" (top-left corner, width, height), "cxcywh" (centre, width, height). Like torchvision,
    /// two non-xyxy formats convert through xyxy, and equal formats return a copy.</summary>
    public static Tensor box_convert(Tensor boxes, string in_fmt, string out_fmt)
    {
        if (!BoxFormats.Contains(in_fmt) || !BoxFormats.Contains(out_fmt))
            throw new ArgumentException($"unsupported box conversion '{in_fmt}' → '{out_fmt}': formats are {string.Join(", ", BoxFormats)}");
        if (in_fmt == out_fmt) return boxes.clone();
        using var scope = torch.NewDisposeScope();
        var xyxy = in_fmt switch
        {
            "xywh" => XywhToXyxy(boxes),
            "cxcywh" => CxcywhToXyxy(boxes),
            _ => boxes,
        };
        var result = out_fmt switch
        {
            "xywh" => XyxyToXywh(xyxy),
            "cxcywh" => XyxyToCxcywh(xyxy),
            _ => xyxy,
        };
        return scope.MoveToOuter(result);
    }

    static Tensor XywhToXyxy(Tensor b)
    {
        var (x, y, w, h) = Parts(b);
        return torch.stack([x, y, x + w, y + h], -1);
    }

    static Tensor CxcywhToXyxy(Tensor b)
    {
        var (cx, cy, w, h) = Parts(b);
        return torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], -1);
    }

    static Tensor XyxyToXywh(Tensor b)
    {
        var (x1, y1, x2, y2) = Parts(b);
        return torch.stack([x1, y1, x2 - x1, y2 - y1], -1);
    }

    static Tensor XyxyToCxcywh(Tensor b)
    {
        var (x1, y1, x2, y2) = Parts(b);
        return torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], -1);
    }

    static (Tensor, Tensor, Tensor, Tensor) Parts(Tensor b)
    {
        if (b.dim() == 0 || b.size(-1) != 4) throw new ArgumentException($"boxes must be [..., 4], got [{string.Join(", ", b.shape)}]", nameof(b));
        var p = b.unbind(-1);
        return (p[0], p[1], p[2], p[3]);
    }

    /// <summary>Boxes [..., 4] (xyxy) with x clamped to [0, width] and y to [0, height] of <paramref name="size"/>.</summary>
    public static Tensor clip_boxes_to_image(Tensor boxes, (long Height, long Width) size)
    {
        using var scope = torch.NewDisposeScope();
        var x = boxes[TensorIndex.Ellipsis, TensorIndex.Slice(0, null, 2)].clamp(0, size.Width);
        var y = boxes[TensorIndex.Ellipsis, TensorIndex.Slice(1, null, 2)].clamp(0, size.Height);
        var clipped = torch.stack([x, y], boxes.dim()).reshape(boxes.shape);
        return scope.MoveToOuter(clipped);
    }

    /// <summary>int64 indices of the boxes whose width and height are both ≥ <paramref name="min_size"/>.</summary>
    public static Tensor remove_small_boxes(Tensor boxes, double min_size)
    {
        using var scope = torch.NewDisposeScope();
        var ws = boxes[.., 2] - boxes[.., 0];
        var hs = boxes[.., 3] - boxes[.., 1];
        var keep = (ws >= min_size).logical_and(hs >= min_size);
        return scope.MoveToOuter(keep.nonzero().squeeze(1));
    }

    /// <summary>Greedy non-maximum suppression: int64 indices of kept boxes in decreasing score order;
    /// a box is dropped when its IoU with a kept, higher-scoring box exceeds <paramref name="iou_threshold"/>.
    /// Runs on the boxes' device (<see cref="VisionKernels.For"/>).</summary>
    public static Tensor nms(Tensor boxes, Tensor scores, double iou_threshold)
    {
        CheckNmsInputs(boxes, scores);
        switch (VisionKernels.For(boxes.device))
        {
            case VisionKernel.Torchvision:
                VisionKernels.RequireTorchvision(boxes.device);
                return TorchvisionNms.Call(boxes, scores, iou_threshold);
            case VisionKernel.Aten:
                return AtenVisionOps.nms(boxes, scores, iou_threshold);
            default:
                var result = new Tensor(Shim.cxr_vision_nms(boxes.Handle, scores.Handle, iou_threshold));
                GC.KeepAlive(boxes); GC.KeepAlive(scores);
                return result;
        }
    }

    /// <summary>NMS within each category <paramref name="idxs"/>: boxes of different categories never suppress each
    /// other. Indices by decreasing score. torchvision 0.14's one behaviour: above 4000 box coordinates on CPU
    /// (20000 elsewhere) one NMS per category (<c>_batched_nms_vanilla</c>), else one NMS over boxes shifted apart per
    /// category (<c>_batched_nms_coordinate_trick</c>); the kept set is the same, ties in score may order differently.</summary>
    public static Tensor batched_nms(Tensor boxes, Tensor scores, Tensor idxs, double iou_threshold)
    {
        var perCategory = boxes.numel() > (boxes.device.Type == DeviceType.CPU ? 4000 : 20000);
        return perCategory ? BatchedNmsVanilla(boxes, scores, idxs, iou_threshold) : BatchedNmsCoordinateTrick(boxes, scores, idxs, iou_threshold);
    }

    static Tensor BatchedNmsCoordinateTrick(Tensor boxes, Tensor scores, Tensor idxs, double iou_threshold)
    {
        if (boxes.numel() == 0) return torch.empty([0], ScalarType.Int64, boxes.device);
        using var scope = torch.NewDisposeScope();
        var maxCoordinate = boxes.max();
        var offsets = idxs.to(boxes.DType) * (maxCoordinate + 1);
        var shifted = boxes + offsets[.., TensorIndex.NewAxis];
        return scope.MoveToOuter(nms(shifted, scores, iou_threshold));
    }

    static Tensor BatchedNmsVanilla(Tensor boxes, Tensor scores, Tensor idxs, double iou_threshold)
    {
        using var scope = torch.NewDisposeScope();
        var keepMask = torch.zeros_like(scores, ScalarType.Bool);
        var categories = Unique.CallMany(idxs, true, false, false)[0];  // on the device; only its length comes to the host
        for (var c = 0L; c < categories.size(0); c++)
        {
            using var step = torch.NewDisposeScope();
            var current = idxs.eq(categories[c]).nonzero().squeeze(1);
            var currentKeep = nms(boxes.index_select(0, current), scores.index_select(0, current), iou_threshold);
            keepMask.index_fill_([current.index_select(0, currentKeep)], true);
        }
        var keep = keepMask.nonzero().squeeze(1);
        var (_, byScore) = scores.index_select(0, keep).sort(0, descending: true);
        return scope.MoveToOuter(keep.index_select(0, byScore));
    }

    /// <summary>RoIAlign (Mask R-CNN): pools each region of <paramref name="input"/> [N, C, H, W] to
    /// [K, C, outH, outW]. <paramref name="rois"/> is [K, 5] (batch index, x1, y1, x2, y2) in input-image
    /// pixels, scaled by <paramref name="spatial_scale"/> (e.g. 1/16); <paramref name="sampling_ratio"/> ≤ 0
    /// picks ceil(roi size / output size) samples per bin; <paramref name="aligned"/> shifts by half a pixel
    /// (detectron2's correct alignment). Gradients flow to <paramref name="input"/>. Runs on the input's device
    /// (<see cref="VisionKernels.For"/>).</summary>
    public static Tensor roi_align(Tensor input, Tensor rois, long[] output_size, double spatial_scale = 1.0, long sampling_ratio = -1, bool aligned = false)
    {
        CheckRoiAlignInputs(input, rois, output_size);
        switch (VisionKernels.For(input.device))
        {
            case VisionKernel.Torchvision:
            {
                VisionKernels.RequireTorchvision(input.device);
                using var r = rois.to(input.device, input.DType);
                return TorchvisionRoiAlign.Call(input, r, spatial_scale, output_size[0], output_size[^1], sampling_ratio, aligned);
            }
            case VisionKernel.Aten:
                return AtenVisionOps.roi_align(input, rois, output_size, spatial_scale, sampling_ratio, aligned);
            default:
                var result = new Tensor(Shim.cxr_vision_roi_align(input.Handle, rois.Handle, spatial_scale, output_size[0], output_size[^1], sampling_ratio, aligned ? 1 : 0));
                GC.KeepAlive(input); GC.KeepAlive(rois);
                return result;
        }
    }

    /// <summary>RoIAlign with one box tensor [Ki, 4] per image (torchvision's list form).</summary>
    public static Tensor roi_align(Tensor input, Tensor[] boxes, long[] output_size, double spatial_scale = 1.0, long sampling_ratio = -1, bool aligned = false)
    {
        using var scope = torch.NewDisposeScope();
        return scope.MoveToOuter(roi_align(input, ToRois(boxes), output_size, spatial_scale, sampling_ratio, aligned));
    }

    /// <summary>Per-image boxes → [K, 5] rows (batch index, x1, y1, x2, y2) (torchvision's <c>convert_boxes_to_roi_format</c>).</summary>
    public static Tensor ToRois(Tensor[] boxes)
    {
        using var scope = torch.NewDisposeScope();
        var parts = boxes.Select((b, i) => torch.cat([torch.full([b.size(0), 1], (double)i, b.DType, b.device), b], 1)).ToArray();
        return scope.MoveToOuter(torch.cat(parts, 0));
    }

    internal static void CheckNmsInputs(Tensor boxes, Tensor scores)
    {
        if (boxes.dim() != 2 || boxes.size(1) != 4)
            throw new ArgumentException($"nms: boxes must be [N, 4] (x1, y1, x2, y2), got [{string.Join(", ", boxes.shape)}]", nameof(boxes));
        if (scores.dim() != 1 || scores.size(0) != boxes.size(0))
            throw new ArgumentException($"nms: scores must be [N] matching boxes, got [{string.Join(", ", scores.shape)}] for {boxes.size(0)} boxes", nameof(scores));
    }

    internal static void CheckRoiAlignInputs(Tensor input, Tensor rois, long[] output_size)
    {
        if (input.dim() != 4) throw new ArgumentException($"roi_align: input must be [N, C, H, W], got [{string.Join(", ", input.shape)}]", nameof(input));
        if (rois.dim() != 2 || rois.size(1) != 5)
            throw new ArgumentException($"roi_align: rois must be [K, 5] (batch index, x1, y1, x2, y2), got [{string.Join(", ", rois.shape)}]", nameof(rois));
        if (output_size.Length is < 1 or > 2 || output_size.Any(s => s <= 0))
            throw new ArgumentException($"roi_align: output size must be one or two positive numbers, got [{string.Join(", ", output_size)}]", nameof(output_size));
    }
}
