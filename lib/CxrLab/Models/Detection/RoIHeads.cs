using CxrLab.Torch;
using CxrLab.Torch.Vision;
using CxrLab.Torch.Nn;

namespace CxrLab.Models.Detection;

/// <summary>Two fully connected layers over flattened pooled features (torchvision's <c>TwoMLPHead</c>, keys fc6, fc7).</summary>
public sealed class TwoMlpHead : Module
{
    readonly Linear fc6, fc7;

    public TwoMlpHead(long inChannels, long representationSize)
    {
        fc6 = register_module("fc6", new Linear(inChannels, representationSize));
        fc7 = register_module("fc7", new Linear(representationSize, representationSize));
    }

    public Tensor Forward(Tensor x) => fc7.forward(fc6.forward(x.flatten(1)).relu()).relu();
}

/// <summary>Class scores and per-class box deltas (torchvision's <c>FastRCNNPredictor</c>, keys cls_score, bbox_pred).</summary>
public sealed class FastRcnnPredictor : Module
{
    readonly Linear clsScore, bboxPred;

    /// <param name="inChannels">Representation size (1024).</param>
    /// <param name="numClasses">Classes including background.</param>
    public FastRcnnPredictor(long inChannels, long numClasses)
    {
        clsScore = register_module("cls_score", new Linear(inChannels, numClasses));
        bboxPred = register_module("bbox_pred", new Linear(inChannels, numClasses * 4));
        InChannels = inChannels;
        NumClasses = numClasses;
    }

    public long InChannels { get; }
    public long NumClasses { get; }

    public (Tensor Scores, Tensor BoxDeltas) Forward(Tensor x)
    {
        var flat = x.flatten(1);
        return (clsScore.forward(flat), bboxPred.forward(flat));
    }
}

/// <summary>RoI-head settings; defaults are torchvision's Faster R-CNN values.</summary>
public sealed record RoIHeadsOptions
{
    public double FgIouThresh { get; init; } = 0.5;
    public double BgIouThresh { get; init; } = 0.5;
    public int BatchSizePerImage { get; init; } = 512;
    public double PositiveFraction { get; init; } = 0.25;
    /// <summary>Minimum class score of a detection.</summary>
    public double ScoreThresh { get; init; } = 0.05;
    /// <summary>Per-class NMS IoU.</summary>
    public double NmsThresh { get; init; } = 0.5;
    public int DetectionsPerImage { get; init; } = 100;
    /// <summary>One NMS over all classes instead of torchvision's per-class NMS.</summary>
    public bool ClassAgnosticNms { get; init; }
}

/// <summary>The second stage (torchvision's <c>RoIHeads</c>, boxes only): in training, GT boxes are
/// appended to the proposals, matched, sampled (512, 25 % positive) and scored with the class
/// cross-entropy and smooth-L1 (beta 1/9) losses; in evaluation, softmax scores and per-class
/// decoded boxes go through score threshold, small-box removal, per-class NMS and top-k.</summary>
public sealed class RoIHeads : Module
{
    TwoMlpHead boxHead;
    FastRcnnPredictor boxPredictor;

    public RoIHeads(MultiScaleRoIAlign boxRoiPool, TwoMlpHead boxHead, FastRcnnPredictor boxPredictor, RoIHeadsOptions options)
    {
        BoxRoiPool = boxRoiPool;
        this.boxHead = register_module("box_head", boxHead);
        this.boxPredictor = register_module("box_predictor", boxPredictor);
        Options = options;
        ProposalMatcher = new Matcher(options.FgIouThresh, options.BgIouThresh, allowLowQualityMatches: false);
        Sampler = new BalancedPositiveNegativeSampler(options.BatchSizePerImage, options.PositiveFraction);
    }

    public MultiScaleRoIAlign BoxRoiPool { get; }
    public RoIHeadsOptions Options { get; set; }
    public BoxCoder BoxCoder { get; } = new(10, 10, 5, 5);
    public Matcher ProposalMatcher { get; }
    public BalancedPositiveNegativeSampler Sampler { get; }
    public FastRcnnPredictor BoxPredictor => boxPredictor;

    /// <summary>Swaps the predictor (e.g. for another class count); the old one is disposed.</summary>
    public void ReplacePredictor(FastRcnnPredictor predictor) => boxPredictor = register_module("box_predictor", predictor);

    public (List<Detections> Detections, Dictionary<string, Tensor> Losses) Forward(IReadOnlyList<Tensor> features, List<Tensor> proposals, IReadOnlyList<(long H, long W)> imageSizes, IReadOnlyList<DetectionTarget>? targets)
    {
        var losses = new Dictionary<string, Tensor>();
        List<Tensor>? labels = null, regressionTargets = null;
        if (training)
        {
            if (targets is null) throw new ArgumentException("training needs targets");
            (proposals, labels, regressionTargets) = SelectTrainingSamples(proposals, targets);
        }
        var pooled = BoxRoiPool.Forward(features, proposals, imageSizes);
        var (classLogits, boxRegression) = boxPredictor.Forward(boxHead.Forward(pooled));
        if (training)
        {
            var (lossCls, lossBox) = FastRcnnLoss(classLogits, boxRegression, labels!, regressionTargets!);
            losses["loss_classifier"] = lossCls;
            losses["loss_box_reg"] = lossBox;
            return ([], losses);
        }
        return (PostprocessDetections(classLogits, boxRegression, proposals, imageSizes), losses);
    }

    (List<Tensor> Proposals, List<Tensor> Labels, List<Tensor> RegressionTargets) SelectTrainingSamples(List<Tensor> proposals, IReadOnlyList<DetectionTarget> targets)
    {
        using var _ = torch.no_grad();
        var dtype = proposals[0].DType;
        var device = proposals[0].device;
        var gtBoxes = targets.Select(t => t.Boxes.to(device, dtype)).ToList();
        var withGt = proposals.Select((p, i) => torch.cat([p, gtBoxes[i]], 0)).ToList();
        var matchedIdxs = new List<Tensor>();
        var labels = new List<Tensor>();
        for (var i = 0; i < withGt.Count; i++)
        {
            if (gtBoxes[i].numel() == 0)
            {
                matchedIdxs.Add(torch.zeros([withGt[i].size(0)], ScalarType.Int64, device));
                labels.Add(torch.zeros([withGt[i].size(0)], ScalarType.Int64, device));
                continue;
            }
            var idx = ProposalMatcher.Match(VisionOps.box_iou(gtBoxes[i], withGt[i]));
            var clamped = idx.clamp_min(0);
            var lab = targets[i].Labels.to(device).index_select(0, clamped).to(ScalarType.Int64);
            lab.masked_fill_(idx.eq(Matcher.BelowLowThreshold), 0);
            lab.masked_fill_(idx.eq(Matcher.BetweenThresholds), -1);
            matchedIdxs.Add(clamped);
            labels.Add(lab);
        }
        var (pos, neg) = Sampler.Sample(labels);
        var sampledProposals = new List<Tensor>();
        var sampledLabels = new List<Tensor>();
        var regression = new List<Tensor>();
        for (var i = 0; i < withGt.Count; i++)
        {
            var inds = pos[i].logical_or(neg[i]).nonzero().squeeze(1);
            var props = withGt[i].index_select(0, inds);
            sampledProposals.Add(props);
            sampledLabels.Add(labels[i].index_select(0, inds));
            var gt = gtBoxes[i].numel() == 0 ? torch.zeros([1, 4], dtype, device) : gtBoxes[i];
            regression.Add(BoxCoder.encode_single(gt.index_select(0, matchedIdxs[i].index_select(0, inds)), props));
        }
        return (sampledProposals, sampledLabels, regression);
    }

    static (Tensor Cls, Tensor Box) FastRcnnLoss(Tensor classLogits, Tensor boxRegression, List<Tensor> labels, List<Tensor> regressionTargets)
    {
        var allLabels = torch.cat(labels, 0);
        var allTargets = torch.cat(regressionTargets, 0);
        var cls = CxrLab.Torch.Nn.Losses.cross_entropy(classLogits, allLabels);
        var posIdx = (allLabels > 0L).nonzero().squeeze(1);
        var labelsPos = allLabels.index_select(0, posIdx);
        var n = classLogits.size(0);
        var perClass = boxRegression.reshape(n, boxRegression.size(-1) / 4, 4);
        var chosen = perClass.index(posIdx, labelsPos);
        var box = CxrLab.Torch.Nn.Losses.smooth_l1_loss(chosen, allTargets.index_select(0, posIdx), 1.0 / 9, "sum") / allLabels.numel();
        return (cls, box);
    }

    /// <summary>Evaluation only: every class's box for every proposal, before post-processing (see <see cref="Candidates"/>).</summary>
    public List<Detections> ForwardCandidates(IReadOnlyList<Tensor> features, List<Tensor> proposals, IReadOnlyList<(long H, long W)> imageSizes)
    {
        if (training) throw new InvalidOperationException("call eval() before ForwardCandidates");
        var pooled = BoxRoiPool.Forward(features, proposals, imageSizes);
        var (classLogits, boxRegression) = boxPredictor.Forward(boxHead.Forward(pooled));
        return Candidates(classLogits, boxRegression, proposals, imageSizes);
    }

    List<Detections> PostprocessDetections(Tensor classLogits, Tensor boxRegression, List<Tensor> proposals, IReadOnlyList<(long H, long W)> imageSizes) =>
        Candidates(classLogits, boxRegression, proposals, imageSizes).Select(c => SelectDetections(c, Options)).ToList();

    /// <summary>Per image, each proposal decoded once per foreground class and clipped: <c>[P·(K−1), 4]</c> boxes, softmax
    /// scores and labels 1..K−1 — what post-processing chooses from.</summary>
    List<Detections> Candidates(Tensor classLogits, Tensor boxRegression, List<Tensor> proposals, IReadOnlyList<(long H, long W)> imageSizes)
    {
        var numClasses = classLogits.size(-1);
        var perImage = proposals.Select(p => p.size(0)).ToArray();
        var predBoxes = BoxCoder.decode(boxRegression, torch.cat(proposals, 0));
        var predScores = classLogits.softmax(-1);
        var boxesList = predBoxes.split(perImage, 0);
        var scoresList = predScores.split(perImage, 0);
        var result = new List<Detections>();
        for (var i = 0; i < perImage.Length; i++)
        {
            var boxes = VisionOps.clip_boxes_to_image(boxesList[i], imageSizes[i]);
            var scores = scoresList[i];
            var labels = torch.arange(0, numClasses, 1, ScalarType.Int64, classLogits.device).view(1, -1).expand_as(scores);
            result.Add(new Detections(boxes[.., 1..].reshape(-1, 4), scores[.., 1..].reshape(-1), labels[.., 1..].reshape(-1)));
        }
        return result;
    }

    /// <summary>torchvision's post-processing of one image's candidates: scores above <c>ScoreThresh</c>, boxes at least
    /// 0.01 px wide and high, per-class NMS at <c>NmsThresh</c>, the best <c>DetectionsPerImage</c> (by score).</summary>
    public static Detections SelectDetections(Detections candidates, RoIHeadsOptions options)
    {
        var (boxes, scores, labels) = (candidates.Boxes, candidates.Scores, candidates.Labels);
        var keep = (scores > options.ScoreThresh).nonzero().squeeze(1);
        (boxes, scores, labels) = (boxes.index_select(0, keep), scores.index_select(0, keep), labels.index_select(0, keep));
        keep = VisionOps.remove_small_boxes(boxes, 1e-2);
        (boxes, scores, labels) = (boxes.index_select(0, keep), scores.index_select(0, keep), labels.index_select(0, keep));
        keep = options.ClassAgnosticNms ? VisionOps.nms(boxes, scores, options.NmsThresh) : VisionOps.batched_nms(boxes, scores, labels, options.NmsThresh);
        keep = keep[..(int)Math.Min(options.DetectionsPerImage, keep.size(0))];
        return new Detections(boxes.index_select(0, keep), scores.index_select(0, keep), labels.index_select(0, keep));
    }
}
