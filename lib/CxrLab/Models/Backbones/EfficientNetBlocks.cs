using CxrLab.Torch;
using CxrLab.Torch.Nn;

namespace CxrLab.Models.Backbones;

/// <summary>What a block needs besides its channels: padding style, BatchNorm eps/momentum, its drop-path rate.</summary>
public sealed record EfficientNetBlockOptions(PadType Pad, double BnEps, double BnMomentum, double DropPathRate)
{
    public BatchNorm2d Bn(long channels) => new(channels, eps: BnEps, momentum: BnMomentum);
}

/// <summary>timm's <c>SqueezeExcite</c> (EfficientNet flavour): global average → 1×1 reduce (bias) → swish → 1×1
/// expand (bias) → sigmoid gate multiplying the input. Keys <c>conv_reduce.*</c>, <c>conv_expand.*</c>.</summary>
public sealed class SqueezeExcite : Module<Tensor, Tensor>
{
    readonly Conv2d convReduce, convExpand;

    /// <param name="channels">Channels of the gated tensor.</param>
    /// <param name="reducedChannels">Channels after the reduction (timm: round(block input · 0.25)).</param>
    public SqueezeExcite(long channels, long reducedChannels)
    {
        convReduce = register_module("conv_reduce", new Conv2d(channels, reducedChannels, 1, bias: true));
        convExpand = register_module("conv_expand", new Conv2d(reducedChannels, channels, 1, bias: true));
    }

    public override Tensor forward(Tensor x)
    {
        using var pooled = x.mean([2, 3], keepdim: true);
        using var reduced = convReduce.forward(pooled);
        using var act = torch.silu(reduced);
        using var expanded = convExpand.forward(act);
        using var gate = expanded.sigmoid();
        return x * gate;
    }
}

/// <summary>Stochastic depth (timm's <c>drop_path</c>): in training, zeroes a whole sample's residual branch with
/// probability p and scales the kept ones by 1/(1 − p); identity in evaluation.</summary>
public static class DropPath
{
    public static Tensor Apply(Tensor x, double p, bool training)
    {
        if (p == 0 || !training) return x.alias();
        var keep = 1 - p;
        using var mask = torch.empty([x.size(0), 1, 1, 1], x.DType, x.device);
        mask.bernoulli_(keep);
        mask.div_(keep);
        return x * mask;
    }
}

/// <summary>timm's <c>DepthwiseSeparableConv</c> (EfficientNet's first stage, "ds"): depthwise k×k (stride) → BN →
/// swish → squeeze-excite → pointwise 1×1 → BN (no activation), residual when stride 1 and channels equal.
/// Keys <c>conv_dw</c>, <c>bn1</c>, <c>se.*</c>, <c>conv_pw</c>, <c>bn2</c>.</summary>
public sealed class DepthwiseSeparableConv : Module<Tensor, Tensor>
{
    readonly Module<Tensor, Tensor> convDw, convPw;
    readonly BatchNorm2d bn1, bn2;
    readonly SqueezeExcite? se;
    readonly bool hasSkip;
    readonly double dropPath;

    public DepthwiseSeparableConv(long inChannels, long outChannels, long kernel, long stride, double seRatio, EfficientNetBlockOptions o)
    {
        hasSkip = stride == 1 && inChannels == outChannels;
        dropPath = o.DropPathRate;
        convDw = register_module("conv_dw", SamePadding.Conv(inChannels, inChannels, kernel, o.Pad, stride, groups: inChannels));
        bn1 = register_module("bn1", o.Bn(inChannels));
        // timm: se_ratio / exp_ratio (1 here) of the block input, Python round().
        if (seRatio > 0) se = register_module("se", new SqueezeExcite(inChannels, EfficientNet.PyRound(inChannels * seRatio)));
        convPw = register_module("conv_pw", SamePadding.Conv(inChannels, outChannels, 1, o.Pad));
        bn2 = register_module("bn2", o.Bn(outChannels));
    }

    public override Tensor forward(Tensor x)
    {
        Tensor h;
        using (var c = convDw.forward(x)) using (var b = bn1.forward(c)) h = torch.silu(b);
        if (se is not null) { var g = se.forward(h); h.Dispose(); h = g; }
        using (var c = convPw.forward(h)) { h.Dispose(); h = bn2.forward(c); }
        if (!hasSkip) return h;
        using (h)
        using (var d = DropPath.Apply(h, dropPath, training))
            return d + x;
    }
}

/// <summary>timm's <c>InvertedResidual</c> (MBConv, "ir"): pointwise expansion 1×1 → BN → swish → depthwise k×k (stride)
/// → BN → swish → squeeze-excite → pointwise 1×1 projection → BN (linear), residual with drop-path when stride 1 and
/// channels equal. Keys <c>conv_pw</c>, <c>bn1</c>, <c>conv_dw</c>, <c>bn2</c>, <c>se.*</c>, <c>conv_pwl</c>, <c>bn3</c>.</summary>
public sealed class InvertedResidual : Module<Tensor, Tensor>
{
    readonly Module<Tensor, Tensor> convPw, convDw, convPwl;
    readonly BatchNorm2d bn1, bn2, bn3;
    readonly SqueezeExcite? se;
    readonly bool hasSkip;
    readonly double dropPath;

    public InvertedResidual(long inChannels, long outChannels, long kernel, long stride, double expRatio, double seRatio, EfficientNetBlockOptions o)
    {
        var mid = EfficientNet.MakeDivisible(inChannels * expRatio);
        hasSkip = stride == 1 && inChannels == outChannels;
        dropPath = o.DropPathRate;
        convPw = register_module("conv_pw", SamePadding.Conv(inChannels, mid, 1, o.Pad));
        bn1 = register_module("bn1", o.Bn(mid));
        convDw = register_module("conv_dw", SamePadding.Conv(mid, mid, kernel, o.Pad, stride, groups: mid));
        bn2 = register_module("bn2", o.Bn(mid));
        // timm (se_from_exp false): rd_ratio = se_ratio / exp_ratio applied to the expanded channels, Python round().
        if (seRatio > 0) se = register_module("se", new SqueezeExcite(mid, EfficientNet.PyRound(mid * (seRatio / expRatio))));
        convPwl = register_module("conv_pwl", SamePadding.Conv(mid, outChannels, 1, o.Pad));
        bn3 = register_module("bn3", o.Bn(outChannels));
    }

    public override Tensor forward(Tensor x)
    {
        Tensor h;
        using (var c = convPw.forward(x)) using (var b = bn1.forward(c)) h = torch.silu(b);
        using (var c = convDw.forward(h)) { h.Dispose(); using var b = bn2.forward(c); h = torch.silu(b); }
        if (se is not null) { var g = se.forward(h); h.Dispose(); h = g; }
        using (var c = convPwl.forward(h)) { h.Dispose(); h = bn3.forward(c); }
        if (!hasSkip) return h;
        using (h)
        using (var d = DropPath.Apply(h, dropPath, training))
            return d + x;
    }
}
