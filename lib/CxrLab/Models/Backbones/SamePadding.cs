using CxrLab.Torch;
using CxrLab.Torch.Nn;

namespace CxrLab.Models.Backbones;

/// <summary>How convolutions and pools pad, as timm's <c>pad_type</c>: <see cref="PyTorch"/> (<c>''</c>: symmetric
/// <c>((stride − 1) + dilation·(k − 1)) / 2</c>) or <see cref="TfSame"/> (<c>'same'</c>: TensorFlow's "SAME", which
/// pads <c>max((⌈in/stride⌉ − 1)·stride + (k − 1)·dilation + 1 − in, 0)</c> split with the extra pixel on the
/// bottom/right — asymmetric for stride 2, computed from each input's size). Google's EfficientNet/EfficientDet
/// weights (<c>tf_</c> variants) need <see cref="TfSame"/>.</summary>
public enum PadType
{
    /// <summary>timm's <c>''</c>: a fixed symmetric padding (PyTorch convention).</summary>
    PyTorch,
    /// <summary>timm's <c>'same'</c>: TensorFlow "SAME" padding; static where it is symmetric (stride 1, odd kernel).</summary>
    TfSame,
}

/// <summary>timm's padding helpers (<c>timm/layers/padding.py</c>) and factories (<c>create_conv2d</c>, <c>create_pool2d</c>).</summary>
public static class SamePadding
{
    /// <summary>timm's <c>get_padding</c>: the symmetric padding for a kernel, stride and dilation.</summary>
    public static long StaticPadding(long kernel, long stride = 1, long dilation = 1) => ((stride - 1) + dilation * (kernel - 1)) / 2;

    /// <summary>True when "SAME" padding is symmetric and independent of the input size (timm's <c>is_static_pad</c>).</summary>
    public static bool IsStatic(long kernel, long stride = 1, long dilation = 1) => stride == 1 && dilation * (kernel - 1) % 2 == 0;

    /// <summary>Total "SAME" padding along one axis of length <paramref name="size"/> (timm's <c>get_same_padding</c>).</summary>
    public static long SamePad(long size, long kernel, long stride, long dilation) =>
        Math.Max((long)(Math.Ceiling(size / (double)stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0);

    /// <summary>Pads <c>[N, C, H, W]</c> as TensorFlow's "SAME" (left/top gets the smaller half) with <paramref name="value"/>.</summary>
    public static Tensor PadSame(Tensor x, long kernel, long stride, long dilation = 1, double value = 0)
    {
        var ph = SamePad(x.size(2), kernel, stride, dilation);
        var pw = SamePad(x.size(3), kernel, stride, dilation);
        return torch.pad(x, [pw / 2, pw - pw / 2, ph / 2, ph - ph / 2], "constant", value);
    }

    /// <summary>timm's <c>create_conv2d</c> for a square kernel: an <see cref="Conv2d"/> with a fixed padding, or a
    /// <see cref="Conv2dSame"/> where "SAME" depends on the input size. Bias off unless asked (timm's default).</summary>
    public static Module<Tensor, Tensor> Conv(long inChannels, long outChannels, long kernel, PadType pad, long stride = 1, long dilation = 1,
        long groups = 1, bool bias = false)
    {
        if (pad == PadType.TfSame && !IsStatic(kernel, stride, dilation))
            return new Conv2dSame(inChannels, outChannels, kernel, stride, dilation, groups, bias);
        var padding = pad == PadType.TfSame ? StaticPadding(kernel, 1, dilation) : StaticPadding(kernel, stride, dilation);
        return new Conv2d(inChannels, outChannels, kernel, stride: stride, padding: padding, dilation: dilation, groups: groups, bias: bias);
    }

    /// <summary>Weight, bias and groups of a convolution made by <see cref="Conv"/>.</summary>
    public static (Tensor Weight, Tensor? Bias, long Groups) ConvParameters(Module conv) => conv switch
    {
        Conv2d c => (c.weight, c.bias, c.Groups),
        Conv2dSame c => (c.weight, c.bias, c.Groups),
        _ => throw new ArgumentException($"{conv.GetType().Name} is not a convolution"),
    };

    /// <summary>timm's <c>create_pool2d('max', …)</c>: <see cref="MaxPool2d"/> with a fixed padding, or
    /// <see cref="MaxPool2dSame"/> (pads with −∞, so padding never wins the max).</summary>
    public static Module<Tensor, Tensor> MaxPool(long kernel, long stride, PadType pad)
    {
        if (pad == PadType.TfSame && !IsStatic(kernel, stride)) return new MaxPool2dSame(kernel, stride);
        var padding = pad == PadType.TfSame ? StaticPadding(kernel) : StaticPadding(kernel, stride);
        return new MaxPool2d(kernel, stride, padding);
    }
}

/// <summary>timm's <c>Conv2dSame</c>: a convolution padded as TensorFlow's "SAME" from each input's size. Keys
/// <c>weight</c> (and <c>bias</c>) as <c>nn.Conv2d</c>.</summary>
public sealed class Conv2dSame : Module<Tensor, Tensor>
{
    readonly long kernel, stride, dilation, groups;

    public Conv2dSame(long inChannels, long outChannels, long kernel, long stride = 1, long dilation = 1, long groups = 1, bool bias = false)
    {
        (this.kernel, this.stride, this.dilation, this.groups) = (kernel, stride, dilation, groups);
        // Same storage and default init as nn.Conv2d (timm subclasses it).
        using var template = new Conv2d(inChannels, outChannels, kernel, stride: stride, dilation: dilation, groups: groups, bias: bias);
        register_parameter("weight", template.weight.detach().clone());
        register_parameter("bias", template.bias?.detach().clone());
    }

    public Tensor weight => param("weight");
    public Tensor? bias => param_or_null("bias");
    public long Stride => stride;
    public long Groups => groups;

    public override Tensor forward(Tensor input)
    {
        using var padded = SamePadding.PadSame(input, kernel, stride, dilation);
        return torch.conv2d(padded, weight, bias, [stride, stride], [0, 0], [dilation, dilation], groups);
    }
}

/// <summary>timm's <c>MaxPool2dSame</c>: max pooling after TensorFlow "SAME" padding with −∞.</summary>
public sealed class MaxPool2dSame(long kernel, long stride) : Module<Tensor, Tensor>
{
    public override Tensor forward(Tensor input)
    {
        using var padded = SamePadding.PadSame(input, kernel, stride, 1, double.NegativeInfinity);
        return torch.max_pool2d(padded, [kernel, kernel], [stride, stride], [0, 0], [1, 1]);
    }
}
