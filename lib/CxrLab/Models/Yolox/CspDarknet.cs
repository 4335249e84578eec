using CxrLab.Torch;
using CxrLab.Torch.Nn;

namespace CxrLab.Models.Yolox;

/// <summary>Megvii's CSPDarknet (yolox/models/darknet.py): Focus stem, dark2…dark5 (a stride-2 conv then CSP
/// layers; dark5 has the SPP bottleneck and a CSP layer without shortcut). Width scales the channels
/// (base 64·width), depth the CSP repeats (base max(round(3·depth), 1)). Returns dark3, dark4, dark5 (strides 8, 16, 32).</summary>
public sealed class CSPDarknet : Module
{
    readonly Focus stem;
    readonly Sequential dark2, dark3, dark4, dark5;

    public CSPDarknet(double dep_mul, double wid_mul, bool depthwise = false, string act = "silu")
    {
        var baseChannels = (long)(wid_mul * 64);
        var baseDepth = Math.Max((int)Math.Round(dep_mul * 3, MidpointRounding.ToEven), 1);
        Module<Tensor, Tensor> Conv(long i, long o) => DWConv.Make(depthwise, i, o, 3, 2, act);
        stem = register_module("stem", new Focus(3, baseChannels, 3, act: act));
        dark2 = register_module("dark2", new Sequential(Conv(baseChannels, baseChannels * 2),
            new CSPLayer(baseChannels * 2, baseChannels * 2, baseDepth, depthwise: depthwise, act: act)));
        dark3 = register_module("dark3", new Sequential(Conv(baseChannels * 2, baseChannels * 4),
            new CSPLayer(baseChannels * 4, baseChannels * 4, baseDepth * 3, depthwise: depthwise, act: act)));
        dark4 = register_module("dark4", new Sequential(Conv(baseChannels * 4, baseChannels * 8),
            new CSPLayer(baseChannels * 8, baseChannels * 8, baseDepth * 3, depthwise: depthwise, act: act)));
        dark5 = register_module("dark5", new Sequential(Conv(baseChannels * 8, baseChannels * 16),
            new SPPBottleneck(baseChannels * 16, baseChannels * 16, activation: act),
            new CSPLayer(baseChannels * 16, baseChannels * 16, baseDepth, shortcut: false, depthwise: depthwise, act: act)));
    }

    /// <summary>dark3, dark4, dark5 for [N, 3, H, W] (H, W multiples of 32).</summary>
    public Tensor[] forward(Tensor x)
    {
        using var s = stem.forward(x);
        using var d2 = dark2.forward(s);
        var d3 = dark3.forward(d2);
        var d4 = dark4.forward(d3);
        return [d3, d4, dark5.forward(d4)];
    }
}

/// <summary>Megvii's Darknet-53 (depth 53; leaky ReLU; dark5 ends in the YOLOv3 SPP block), for yolox_darknet53.
/// Returns dark3, dark4, dark5 (256, 512, 512 channels).</summary>
public sealed class Darknet : Module
{
    readonly Sequential stem, dark2, dark3, dark4, dark5;

    public Darknet(int depth = 53, long in_channels = 3, long stem_out_channels = 32)
    {
        int[] blocks = depth switch { 21 => [1, 2, 2, 1], 53 => [2, 8, 8, 4], _ => throw new ArgumentException($"Darknet depth {depth}: use 21 or 53") };
        stem = register_module("stem", new Sequential([new BaseConv(in_channels, stem_out_channels, 3, 1, act: "lrelu"), .. GroupLayer(stem_out_channels, 1, 2)]));
        var c = stem_out_channels * 2;
        dark2 = register_module("dark2", new Sequential(GroupLayer(c, blocks[0], 2)));
        c *= 2;
        dark3 = register_module("dark3", new Sequential(GroupLayer(c, blocks[1], 2)));
        c *= 2;
        dark4 = register_module("dark4", new Sequential(GroupLayer(c, blocks[2], 2)));
        c *= 2;
        // Megvii unpacks its SPP Sequential into dark5 (`*self.make_spp_block(...)`), so its layers are dark5's own items.
        Module<Tensor, Tensor>[] spp = [
            new BaseConv(c * 2, c, 1, 1, act: "lrelu"),
            new BaseConv(c, c * 2, 3, 1, act: "lrelu"),
            new SPPBottleneck(c * 2, c, activation: "lrelu"),
            new BaseConv(c, c * 2, 3, 1, act: "lrelu"),
            new BaseConv(c * 2, c, 1, 1, act: "lrelu")];
        dark5 = register_module("dark5", new Sequential([.. GroupLayer(c, blocks[3], 2), .. spp]));
    }

    static Module<Tensor, Tensor>[] GroupLayer(long inChannels, int numBlocks, long stride) =>
        [new BaseConv(inChannels, inChannels * 2, 3, stride, act: "lrelu"), .. Enumerable.Range(0, numBlocks).Select(_ => new ResLayer(inChannels * 2))];

    public Tensor[] forward(Tensor x)
    {
        using var s = stem.forward(x);
        using var d2 = dark2.forward(s);
        var d3 = dark3.forward(d2);
        var d4 = dark4.forward(d3);
        return [d3, d4, dark5.forward(d4)];
    }
}
