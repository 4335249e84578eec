using CxrLab.Torch;
using CxrLab.Torch.Nn;

namespace CxrLab.Models.Yolox;

/// <summary>Megvii's decoupled head (yolox/models/yolo_head.py): per level a 1×1 stem to 256·width channels,
/// then two 3×3 convs each for classification (→ <c>cls_preds</c>) and regression (→ <c>reg_preds</c> 4 and
/// <c>obj_preds</c> 1). Outputs per anchor are [reg 4, obj, cls K]; anchors are the level's cells row-major,
/// levels in stride order 8, 16, 32.</summary>
public sealed class YOLOXHead : Module
{
    readonly ModuleList<Sequential> cls_convs, reg_convs;
    readonly ModuleList<Conv2d> cls_preds, reg_preds, obj_preds;
    readonly ModuleList<BaseConv> stems;

    public int NumClasses { get; }
    public long[] Strides { get; }

    /// <summary>Megvii's prior probability for the cls/obj output biases (<c>initialize_biases(1e-2)</c>).</summary>
    public const double PriorProb = 0.01;

    /// <param name="num_classes">Classes (no background).</param>
    /// <param name="width">Width multiplier.</param>
    /// <param name="in_channels">The neck's channels before the width multiplier (PAFPN: 256, 512, 1024).</param>
    /// <param name="act">Activation.</param>
    /// <param name="depthwise">DWConv in the branches (yolox_nano).</param>
    /// <param name="strides">Level strides.</param>
    public YOLOXHead(int num_classes, double width = 1.0, long[]? in_channels = null, string act = "silu", bool depthwise = false, long[]? strides = null)
    {
        in_channels ??= [256, 512, 1024];
        NumClasses = num_classes;
        Strides = strides ?? [8, 16, 32];
        var hidden = (long)(256 * width);
        cls_convs = register_module("cls_convs", new ModuleList<Sequential>());
        reg_convs = register_module("reg_convs", new ModuleList<Sequential>());
        cls_preds = register_module("cls_preds", new ModuleList<Conv2d>());
        reg_preds = register_module("reg_preds", new ModuleList<Conv2d>());
        obj_preds = register_module("obj_preds", new ModuleList<Conv2d>());
        stems = register_module("stems", new ModuleList<BaseConv>());
        foreach (var c in in_channels)
        {
            stems.Add(new BaseConv((long)(c * width), hidden, 1, 1, act: act));
            cls_convs.Add(new Sequential(DWConv.Make(depthwise, hidden, hidden, 3, 1, act), DWConv.Make(depthwise, hidden, hidden, 3, 1, act)));
            reg_convs.Add(new Sequential(DWConv.Make(depthwise, hidden, hidden, 3, 1, act), DWConv.Make(depthwise, hidden, hidden, 3, 1, act)));
            cls_preds.Add(new Conv2d(hidden, num_classes, 1));
            reg_preds.Add(new Conv2d(hidden, 4, 1));
            obj_preds.Add(new Conv2d(hidden, 1, 1));
        }
        initialize_biases(PriorProb);
    }

    /// <summary>Megvii's <c>initialize_biases</c>: cls and obj output biases = −log((1 − p) / p).</summary>
    public void initialize_biases(double prior_prob)
    {
        using var _ = torch.no_grad();
        foreach (var conv in cls_preds.Concat(obj_preds)) conv.bias!.fill_(-Math.Log((1 - prior_prob) / prior_prob));
    }

    /// <summary>Re-initialises only the class outputs (cls_preds weights with PyTorch's Conv2d init, biases with the
    /// prior): what a COCO checkpoint loaded into another class count gets.</summary>
    public void ResetClassifier()
    {
        using var _ = torch.no_grad();
        foreach (var conv in cls_preds)
        {
            Init.kaiming_uniform_(conv.weight, a: Math.Sqrt(5));
            conv.bias!.fill_(-Math.Log((1 - PriorProb) / PriorProb));
        }
    }

    /// <summary>Raw outputs per level, [N, 5 + K, H, W] = cat(reg, obj logit, cls logits) as Megvii's training path.</summary>
    public Tensor[] ForwardLevels(IReadOnlyList<Tensor> xin)
    {
        var outputs = new Tensor[xin.Count];
        for (var k = 0; k < xin.Count; k++)
        {
            using var scope = torch.NewDisposeScope();
            var x = stems[k].forward(xin[k]);
            var clsOut = cls_preds[k].forward(cls_convs[k].forward(x));
            var regFeat = reg_convs[k].forward(x);
            outputs[k] = scope.MoveToOuter(torch.cat([reg_preds[k].forward(regFeat), obj_preds[k].forward(regFeat), clsOut], 1));
        }
        return outputs;
    }

    /// <summary>Levels [N, C, H, W] → [N, A, C], anchors row-major per level, levels concatenated.</summary>
    public static Tensor Flatten(IReadOnlyList<Tensor> levels)
    {
        using var scope = torch.NewDisposeScope();
        var flat = levels.Select(l => l.flatten(2)).ToArray();
        return scope.MoveToOuter(torch.cat(flat, 2).permute(0, 2, 1).contiguous());
    }

    /// <summary>The anchor grid of feature maps of these sizes: per anchor its cell x, cell y and stride, each [A] float.</summary>
    public (Tensor XShifts, Tensor YShifts, Tensor Strides) Grid(IReadOnlyList<(long H, long W)> sizes, Device? device = null)
    {
        using var scope = torch.NewDisposeScope();
        var xs = new List<Tensor>();
        var ys = new List<Tensor>();
        var ss = new List<Tensor>();
        for (var k = 0; k < sizes.Count; k++)
        {
            var (h, w) = sizes[k];
            var yv = torch.arange(h, ScalarType.Float32, device).unsqueeze(1).expand(h, w).reshape(-1);
            var xv = torch.arange(w, ScalarType.Float32, device).unsqueeze(0).expand(h, w).reshape(-1);
            xs.Add(xv);
            ys.Add(yv);
            ss.Add(torch.full([h * w], (double)Strides[k], ScalarType.Float32, device));
        }
        var r = (torch.cat(xs), torch.cat(ys), torch.cat(ss));
        scope.MoveToOuter(r.Item1, r.Item2, r.Item3);
        return r;
    }

    /// <summary>Grid decode of raw [N, A, 5 + K]: centre (raw + cell) · stride, size exp(raw) · stride (cxcywh in
    /// input pixels); obj and cls stay logits unless <paramref name="sigmoid"/>, which gives Megvii's eval output.</summary>
    public static Tensor Decode(Tensor raw, Tensor xShifts, Tensor yShifts, Tensor strides, bool sigmoid)
    {
        using var scope = torch.NewDisposeScope();
        var grid = torch.stack([xShifts, yShifts], 1);
        var s = strides.unsqueeze(1);
        var xy = (raw.narrow(2, 0, 2) + grid) * s;
        var wh = raw.narrow(2, 2, 2).exp() * s;
        var rest = raw.narrow(2, 4, raw.size(2) - 4);
        return scope.MoveToOuter(torch.cat([xy, wh, sigmoid ? rest.sigmoid() : rest], 2));
    }
}
