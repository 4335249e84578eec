using CxrLab.Models.Backbones;

namespace CxrLab.Models.EfficientDet;

/// <summary>How a BiFPN node weighs its inputs (effdet's <c>weight_method</c>).</summary>
public enum FusionMode
{
    /// <summary>"fastattn": relu(w) / (Σ relu(w) + 1e-4), one learned scalar per input (BiFPN's fast normalised fusion).</summary>
    FastAttn,
    /// <summary>"attn": softmax over the learned weights.</summary>
    Attn,
    /// <summary>"sum": plain sum, no weights (effdet's D6/D7, "for training stability").</summary>
    Sum,
}

/// <summary>One EfficientDet model's configuration: effdet's <c>default_detection_model_configs()</c> merged with a
/// variant's row of <c>efficientdet_model_param_dict</c>. Every default is effdet's.</summary>
public sealed record EfficientDetOptions
{
    /// <summary>effdet's variant name (<c>tf_efficientdet_d0</c>).</summary>
    public string Name { get; init; } = "tf_efficientdet_d1";
    /// <summary>timm backbone (<c>tf_efficientnet_b1</c>).</summary>
    public string BackboneName { get; init; } = "tf_efficientnet_b1";
    /// <summary>Backbone stochastic depth at its last block (effdet: 0.2; 0.1 for efficientdet_d0).</summary>
    public double BackboneDropPathRate { get; init; } = 0.2;
    /// <summary>Square network input, pixels (D0 512 … D7 1536). Feature sizes, resampling and anchors follow it.</summary>
    public int ImageSize { get; init; } = 640;
    /// <summary>Task classes (effdet: 90 for COCO; no background class).</summary>
    public int NumClasses { get; init; } = 90;
    /// <summary>Pyramid levels P3…P7.</summary>
    public int MinLevel { get; init; } = 3;
    public int MaxLevel { get; init; } = 7;
    /// <summary>Anchor octave scales per level (2^0, 2^(1/3), 2^(2/3)).</summary>
    public int NumScales { get; init; } = 3;
    /// <summary>Anchor aspect (x, y) multipliers: (1, 1), (1.4, 0.7), (0.7, 1.4).</summary>
    public (double X, double Y)[] AspectRatios { get; init; } = [(1.0, 1.0), (1.4, 0.7), (0.7, 1.4)];
    /// <summary>Anchor side = anchor scale × stride × octave (4; D7 5).</summary>
    public double AnchorScale { get; init; } = 4.0;
    /// <summary>"SAME" padding for tf_ variants; PyTorch padding for efficientdet_*.</summary>
    public PadType Pad { get; init; } = PadType.TfSame;
    /// <summary>BiFPN/head BatchNorm eps and momentum (effdet: 1e-3 and 0.01, TensorFlow's 0.99 decay).</summary>
    public double BnEps { get; init; } = 1e-3;
    public double BnMomentum { get; init; } = 0.01;
    /// <summary>Head conv repeats (D0–D2 3, D3–D5 4, D6–D7 5).</summary>
    public int BoxClassRepeats { get; init; } = 3;
    /// <summary>BiFPN layers (D0 3 … D7 8).</summary>
    public int FpnCellRepeats { get; init; } = 3;
    /// <summary>BiFPN and head channels (D0 64 … D7 384).</summary>
    public int FpnChannels { get; init; } = 88;
    /// <summary>Resampling 1×1 convs followed by BN (effdet: true).</summary>
    public bool ApplyResampleBn { get; init; } = true;
    /// <summary>Bias before BN, as the TF weights have (tf_: true; efficientdet_*: false).</summary>
    public bool RedundantBias { get; init; } = true;
    /// <summary>BiFPN node fusion (effdet's fpn_name: bifpn_fa → FastAttn; bifpn_sum (D6, D7) → Sum; bifpn_attn → Attn).</summary>
    public FusionMode Fusion { get; init; } = FusionMode.FastAttn;
    /// <summary>Focal loss α and γ; Huber δ and box loss weight; label smoothing (effdet: 0.25, 1.5, 0.1, 50, 0).</summary>
    public double Alpha { get; init; } = 0.25;
    public double Gamma { get; init; } = 1.5;
    public double Delta { get; init; } = 0.1;
    public double BoxLossWeight { get; init; } = 50.0;
    public double LabelSmoothing { get; init; }
    /// <summary>Anchor matching IoU (effdet's AnchorLabeler: 0.5, no ignore band).</summary>
    public double MatchThreshold { get; init; } = 0.5;
    /// <summary>Candidates (anchor·class logits) kept before NMS (effdet: 5000).</summary>
    public int MaxDetectionPoints { get; init; } = 5000;
    /// <summary>Detections kept per image after NMS (100).</summary>
    public int MaxDetPerImage { get; init; } = 100;
    /// <summary>Gaussian soft-NMS instead of hard NMS (effdet: false; "incredibly slow").</summary>
    public bool SoftNms { get; init; }

    public int NumLevels => MaxLevel - MinLevel + 1;
    public int AnchorsPerLocation => NumScales * AspectRatios.Length;
}

/// <summary>effdet's variants (<c>efficientdet_model_param_dict</c>): input size, backbone, BiFPN channels and repeats.</summary>
public static class EfficientDetVariants
{
    /// <summary>Arch names this family builds.</summary>
    public static readonly IReadOnlyList<string> Names =
    [
        "efficientdet_d0", "efficientdet_d1",
        "tf_efficientdet_d0", "tf_efficientdet_d1", "tf_efficientdet_d2", "tf_efficientdet_d3",
        "tf_efficientdet_d4", "tf_efficientdet_d5", "tf_efficientdet_d6", "tf_efficientdet_d7",
    ];

    /// <summary>effdet's configuration of <paramref name="name"/> for <paramref name="numClasses"/> classes.</summary>
    public static EfficientDetOptions Get(string name, int numClasses = 90)
    {
        var o = new EfficientDetOptions { Name = name, NumClasses = numClasses };
        return name switch
        {
            // PyTorch-padded variants with rwightman's PyTorch-trained backbones.
            "efficientdet_d0" => o with { BackboneName = "efficientnet_b0", ImageSize = 512, FpnChannels = 64, FpnCellRepeats = 3, BoxClassRepeats = 3, Pad = PadType.PyTorch, RedundantBias = false, BackboneDropPathRate = 0.1 },
            "efficientdet_d1" => o with { BackboneName = "efficientnet_b1", ImageSize = 640, FpnChannels = 88, FpnCellRepeats = 4, BoxClassRepeats = 3, Pad = PadType.PyTorch, RedundantBias = false, BackboneDropPathRate = 0.2 },
            // Google's TensorFlow models ported ("SAME" padding, redundant bias).
            "tf_efficientdet_d0" => o with { BackboneName = "tf_efficientnet_b0", ImageSize = 512, FpnChannels = 64, FpnCellRepeats = 3, BoxClassRepeats = 3 },
            "tf_efficientdet_d1" => o with { BackboneName = "tf_efficientnet_b1", ImageSize = 640, FpnChannels = 88, FpnCellRepeats = 4, BoxClassRepeats = 3 },
            "tf_efficientdet_d2" => o with { BackboneName = "tf_efficientnet_b2", ImageSize = 768, FpnChannels = 112, FpnCellRepeats = 5, BoxClassRepeats = 3 },
            "tf_efficientdet_d3" => o with { BackboneName = "tf_efficientnet_b3", ImageSize = 896, FpnChannels = 160, FpnCellRepeats = 6, BoxClassRepeats = 4 },
            "tf_efficientdet_d4" => o with { BackboneName = "tf_efficientnet_b4", ImageSize = 1024, FpnChannels = 224, FpnCellRepeats = 7, BoxClassRepeats = 4 },
            "tf_efficientdet_d5" => o with { BackboneName = "tf_efficientnet_b5", ImageSize = 1280, FpnChannels = 288, FpnCellRepeats = 7, BoxClassRepeats = 4 },
            "tf_efficientdet_d6" => o with { BackboneName = "tf_efficientnet_b6", ImageSize = 1280, FpnChannels = 384, FpnCellRepeats = 8, BoxClassRepeats = 5, Fusion = FusionMode.Sum },
            "tf_efficientdet_d7" => o with { BackboneName = "tf_efficientnet_b6", ImageSize = 1536, FpnChannels = 384, FpnCellRepeats = 8, BoxClassRepeats = 5, AnchorScale = 5.0, Fusion = FusionMode.Sum },
            _ => throw new ArgumentException($"unknown EfficientDet variant '{name}'; use {string.Join(", ", Names)}"),
        };
    }
}
