using CxrLab.Models.Necks;

namespace CxrLab.Models.Detection.TwoStage;

/// <summary>A two-stage detector's settings up to the box head (torchvision's <c>FasterRCNN</c> arguments, which
/// <c>MaskRCNN</c> inherits); every default is torchvision's <c>fasterrcnn_resnet50_fpn</c> value.</summary>
public sealed record TwoStageOptions
{
    /// <summary>Task classes, background not counted (COCO 90 — torchvision's 91 with background; VinBigData 14; RSNA 1).</summary>
    public int NumClasses { get; init; } = 90;
    /// <summary>Short side after resizing, pixels.</summary>
    public int MinSize { get; init; } = 800;
    /// <summary>Cap on the long side after resizing, pixels.</summary>
    public int MaxSize { get; init; } = 1333;
    /// <summary>Backbone stages that train (0–5).</summary>
    public int TrainableBackboneLayers { get; init; } = 3;
    /// <summary>FrozenBatchNorm eps (0.0 for torchvision's COCO v1 weights).</summary>
    public double FrozenBatchNormEps { get; init; } = 1e-5;
    /// <summary>Backbone normalisation: Frozen (for loaded weights; the default here because loading
    /// torchvision's checkpoints is this class's main use) or BatchNorm (training from a random init, what
    /// torchvision's builder picks without weights). Same state_dict keys either way.</summary>
    public NormLayer NormLayer { get; init; } = NormLayer.Frozen;
    /// <summary>Anchor side lengths in pixels of the resized input, one per FPN level ("0".."3","pool" with the
    /// default max-pool extra level; torchvision: 32, 64, 128, 256, 512 for ~800 px inputs). Scale them with the
    /// input: at 224 px lesions of 8–100 px want about 16…256.</summary>
    public double[] AnchorSizes { get; init; } = [32, 64, 128, 256, 512];
    /// <summary>Anchor aspect ratios (height / width), the same on every level (torchvision: 0.5, 1, 2).</summary>
    public double[] AspectRatios { get; init; } = [0.5, 1.0, 2.0];
    /// <summary>FPN channels (torchvision: 256). Smaller values make quick experiments and tests cheap.</summary>
    public long FpnChannels { get; init; } = 256;
    /// <summary>The FPN's extra levels above the backbone's (torchvision's Faster R-CNN: one max-pool level "pool").</summary>
    public FpnExtraBlock FpnExtraBlock { get; init; } = FpnExtraBlock.MaxPool;
    /// <summary>TwoMLPHead width (torchvision: 1024).</summary>
    public long RepresentationSize { get; init; } = 1024;
    public RpnOptions Rpn { get; init; } = new();
    public RoIHeadsOptions RoIHeads { get; init; } = new();
}

/// <summary>The parts every two-stage builder shares: the RPN and box heads for a backbone, and the options a spec asks for.</summary>
public static class TwoStageBuilder
{
    /// <summary>The RPN (one anchor size per FPN level) and box heads (pooling levels "0".."3") for <paramref name="backbone"/>.</summary>
    public static (RegionProposalNetwork Rpn, RoIHeads RoIHeads) Parts(BackboneWithFpn backbone, TwoStageOptions options)
    {
        if (options.AnchorSizes.Length != backbone.LevelNames.Count)
            throw new ArgumentException($"AnchorSizes has {options.AnchorSizes.Length} values; give one per FPN level ({backbone.LevelNames.Count}: {string.Join(", ", backbone.LevelNames)}), e.g. [32, 64, 128, 256, 512]");
        if (options.AnchorSizes.Any(a => !(a > 0)) || options.AspectRatios.Length == 0 || options.AspectRatios.Any(r => !(r > 0)))
            throw new ArgumentException("anchor sizes and aspect ratios must be positive, with at least one ratio");
        var anchors = new AnchorGenerator(options.AnchorSizes.Select(a => new[] { a }).ToArray(),
            Enumerable.Repeat(options.AspectRatios, options.AnchorSizes.Length).ToArray());
        var rpn = new RegionProposalNetwork(anchors, new RpnHead(backbone.OutChannels, anchors.NumAnchorsPerLocation[0]), options.Rpn);
        var pool = new MultiScaleRoIAlign(7, 2, featmapNames: backbone.BodyLevelNames);
        var roiHeads = new RoIHeads(pool, new TwoMlpHead(backbone.OutChannels * pool.OutputSize * pool.OutputSize, options.RepresentationSize),
            new FastRcnnPredictor(options.RepresentationSize, options.NumClasses + 1), options.RoIHeads);
        return (rpn, roiHeads);
    }

    /// <summary>torchvision's options with a spec's class count, sizes, normalisation, post-processing and family section.</summary>
    public static TwoStageOptions OptionsFor(DetectorSpec spec, TwoStageConfig c)
    {
        var minSize = spec.InputSize > 0 ? spec.InputSize : 800;
        var post = spec.Postprocess(new PostprocessOptions());
        return new TwoStageOptions
        {
            NumClasses = spec.NumClasses,
            MinSize = minSize,
            MaxSize = spec.MaxSize > 0 ? spec.MaxSize : (int)Math.Round(minSize * 1333.0 / 800),
            TrainableBackboneLayers = c.TrainableBackboneLayers,
            NormLayer = spec.NormLayerOrDefault,
            AnchorSizes = [.. c.AnchorSizes],
            AspectRatios = [.. c.AspectRatios],
            FpnChannels = c.FpnChannels,
            RepresentationSize = c.RepresentationSize,
            Rpn = new RpnOptions
            {
                BatchSizePerImage = c.RpnBatchSizePerImage,
                PostNmsTopNTrain = c.RpnPostNmsTopNTrain,
                PostNmsTopNTest = c.RpnPostNmsTopNTest,
            },
            RoIHeads = new RoIHeadsOptions
            {
                BatchSizePerImage = c.RoiBatchSizePerImage,
                ScoreThresh = post.ScoreThresh,
                NmsThresh = post.NmsThresh,
                DetectionsPerImage = post.MaxDetections,
                ClassAgnosticNms = post.ClassAgnostic,
            },
        };
    }
}
