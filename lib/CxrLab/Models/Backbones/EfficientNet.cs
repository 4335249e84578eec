using CxrLab.Torch;
using CxrLab.Torch.Nn;

namespace CxrLab.Models.Backbones;

/// <summary>EfficientNet settings as timm's <c>_gen_efficientnet</c> takes them; <see cref="EfficientNet.Variant"/> gives
/// B0–B7 in both padding styles.</summary>
public sealed record EfficientNetOptions
{
    /// <summary>Width multiplier on every stage's channels, rounded to a multiple of 8 (B0 1.0 … B7 2.0).</summary>
    public double ChannelMultiplier { get; init; } = 1.0;
    /// <summary>Depth multiplier on every stage's repeats, rounded up (B0 1.0 … B7 3.1).</summary>
    public double DepthMultiplier { get; init; } = 1.0;
    /// <summary>Padding style: <see cref="PadType.TfSame"/> for <c>tf_</c> variants (Google's weights).</summary>
    public PadType Pad { get; init; } = PadType.PyTorch;
    /// <summary>BatchNorm eps: 1e-5 (PyTorch) or 1e-3 (<c>tf_</c>, as TensorFlow's weights need).</summary>
    public double BnEps { get; init; } = 1e-5;
    /// <summary>BatchNorm momentum (PyTorch convention; timm keeps 0.1 for both styles).</summary>
    public double BnMomentum { get; init; } = 0.1;
    /// <summary>Stochastic depth at the last block; block i of n gets rate·i/n (effdet: 0.2 for tf_ D0–D7, 0.1 for efficientdet_d0).</summary>
    public double DropPathRate { get; init; }
    /// <summary>Which of timm's feature levels to return (effdet: 2, 3, 4 = strides 8, 16, 32).</summary>
    public int[] OutIndices { get; init; } = [2, 3, 4];
}

/// <summary>One stage of the architecture string (<c>ir_r2_k3_s2_e6_c24_se0.25</c>): block type, repeats, kernel,
/// stride of the first block, expansion, output channels, squeeze-excite ratio.</summary>
public sealed record EfficientNetStage(string Type, int Repeats, int Kernel, int Stride, double Expansion, int Channels, double SeRatio);

/// <summary>timm's EfficientNet as a feature extractor (<c>features_only=True</c>, timm's <c>EfficientNetFeatures</c>),
/// module for module and key for key: <c>conv_stem</c>, <c>bn1</c>, <c>blocks.{stage}.{block}.*</c>, so timm and effdet
/// checkpoints load. <see cref="forward"/> returns the outputs selected by <see cref="EfficientNetOptions.OutIndices"/>
/// (effdet: strides 8, 16, 32). Weights start with timm's Google-style init (normal(0, √(2/fan_out)) convs, BN 1/0).
/// The classifier head (<c>conv_head</c>, <c>bn2</c>, <c>classifier</c>) is not built: detection never uses it, and
/// effdet's backbone does not have it either.</summary>
public sealed class EfficientNet : Module<Tensor, List<Tensor>>
{
    /// <summary>timm's EfficientNet-B0 architecture definition (stages 0–6).</summary>
    public static readonly IReadOnlyList<EfficientNetStage> B0Stages =
    [
        new("ds", 1, 3, 1, 1, 16, 0.25),
        new("ir", 2, 3, 2, 6, 24, 0.25),
        new("ir", 2, 5, 2, 6, 40, 0.25),
        new("ir", 3, 3, 2, 6, 80, 0.25),
        new("ir", 3, 5, 1, 6, 112, 0.25),
        new("ir", 4, 5, 2, 6, 192, 0.25),
        new("ir", 1, 3, 1, 6, 320, 0.25),
    ];

    /// <summary>(channel, depth) multipliers of B0–B7 (Tan &amp; Le, timm's <c>efficientnet_b*</c>).</summary>
    public static readonly IReadOnlyDictionary<string, (double Channel, double Depth)> Multipliers = new Dictionary<string, (double, double)>
    {
        ["b0"] = (1.0, 1.0), ["b1"] = (1.0, 1.1), ["b2"] = (1.1, 1.2), ["b3"] = (1.2, 1.4),
        ["b4"] = (1.4, 1.8), ["b5"] = (1.6, 2.2), ["b6"] = (1.8, 2.6), ["b7"] = (2.0, 3.1),
    };

    /// <summary>timm's options for <c>efficientnet_b0</c>…<c>b7</c> or <c>tf_efficientnet_b0</c>…<c>b7</c> (the latter:
    /// "SAME" padding and BN eps 1e-3).</summary>
    public static EfficientNetOptions Variant(string name, double dropPathRate = 0)
    {
        var tf = name.StartsWith("tf_", StringComparison.Ordinal);
        var key = name.Replace("tf_", "").Replace("efficientnet_", "");
        if (!Multipliers.TryGetValue(key, out var m))
            throw new ArgumentException($"unknown EfficientNet '{name}'; use efficientnet_b0…b7 or tf_efficientnet_b0…b7");
        return new EfficientNetOptions
        {
            ChannelMultiplier = m.Channel, DepthMultiplier = m.Depth, DropPathRate = dropPathRate,
            Pad = tf ? PadType.TfSame : PadType.PyTorch, BnEps = tf ? 1e-3 : 1e-5,
        };
    }

    readonly Module<Tensor, Tensor> convStem;
    readonly BatchNorm2d bn1;
    readonly Sequential[] stages;
    readonly int[] outStages;

    public EfficientNetOptions Options { get; }

    /// <summary>Channels of each returned feature map.</summary>
    public long[] FeatureChannels { get; }

    /// <summary>Stride of each returned feature map.</summary>
    public int[] FeatureStrides { get; }

    public EfficientNet(EfficientNetOptions? options = null, IReadOnlyList<EfficientNetStage>? arch = null)
    {
        Options = options ??= new EfficientNetOptions();
        arch ??= B0Stages;
        var stem = RoundChannels(32, options.ChannelMultiplier);
        convStem = register_module("conv_stem", SamePadding.Conv(3, stem, 3, options.Pad, stride: 2));
        bn1 = register_module("bn1", new BatchNorm2d(stem, eps: options.BnEps, momentum: options.BnMomentum));

        var repeats = arch.Select(s => (int)Math.Ceiling(s.Repeats * options.DepthMultiplier)).ToArray();
        var total = repeats.Sum();
        var blocksModule = register_module("blocks", new ModuleList<Sequential>());
        stages = new Sequential[arch.Count];
        // timm's feature_info: a feature after every stage whose successor starts with a stride (and after the last).
        var features = new List<(int Stage, long Channels, int Stride)>();
        long inCh = stem;
        var stride = 2;
        var blockIndex = 0;
        for (var s = 0; s < arch.Count; s++)
        {
            var a = arch[s];
            var outCh = RoundChannels(a.Channels, options.ChannelMultiplier);
            var stage = new Sequential();
            for (var b = 0; b < repeats[s]; b++)
            {
                var blockStride = b == 0 ? a.Stride : 1;
                var o = new EfficientNetBlockOptions(options.Pad, options.BnEps, options.BnMomentum, options.DropPathRate * blockIndex / total);
                stage.Add(a.Type switch
                {
                    "ds" => new DepthwiseSeparableConv(inCh, outCh, a.Kernel, blockStride, a.SeRatio, o),
                    "ir" => new InvertedResidual(inCh, outCh, a.Kernel, blockStride, a.Expansion, a.SeRatio, o),
                    _ => throw new ArgumentException($"EfficientNet block type '{a.Type}' is not supported (ds, ir)"),
                });
                inCh = outCh;
                blockIndex++;
            }
            stride *= a.Stride;
            stages[s] = stage;
            blocksModule.Add(stage);
            if (s + 1 == arch.Count || arch[s + 1].Stride > 1) features.Add((s, outCh, stride));
        }
        if (options.OutIndices.Any(i => i < 0 || i >= features.Count))
            throw new ArgumentException($"out indices [{string.Join(", ", options.OutIndices)}] out of range: this EfficientNet has {features.Count} feature levels (strides {string.Join(", ", features.Select(f => f.Stride))})");
        outStages = options.OutIndices.Select(i => features[i].Stage).ToArray();
        FeatureChannels = options.OutIndices.Select(i => features[i].Channels).ToArray();
        FeatureStrides = options.OutIndices.Select(i => features[i].Stride).ToArray();
        InitWeights();
    }

    /// <summary>timm's <c>_init_weight_goog</c>: convs normal(0, √(2 / fan_out)) with fan_out = k²·out/groups, biases 0; BN 1, 0.</summary>
    void InitWeights()
    {
        using var _ = torch.no_grad();
        foreach (var m in modules())
        {
            if (m is not (Conv2d or Conv2dSame)) continue;
            var (w, b, groups) = SamePadding.ConvParameters(m);
            var fanOut = w.size(0) * w.size(2) * w.size(3) / groups;
            w.normal_(0, Math.Sqrt(2.0 / fanOut));
            b?.zero_();
        }
    }

    /// <summary>Feature maps at <see cref="FeatureStrides"/> for <c>[N, 3, H, W]</c> normalised input.</summary>
    public override List<Tensor> forward(Tensor x)
    {
        var outputs = new List<Tensor>();
        Tensor h;
        using (var c = convStem.forward(x)) using (var b = bn1.forward(c)) h = torch.silu(b);
        var last = outStages.Max();
        for (var s = 0; s <= last; s++)
        {
            var y = stages[s].forward(h);
            if (!outputs.Contains(h)) h.Dispose();
            h = y;
            if (outStages.Contains(s)) outputs.Add(h);
        }
        if (!outputs.Contains(h)) h.Dispose();
        return outputs;
    }

    // ---------------------------------------------------------------- timm's rounding

    /// <summary>timm's <c>make_divisible</c>: nearest multiple of <paramref name="divisor"/> (at least it), never more
    /// than 10% below <paramref name="v"/>.</summary>
    public static long MakeDivisible(double v, int divisor = 8)
    {
        var result = Math.Max(divisor, (long)(v + divisor / 2.0) / divisor * divisor);
        if (result < 0.9 * v) result += divisor;
        return result;
    }

    /// <summary>timm's <c>round_channels</c>: channels × multiplier made divisible by 8.</summary>
    public static long RoundChannels(long channels, double multiplier) => multiplier == 0 ? channels : MakeDivisible(channels * multiplier);

    /// <summary>Python's <c>round()</c> to an integer (half to even), as timm sizes the squeeze-excite reduction.</summary>
    public static long PyRound(double v) => (long)Math.Round(v, MidpointRounding.ToEven);
}
