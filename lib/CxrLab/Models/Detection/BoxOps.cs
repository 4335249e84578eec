using CxrLab.Torch;

namespace CxrLab.Models.Detection;

/// <summary>Box utilities over tensors (torchvision.ops.boxes). Boxes are float <c>[N, 4]</c>
/// xyxy in absolute pixels (<c>0 ≤ x1 &lt; x2 ≤ W</c>).</summary>
public static class BoxOps
{
    /// <summary>Areas, <c>[N]</c>.</summary>
    public static Tensor BoxArea(Tensor boxes)
    {
        using var scope = torch.NewDisposeScope();
        var w = boxes[.., 2] - boxes[.., 0];
        var h = boxes[.., 3] - boxes[.., 1];
        return scope.MoveToOuter(w * h);
    }

    /// <summary>Pairwise IoU, <c>[N, M]</c>.</summary>
    public static Tensor BoxIou(Tensor boxes1, Tensor boxes2)
    {
        using var scope = torch.NewDisposeScope();
        var area1 = BoxArea(boxes1);
        var area2 = BoxArea(boxes2);
        var lt = boxes1[.., TensorIndex.NewAxis, ..2].maximum(boxes2[.., ..2]);
        var rb = boxes1[.., TensorIndex.NewAxis, 2..].minimum(boxes2[.., 2..]);
        var wh = (rb - lt).clamp_min(0);
        var inter = wh[.., .., 0] * wh[.., .., 1];
        var union = area1[.., TensorIndex.NewAxis] + area2 - inter;
        return scope.MoveToOuter(inter / union);
    }

    /// <summary>Clips boxes <c>[..., 4]</c> to an image of <paramref name="height"/> × <paramref name="width"/>.</summary>
    public static Tensor ClipBoxesToImage(Tensor boxes, long height, long width)
    {
        using var scope = torch.NewDisposeScope();
        var x = boxes[TensorIndex.Ellipsis, TensorIndex.Slice(0, null, 2)].clamp(0, width);
        var y = boxes[TensorIndex.Ellipsis, TensorIndex.Slice(1, null, 2)].clamp(0, height);
        var clipped = torch.stack([x, y], boxes.dim()).reshape(boxes.shape);
        return scope.MoveToOuter(clipped);
    }

    /// <summary>Indices (int64) of boxes whose sides are both ≥ <paramref name="minSize"/>.</summary>
    public static Tensor RemoveSmallBoxes(Tensor boxes, double minSize)
    {
        using var scope = torch.NewDisposeScope();
        var ws = boxes[.., 2] - boxes[.., 0];
        var hs = boxes[.., 3] - boxes[.., 1];
        var keep = (ws >= minSize).logical_and(hs >= minSize);
        return scope.MoveToOuter(keep.nonzero().squeeze(1));
    }

    /// <summary>Greedy non-maximum suppression (torchvision.ops.nms, the engine's native kernel):
    /// int64 indices of kept boxes by decreasing score; a box is dropped when its IoU with a kept
    /// higher-scoring box is &gt; <paramref name="iouThreshold"/>.</summary>
    public static Tensor Nms(Tensor boxes, Tensor scores, double iouThreshold) => CxrLab.Torch.Vision.VisionOps.nms(boxes, scores, iouThreshold);

    /// <summary>NMS within each category (torchvision.ops.batched_nms): boxes of different
    /// <paramref name="idxs"/> never suppress each other. Like torchvision, more than 1000 boxes on
    /// CPU run one NMS per category; fewer use one NMS over boxes offset per category.</summary>
    public static Tensor BatchedNms(Tensor boxes, Tensor scores, Tensor idxs, double iouThreshold)
    {
        if (boxes.size(0) == 0) return torch.zeros([0], ScalarType.Int64, boxes.device);
        using var scope = torch.NewDisposeScope();
        if (boxes.numel() > (boxes.device.Type == DeviceType.CPU ? 4000 : 20000))
        {
            var keepMask = torch.zeros_like(scores, ScalarType.Bool);
            foreach (var classId in idxs.unique_values())
            {
                var current = idxs.eq(classId).nonzero().squeeze(1);
                var currentKeep = Nms(boxes.index_select(0, current), scores.index_select(0, current), iouThreshold);
                keepMask.index_fill_([current.index_select(0, currentKeep)], true);
            }
            var keep = keepMask.nonzero().squeeze(1);
            var (_, byScore) = scores.index_select(0, keep).sort(0, descending: true);
            return scope.MoveToOuter(keep.index_select(0, byScore));
        }
        var maxCoordinate = boxes.max();
        var offsets = idxs.to(boxes.DType) * (maxCoordinate + 1);
        var shifted = boxes + offsets[.., TensorIndex.NewAxis];
        return scope.MoveToOuter(Nms(shifted, scores, iouThreshold));
    }

    /// <summary>A <c>[N, 4]</c> xyxy tensor read to the host as <see cref="CxrLab.Data.Box"/>es (drawing, metrics).</summary>
    public static List<CxrLab.Data.Box> ToBoxes(Tensor boxes)
    {
        if (boxes.dim() != 2 || boxes.size(1) != 4) throw new ArgumentException($"boxes must be [N, 4], got [{string.Join(", ", boxes.shape)}]", nameof(boxes));
        using var host = boxes.detach().to(ScalarType.Float32).cpu().contiguous();
        var flat = host.ToArray<float>();
        var list = new List<CxrLab.Data.Box>(flat.Length / 4);
        for (var i = 0; i + 3 < flat.Length; i += 4) list.Add(new CxrLab.Data.Box(flat[i], flat[i + 1], flat[i + 2], flat[i + 3]));
        return list;
    }

    /// <summary>Distinct values of a 1-D int64 tensor, ascending, read to the host.</summary>
    static long[] unique_values(this Tensor t) => t.to(ScalarType.Int64).cpu().ToArray<long>().Distinct().Order().ToArray();
}
