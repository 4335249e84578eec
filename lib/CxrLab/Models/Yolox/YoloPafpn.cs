using CxrLab.Torch;
using CxrLab.Torch.Nn;

namespace CxrLab.Models.Yolox;

/// <summary>A YOLOX neck: [N, 3, H, W] → three feature maps at strides 8, 16, 32.</summary>
public interface IYoloxNeck
{
    Tensor[] forward(Tensor x);
}

/// <summary>Megvii's YOLOPAFPN (yolox/models/yolo_pafpn.py): CSPDarknet under <c>backbone</c>, top-down path
/// (lateral_conv0, nearest ×2 upsampling, C3_p4, reduce_conv1, C3_p3) and bottom-up path (bu_conv2, C3_n3,
/// bu_conv1, C3_n4). Outputs pan_out2/1/0 with 256/512/1024 × width channels.</summary>
public sealed class YOLOPAFPN : Module, IYoloxNeck
{
    readonly CSPDarknet backbone;
    readonly BaseConv lateral_conv0, reduce_conv1;
    readonly CSPLayer C3_p4, C3_p3, C3_n3, C3_n4;
    readonly Module<Tensor, Tensor> bu_conv2, bu_conv1;

    /// <summary>Megvii's in_channels before the width multiplier.</summary>
    public static readonly long[] InChannels = [256, 512, 1024];

    public YOLOPAFPN(double depth = 1.0, double width = 1.0, bool depthwise = false, string act = "silu")
    {
        var c = InChannels.Select(x => (long)(x * width)).ToArray();
        var c2 = InChannels.Select(x => (long)(2 * x * width)).ToArray();
        var n = (int)Math.Round(3 * depth, MidpointRounding.ToEven);
        backbone = register_module("backbone", new CSPDarknet(depth, width, depthwise, act));
        lateral_conv0 = register_module("lateral_conv0", new BaseConv(c[2], c[1], 1, 1, act: act));
        C3_p4 = register_module("C3_p4", new CSPLayer(c2[1], c[1], n, false, depthwise: depthwise, act: act));
        reduce_conv1 = register_module("reduce_conv1", new BaseConv(c[1], c[0], 1, 1, act: act));
        C3_p3 = register_module("C3_p3", new CSPLayer(c2[0], c[0], n, false, depthwise: depthwise, act: act));
        bu_conv2 = register_module("bu_conv2", DWConv.Make(depthwise, c[0], c[0], 3, 2, act));
        C3_n3 = register_module("C3_n3", new CSPLayer(c2[0], c[1], n, false, depthwise: depthwise, act: act));
        bu_conv1 = register_module("bu_conv1", DWConv.Make(depthwise, c[1], c[1], 3, 2, act));
        C3_n4 = register_module("C3_n4", new CSPLayer(c2[1], c[2], n, false, depthwise: depthwise, act: act));
    }

    /// <summary>The CSPDarknet outputs dark3, dark4, dark5 (for inspection and parity checks).</summary>
    public Tensor[] Backbone(Tensor x) => backbone.forward(x);

    static Tensor Up(Tensor x) => torch.interpolate(x, scale_factor: [2.0, 2.0], mode: "nearest");

    public Tensor[] forward(Tensor input)
    {
        using var scope = torch.NewDisposeScope();
        var (x2, x1, x0) = backbone.forward(input) switch { var f => (f[0], f[1], f[2]) };
        var fpn_out0 = lateral_conv0.forward(x0);
        var f_out0 = C3_p4.forward(torch.cat([Up(fpn_out0), x1], 1));
        var fpn_out1 = reduce_conv1.forward(f_out0);
        var pan_out2 = C3_p3.forward(torch.cat([Up(fpn_out1), x2], 1));
        var pan_out1 = C3_n3.forward(torch.cat([bu_conv2.forward(pan_out2), fpn_out1], 1));
        var pan_out0 = C3_n4.forward(torch.cat([bu_conv1.forward(pan_out1), fpn_out0], 1));
        scope.MoveToOuter(pan_out2, pan_out1, pan_out0);
        return [pan_out2, pan_out1, pan_out0];
    }
}

/// <summary>Megvii's YOLOFPN (yolox/models/yolo_fpn.py) over Darknet-53, the neck of yolox_darknet53 (Megvii's
/// exps/default/yolov3.py): outputs 128/256/512 channels at strides 8/16/32, leaky ReLU throughout.</summary>
public sealed class YOLOFPN : Module, IYoloxNeck
{
    readonly Darknet backbone;
    readonly BaseConv out1_cbl, out2_cbl;
    readonly Sequential out1, out2;

    public YOLOFPN(int depth = 53)
    {
        backbone = register_module("backbone", new Darknet(depth));
        out1_cbl = register_module("out1_cbl", Cbl(512, 256, 1));
        out1 = register_module("out1", Embedding(256, 512, 512 + 256));
        out2_cbl = register_module("out2_cbl", Cbl(256, 128, 1));
        out2 = register_module("out2", Embedding(128, 256, 256 + 128));
    }

    static BaseConv Cbl(long i, long o, long k) => new(i, o, k, 1, act: "lrelu");

    static Sequential Embedding(long f0, long f1, long inFilters) =>
        new(Cbl(inFilters, f0, 1), Cbl(f0, f1, 3), Cbl(f1, f0, 1), Cbl(f0, f1, 3), Cbl(f1, f0, 1));

    public Tensor[] forward(Tensor inputs)
    {
        using var scope = torch.NewDisposeScope();
        var f = backbone.forward(inputs);
        var outDark4 = out1.forward(torch.cat([torch.interpolate(out1_cbl.forward(f[2]), scale_factor: [2.0, 2.0]), f[1]], 1));
        var outDark3 = out2.forward(torch.cat([torch.interpolate(out2_cbl.forward(outDark4), scale_factor: [2.0, 2.0]), f[0]], 1));
        scope.MoveToOuter(outDark3, outDark4, f[2]);
        return [outDark3, outDark4, f[2]];
    }
}
