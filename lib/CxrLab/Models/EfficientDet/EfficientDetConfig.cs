namespace CxrLab.Models.EfficientDet;

/// <summary>The experiment YAML's <c>efficientdet:</c> section: what differs from the variant's effdet configuration
/// (unset = effdet's value). Input size is <c>model.input_size</c> (the square side; 0 = the variant's 512…1536).
/// effdet's training recipe (its <c>train.py</c> defaults: SGD momentum 0.9, weight decay 4e-5, lr 0.01 for batch 32
/// with 5 warmup epochs from 1e-4 and cosine to 1e-5, gradient clipping at norm 10, model EMA 0.9998) goes in the
/// sections the trainer reads (<c>optimizer:</c>, <c>schedule:</c>, <c>train:</c>), as <c>experiments/vinbig_effdet_base.yaml</c> states it.</summary>
public sealed class EfficientDetConfig
{
    // ---------------------------------------------------------------- model

    /// <summary>BiFPN fusion: <c>fastattn</c> (effdet's bifpn_fa, D0–D5), <c>attn</c> (softmax) or <c>sum</c> (D6, D7); null = the variant's.</summary>
    public string? Fusion { get; set; }

    /// <summary>Backbone stochastic depth at the last block; null = the variant's (0.2; efficientdet_d0 0.1).</summary>
    public double? DropPathRate { get; set; }

    /// <summary>BiFPN/head channels and repeats; 0 = the variant's (D0: 64, 3 BiFPN layers, 3 head repeats). Small values make CPU demos fast.</summary>
    public int FpnChannels { get; set; }
    public int FpnCellRepeats { get; set; }
    public int BoxClassRepeats { get; set; }

    /// <summary>Anchor side in strides (effdet 4; D7 5); 0 = the variant's.</summary>
    public double AnchorScale { get; set; }

    /// <summary>Focal loss α and γ, Huber δ, box loss weight (effdet: 0.25, 1.5, 0.1, 50).</summary>
    public double Alpha { get; set; } = 0.25;
    public double Gamma { get; set; } = 1.5;
    public double Delta { get; set; } = 0.1;
    public double BoxLossWeight { get; set; } = 50.0;

    /// <summary>Label smoothing in the focal loss's BCE (effdet: 0, its <c>--smoothing</c>).</summary>
    public double LabelSmoothing { get; set; }

    /// <summary>Candidates kept before NMS (effdet: 5000).</summary>
    public int MaxDetectionPoints { get; set; } = 5000;

    /// <summary>Gaussian soft-NMS (σ 0.5, IoU 0.3, score ≥ 0.001) instead of hard NMS (effdet: false).</summary>
    public bool SoftNms { get; set; }

    /// <summary>The variant's options with this section's overrides.</summary>
    public EfficientDetOptions Apply(EfficientDetOptions o) => o with
    {
        Fusion = Fusion switch
        {
            null or "" => o.Fusion,
            "fastattn" => FusionMode.FastAttn,
            "attn" => FusionMode.Attn,
            "sum" => FusionMode.Sum,
            _ => throw new ArgumentException($"efficientdet.fusion '{Fusion}' is unknown; use fastattn, attn or sum"),
        },
        BackboneDropPathRate = DropPathRate ?? o.BackboneDropPathRate,
        FpnChannels = FpnChannels > 0 ? FpnChannels : o.FpnChannels,
        FpnCellRepeats = FpnCellRepeats > 0 ? FpnCellRepeats : o.FpnCellRepeats,
        BoxClassRepeats = BoxClassRepeats > 0 ? BoxClassRepeats : o.BoxClassRepeats,
        AnchorScale = AnchorScale > 0 ? AnchorScale : o.AnchorScale,
        Alpha = Alpha, Gamma = Gamma, Delta = Delta, BoxLossWeight = BoxLossWeight, LabelSmoothing = LabelSmoothing,
        MaxDetectionPoints = MaxDetectionPoints, SoftNms = SoftNms,
    };
}
