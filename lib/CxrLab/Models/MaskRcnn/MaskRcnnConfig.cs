using CxrLab.Models.FasterRcnn;

namespace CxrLab.Models.MaskRcnn;

/// <summary>The experiment YAML's <c>mask_rcnn:</c> section: Faster R-CNN's two-stage settings (same keys and defaults as
/// <c>faster_rcnn:</c>, <see cref="FasterRcnnConfig"/>) plus the mask head's, every default torchvision's
/// <c>maskrcnn_resnet50_fpn</c>. Input size is <c>model.input_size</c> (the short side) and <c>model.max_size</c>.</summary>
public sealed class MaskRcnnConfig : IConfigSection
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

    /// <summary>Proposals sampled per image for the box and mask losses (torchvision: 512; the RSNA seed: 32).</summary>
    public int RoiBatchSizePerImage { get; set; } = 512;

    /// <summary>Channels of the mask head's 3×3 conv blocks and of its transposed conv (torchvision: 256).</summary>
    public int MaskChannels { get; set; } = 256;

    /// <summary>3×3 conv blocks in the mask head (torchvision: 4).</summary>
    public int MaskConvs { get; set; } = 4;

    /// <summary>The two-stage part as Faster R-CNN's section, for the shared options builder.</summary>
    public FasterRcnnConfig TwoStage() => new()
    {
        TrainableBackboneLayers = TrainableBackboneLayers,
        AnchorSizes = [.. AnchorSizes],
        AspectRatios = [.. AspectRatios],
        FpnChannels = FpnChannels,
        RepresentationSize = RepresentationSize,
        RpnBatchSizePerImage = RpnBatchSizePerImage,
        RpnPostNmsTopNTrain = RpnPostNmsTopNTrain,
        RpnPostNmsTopNTest = RpnPostNmsTopNTest,
        RoiBatchSizePerImage = RoiBatchSizePerImage,
    };

    public IEnumerable<(string Key, string Message)> Problems()
    {
        foreach (var p in TwoStage().Problems()) yield return p;
        if (MaskChannels < 1) yield return ("mask_channels", $"{MaskChannels} must be ≥ 1 (torchvision: 256)");
        if (MaskConvs < 1) yield return ("mask_convs", $"{MaskConvs} must be ≥ 1 (torchvision: 4)");
    }
}
