using CxrLab.Torch;
using CxrLab.Torch.Nn;

namespace CxrLab.Models.Yolox;

/// <summary>One image's SimOTA result: <see cref="FgMask"/> [A] bool over all anchors; for the foreground anchors in
/// anchor order, the matched ground truth's index (<see cref="MatchedGt"/>), its class and the IoU of the
/// prediction with it (<see cref="PredIous"/>, the class target's weight).</summary>
public sealed record SimOtaAssignment(Tensor FgMask, Tensor MatchedGt, Tensor MatchedClasses, Tensor PredIous, int NumFg) : IDisposable
{
    public void Dispose()
    {
        FgMask.Dispose();
        MatchedGt.Dispose();
        MatchedClasses.Dispose();
        PredIous.Dispose();
    }
}

/// <summary>The anchor points of a batch's feature maps: per anchor its cell x, cell y and stride ([A] float each).</summary>
public sealed record AnchorPoints(Tensor XShifts, Tensor YShifts, Tensor Strides) : IDisposable
{
    public long Count => Strides.size(0);

    public void Dispose()
    {
        XShifts.Dispose();
        YShifts.Dispose();
        Strides.Dispose();
    }
}

/// <summary>Megvii's SimOTA label assignment (YOLOXHead.get_assignments / get_geometry_constraint / simota_matching,
/// as in the current Megvii code):
/// <list type="number">
/// <item>candidates: anchors whose point ((cell + 0.5) · stride) lies within 1.5 strides of some ground-truth centre
/// (the centre prior; older Megvii releases used 2.5 strides and the box itself);</item>
/// <item>cost = BCE(√(σ(cls)·σ(obj)), one-hot) summed over classes + 3 · (−log(IoU + 1e-8)) + 10⁶ for anchors outside
/// that ground truth's centre region;</item>
/// <item>dynamic k per ground truth = max(1, ⌊Σ of its top-10 IoUs⌋); its k cheapest anchors match it;</item>
/// <item>an anchor matched by several ground truths keeps only the cheapest.</item>
/// </list>
/// Runs without gradients; all boxes cxcywh in input pixels.</summary>
public static class SimOta
{
    /// <summary>Centre-prior radius in strides (Megvii's <c>center_radius</c>).</summary>
    public const double CenterRadius = 1.5;

    static readonly Op Bce = new("binary_cross_entropy");

    /// <summary>IoU matrix [G, M] of cxcywh boxes as Megvii's <c>bboxes_iou(a, b, xyxy=False)</c> (no epsilon).</summary>
    public static Tensor BboxesIouCxcywh(Tensor a, Tensor b)
    {
        using var scope = torch.NewDisposeScope();
        var aHalf = a.narrow(1, 2, 2) / 2;
        var bHalf = b.narrow(1, 2, 2) / 2;
        var aC = a.narrow(1, 0, 2).unsqueeze(1);
        var tl = (aC - aHalf.unsqueeze(1)).maximum(b.narrow(1, 0, 2) - bHalf);
        var br = (aC + aHalf.unsqueeze(1)).minimum(b.narrow(1, 0, 2) + bHalf);
        var areaA = a.select(1, 2) * a.select(1, 3);
        var areaB = b.select(1, 2) * b.select(1, 3);
        var en = (tl < br).to(a.DType);
        var d = br - tl;
        var areaI = d.select(2, 0) * d.select(2, 1) * en.select(2, 0) * en.select(2, 1);
        return scope.MoveToOuter(areaI / (areaA.unsqueeze(1) + areaB - areaI));
    }

    /// <summary>SimOTA's intermediate results for one image, before matching (for notebooks and tests; <see cref="Assign"/>
    /// runs the same code): the candidate anchors (inside some ground truth's centre region), per ground truth × candidate
    /// whether the anchor is inside that ground truth's centre region, the IoUs, the class cost and the total cost
    /// (cls + 3·IoU cost + 10⁶ outside), and each ground truth's dynamic k. Empty candidates: M = 0.</summary>
    public sealed record Steps(Tensor Candidates, Tensor InCenters, Tensor Ious, Tensor ClsCost, Tensor Cost, int[] DynamicKs) : IDisposable
    {
        public long M => Candidates.size(0);

        public void Dispose()
        {
            Candidates.Dispose();
            InCenters.Dispose();
            Ious.Dispose();
            ClsCost.Dispose();
            Cost.Dispose();
        }
    }

    /// <summary>The centre prior, the cost matrix and the dynamic ks of one image (arguments as <see cref="Assign"/>).</summary>
    public static Steps Explain(Tensor gtBoxes, Tensor gtClasses, Tensor boxPreds, Tensor clsLogits, Tensor objLogits, AnchorPoints anchors)
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var numGt = gtBoxes.size(0);
        var numClasses = clsLogits.size(1);

        // Centre prior (get_geometry_constraint).
        var xc = ((anchors.XShifts + 0.5) * anchors.Strides).unsqueeze(0);
        var yc = ((anchors.YShifts + 0.5) * anchors.Strides).unsqueeze(0);
        var dist = (anchors.Strides * CenterRadius).unsqueeze(0);
        var gx = gtBoxes.narrow(1, 0, 1);
        var gy = gtBoxes.narrow(1, 1, 1);
        var inCenters = ((xc - (gx - dist)) > 0.0) & (((gx + dist) - xc) > 0.0) & ((yc - (gy - dist)) > 0.0) & (((gy + dist) - yc) > 0.0);
        var candidates = inCenters.any(0).nonzero().squeeze(1);
        var m = candidates.size(0);
        if (m == 0)
        {
            var empty = torch.zeros([numGt, 0], ScalarType.Float32);
            return new Steps(scope.MoveToOuter(candidates), scope.MoveToOuter(torch.zeros([numGt, 0], ScalarType.Bool)), scope.MoveToOuter(empty),
                scope.MoveToOuter(empty.clone()), scope.MoveToOuter(empty.clone()), new int[numGt]);
        }
        var geometry = inCenters.index_select(1, candidates);

        var preds = boxPreds.index_select(0, candidates).to(ScalarType.Float32);
        var ious = BboxesIouCxcywh(gtBoxes.to(ScalarType.Float32), preds);
        var iouCost = -(ious + 1e-8).log();
        var p = (clsLogits.index_select(0, candidates).to(ScalarType.Float32).sigmoid() * objLogits.index_select(0, candidates).to(ScalarType.Float32).sigmoid()).sqrt();
        var oneHot = torch.one_hot(gtClasses, numClasses).to(ScalarType.Float32);
        var clsCost = Bce.Call(p.unsqueeze(0).expand(numGt, m, numClasses), oneHot.unsqueeze(1).expand(numGt, m, numClasses), Arg.None, 0L).sum(-1);
        var cost = clsCost + iouCost * 3.0 + (~geometry).to(ScalarType.Float32) * 1e6;
        // Dynamic k from the top-10 IoUs.
        var (topIous, _) = ious.topk(Math.Min(10, m), 1);
        var dynamicKs = topIous.sum(1).to(ScalarType.Int32).clamp_min(1).ToArray<int>();
        return new Steps(scope.MoveToOuter(candidates), scope.MoveToOuter(geometry), scope.MoveToOuter(ious), scope.MoveToOuter(clsCost), scope.MoveToOuter(cost), dynamicKs);
    }

    /// <summary>Assigns anchors to one image's ground truth.</summary>
    /// <param name="gtBoxes">[G, 4] cxcywh, G ≥ 1.</param>
    /// <param name="gtClasses">[G] int64.</param>
    /// <param name="boxPreds">[A, 4] decoded cxcywh predictions.</param>
    /// <param name="clsLogits">[A, K].</param>
    /// <param name="objLogits">[A, 1].</param>
    /// <param name="anchors">The anchor points.</param>
    public static SimOtaAssignment Assign(Tensor gtBoxes, Tensor gtClasses, Tensor boxPreds, Tensor clsLogits, Tensor objLogits, AnchorPoints anchors)
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var numGt = gtBoxes.size(0);
        var numAnchors = anchors.Count;
        using var steps = Explain(gtBoxes, gtClasses, boxPreds, clsLogits, objLogits, anchors);
        var (candidates, ious, cost, dynamicKs) = (steps.Candidates, steps.Ious, steps.Cost, steps.DynamicKs);
        var m = steps.M;
        if (m == 0)
        {
            var none = scope.MoveToOuter(torch.zeros([numAnchors], ScalarType.Bool));
            return new SimOtaAssignment(none, scope.MoveToOuter(torch.zeros([0], ScalarType.Int64)), scope.MoveToOuter(torch.zeros([0], ScalarType.Int64)),
                scope.MoveToOuter(torch.zeros([0], boxPreds.DType)), 0);
        }

        // simota_matching: the k cheapest anchors per ground truth.
        var matching = new byte[numGt * m];
        for (var g = 0; g < numGt; g++)
        {
            var (_, pos) = cost.select(0, g).topk(Math.Min(dynamicKs[g], m), largest: false);
            foreach (var j in pos.ToArray<long>()) matching[g * m + j] = 1;
        }
        var costs = cost.contiguous().ToArray<float>();
        var iouValues = ious.contiguous().ToArray<float>();
        var fgInBoxes = new bool[m];
        var matchedGt = new List<long>();
        var predIous = new List<float>();
        for (var j = 0; j < m; j++)
        {
            var count = 0;
            var first = -1;
            for (var g = 0; g < numGt; g++)
                if (matching[g * m + j] != 0) { count++; if (first < 0) first = g; }
            if (count == 0) continue;
            if (count > 1)
            {
                // torch.min over ground truths: the first of equal minima.
                first = 0;
                for (var g = 1; g < numGt; g++) if (costs[g * m + j] < costs[first * m + j]) first = g;
            }
            fgInBoxes[j] = true;
            matchedGt.Add(first);
            predIous.Add(iouValues[first * m + j]);
        }
        var fgCandidates = Tensor.From(fgInBoxes, m);
        var fgMask = torch.zeros([numAnchors], ScalarType.Bool);
        fgMask.index_put_([candidates], fgCandidates);
        var gtIdx = Tensor.From(matchedGt.ToArray(), matchedGt.Count);
        var classes = gtClasses.index_select(0, gtIdx);
        return new SimOtaAssignment(scope.MoveToOuter(fgMask), scope.MoveToOuter(gtIdx), scope.MoveToOuter(classes),
            scope.MoveToOuter(Tensor.From(predIous.ToArray(), predIous.Count)), matchedGt.Count);
    }
}

/// <summary>YOLOX's training losses (YOLOXHead.get_losses), each already divided by the number of foreground
/// anchors in the batch (at least 1). <see cref="Iou"/> is 5 × the IoU loss as Megvii reports it; <see cref="L1"/> is
/// zero unless the L1 loss is on; <see cref="Total"/> = Iou + Obj + Cls + L1.</summary>
public sealed record YoloxLosses(Tensor Iou, Tensor Obj, Tensor Cls, Tensor L1, double NumFgPerGt, IReadOnlyList<SimOtaAssignment> Assignments) : IDisposable
{
    /// <summary>Megvii's weight of the IoU loss.</summary>
    public const double RegWeight = 5.0;

    public Tensor Total()
    {
        using var a = Iou + Obj;
        using var b = a + Cls;
        return b + L1;
    }

    public void Dispose()
    {
        Iou.Dispose();
        Obj.Dispose();
        Cls.Dispose();
        L1.Dispose();
        foreach (var a in Assignments) a.Dispose();
    }
}

/// <summary>Megvii's YOLOX loss: SimOTA per image, then IoU loss (1 − IoU²) on the foreground boxes, BCE objectness on
/// every anchor (target 1 for foreground), BCE classes on the foreground with IoU-weighted one-hot targets, and
/// optionally L1 on the raw box outputs against the grid-encoded ground truth.</summary>
public static class YoloxLoss
{
    /// <summary>Megvii's IOUloss(loss_type="iou"): 1 − IoU² per pair of cxcywh boxes.</summary>
    public static Tensor IouLoss(Tensor pred, Tensor target)
    {
        using var scope = torch.NewDisposeScope();
        var pHalf = pred.narrow(1, 2, 2) / 2;
        var tHalf = target.narrow(1, 2, 2) / 2;
        var tl = (pred.narrow(1, 0, 2) - pHalf).maximum(target.narrow(1, 0, 2) - tHalf);
        var br = (pred.narrow(1, 0, 2) + pHalf).minimum(target.narrow(1, 0, 2) + tHalf);
        var areaP = pred.select(1, 2) * pred.select(1, 3);
        var areaG = target.select(1, 2) * target.select(1, 3);
        var en = (tl < br).to(tl.DType);
        var d = br - tl;
        var areaI = d.select(1, 0) * d.select(1, 1) * (en.select(1, 0) * en.select(1, 1));
        var iou = areaI / (areaP + areaG - areaI + 1e-16);
        return scope.MoveToOuter(1 - iou.square());
    }

    /// <summary>The losses of a batch.</summary>
    /// <param name="raw">[N, A, 5 + K] raw head outputs (reg, obj logit, cls logits) with gradients.</param>
    /// <param name="anchors">The anchor points of the batch's feature maps.</param>
    /// <param name="gtBoxes">Per image [G, 4] cxcywh in input pixels.</param>
    /// <param name="gtClasses">Per image [G] int64.</param>
    /// <param name="useL1">Add Megvii's L1 loss (its last no-augmentation epochs).</param>
    public static YoloxLosses Compute(Tensor raw, AnchorPoints anchors, IReadOnlyList<Tensor> gtBoxes, IReadOnlyList<Tensor> gtClasses, bool useL1)
    {
        using var scope = torch.NewDisposeScope();
        var n = raw.size(0);
        var numClasses = raw.size(2) - 5;
        var decoded = YOLOXHead.Decode(raw, anchors.XShifts, anchors.YShifts, anchors.Strides, sigmoid: false);
        var bbox = decoded.narrow(2, 0, 4);
        var obj = raw.narrow(2, 4, 1);
        var cls = raw.narrow(2, 5, numClasses);
        var dtype = raw.DType;
        var assignments = new List<SimOtaAssignment>();
        var clsTargets = new List<Tensor>();
        var regTargets = new List<Tensor>();
        var l1Targets = new List<Tensor>();
        var objTargets = new List<Tensor>();
        var fgMasks = new List<Tensor>();
        double numFg = 0, numGts = 0;
        for (var b = 0; b < n; b++)
        {
            var numGt = gtBoxes[b].size(0);
            numGts += numGt;
            SimOtaAssignment a;
            if (numGt == 0)
            {
                a = new SimOtaAssignment(torch.zeros([anchors.Count], ScalarType.Bool), torch.zeros([0], ScalarType.Int64), torch.zeros([0], ScalarType.Int64), torch.zeros([0], dtype), 0);
            }
            else
            {
                using var bb = bbox.select(0, b);
                using var cb = cls.select(0, b);
                using var ob = obj.select(0, b);
                a = SimOta.Assign(gtBoxes[b], gtClasses[b], bb, cb, ob, anchors);
            }
            scope.Detach(a.FgMask); scope.Detach(a.MatchedGt); scope.Detach(a.MatchedClasses); scope.Detach(a.PredIous);
            assignments.Add(a);
            numFg += a.NumFg;
            var gtMatched = gtBoxes[b].to(dtype).index_select(0, a.MatchedGt);
            clsTargets.Add(torch.one_hot(a.MatchedClasses, numClasses).to(dtype) * a.PredIous.to(dtype).unsqueeze(-1));
            regTargets.Add(gtMatched);
            objTargets.Add(a.FgMask.to(dtype).unsqueeze(-1));
            fgMasks.Add(a.FgMask);
            if (useL1)
            {
                var fgIdx = a.FgMask.nonzero().squeeze(1);
                var st = anchors.Strides.index_select(0, fgIdx);
                l1Targets.Add(torch.stack([
                    gtMatched.select(1, 0) / st - anchors.XShifts.index_select(0, fgIdx),
                    gtMatched.select(1, 1) / st - anchors.YShifts.index_select(0, fgIdx),
                    (gtMatched.select(1, 2) / st + 1e-8).log(),
                    (gtMatched.select(1, 3) / st + 1e-8).log()], 1));
            }
        }
        var fg = torch.cat(fgMasks);
        var fgRows = fg.nonzero().squeeze(1);
        var norm = Math.Max(DistributedMeanFg(numFg), 1);
        var lossIou = IouLoss(bbox.reshape(-1, 4).index_select(0, fgRows), torch.cat(regTargets)).sum() / norm;
        var lossObj = Losses.binary_cross_entropy_with_logits(obj.reshape(-1, 1), torch.cat(objTargets), reduction: "none").sum() / norm;
        var lossCls = Losses.binary_cross_entropy_with_logits(cls.reshape(-1, numClasses).index_select(0, fgRows), torch.cat(clsTargets), reduction: "none").sum() / norm;
        var lossL1 = useL1
            ? Losses.l1_loss(raw.narrow(2, 0, 4).reshape(-1, 4).index_select(0, fgRows), torch.cat(l1Targets), reduction: "none").sum() / norm
            : torch.zeros([], dtype);
        var iouWeighted = lossIou * YoloxLosses.RegWeight;
        scope.MoveToOuter(iouWeighted, lossObj, lossCls, lossL1);
        return new YoloxLosses(iouWeighted, lossObj, lossCls, lossL1, numFg / Math.Max(numGts, 1), assignments);
    }

    /// <summary>The foreground count the losses divide by. In a data-parallel run it is the mean over ranks (as mmdet's
    /// reduce_mean; Megvii divides by each rank's own count): DDP then averages gradients of Σ_rank / mean = the
    /// gradient of one process holding every rank's images, so N ranks × batch B train as one process × batch N·B.</summary>
    static double DistributedMeanFg(double numFg)
    {
        if (!CxrLab.Torch.Distributed.dist.is_initialized() || CxrLab.Torch.Distributed.dist.get_world_size() < 2) return numFg;
        using var t = torch.tensor(new[] { numFg }, 1);
        CxrLab.Torch.Distributed.dist.all_reduce(t);
        return t.item<double>() / CxrLab.Torch.Distributed.dist.get_world_size();
    }
}
