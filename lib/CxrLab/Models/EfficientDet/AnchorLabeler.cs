using CxrLab.Torch;

namespace CxrLab.Models.EfficientDet;

/// <summary>Per-level training targets of a batch: class ids <c>[B, H, W, A]</c> (−1 = background), box deltas
/// <c>[B, H, W, A·4]</c> (ty, tx, th, tw; 0 where unmatched) and positives per image <c>[B]</c>.</summary>
public sealed record AnchorTargets(List<Tensor> ClassTargets, List<Tensor> BoxTargets, Tensor NumPositives) : IDisposable
{
    public void Dispose()
    {
        foreach (var t in ClassTargets.Concat(BoxTargets)) t.Dispose();
        NumPositives.Dispose();
    }
}

/// <summary>effdet's <c>AnchorLabeler</c> (TF object-detection's target assigner): IoU of every ground-truth box with
/// every anchor; an anchor whose best IoU ≥ 0.5 takes that box (below: background; no ignore band since both
/// thresholds are 0.5); then every box claims its best anchor (force match). Matched anchors regress
/// (ty, tx, th, tw) = ((cy − cy_a)/h_a, (cx − cx_a)/w_a, log(h/h_a), log(w/w_a)) with 1e-7 added to every side
/// (FasterRcnnBoxCoder without scale factors). Same tensor operations as effdet, so ties resolve alike.</summary>
public sealed class AnchorLabeler(Tensor anchorsYxyx, EfficientDetOptions options)
{
    const double Eps = 1e-7;

    /// <summary>Targets for a batch. <paramref name="boxesYxyx"/>: per image float <c>[K, 4]</c> y1, x1, y2, x2 in
    /// network-input pixels; <paramref name="labels"/>: per image int64 task ids 0..C−1.</summary>
    public AnchorTargets Label(IReadOnlyList<Tensor> boxesYxyx, IReadOnlyList<Tensor> labels)
    {
        using var scope = torch.NewDisposeScope();
        var perLevel = Anchors.PerLevel(options);
        var featSizes = BiFpnGraph.FeatSizes(options.ImageSize, options.MaxLevel);
        var cls = Enumerable.Range(0, options.NumLevels).Select(_ => new List<Tensor>()).ToList();
        var box = Enumerable.Range(0, options.NumLevels).Select(_ => new List<Tensor>()).ToList();
        var positives = new List<Tensor>();
        for (var i = 0; i < boxesYxyx.Count; i++)
        {
            var (clsTargets, boxTargets, matches) = Assign(boxesYxyx[i].to(ScalarType.Float32), labels[i].to(ScalarType.Int64));
            long start = 0;
            for (var l = 0; l < options.NumLevels; l++)
            {
                var (h, w) = featSizes[l + options.MinLevel];
                cls[l].Add(clsTargets.narrow(0, start, perLevel[l]).reshape(h, w, -1));
                box[l].Add(boxTargets.narrow(0, start, perLevel[l]).reshape(h, w, -1));
                start += perLevel[l];
            }
            positives.Add((matches > -1).to(ScalarType.Float32).sum());
        }
        var result = new AnchorTargets(cls.Select(c => torch.stack(c)).ToList(), box.Select(b => torch.stack(b)).ToList(), torch.stack(positives));
        scope.MoveToOuter(result.ClassTargets.Concat(result.BoxTargets).Append(result.NumPositives));
        return result;
    }

    (Tensor Cls, Tensor Box, Tensor Matches) Assign(Tensor gt, Tensor gtLabels)
    {
        var numAnchors = anchorsYxyx.size(0);
        Tensor matches;
        if (gt.size(0) == 0)
            matches = torch.full([numAnchors], -1L, ScalarType.Int64);
        else
        {
            var iou = Iou(gt, anchorsYxyx);
            var (vals, best) = iou.max(0);
            var below = vals < options.MatchThreshold;
            matches = best.masked_fill(below, -1L);
            // Force match: each box's best anchor is matched to it (the last box wins a shared anchor, as torch.max picks).
            var forceIds = iou.argmax(1);
            var oneHot = torch.zeros([gt.size(0), numAnchors], ScalarType.Bool).scatter(1, forceIds.unsqueeze(1), true);
            var (mask, rows) = oneHot.max(0);
            matches = torch.where(mask, rows, matches);
        }
        var matched = matches > -1;
        var gatherIdx = (matches + 2).clamp_min(0);
        // effdet gathers from [ignored, unmatched, boxes…] with zero boxes and label 0 for the first two.
        var boxTable = torch.cat([torch.zeros(2, 4), gt], 0);
        var matchedBoxes = boxTable.index_select(0, gatherIdx);
        var encoded = Encode(matchedBoxes, anchorsYxyx);
        var boxTargets = torch.where(matched.unsqueeze(1), encoded, torch.zeros_like(encoded));
        var labelTable = torch.cat([torch.zeros([2], ScalarType.Int64), gtLabels + 1L], 0);
        var clsTargets = labelTable.index_select(0, gatherIdx) - 1L;
        return (clsTargets, boxTargets, matches);
    }

    /// <summary>effdet's IoU (rows = ground truth): 0 where boxes do not intersect.</summary>
    static Tensor Iou(Tensor a, Tensor b)
    {
        var ca = a.chunk(4, 1);
        var cb = b.chunk(4, 1);
        var (y1a, x1a, y2a, x2a) = (ca[0], ca[1], ca[2], ca[3]);
        var (y1b, x1b, y2b, x2b) = (cb[0], cb[1], cb[2], cb[3]);
        var ih = (y2a.minimum(y2b.t()) - y1a.maximum(y1b.t())).clamp_min(0);
        var iw = (x2a.minimum(x2b.t()) - x1a.maximum(x1b.t())).clamp_min(0);
        var inter = ih * iw;
        var areaA = ((y2a - y1a).squeeze(1) * (x2a - x1a).squeeze(1));
        var areaB = ((y2b - y1b).squeeze(1) * (x2b - x1b).squeeze(1));
        var union = areaA.unsqueeze(1) + areaB.unsqueeze(0) - inter;
        return torch.where(inter.eq(0.0), torch.zeros_like(inter), inter / union);
    }

    static (Tensor Cy, Tensor Cx, Tensor H, Tensor W) CenterSize(Tensor yxyx)
    {
        var c = yxyx.t().unbind(0);
        var w = c[3] - c[1];
        var h = c[2] - c[0];
        return (c[0] + h / 2.0, c[1] + w / 2.0, h, w);
    }

    /// <summary>FasterRcnnBoxCoder.encode (no scale factors): [ty, tx, th, tw] per row.</summary>
    public static Tensor Encode(Tensor boxesYxyx, Tensor anchorsYxyx)
    {
        var (cya, cxa, ha, wa) = CenterSize(anchorsYxyx);
        var (cy, cx, h, w) = CenterSize(boxesYxyx);
        ha = ha + Eps; wa = wa + Eps; h = h + Eps; w = w + Eps;
        var tx = (cx - cxa) / wa;
        var ty = (cy - cya) / ha;
        var tw = (w / wa).log();
        var th = (h / ha).log();
        return torch.stack([ty, tx, th, tw]).t();
    }

    /// <summary>effdet's <c>decode_box_outputs</c>: (ty, tx, th, tw) against yxyx anchors → x1, y1, x2, y2.</summary>
    public static Tensor DecodeXyxy(Tensor relCodes, Tensor anchorsYxyx)
    {
        using var scope = torch.NewDisposeScope();
        var ycA = (anchorsYxyx[.., 0] + anchorsYxyx[.., 2]) / 2;
        var xcA = (anchorsYxyx[.., 1] + anchorsYxyx[.., 3]) / 2;
        var ha = anchorsYxyx[.., 2] - anchorsYxyx[.., 0];
        var wa = anchorsYxyx[.., 3] - anchorsYxyx[.., 1];
        var c = relCodes.unbind(1);
        var w = c[3].exp() * wa;
        var h = c[2].exp() * ha;
        var yc = c[0] * ha + ycA;
        var xc = c[1] * wa + xcA;
        var result = torch.stack([xc - w / 2.0, yc - h / 2.0, xc + w / 2.0, yc + h / 2.0], 1);
        return scope.MoveToOuter(result);
    }
}
