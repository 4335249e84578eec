using CxrLab.Models.Detection;

namespace CxrLab.Models;

/// <summary>Everything a zoo builder needs to make a detector: the arch, the task's class count, the common
/// overrides (input size, backbone normalisation, post-processing) and one options section per family, as the
/// experiment YAML's <c>model:</c> and <c>faster_rcnn:</c>/<c>mask_rcnn:</c>/<c>yolox:</c>/<c>efficientdet:</c> sections say.
/// Unset values (0, null) mean the arch's reference default.</summary>
public sealed record DetectorSpec(string Arch, int NumClasses)
{
    /// <summary>Network input size in pixels (R-CNN: the short side; YOLOX/EfficientDet: the square letterbox); 0 = the arch's default.</summary>
    public int InputSize { get; init; }

    /// <summary>Cap on the long side after resizing (R-CNN's max_size); 0 = the arch's default.</summary>
    public int MaxSize { get; init; }

    /// <summary>Backbone normalisation; null = the family's rule (R-CNN: frozen with pretrained weights, BatchNorm2d from scratch).</summary>
    public NormLayer? NormLayer { get; init; }

    /// <summary>Post-processing overrides; null fields keep the family's defaults.</summary>
    public double? ScoreThresh { get; init; }
    public double? NmsThresh { get; init; }
    public int? MaxDetections { get; init; }
    public bool? ClassAgnostic { get; init; }

    /// <summary>Whether weights will be loaded (pretrained or a checkpoint): picks the family's normalisation rule.</summary>
    public bool Pretrained { get; init; }

    public FasterRcnn.FasterRcnnConfig FasterRcnn { get; init; } = new();
    public EfficientDet.EfficientDetConfig EfficientDet { get; init; } = new();

    /// <summary>The family's defaults with this spec's overrides applied.</summary>
    public PostprocessOptions Postprocess(PostprocessOptions defaults) => defaults with
    {
        ScoreThresh = ScoreThresh ?? defaults.ScoreThresh,
        NmsThresh = NmsThresh ?? defaults.NmsThresh,
        MaxDetections = MaxDetections ?? defaults.MaxDetections,
        ClassAgnostic = ClassAgnostic ?? defaults.ClassAgnostic,
    };

    /// <summary><see cref="NormLayer"/>, else the torchvision rule: frozen statistics with pretrained weights, BatchNorm2d from a random init.</summary>
    public NormLayer NormLayerOrDefault => NormLayer ?? (Pretrained ? Detection.NormLayer.Frozen : Detection.NormLayer.BatchNorm);
}
