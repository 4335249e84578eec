using CxrLab.Models.Detection;
using CxrLab.Torch;
using CxrLab.Torch.Vision;

namespace CxrLab.Models.EfficientDet;

/// <summary>effdet's post-processing (<c>_post_process</c> + <c>generate_detections</c>): the top
/// <see cref="EfficientDetOptions.MaxDetectionPoints"/> anchor·class logits of the whole pyramid, their boxes decoded
/// against the anchors and clipped to the scaled image, sigmoid scores; then per-class NMS at 0.5 (or Gaussian soft-NMS)
/// and the best <see cref="EfficientDetOptions.MaxDetPerImage"/>.</summary>
public static class EfficientDetPostprocess
{
    /// <summary>Per image the top-k candidates: boxes xyxy in network-input pixels (clipped to
    /// <paramref name="clipSizes"/> (H, W) when given), sigmoid scores, class ids 0..C−1, in top-k order.</summary>
    public static List<Detections> Candidates(IReadOnlyList<Tensor> classOutputs, IReadOnlyList<Tensor> boxOutputs, Tensor anchorsYxyx,
        int numClasses, int maxDetectionPoints, IReadOnlyList<(double H, double W)>? clipSizes)
    {
        using var scope = torch.NewDisposeScope();
        var batch = classOutputs[0].size(0);
        var clsAll = torch.cat(classOutputs.Select(c => c.permute(0, 2, 3, 1).reshape(batch, -1, numClasses)), 1);
        var boxAll = torch.cat(boxOutputs.Select(b => b.permute(0, 2, 3, 1).reshape(batch, -1, 4)), 1);
        var flat = clsAll.reshape(batch, -1);
        var k = Math.Min(maxDetectionPoints, flat.size(1));
        var (_, topIdx) = flat.topk(k, 1);
        var anchorIdx = topIdx.div(torch.scalar_tensor((long)numClasses), "floor");
        var classes = topIdx.remainder(numClasses);
        var boxTop = boxAll.gather(1, anchorIdx.unsqueeze(2).expand(-1, -1, 4));
        var clsTop = flat.gather(1, topIdx);
        var result = new List<Detections>();
        for (var i = 0; i < batch; i++)
        {
            var anchors = anchorsYxyx.index_select(0, anchorIdx[i]);
            var boxes = AnchorLabeler.DecodeXyxy(boxTop[i].to(ScalarType.Float32), anchors);
            if (clipSizes is not null)
            {
                var (h, w) = clipSizes[i];
                var size = Tensor.From([(float)w, (float)h, (float)w, (float)h]).to(boxes.device);
                boxes = boxes.clamp_min(0).minimum(size);
            }
            var d = new Detections(boxes, clsTop[i].sigmoid().to(ScalarType.Float32), classes[i]);
            scope.MoveToOuter(d.Tensors);
            result.Add(d);
        }
        return result;
    }

    /// <summary>NMS (hard, per class unless <paramref name="classAgnostic"/>; or Gaussian soft-NMS as effdet's
    /// <c>batched_soft_nms</c>) over candidates, keeping the best <paramref name="maxDetections"/>; candidates below
    /// <paramref name="scoreThresh"/> are dropped first (effdet has no threshold: 0).</summary>
    public static Detections Select(Detections c, double scoreThresh, double nmsThresh, int maxDetections, bool classAgnostic, bool softNms)
    {
        using var scope = torch.NewDisposeScope();
        var (boxes, scores, labels) = (c.Boxes, c.Scores, c.Labels);
        if (scoreThresh > 0)
        {
            var keepScore = scores.ge(scoreThresh).nonzero().squeeze(1);
            (boxes, scores, labels) = (boxes.index_select(0, keepScore), scores.index_select(0, keepScore), labels.index_select(0, keepScore));
        }
        Tensor keep;
        if (softNms)
        {
            var idxs = classAgnostic ? torch.zeros_like(labels) : labels;
            (keep, var newScores) = SoftNms.Batched(boxes, scores, idxs);
            scores = scores.clone().index_put_([keep], newScores);
        }
        else keep = classAgnostic ? VisionOps.nms(boxes, scores, nmsThresh) : VisionOps.batched_nms(boxes, scores, labels, nmsThresh);
        keep = keep.narrow(0, 0, Math.Min(maxDetections, keep.size(0)));
        var result = new Detections(boxes.index_select(0, keep), scores.index_select(0, keep), labels.index_select(0, keep));
        scope.MoveToOuter(result.Tensors);
        return result;
    }
}

/// <summary>effdet's Gaussian soft-NMS (<c>soft_nms.py</c>, from a detectron2 PR): repeatedly take the best box, decay
/// every other score by exp(−IoU²/σ), drop scores ≤ the threshold. Classes are kept apart by offsetting boxes per class
/// (as <c>batched_soft_nms</c>). Runs on the host: ≤ 5000 candidates, one pass per kept box.</summary>
public static class SoftNms
{
    /// <summary>(kept indices in keep order, their decayed scores).</summary>
    public static (Tensor Keep, Tensor Scores) Batched(Tensor boxes, Tensor scores, Tensor idxs, double sigma = 0.5, double scoreThreshold = 0.001)
    {
        if (boxes.size(0) == 0) return (torch.zeros([0], ScalarType.Int64), torch.zeros([0]));
        float[] b;
        using (var scope = torch.NewDisposeScope())
        {
            var maxCoord = boxes.max();
            var offsets = idxs.to(boxes.DType) * (maxCoord + 1.0);
            b = (boxes + offsets.unsqueeze(1)).to(ScalarType.Float32).cpu().contiguous().ToArray<float>();
        }
        var s = scores.to(ScalarType.Float32).cpu().contiguous().ToArray<float>();
        var n = s.Length;
        var remaining = Enumerable.Range(0, n).ToList();
        var keep = new List<long>();
        var kept = new List<float>();
        while (remaining.Count > 0)
        {
            var top = remaining[0];
            foreach (var r in remaining) if (s[r] > s[top]) top = r;
            keep.Add(top);
            kept.Add(s[top]);
            var next = new List<int>(remaining.Count);
            foreach (var r in remaining)
            {
                if (r == top) continue;
                var iou = Iou(b, top, r);
                s[r] = (float)(s[r] * Math.Exp(-(iou * iou) / sigma));
                if (s[r] > scoreThreshold) next.Add(r);
            }
            remaining = next;
        }
        return (Tensor.From(keep.ToArray()).to(boxes.device), Tensor.From(kept.ToArray()).to(boxes.device));
    }

    static float Iou(float[] b, int i, int j)
    {
        float areaI = (b[4 * i + 2] - b[4 * i]) * (b[4 * i + 3] - b[4 * i + 1]);
        float areaJ = (b[4 * j + 2] - b[4 * j]) * (b[4 * j + 3] - b[4 * j + 1]);
        var w = Math.Max(0f, Math.Min(b[4 * i + 2], b[4 * j + 2]) - Math.Max(b[4 * i], b[4 * j]));
        var h = Math.Max(0f, Math.Min(b[4 * i + 3], b[4 * j + 3]) - Math.Max(b[4 * i + 1], b[4 * j + 1]));
        var inter = w * h;
        return inter > 0 ? inter / (areaI + areaJ - inter) : 0f;
    }
}
