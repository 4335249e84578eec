using CxrLab.Torch;
using CxrLab.Torch.Vision;
using CxrLab.Torch.Nn;

namespace CxrLab.Models.Detection;

/// <summary>RPN head (torchvision's <c>RPNHead</c>): a shared 3×3 conv + ReLU, then per anchor one
/// objectness logit and four box deltas. Keys <c>conv.0.0.*</c>, <c>cls_logits.*</c>, <c>bbox_pred.*</c>.</summary>
public sealed class RpnHead : Module
{
    readonly Sequential conv;
    readonly Conv2d clsLogits, bboxPred;

    public RpnHead(long inChannels, long numAnchors)
    {
        conv = register_module("conv", new Sequential(new Sequential(new Conv2d(inChannels, inChannels, 3, padding: 1), new ReLU())));
        clsLogits = register_module("cls_logits", new Conv2d(inChannels, numAnchors, 1));
        bboxPred = register_module("bbox_pred", new Conv2d(inChannels, numAnchors * 4, 1));
        foreach (var m in modules())
            if (m is Conv2d c) { Init.normal_(c.weight, std: 0.01); if (c.bias is { } b) Init.zeros_(b); }
    }

    public (List<Tensor> Logits, List<Tensor> BoxDeltas) Forward(IReadOnlyList<Tensor> features)
    {
        var logits = new List<Tensor>();
        var deltas = new List<Tensor>();
        foreach (var f in features)
        {
            var t = conv.forward(f);
            logits.Add(clsLogits.forward(t));
            deltas.Add(bboxPred.forward(t));
        }
        return (logits, deltas);
    }
}

/// <summary>RPN settings; defaults are torchvision's Faster R-CNN values.</summary>
public sealed record RpnOptions
{
    public int PreNmsTopNTrain { get; init; } = 2000;
    public int PreNmsTopNTest { get; init; } = 1000;
    public int PostNmsTopNTrain { get; init; } = 2000;
    public int PostNmsTopNTest { get; init; } = 1000;
    public double NmsThresh { get; init; } = 0.7;
    /// <summary>Anchors with IoU ≥ this are positive.</summary>
    public double FgIouThresh { get; init; } = 0.7;
    /// <summary>Anchors with IoU &lt; this are negative.</summary>
    public double BgIouThresh { get; init; } = 0.3;
    public int BatchSizePerImage { get; init; } = 256;
    public double PositiveFraction { get; init; } = 0.5;
    public double ScoreThresh { get; init; } = 0.0;
}

/// <summary>What the RPN saw and proposed for a batch (<see cref="RegionProposalNetwork.Inspect"/>).
/// <c>AnchorLevels</c>: per FPN level the anchors, shared by the batch, in the padded batch's pixels
/// (<c>BatchSize</c>). Per image: <c>Proposals</c> <c>[P, 4]</c> xyxy in the resized image's pixels
/// (<c>ImageSizes</c>), best objectness first, and <c>Objectness</c> <c>[P]</c> their probabilities (sigmoid).</summary>
public sealed record RpnInspection(IReadOnlyList<AnchorLevel> AnchorLevels, IReadOnlyList<Tensor> Proposals, IReadOnlyList<Tensor> Objectness,
    IReadOnlyList<(long H, long W)> ImageSizes, (long H, long W) BatchSize) : IDisposable
{
    /// <summary>All tensors it holds.</summary>
    public IEnumerable<Tensor> Tensors => AnchorLevels.Select(l => l.Anchors).Concat(Proposals).Concat(Objectness);

    public void Dispose()
    {
        foreach (var t in Tensors) t.Dispose();
    }
}

/// <summary>Region Proposal Network (torchvision's <c>RegionProposalNetwork</c>): anchors, head,
/// decode, per-level top-n, clip, small-box removal, per-level NMS, post-NMS top-n; in training
/// also the anchor targets and the two RPN losses.</summary>
public sealed class RegionProposalNetwork : Module
{
    const double MinSize = 1e-3;
    readonly RpnHead head;

    public RegionProposalNetwork(AnchorGenerator anchorGenerator, RpnHead head, RpnOptions options)
    {
        AnchorGenerator = anchorGenerator;
        this.head = register_module("head", head);
        Options = options;
        ProposalMatcher = new Matcher(options.FgIouThresh, options.BgIouThresh, allowLowQualityMatches: true);
        Sampler = new BalancedPositiveNegativeSampler(options.BatchSizePerImage, options.PositiveFraction);
    }

    public AnchorGenerator AnchorGenerator { get; }
    public RpnOptions Options { get; }
    public BoxCoder BoxCoder { get; } = new(1, 1, 1, 1);
    public Matcher ProposalMatcher { get; }
    public BalancedPositiveNegativeSampler Sampler { get; }

    int PreNmsTopN => training ? Options.PreNmsTopNTrain : Options.PreNmsTopNTest;
    int PostNmsTopN => training ? Options.PostNmsTopNTrain : Options.PostNmsTopNTest;

    /// <returns>Per image proposals <c>[P, 4]</c> (detached) and, in training, loss_objectness and loss_rpn_box_reg.</returns>
    public (List<Tensor> Proposals, Dictionary<string, Tensor> Losses) Forward(ImageList images, IReadOnlyList<Tensor> features, IReadOnlyList<DetectionTarget>? targets)
    {
        var p = Propose(images, features);
        var anchorsOne = torch.cat(p.AnchorLevels.Select(l => l.Anchors).ToArray(), 0);
        var losses = new Dictionary<string, Tensor>();
        if (!training) return (p.Boxes, losses);
        if (targets is null) throw new ArgumentException("training needs targets (use DetectionTarget.Empty() for images without objects)");
        using (torch.no_grad())
        {
            var anchors = Enumerable.Repeat(anchorsOne, images.ImageSizes.Count).ToList();
            var (labels, matchedGt) = AssignTargetsToAnchors(anchors, targets);
            var regressionTargets = labels.Select((_, i) => BoxCoder.encode_single(matchedGt[i], anchors[i])).ToList();
            using (torch.enable_grad())
            {
                var (lossObj, lossBox) = ComputeLoss(p.Objectness, p.Deltas, labels, regressionTargets);
                losses["loss_objectness"] = lossObj;
                losses["loss_rpn_box_reg"] = lossBox;
            }
        }
        return (p.Boxes, losses);
    }

    /// <summary>The proposals with their objectness and the anchors they came from, without losses (inspection:
    /// drawing anchors and proposals). Uses the current mode's top-n (call eval() for the test-time numbers).</summary>
    public RpnInspection Inspect(ImageList images, IReadOnlyList<Tensor> features)
    {
        using var _ = torch.no_grad();
        var p = Propose(images, features);
        return new RpnInspection(p.AnchorLevels, p.Boxes, p.Scores, images.ImageSizes, (images.Tensors.size(2), images.Tensors.size(3)));
    }

    /// <summary>Head, anchors, decode and filtering: the part of the forward pass training and inspection share.
    /// Objectness and deltas keep autograd (the losses need it); the proposals do not.</summary>
    (List<AnchorLevel> AnchorLevels, Tensor Objectness, Tensor Deltas, List<Tensor> Boxes, List<Tensor> Scores) Propose(ImageList images, IReadOnlyList<Tensor> features)
    {
        var (objectnessLevels, deltaLevels) = head.Forward(features);
        var shapes = features.Select(f => (f.size(2), f.size(3))).ToList();
        var anchorLevels = AnchorGenerator.AnchorsPerLevel(images.Tensors.size(2), images.Tensors.size(3), shapes, features[0].DType, features[0].device);
        var numImages = images.ImageSizes.Count;
        var numAnchorsPerLevel = objectnessLevels.Select(o => o.size(1) * o.size(2) * o.size(3)).ToArray();
        var (objectness, deltas) = ConcatBoxPredictionLayers(objectnessLevels, deltaLevels);
        using (torch.no_grad())
        {
            var anchorsOne = torch.cat(anchorLevels.Select(l => l.Anchors).ToArray(), 0);
            var anchors = torch.cat(Enumerable.Repeat(anchorsOne, numImages).ToArray(), 0);
            var proposals = BoxCoder.decode(deltas.detach(), anchors).view(numImages, -1, 4);
            var (boxes, scores) = FilterProposals(proposals, objectness, images.ImageSizes, numAnchorsPerLevel);
            return (anchorLevels, objectness, deltas, boxes, scores);
        }
    }

    /// <summary>[N·ΣHWA, 1] logits and [N·ΣHWA, 4] deltas, ordered image, level, y, x, anchor.</summary>
    static (Tensor Objectness, Tensor Deltas) ConcatBoxPredictionLayers(List<Tensor> cls, List<Tensor> reg)
    {
        var flatCls = new List<Tensor>();
        var flatReg = new List<Tensor>();
        for (var i = 0; i < cls.Count; i++)
        {
            var (n, axc, h, w) = (cls[i].size(0), cls[i].size(1), cls[i].size(2), cls[i].size(3));
            var a = reg[i].size(1) / 4;
            var c = axc / a;
            flatCls.Add(PermuteAndFlatten(cls[i], n, a, c, h, w));
            flatReg.Add(PermuteAndFlatten(reg[i], n, a, 4, h, w));
        }
        return (torch.cat(flatCls, 1).flatten(0, -2), torch.cat(flatReg, 1).reshape(-1, 4));
    }

    static Tensor PermuteAndFlatten(Tensor layer, long n, long a, long c, long h, long w) =>
        layer.view(n, -1, c, h, w).permute(0, 3, 4, 1, 2).reshape(n, -1, c);

    /// <summary>Top-n per level, sigmoid, clip, remove tiny, NMS per level, keep post-NMS top-n.</summary>
    public (List<Tensor> Boxes, List<Tensor> Scores) FilterProposals(Tensor proposals, Tensor objectness, IReadOnlyList<(long H, long W)> imageSizes, long[] numAnchorsPerLevel)
    {
        var numImages = proposals.size(0);
        var device = proposals.device;
        objectness = objectness.detach().reshape(numImages, -1);
        var levels = torch.cat(numAnchorsPerLevel.Select((n, idx) => torch.full([n], idx, ScalarType.Int64, device)).ToArray(), 0)
            .reshape(1, -1).expand_as(objectness);
        var topIdx = new List<Tensor>();
        long offset = 0;
        foreach (var ob in objectness.split(numAnchorsPerLevel, 1))
        {
            var k = Math.Min(PreNmsTopN, ob.size(1));
            var (_, idx) = ob.topk(k, 1);
            topIdx.Add(idx + offset);
            offset += ob.size(1);
        }
        var topNIdx = torch.cat(topIdx, 1);
        objectness = objectness.gather(1, topNIdx);
        levels = levels.gather(1, topNIdx);
        proposals = proposals.gather(1, topNIdx.unsqueeze(2).expand(numImages, topNIdx.size(1), 4));
        var prob = objectness.sigmoid();
        var finalBoxes = new List<Tensor>();
        var finalScores = new List<Tensor>();
        for (var i = 0; i < numImages; i++)
        {
            var boxes = VisionOps.clip_boxes_to_image(proposals[i], imageSizes[i]);
            var scores = prob[i];
            var lvl = levels[i];
            var keep = VisionOps.remove_small_boxes(boxes, MinSize);
            (boxes, scores, lvl) = (boxes.index_select(0, keep), scores.index_select(0, keep), lvl.index_select(0, keep));
            keep = (scores >= Options.ScoreThresh).nonzero().squeeze(1);
            (boxes, scores, lvl) = (boxes.index_select(0, keep), scores.index_select(0, keep), lvl.index_select(0, keep));
            keep = VisionOps.batched_nms(boxes, scores, lvl, Options.NmsThresh);
            keep = keep[..(int)Math.Min(PostNmsTopN, keep.size(0))];
            finalBoxes.Add(boxes.index_select(0, keep));
            finalScores.Add(scores.index_select(0, keep));
        }
        return (finalBoxes, finalScores);
    }

    /// <summary>Per image: labels (1 fg, 0 bg, -1 ignore; float) and the matched GT box of every anchor.</summary>
    public (List<Tensor> Labels, List<Tensor> MatchedGtBoxes) AssignTargetsToAnchors(IReadOnlyList<Tensor> anchors, IReadOnlyList<DetectionTarget> targets)
    {
        var labels = new List<Tensor>();
        var matched = new List<Tensor>();
        for (var i = 0; i < anchors.Count; i++)
        {
            var gt = targets[i].Boxes.to(anchors[i].device, anchors[i].DType);
            if (gt.numel() == 0)
            {
                matched.Add(torch.zeros(anchors[i].shape, ScalarType.Float32, anchors[i].device));
                labels.Add(torch.zeros([anchors[i].size(0)], ScalarType.Float32, anchors[i].device));
                continue;
            }
            var quality = VisionOps.box_iou(gt, anchors[i]);
            var idx = ProposalMatcher.Match(quality);
            matched.Add(gt.index_select(0, idx.clamp_min(0)));
            var lab = (idx >= 0L).to(ScalarType.Float32);
            lab.masked_fill_(idx.eq(Matcher.BelowLowThreshold), 0.0);
            lab.masked_fill_(idx.eq(Matcher.BetweenThresholds), -1.0);
            labels.Add(lab);
        }
        return (labels, matched);
    }

    (Tensor Objectness, Tensor Box) ComputeLoss(Tensor objectness, Tensor deltas, List<Tensor> labels, List<Tensor> regressionTargets)
    {
        var (pos, neg) = Sampler.Sample(labels);
        var posIdx = torch.cat(pos, 0).nonzero().squeeze(1);
        var negIdx = torch.cat(neg, 0).nonzero().squeeze(1);
        var sampled = torch.cat([posIdx, negIdx], 0);
        var flatObjectness = objectness.flatten();
        var allLabels = torch.cat(labels, 0);
        var allTargets = torch.cat(regressionTargets, 0);
        var boxLoss = CxrLab.Torch.Nn.Losses.smooth_l1_loss(deltas.index_select(0, posIdx), allTargets.index_select(0, posIdx), 1.0 / 9, "sum") / sampled.numel();
        var objLoss = CxrLab.Torch.Nn.Losses.binary_cross_entropy_with_logits(flatObjectness.index_select(0, sampled), allLabels.index_select(0, sampled));
        return (objLoss, boxLoss);
    }
}
