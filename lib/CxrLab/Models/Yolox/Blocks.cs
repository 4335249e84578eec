using CxrLab.Torch;
using CxrLab.Torch.Nn;

namespace CxrLab.Models.Yolox;

/// <summary>Megvii's building blocks (yolox/models/network_blocks.py) with its member names, so state_dict keys
/// match key for key ("conv.weight", "bn.running_var", "m.0.conv1.conv.weight", …).</summary>
public static class YoloxActivation
{
    /// <summary>Megvii's <c>get_activation</c>: "silu" (default), "relu" or "lrelu" (slope 0.1).</summary>
    public static Module<Tensor, Tensor> Create(string name) => name switch
    {
        "silu" => new SiLU(),
        "relu" => new ReLU(),
        "lrelu" => new LeakyReLU(0.1),
        _ => throw new ArgumentException($"unsupported YOLOX activation '{name}'; use silu, relu or lrelu"),
    };
}

/// <summary>Conv2d (same padding, no bias) → BatchNorm2d → activation. BatchNorm has eps 1e-3 and momentum 0.03:
/// Megvii's Exp sets them after building (<c>init_yolo</c>); they are not stored in checkpoints, and with PyTorch's
/// default eps the detections of a trained model change completely.</summary>
public sealed class BaseConv : Module<Tensor, Tensor>
{
    /// <summary>Megvii's BatchNorm eps (set by Exp.get_model's init_yolo).</summary>
    public const double BnEps = 1e-3;
    /// <summary>Megvii's BatchNorm momentum (init_yolo).</summary>
    public const double BnMomentum = 0.03;

    readonly Conv2d conv;
    readonly BatchNorm2d bn;
    readonly Module<Tensor, Tensor> act;

    public BaseConv(long in_channels, long out_channels, long ksize, long stride, long groups = 1, bool bias = false, string act = "silu")
    {
        conv = register_module("conv", new Conv2d(in_channels, out_channels, ksize, stride: stride, padding: (ksize - 1) / 2, groups: groups, bias: bias));
        bn = register_module("bn", new BatchNorm2d(out_channels, eps: BnEps, momentum: BnMomentum));
        this.act = register_module("act", YoloxActivation.Create(act));
    }

    static readonly Op SiluInPlace = new("silu_");

    public override Tensor forward(Tensor x)
    {
        using var c = conv.forward(x);
        var b = bn.forward(c);
        // Without autograd, SiLU in place as Megvii's nn.SiLU(inplace=True): one allocation less per block.
        if (act is SiLU && !torch.is_grad_enabled())
        {
            SiluInPlace.CallInPlace(b);
            return b;
        }
        using (b) return act.forward(b);
    }
}

/// <summary>Depthwise 3×3 (<c>dconv</c>, groups = channels) then pointwise 1×1 (<c>pconv</c>): yolox_nano's convolutions.</summary>
public sealed class DWConv : Module<Tensor, Tensor>
{
    readonly BaseConv dconv, pconv;

    public DWConv(long in_channels, long out_channels, long ksize, long stride = 1, string act = "silu")
    {
        dconv = register_module("dconv", new BaseConv(in_channels, in_channels, ksize, stride, groups: in_channels, act: act));
        pconv = register_module("pconv", new BaseConv(in_channels, out_channels, 1, 1, act: act));
    }

    public override Tensor forward(Tensor x)
    {
        using var d = dconv.forward(x);
        return pconv.forward(d);
    }

    /// <summary>BaseConv, or DWConv when <paramref name="depthwise"/> (Megvii's <c>Conv = DWConv if depthwise else BaseConv</c>).</summary>
    public static Module<Tensor, Tensor> Make(bool depthwise, long inChannels, long outChannels, long ksize, long stride, string act) =>
        depthwise ? new DWConv(inChannels, outChannels, ksize, stride, act) : new BaseConv(inChannels, outChannels, ksize, stride, act: act);
}

/// <summary>1×1 → 3×3 with a residual add when <c>shortcut</c> and the channels agree (Megvii's Bottleneck).</summary>
public sealed class Bottleneck : Module<Tensor, Tensor>
{
    readonly BaseConv conv1;
    readonly Module<Tensor, Tensor> conv2;
    readonly bool useAdd;

    public Bottleneck(long in_channels, long out_channels, bool shortcut = true, double expansion = 0.5, bool depthwise = false, string act = "silu")
    {
        var hidden = (long)(out_channels * expansion);
        conv1 = register_module("conv1", new BaseConv(in_channels, hidden, 1, 1, act: act));
        conv2 = register_module("conv2", DWConv.Make(depthwise, hidden, out_channels, 3, 1, act));
        useAdd = shortcut && in_channels == out_channels;
    }

    public override Tensor forward(Tensor x)
    {
        using var a = conv1.forward(x);
        var y = conv2.forward(a);
        if (!useAdd) return y;
        using (y) return y + x; // out of place: a ReLU variant's backward needs its output unchanged
    }
}

/// <summary>Darknet-53's residual layer (1×1 halving, 3×3 restoring, leaky ReLU), for yolox_darknet53.</summary>
public sealed class ResLayer : Module<Tensor, Tensor>
{
    readonly BaseConv layer1, layer2;

    public ResLayer(long in_channels)
    {
        layer1 = register_module("layer1", new BaseConv(in_channels, in_channels / 2, 1, 1, act: "lrelu"));
        layer2 = register_module("layer2", new BaseConv(in_channels / 2, in_channels, 3, 1, act: "lrelu"));
    }

    public override Tensor forward(Tensor x)
    {
        using var a = layer1.forward(x);
        using var y = layer2.forward(a);
        return y + x;
    }
}

/// <summary>Spatial pyramid pooling (YOLOv3-SPP): 1×1 halving, max pools 5/9/13 (stride 1, same size) concatenated
/// with their input, 1×1 to the output channels.</summary>
public sealed class SPPBottleneck : Module<Tensor, Tensor>
{
    readonly BaseConv conv1, conv2;
    readonly ModuleList<MaxPool2d> m;

    public SPPBottleneck(long in_channels, long out_channels, long[]? kernel_sizes = null, string activation = "silu")
    {
        kernel_sizes ??= [5, 9, 13];
        var hidden = in_channels / 2;
        conv1 = register_module("conv1", new BaseConv(in_channels, hidden, 1, 1, act: activation));
        m = register_module("m", new ModuleList<MaxPool2d>(kernel_sizes.Select(k => new MaxPool2d(k, 1, k / 2)).ToArray()));
        conv2 = register_module("conv2", new BaseConv(hidden * (kernel_sizes.Length + 1), out_channels, 1, 1, act: activation));
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var a = conv1.forward(x);
        var cat = torch.cat([a, .. m.Select(p => p.forward(a))], 1);
        return scope.MoveToOuter(conv2.forward(cat));
    }
}

/// <summary>CSP bottleneck with three convolutions (YOLOv5's C3): conv1 → n Bottlenecks, conv2 beside it,
/// concatenated (bottleneck branch first) → conv3.</summary>
public sealed class CSPLayer : Module<Tensor, Tensor>
{
    readonly BaseConv conv1, conv2, conv3;
    readonly Sequential m;

    public CSPLayer(long in_channels, long out_channels, int n = 1, bool shortcut = true, double expansion = 0.5, bool depthwise = false, string act = "silu")
    {
        var hidden = (long)(out_channels * expansion);
        conv1 = register_module("conv1", new BaseConv(in_channels, hidden, 1, 1, act: act));
        conv2 = register_module("conv2", new BaseConv(in_channels, hidden, 1, 1, act: act));
        conv3 = register_module("conv3", new BaseConv(2 * hidden, out_channels, 1, 1, act: act));
        m = register_module("m", new Sequential(Enumerable.Range(0, n).Select(_ => (Module<Tensor, Tensor>)new Bottleneck(hidden, hidden, shortcut, 1.0, depthwise, act)).ToArray()));
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var x1 = m.forward(conv1.forward(x));
        var x2 = conv2.forward(x);
        return scope.MoveToOuter(conv3.forward(torch.cat([x1, x2], 1)));
    }
}

/// <summary>Space-to-depth stem: the four pixel phases concatenated in Megvii's order top-left, bottom-left,
/// top-right, bottom-right, then a BaseConv.</summary>
public sealed class Focus : Module<Tensor, Tensor>
{
    readonly BaseConv conv;

    public Focus(long in_channels, long out_channels, long ksize = 1, long stride = 1, string act = "silu") =>
        conv = register_module("conv", new BaseConv(in_channels * 4, out_channels, ksize, stride, act: act));

    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        Tensor Phase(long row, long col) => x.slice(-2, row, null, 2).slice(-1, col, null, 2);
        var stacked = torch.cat([Phase(0, 0), Phase(1, 0), Phase(0, 1), Phase(1, 1)], 1);
        return scope.MoveToOuter(conv.forward(stacked));
    }
}
