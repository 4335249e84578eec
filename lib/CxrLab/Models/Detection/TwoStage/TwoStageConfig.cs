namespace CxrLab.Models.Detection.TwoStage;

/// <summary>The keys every two-stage family section shares (<c>faster_rcnn:</c>, <c>mask_rcnn:</c>): what differs from
/// torchvision's <c>fasterrcnn_resnet50_fpn</c> defaults. Input size is <c>model.input_size</c> (the short side) and
/// <c>model.max_size</c> (the long-side cap).</summary>
public abstract class TwoStageConfig : IConfigSection
{
    /// <summary>Backbone stages left trainable (0–5; torchvision's default 3 freezes conv1 and layer1).</summary>
    public int TrainableBackboneLayers { get; set; } = 3;

    /// <summary>Anchor sizes in pixels of the resized input, one per FPN level (5; torchvision: 32…512 for ~800 px).</summary>
    public List<double> AnchorSizes { get; set; } = [32, 64, 128, 256, 512];

    /// <summary>Anchor aspect ratios (height / width) on every level (torchvision: 0.5, 1, 2).</summary>
    public List<double> AspectRatios { get; set; } = [0.5, 1.0, 2.0];

    /// <summary>FPN channels (torchvision: 256); smaller makes CPU demos fast.</summary>
    public int FpnChannels { get; set; } = 256;

    /// <summary>Box-head MLP width (torchvision: 1024).</summary>
    public int RepresentationSize { get; set; } = 1024;

    /// <summary>Anchors sampled per image for the RPN loss (torchvision: 256).</summary>
    public int RpnBatchSizePerImage { get; set; } = 256;

    /// <summary>Proposals kept per image after NMS in training (torchvision: 2000) and evaluation (1000).</summary>
    public int RpnPostNmsTopNTrain { get; set; } = 2000;
    public int RpnPostNmsTopNTest { get; set; } = 1000;

    /// <summary>Proposals sampled per image for the box-head (and mask) loss (torchvision: 512; the RSNA seed: 32).</summary>
    public int RoiBatchSizePerImage { get; set; } = 512;

    public virtual IEnumerable<(string Key, string Message)> Problems()
    {
        if (TrainableBackboneLayers is < 0 or > 5) yield return ("trainable_backbone_layers", $"{TrainableBackboneLayers} must be 0–5");
        if (AnchorSizes.Count == 0 || AnchorSizes.Any(a => !(a > 0)))
            yield return ("anchor_sizes", $"[{string.Join(", ", AnchorSizes)}] must be positive sizes in pixels, one per FPN level (5 with the max-pool level: strides 4…64), e.g. [32, 64, 128, 256, 512]");
        if (AspectRatios.Count == 0 || AspectRatios.Any(r => !(r > 0)))
            yield return ("aspect_ratios", $"[{string.Join(", ", AspectRatios)}] must be positive height/width ratios, e.g. [0.5, 1.0, 2.0]");
        foreach (var (key, value) in new[] { ("fpn_channels", FpnChannels), ("representation_size", RepresentationSize), ("rpn_batch_size_per_image", RpnBatchSizePerImage),
                     ("rpn_post_nms_top_n_train", RpnPostNmsTopNTrain), ("rpn_post_nms_top_n_test", RpnPostNmsTopNTest), ("roi_batch_size_per_image", RoiBatchSizePerImage) })
            if (value < 1) yield return (key, $"{value} must be ≥ 1");
    }
}
