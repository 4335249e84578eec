using CxrLab.Models.Backbones;
using CxrLab.Torch;
using CxrLab.Torch.Nn;

namespace CxrLab.Models.EfficientDet;

/// <summary>effdet's <c>EfficientDet</c> network, module for module and key for key: <c>backbone.*</c> (timm's
/// EfficientNet features at strides 8/16/32), <c>fpn.*</c> (<see cref="BiFpn"/>), <c>class_net.*</c> and <c>box_net.*</c>
/// (<see cref="HeadNet"/>), so effdet checkpoints load directly. <see cref="forward"/> takes a normalised
/// <c>[N, 3, S, S]</c> batch at the configured <see cref="EfficientDetOptions.ImageSize"/> and returns per level P3…P7 the
/// class logits <c>[N, A·C, H, W]</c> and box deltas <c>[N, A·4, H, W]</c>.</summary>
public sealed class EfficientDetNet : Module<Tensor, (List<Tensor> Class, List<Tensor> Box)>
{
    readonly EfficientNet backbone;
    readonly BiFpn fpn;
    HeadNet classNet;
    readonly HeadNet boxNet;

    public EfficientDetOptions Options { get; private set; }

    public EfficientDetNet(EfficientDetOptions options)
    {
        Options = options;
        backbone = register_module("backbone", new EfficientNet(EfficientNet.Variant(options.BackboneName, options.BackboneDropPathRate)));
        fpn = register_module("fpn", new BiFpn(options, backbone.FeatureChannels));
        classNet = register_module("class_net", new HeadNet(options, options.NumClasses));
        boxNet = register_module("box_net", new HeadNet(options, 4));
        foreach (var (name, m) in named_modules())
            if (!name.StartsWith("backbone", StringComparison.Ordinal)) InitWeight(m, name);
    }

    public EfficientNet Backbone => backbone;
    public BiFpn Fpn => fpn;
    public HeadNet ClassNet => classNet;
    public HeadNet BoxNet => boxNet;

    /// <summary>The class prior's logit, −log((1 − 0.01) / 0.01): every anchor starts at p = 0.01 (RetinaNet's init).</summary>
    public static readonly double PriorBias = -Math.Log((1 - 0.01) / 0.01);

    /// <summary>effdet's <c>_init_weight</c>: head separable convs variance-scaled normal (std √(1/fan_in)), the class
    /// predict bias at <see cref="PriorBias"/>; BiFPN convs Glorot-uniform; BN weight 1, bias 0.</summary>
    static void InitWeight(Module m, string name)
    {
        using var _ = torch.no_grad();
        var head = name.Contains("box_net") || name.Contains("class_net");
        switch (m)
        {
            case SeparableConv2d s:
            {
                var (dw, _, groups) = SamePadding.ConvParameters(s.Depthwise);
                var (pw, pwBias, _) = SamePadding.ConvParameters(s.Pointwise);
                if (head) { VarianceScaling(dw, groups); VarianceScaling(pw, 1); }
                else { GlorotUniform(dw, groups); GlorotUniform(pw, 1); }
                if (pwBias is not null)
                {
                    if (head && name.Contains("class_net.predict")) pwBias.fill_(PriorBias);
                    else pwBias.zero_();
                }
                break;
            }
            case ConvBnAct2d c:
            {
                var (w, b, _) = SamePadding.ConvParameters(c.Conv);
                if (head) w.normal_(0, 0.01); else GlorotUniform(w, 1);
                if (b is not null)
                {
                    if (head && name.Contains("class_net.predict")) b.fill_(PriorBias);
                    else b.zero_();
                }
                break;
            }
            case BatchNorm2d bn:
                bn.param("weight").fill_(1.0);
                bn.param("bias").zero_();
                break;
        }
    }

    static (double FanIn, double FanOut) Fans(Tensor w, long groups)
    {
        var receptive = w.size(2) * w.size(3);
        return (w.size(1) * receptive, w.size(0) * receptive / groups);
    }

    static void GlorotUniform(Tensor w, long groups)
    {
        var (fanIn, fanOut) = Fans(w, groups);
        var limit = Math.Sqrt(3.0 / Math.Max(1.0, (fanIn + fanOut) / 2.0));
        w.uniform_(-limit, limit);
    }

    static void VarianceScaling(Tensor w, long groups)
    {
        var (fanIn, _) = Fans(w, groups);
        w.normal_(0, Math.Sqrt(1.0 / Math.Max(1.0, fanIn)));
    }

    /// <summary>Replaces the class net for <paramref name="numClasses"/> classes with effdet's fresh init (its
    /// <c>reset_head(num_classes=…)</c>): fine-tuning a COCO checkpoint on the 14 findings.</summary>
    public void ResetClassHead(int numClasses)
    {
        var device = param_device();
        Options = Options with { NumClasses = numClasses };
        var fresh = new HeadNet(Options, numClasses);
        foreach (var (name, m) in fresh.named_modules("class_net")) InitWeight(m, name);
        if (device.Type != DeviceType.CPU) fresh.to(device);
        classNet = register_module("class_net", fresh);
    }

    /// <summary>The class net's output conv (<c>class_net.predict.conv_pw</c>), the only tensors whose shape depends on the class count.</summary>
    public static readonly string[] ClassifierKeys = ["class_net.predict.conv_pw.weight", "class_net.predict.conv_pw.bias"];

    /// <summary>Re-initialises only <see cref="ClassifierKeys"/> in place as effdet does: weights variance-scaled, bias at the prior.</summary>
    public void ReinitClassPredict()
    {
        using var _ = torch.no_grad();
        var (w, b, _) = SamePadding.ConvParameters(classNet.Predict.Pointwise);
        VarianceScaling(w, 1);
        b?.fill_(PriorBias);
    }

    Device param_device() => parameters().First().device;

    public override (List<Tensor> Class, List<Tensor> Box) forward(Tensor x)
    {
        var features = backbone.forward(x);
        List<Tensor> pyramid;
        try { pyramid = fpn.forward(features); }
        finally { foreach (var f in features) f.Dispose(); }
        try { return (classNet.forward(pyramid), boxNet.forward(pyramid)); }
        finally { foreach (var p in pyramid) p.Dispose(); }
    }
}
