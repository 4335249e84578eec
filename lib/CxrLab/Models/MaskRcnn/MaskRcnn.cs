using CxrLab.Models.Detection;
using CxrLab.Models.Detection.TwoStage;
using CxrLab.Torch;

namespace CxrLab.Models.MaskRcnn;

/// <summary>Mask R-CNN settings: the two-stage ones (torchvision's <c>MaskRCNN</c> inherits <c>FasterRCNN</c>'s) plus the mask branch's,
/// every default torchvision's.</summary>
public sealed record MaskRcnnOptions
{
    /// <summary>Everything up to the box head (class count, sizes, anchors, RPN, RoI sampling, post-processing).</summary>
    public TwoStageOptions TwoStage { get; init; } = new();
    /// <summary>Channels of the mask head's 3×3 conv blocks (torchvision: 256 × 4).</summary>
    public long[] MaskLayers { get; init; } = [256, 256, 256, 256];
    /// <summary>Dilation of the mask head's convolutions (torchvision: 1).</summary>
    public long MaskDilation { get; init; } = 1;
    /// <summary>Channels after the mask predictor's transposed convolution (torchvision: 256).</summary>
    public long MaskDimReduced { get; init; } = 256;
    /// <summary>Side of the mask pooler's output (torchvision: 14; the logits are twice that).</summary>
    public int MaskPoolSize { get; init; } = 14;
}

/// <summary>Mask R-CNN with a ResNet-FPN backbone, key for key torchvision's <c>MaskRCNN</c>: Faster R-CNN's modules plus
/// <c>roi_heads.mask_head.{0..3}.0.*</c> (older checkpoints' <c>mask_fcn1..4</c> are upgraded on load) and
/// <c>roi_heads.mask_predictor.conv5_mask.*</c>/<c>mask_fcn_logits.*</c>. Training adds <c>loss_mask</c> (targets carry
/// <see cref="DetectionTarget.Masks"/> <c>[K, H, W]</c> in the input pixels); detections carry
/// <see cref="Detections.Masks"/> <c>[D, H, W]</c> bool in the input pixels (pasted as torchvision's
/// <c>paste_masks_in_image</c>, thresholded at 0.5).</summary>
public sealed class MaskRcnn : GeneralizedRcnn
{
    public MaskRcnn(BackboneWithFpn backbone, MaskRcnnOptions options, string arch = "maskrcnn_resnet50_fpn")
        : this(backbone, options, arch, TwoStageBuilder.Parts(backbone, options.TwoStage)) { }

    MaskRcnn(BackboneWithFpn backbone, MaskRcnnOptions options, string arch, (RegionProposalNetwork Rpn, RoIHeads RoIHeads) parts)
        : base(arch, options.TwoStage.NumClasses, new GeneralizedRCNNTransform(options.TwoStage.MinSize, options.TwoStage.MaxSize), backbone, parts.Rpn, WithMask(parts.RoIHeads, backbone, options))
    {
        Options = options;
    }

    public MaskRcnnOptions Options { get; }

    static RoIHeads WithMask(RoIHeads heads, BackboneWithFpn backbone, MaskRcnnOptions options)
    {
        var pool = new MultiScaleRoIAlign(options.MaskPoolSize, 2, featmapNames: heads.BoxRoiPool.FeatmapNames);
        var head = new MaskRcnnHeads(backbone.OutChannels, options.MaskLayers, options.MaskDilation);
        heads.AddMaskBranch(new MaskBranchParts(pool, head, new MaskRcnnPredictor(head.OutChannels, options.MaskDimReduced, options.TwoStage.NumClasses + 1)));
        return heads;
    }

    // ---------------------------------------------------------------- builders

    /// <summary>torchvision's <c>maskrcnn_resnet50_fpn</c> (random init; load weights with <see cref="GeneralizedRcnn.LoadWeights"/>).</summary>
    public static MaskRcnn ResNet50Fpn(MaskRcnnOptions? options = null) => ResNetFpn(50, options);
    public static MaskRcnn ResNet18Fpn(MaskRcnnOptions? options = null) => ResNetFpn(18, options);
    public static MaskRcnn ResNet34Fpn(MaskRcnnOptions? options = null) => ResNetFpn(34, options);
    public static MaskRcnn ResNet101Fpn(MaskRcnnOptions? options = null) => ResNetFpn(101, options);

    public static MaskRcnn ResNetFpn(int depth, MaskRcnnOptions? options = null)
    {
        options ??= new MaskRcnnOptions();
        var o = options.TwoStage;
        var backbone = BackboneWithFpn.ResNetFpn(depth, o.TrainableBackboneLayers, o.FrozenBatchNormEps, o.FpnChannels, o.NormLayer, o.FpnExtraBlock);
        return new MaskRcnn(backbone, options, $"maskrcnn_resnet{depth}_fpn");
    }

    /// <summary>The zoo's builder: <paramref name="spec"/>'s class count, input size, normalisation, post-processing and
    /// <c>mask_rcnn:</c> section over torchvision's defaults.</summary>
    public static MaskRcnn Build(DetectorSpec spec, int depth) => ResNetFpn(depth, OptionsFor(spec, spec.MaskRcnn));

    public static MaskRcnnOptions OptionsFor(DetectorSpec spec, MaskRcnnConfig c) => new()
    {
        TwoStage = TwoStageBuilder.OptionsFor(spec, c),
        MaskLayers = Enumerable.Repeat((long)c.MaskChannels, c.MaskConvs).ToArray(),
        MaskDimReduced = c.MaskChannels,
    };

    // ---------------------------------------------------------------- training

    /// <summary>Training step: Faster R-CNN's four losses plus <c>loss_mask</c>. A target without
    /// <see cref="DetectionTarget.Masks"/> trains with its filled boxes as masks (pixels whose centre lies in the box:
    /// what the RSNA seed drew), so any box dataset trains Mask R-CNN as it is.</summary>
    public override Dictionary<string, Tensor> ForwardTrain(IReadOnlyList<Tensor> images, IReadOnlyList<DetectionTarget> targets)
    {
        if (images.Count != targets.Count) throw new ArgumentException($"{images.Count} images but {targets.Count} targets");
        var made = new List<Tensor>();
        try
        {
            var withMasks = targets.Select((t, i) =>
            {
                var (h, w) = (images[i].size(1), images[i].size(2));
                if (t.Masks is { } m)
                {
                    if (m.dim() != 3 || m.size(0) != t.Boxes.size(0) || m.size(1) != h || m.size(2) != w)
                        throw new ArgumentException($"target {i}: masks must be [K, H, W] = [{t.Boxes.size(0)}, {h}, {w}] (one per box, the image's size), got [{string.Join(", ", m.shape)}]");
                    return t;
                }
                var filled = BoxMasks(t.Boxes, h, w);
                made.Add(filled);
                return t with { Masks = filled };
            }).ToList();
            return base.ForwardTrain(images, withMasks);
        }
        finally
        {
            foreach (var m in made) m.Dispose();
        }
    }

    /// <summary><c>[K, H, W]</c> uint8 masks of the filled boxes (a pixel belongs when its centre lies inside the box).</summary>
    public static Tensor BoxMasks(Tensor boxes, long height, long width)
    {
        using var scope = torch.NewDisposeScope();
        var b = boxes.to(ScalarType.Float32).cpu();
        var ys = (torch.arange(0, height, 1, ScalarType.Float32) + 0.5).view(1, -1, 1);
        var xs = (torch.arange(0, width, 1, ScalarType.Float32) + 0.5).view(1, 1, -1);
        var x1 = b[.., 0].view(-1, 1, 1);
        var y1 = b[.., 1].view(-1, 1, 1);
        var x2 = b[.., 2].view(-1, 1, 1);
        var y2 = b[.., 3].view(-1, 1, 1);
        var inside = (ys >= y1).logical_and(ys <= y2).logical_and(xs >= x1).logical_and(xs <= x2);
        return scope.MoveToOuter(inside.to(ScalarType.UInt8).to(boxes.device));
    }

    // ---------------------------------------------------------------- the mask step of inference

    sealed class PooledFeatures(List<Tensor> features) : IDisposable
    {
        public List<Tensor> Features { get; } = features;
        public void Dispose() { foreach (var f in Features) f.Dispose(); }
    }

    protected override IDisposable? CandidateState(List<(string Name, Tensor Feature)> features, ImageList batch)
    {
        var names = RoIHeads.MaskRoiPool!.FeatmapNames;
        var kept = names.Select(n => features.First(f => f.Name == n).Feature.alias()).ToList();
        foreach (var k in kept) DisposeScope.Current?.Detach(k);
        return new PooledFeatures(kept);
    }

    protected override List<Detections> FinishDetections(List<Detections> selected, DetectionCandidates candidates)
    {
        if (candidates.State is not PooledFeatures state) throw new InvalidOperationException("candidates were not made by this Mask R-CNN's PredictCandidates");
        var masks = RoIHeads.ForwardMasks(state.Features, selected.Select(d => d.Boxes).ToList(), selected.Select(d => d.Labels).ToList(), candidates.ImageSizes);
        return selected.Select((d, i) => d with { Masks = masks[i] }).ToList();
    }

    // ---------------------------------------------------------------- classes and weights

    protected override void ReplaceClassifier(int modelClasses)
    {
        base.ReplaceClassifier(modelClasses);
        var old = RoIHeads.MaskPredictor!;
        var fresh = new MaskRcnnPredictor(old.InChannels, old.DimReduced, modelClasses);
        var device = old.state_dict()["mask_fcn_logits.weight"].device;
        if (device.Type != DeviceType.CPU) fresh.to(device);
        RoIHeads.ReplaceMaskPredictor(fresh);
    }

    protected override IReadOnlyList<string> ClassifierKeys =>
        [.. base.ClassifierKeys, "roi_heads.mask_predictor.mask_fcn_logits.weight", "roi_heads.mask_predictor.mask_fcn_logits.bias"];

    /// <summary>Faster R-CNN's upgrades plus torchvision &lt; 0.13's mask head keys (<c>mask_fcn{i}</c> → <c>{i−1}.0</c>).</summary>
    public override string UpgradeLegacyKey(string key) => MaskRcnnHeads.UpgradeLegacyKey(base.UpgradeLegacyKey(key));
}
