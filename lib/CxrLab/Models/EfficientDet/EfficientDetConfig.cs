namespace CxrLab.Models.EfficientDet;

/// <summary>The experiment YAML's <c>efficientdet:</c> section: model options that differ from the variant's effdet
/// configuration (null = the variant's value) and effdet's training recipe (its <c>train.py</c> defaults) for the
/// trainer to read. Input size is <c>model.input_size</c> (the square side; 0 = the variant's 512…1536).</summary>
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

    // ---------------------------------------------------------------- training recipe (effdet's train.py defaults)

    /// <summary>Optimizer: <c>momentum</c> = SGD with momentum (effdet's default).</summary>
    public string Optimizer { get; set; } = "momentum";
    public double Momentum { get; set; } = 0.9;
    public double WeightDecay { get; set; } = 4e-5;
    /// <summary>Peak learning rate (effdet: 0.01 for batch 32), cosine to <see cref="MinLr"/>.</summary>
    public double Lr { get; set; } = 0.01;
    public double MinLr { get; set; } = 1e-5;
    /// <summary>Linear warmup from <see cref="WarmupLr"/> over <see cref="WarmupEpochs"/> (effdet: 1e-4, 5).</summary>
    public double WarmupLr { get; set; } = 1e-4;
    public int WarmupEpochs { get; set; } = 5;
    /// <summary>Gradient clipping by global norm (effdet: 10).</summary>
    public double ClipGrad { get; set; } = 10.0;
    /// <summary>Model EMA decay when EMA is on (effdet: 0.9998 with <c>--model-ema</c>).</summary>
    public double EmaDecay { get; set; } = 0.9998;
    /// <summary>Batch size and epochs of effdet's recipe (32, 300).</summary>
    public int BatchSize { get; set; } = 32;
    public int Epochs { get; set; } = 300;

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
