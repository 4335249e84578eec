using CxrLab.Models.Detection.TwoStage;

namespace CxrLab.Models.MaskRcnn;

/// <summary>The experiment YAML's <c>mask_rcnn:</c> section: the two-stage keys (same keys and defaults as
/// <c>faster_rcnn:</c>, <see cref="TwoStageConfig"/>) plus the mask head's, every default torchvision's
/// <c>maskrcnn_resnet50_fpn</c>. Input size is <c>model.input_size</c> (the short side) and <c>model.max_size</c>.</summary>
public sealed class MaskRcnnConfig : TwoStageConfig
{
    /// <summary>Channels of the mask head's 3×3 conv blocks and of its transposed conv (torchvision: 256).</summary>
    public int MaskChannels { get; set; } = 256;

    /// <summary>3×3 conv blocks in the mask head (torchvision: 4).</summary>
    public int MaskConvs { get; set; } = 4;

    public override IEnumerable<(string Key, string Message)> Problems()
    {
        foreach (var p in base.Problems()) yield return p;
        if (MaskChannels < 1) yield return ("mask_channels", $"{MaskChannels} must be ≥ 1 (torchvision: 256)");
        if (MaskConvs < 1) yield return ("mask_convs", $"{MaskConvs} must be ≥ 1 (torchvision: 4)");
    }
}
