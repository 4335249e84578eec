using CxrLab.Models.Backbones;
using CxrLab.Torch;
using CxrLab.Torch.Nn;

namespace CxrLab.Models.EfficientDet;

/// <summary>BatchNorm settings of the BiFPN and heads (effdet: eps 1e-3, momentum 0.01).</summary>
public sealed record BnSettings(double Eps, double Momentum)
{
    public BatchNorm2d Make(long channels) => new(channels, eps: Eps, momentum: Momentum);
}

/// <summary>effdet's <c>SeparableConv2d</c>: depthwise k×k (no bias) → pointwise 1×1 (bias as asked) → optional BN →
/// optional swish. Keys <c>conv_dw</c>, <c>conv_pw</c>, <c>bn</c>.</summary>
public sealed class SeparableConv2d : Module<Tensor, Tensor>
{
    readonly Module<Tensor, Tensor> convDw, convPw;
    readonly BatchNorm2d? bn;
    readonly bool act;

    public SeparableConv2d(long inChannels, long outChannels, PadType pad, bool bias, BnSettings? norm, bool act, long kernel = 3)
    {
        convDw = register_module("conv_dw", SamePadding.Conv(inChannels, inChannels, kernel, pad, groups: inChannels));
        convPw = register_module("conv_pw", SamePadding.Conv(inChannels, outChannels, 1, pad, bias: bias));
        if (norm is not null) bn = register_module("bn", norm.Make(outChannels));
        this.act = act;
    }

    /// <summary>The pointwise conv (weight and bias), where the class head's prior bias lives.</summary>
    public Module<Tensor, Tensor> Pointwise => convPw;
    public Module<Tensor, Tensor> Depthwise => convDw;

    public override Tensor forward(Tensor x)
    {
        var h = convDw.forward(x).Then(convPw.forward);
        if (bn is not null) h = h.Then(bn.forward);
        return act ? h.Then(torch.silu) : h;
    }
}

/// <summary>effdet's <c>ConvBnAct2d</c>: conv → optional BN → optional swish. Keys <c>conv</c>, <c>bn</c>.</summary>
public sealed class ConvBnAct2d : Module<Tensor, Tensor>
{
    readonly Module<Tensor, Tensor> conv;
    readonly BatchNorm2d? bn;
    readonly bool act;

    public ConvBnAct2d(long inChannels, long outChannels, long kernel, PadType pad, bool bias, BnSettings? norm, bool act)
    {
        conv = register_module("conv", SamePadding.Conv(inChannels, outChannels, kernel, pad, bias: bias));
        if (norm is not null) bn = register_module("bn", norm.Make(outChannels));
        this.act = act;
    }

    public Module<Tensor, Tensor> Conv => conv;

    public override Tensor forward(Tensor x)
    {
        var h = conv.forward(x);
        if (bn is not null) h = h.Then(bn.forward);
        return act ? h.Then(torch.silu) : h;
    }
}

/// <summary>effdet's <c>ResampleFeatureMap</c>: a 1×1 conv (+BN) when the channels differ, then max-pool down
/// (kernel stride+1, stride ⌈in/out⌉) or nearest up to the target size. Keys <c>conv.conv.*</c>, <c>conv.bn.*</c>.</summary>
public sealed class ResampleFeatureMap : Module<Tensor, Tensor>
{
    readonly ConvBnAct2d? conv;
    readonly Module<Tensor, Tensor>? downsample;
    readonly long[]? upsampleSize;

    public ResampleFeatureMap(long inChannels, long outChannels, (int H, int W) inputSize, (int H, int W) outputSize,
        PadType pad, BnSettings norm, bool applyBn, bool redundantBias)
    {
        if (inChannels != outChannels)
            conv = register_module("conv", new ConvBnAct2d(inChannels, outChannels, 1, pad, bias: !applyBn || redundantBias, applyBn ? norm : null, act: false));
        if (inputSize.H > outputSize.H && inputSize.W > outputSize.W)
        {
            var strideH = (inputSize.H - 1) / outputSize.H + 1;
            var strideW = (inputSize.W - 1) / outputSize.W + 1;
            if (strideH != strideW) throw new ArgumentException($"EfficientDet resampling {inputSize} → {outputSize} needs different strides per axis; use a square input size");
            downsample = SamePadding.MaxPool(strideH + 1, strideH, pad);
        }
        else if (inputSize.H < outputSize.H || inputSize.W < outputSize.W)
            upsampleSize = [outputSize.H, outputSize.W];
    }

    public override Tensor forward(Tensor x)
    {
        var h = conv?.forward(x) ?? x.alias();
        if (downsample is not null) return h.Then(downsample.forward);
        if (upsampleSize is not null) return h.Then(t => torch.interpolate(t, upsampleSize, null, "nearest"));
        return h;
    }
}

/// <summary>Chains a step that consumes its input: <c>h = h.Then(conv.forward)</c> disposes the old <c>h</c>.</summary>
internal static class TensorChain
{
    public static Tensor Then(this Tensor input, Func<Tensor, Tensor> step)
    {
        try { return step(input); }
        finally { input.Dispose(); }
    }
}
