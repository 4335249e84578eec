namespace CxrLab.Models.FasterRcnn;

/// <summary>The experiment YAML's <c>faster_rcnn:</c> section (also <c>mask_rcnn:</c>'s two-stage part): what
/// differs from torchvision's <c>fasterrcnn_resnet50_fpn</c> defaults. Input size is <c>model.input_size</c> (the short side).</summary>
public sealed class FasterRcnnConfig
{
    /// <summary>Cap on the long side after resizing, pixels; 0 = 1333/800 of the input size (torchvision's ratio).</summary>
    public int MaxSize { get; set; }

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

    /// <summary>Proposals sampled per image for the box-head loss (torchvision: 512).</summary>
    public int RoiBatchSizePerImage { get; set; } = 512;
}
