namespace CxrLab.Models.Yolox;

/// <summary>The experiment YAML's <c>yolox:</c> section: Megvii's Exp fields (yolox/exp/yolox_base.py and
/// exps/default/yolox_*.py). A null value means the variant's Megvii default (<see cref="For"/> fills them in);
/// the input size is <c>model.input_size</c> (0 = the variant's: 416 for nano/tiny, 640 otherwise).</summary>
public sealed class YoloxConfig
{
    /// <summary>Depth multiplier of the CSP repeats (nano/tiny/s 0.33, m 0.67, l 1.0, x 1.33).</summary>
    public double? Depth { get; set; }
    /// <summary>Width multiplier of the channels (nano 0.25, tiny 0.375, s 0.5, m 0.75, l 1.0, x 1.25).</summary>
    public double? Width { get; set; }
    /// <summary>Depthwise-separable convolutions (nano only).</summary>
    public bool? Depthwise { get; set; }
    /// <summary>Activation: silu (Megvii's default), relu or lrelu.</summary>
    public string? Act { get; set; }

    /// <summary>Multi-scale training: sizes (input/32 ± range)·32, redrawn every 10 iterations; 0 disables (Megvii: 5).</summary>
    public int? MultiscaleRange { get; set; }
    /// <summary>Explicit multi-scale range in units of 32 px, [min, max] (nano/tiny: [10, 20]); overrides the range.</summary>
    public List<int>? RandomSize { get; set; }

    /// <summary>Probability of a Mosaic sample (Megvii 1.0; nano 0.5).</summary>
    public double? MosaicProb { get; set; }
    /// <summary>Probability of MixUp on a mosaic sample (Megvii 1.0).</summary>
    public double? MixupProb { get; set; }
    /// <summary>MixUp at all (Megvii true; nano/tiny false).</summary>
    public bool? EnableMixup { get; set; }
    /// <summary>Probability of the HSV jitter (Megvii 1.0).</summary>
    public double? HsvProb { get; set; }
    /// <summary>Horizontal flip probability (Megvii 0.5).</summary>
    public double? FlipProb { get; set; }
    /// <summary>Random-affine rotation range ± degrees (Megvii 10).</summary>
    public double? Degrees { get; set; }
    /// <summary>Random-affine translation ± fraction (Megvii 0.1).</summary>
    public double? Translate { get; set; }
    /// <summary>Random-affine shear ± degrees (Megvii 2).</summary>
    public double? Shear { get; set; }
    /// <summary>Mosaic scale range (Megvii [0.1, 2]; nano/tiny [0.5, 1.5]).</summary>
    public List<double>? MosaicScale { get; set; }
    /// <summary>MixUp scale range (Megvii [0.5, 1.5]).</summary>
    public List<double>? MixupScale { get; set; }

    /// <summary>Last epochs without Mosaic/MixUp and with the L1 loss on (Megvii 15).</summary>
    public int? NoAugEpochs { get; set; }
    /// <summary>Warmup epochs of the yoloxwarmcos schedule (Megvii 5).</summary>
    public double? WarmupEpochs { get; set; }
    /// <summary>Learning rate at the start of warmup (Megvii 0).</summary>
    public double? WarmupLr { get; set; }
    /// <summary>Final learning rate as a fraction of the peak (Megvii 0.05).</summary>
    public double? MinLrRatio { get; set; }
    /// <summary>Peak learning rate per image: lr = basic_lr_per_img × batch (Megvii 0.01 / 64).</summary>
    public double? BasicLrPerImg { get; set; }
    /// <summary>SGD weight decay on conv weights (Megvii 5e-4).</summary>
    public double? WeightDecay { get; set; }
    /// <summary>SGD Nesterov momentum (Megvii 0.9).</summary>
    public double? Momentum { get; set; }
    /// <summary>EMA of the weights with Megvii's ramp decay·(1 − exp(−updates/2000)) (Megvii true, decay 0.9999).</summary>
    public bool? Ema { get; set; }

    /// <summary>Evaluation score threshold (Megvii's test_conf 0.01).</summary>
    public double? TestConf { get; set; }
    /// <summary>Evaluation NMS IoU (Megvii's nmsthre 0.65).</summary>
    public double? Nmsthre { get; set; }

    /// <summary>Megvii's exps/default values for <paramref name="arch"/> (yolox_nano … yolox_x, yolox_darknet53).</summary>
    public static YoloxConfig Defaults(string arch)
    {
        var c = new YoloxConfig
        {
            Depthwise = false, Act = "silu", MultiscaleRange = 5, MosaicProb = 1.0, MixupProb = 1.0, EnableMixup = true, HsvProb = 1.0, FlipProb = 0.5,
            Degrees = 10.0, Translate = 0.1, Shear = 2.0, MosaicScale = [0.1, 2.0], MixupScale = [0.5, 1.5], NoAugEpochs = 15, WarmupEpochs = 5,
            WarmupLr = 0, MinLrRatio = 0.05, BasicLrPerImg = 0.01 / 64.0, WeightDecay = 5e-4, Momentum = 0.9, Ema = true, TestConf = 0.01, Nmsthre = 0.65,
        };
        switch (arch)
        {
            case "yolox_nano":
                (c.Depth, c.Width, c.Depthwise, c.RandomSize, c.MosaicScale, c.MosaicProb, c.EnableMixup) = (0.33, 0.25, true, [10, 20], [0.5, 1.5], 0.5, false);
                break;
            case "yolox_tiny":
                (c.Depth, c.Width, c.RandomSize, c.MosaicScale, c.EnableMixup) = (0.33, 0.375, [10, 20], [0.5, 1.5], false);
                break;
            case "yolox_s": (c.Depth, c.Width) = (0.33, 0.50); break;
            case "yolox_m": (c.Depth, c.Width) = (0.67, 0.75); break;
            case "yolox_l": (c.Depth, c.Width) = (1.0, 1.0); break;
            case "yolox_x": (c.Depth, c.Width) = (1.33, 1.25); break;
            case "yolox_darknet53": (c.Depth, c.Width, c.Act) = (1.0, 1.0, "lrelu"); break;
            default: throw new ArgumentException($"unknown YOLOX variant '{arch}'; use yolox_nano, yolox_tiny, yolox_s, yolox_m, yolox_l, yolox_x or yolox_darknet53");
        }
        return c;
    }

    /// <summary>Megvii's default input size of a variant: 416 for nano and tiny, 640 otherwise.</summary>
    public static int DefaultInputSize(string arch) => arch is "yolox_nano" or "yolox_tiny" ? 416 : 640;

    /// <summary>This section with every unset value taken from <paramref name="arch"/>'s Megvii defaults.</summary>
    public YoloxConfig For(string arch)
    {
        var d = Defaults(arch);
        return new YoloxConfig
        {
            Depth = Depth ?? d.Depth, Width = Width ?? d.Width, Depthwise = Depthwise ?? d.Depthwise, Act = Act ?? d.Act,
            MultiscaleRange = MultiscaleRange ?? d.MultiscaleRange, RandomSize = RandomSize ?? d.RandomSize,
            MosaicProb = MosaicProb ?? d.MosaicProb, MixupProb = MixupProb ?? d.MixupProb, EnableMixup = EnableMixup ?? d.EnableMixup,
            HsvProb = HsvProb ?? d.HsvProb, FlipProb = FlipProb ?? d.FlipProb, Degrees = Degrees ?? d.Degrees, Translate = Translate ?? d.Translate,
            Shear = Shear ?? d.Shear, MosaicScale = MosaicScale ?? d.MosaicScale, MixupScale = MixupScale ?? d.MixupScale,
            NoAugEpochs = NoAugEpochs ?? d.NoAugEpochs, WarmupEpochs = WarmupEpochs ?? d.WarmupEpochs, WarmupLr = WarmupLr ?? d.WarmupLr,
            MinLrRatio = MinLrRatio ?? d.MinLrRatio, BasicLrPerImg = BasicLrPerImg ?? d.BasicLrPerImg, WeightDecay = WeightDecay ?? d.WeightDecay,
            Momentum = Momentum ?? d.Momentum, Ema = Ema ?? d.Ema, TestConf = TestConf ?? d.TestConf, Nmsthre = Nmsthre ?? d.Nmsthre,
        };
    }

    /// <summary>The multi-scale training sizes in pixels (multiples of 32) for an input size; one size when disabled.
    /// <see cref="RandomSize"/> applies as it is when <paramref name="arch"/> is null or the input is the variant's default
    /// size (nano/tiny's [10, 20] is meant for 416 px); otherwise the sizes are input/32 ± multiscale_range.</summary>
    public int[] MultiscaleSizes(int inputSize, string? arch = null)
    {
        var useRandomSize = arch is null || inputSize == DefaultInputSize(arch);
        var (lo, hi) = useRandomSize && RandomSize is [var a, var b] ? (a, b)
            : MultiscaleRange is > 0 and var r ? (inputSize / 32 - r, inputSize / 32 + r) : (inputSize / 32, inputSize / 32);
        return Enumerable.Range(Math.Max(lo, 1), Math.Max(hi - Math.Max(lo, 1) + 1, 1)).Select(s => s * 32).ToArray();
    }
}
