using CxrLab.Torch;
using CxrLab.Torch.Nn;

namespace CxrLab.Models.Backbones;

/// <summary>Makes a normalisation layer for a channel count: BatchNorm2d for training from scratch,
/// FrozenBatchNorm2d for detection backbones (torchvision's choice).</summary>
public delegate Module<Tensor, Tensor> NormLayerFactory(long channels);

/// <summary>A residual block; the ResNet stages chain them.</summary>
public abstract class ResidualBlock : Module<Tensor, Tensor>
{
    /// <summary>Output channels = planes × Expansion.</summary>
    public abstract int Expansion { get; }
}

/// <summary>Two 3×3 convolutions (ResNet-18/34), torchvision's <c>BasicBlock</c> key names.</summary>
public sealed class BasicBlock : ResidualBlock
{
    readonly Conv2d conv1, conv2;
    readonly Module<Tensor, Tensor> bn1, bn2;
    readonly Sequential? downsample;
    public override int Expansion => 1;

    public BasicBlock(long inplanes, long planes, long stride, Sequential? downsample, NormLayerFactory norm)
    {
        conv1 = register_module("conv1", new Conv2d(inplanes, planes, 3, stride: stride, padding: 1, bias: false));
        bn1 = register_module("bn1", norm(planes));
        conv2 = register_module("conv2", new Conv2d(planes, planes, 3, padding: 1, bias: false));
        bn2 = register_module("bn2", norm(planes));
        if (downsample is not null) this.downsample = register_module("downsample", downsample);
    }

    public override Tensor forward(Tensor x)
    {
        Tensor o;
        using (var c = conv1.forward(x)) using (var b = bn1.forward(c)) o = b.relu_().alias();
        using (var c = conv2.forward(o)) { o.Dispose(); o = bn2.forward(c); }
        using var identity = downsample?.forward(x);
        o.add_(identity ?? x);
        return o.relu_();
    }
}

/// <summary>1×1 → 3×3 (stride here, "ResNet v1.5") → 1×1 ×4 (ResNet-50/101), torchvision's <c>Bottleneck</c>.</summary>
public sealed class Bottleneck : ResidualBlock
{
    readonly Conv2d conv1, conv2, conv3;
    readonly Module<Tensor, Tensor> bn1, bn2, bn3;
    readonly Sequential? downsample;
    public override int Expansion => 4;

    public Bottleneck(long inplanes, long planes, long stride, Sequential? downsample, NormLayerFactory norm)
    {
        conv1 = register_module("conv1", new Conv2d(inplanes, planes, 1, bias: false));
        bn1 = register_module("bn1", norm(planes));
        conv2 = register_module("conv2", new Conv2d(planes, planes, 3, stride: stride, padding: 1, bias: false));
        bn2 = register_module("bn2", norm(planes));
        conv3 = register_module("conv3", new Conv2d(planes, planes * 4, 1, bias: false));
        bn3 = register_module("bn3", norm(planes * 4));
        if (downsample is not null) this.downsample = register_module("downsample", downsample);
    }

    public override Tensor forward(Tensor x)
    {
        Tensor o;
        using (var c = conv1.forward(x)) using (var b = bn1.forward(c)) o = b.relu_().alias();
        using (var c = conv2.forward(o)) { o.Dispose(); using var b = bn2.forward(c); o = b.relu_().alias(); }
        using (var c = conv3.forward(o)) { o.Dispose(); o = bn3.forward(c); }
        using var identity = downsample?.forward(x);
        o.add_(identity ?? x);
        return o.relu_();
    }
}

/// <summary>torchvision's ResNet with identical module and parameter names ("conv1.weight",
/// "layer3.5.bn2.running_var", "fc.bias"), so torchvision state dicts load key for key.
/// <see cref="forward"/> returns class logits [N, numClasses]; <see cref="forward_features"/> returns the
/// stage outputs C2..C5 (strides 4, 8, 16, 32) that detection necks consume.</summary>
public sealed class ResNet : Module<Tensor, Tensor>
{
    readonly Conv2d conv1;
    readonly Module<Tensor, Tensor> bn1;
    readonly Sequential[] stages;
    readonly Linear? fc;
    long inplanes = 64;

    /// <summary>Output channels of layer1..layer4.</summary>
    public long[] StageChannels { get; }

    /// <param name="block">"basic" (18/34) or "bottleneck" (50/101).</param>
    /// <param name="layers">Blocks per stage, e.g. [3, 4, 6, 3].</param>
    /// <param name="numClasses">Classifier outputs; 0 builds no fc layer (backbone only).</param>
    /// <param name="normLayer">Normalisation layer; default BatchNorm2d.</param>
    public ResNet(string block, int[] layers, int numClasses = 1000, NormLayerFactory? normLayer = null)
    {
        var norm = normLayer ?? (c => new BatchNorm2d(c));
        var bottleneck = block switch { "basic" => false, "bottleneck" => true, _ => throw new ArgumentException($"unknown ResNet block '{block}'") };
        var expansion = bottleneck ? 4 : 1;
        conv1 = register_module("conv1", new Conv2d(3, 64, 7, stride: 2, padding: 3, bias: false));
        bn1 = register_module("bn1", norm(64));
        stages = new Sequential[4];
        long[] planes = [64, 128, 256, 512];
        for (var s = 0; s < 4; s++)
            stages[s] = register_module($"layer{s + 1}", MakeStage(bottleneck, expansion, planes[s], layers[s], s == 0 ? 1 : 2, norm));
        StageChannels = planes.Select(p => p * expansion).ToArray();
        if (numClasses > 0) fc = register_module("fc", new Linear(512 * expansion, numClasses));
        // torchvision: He-normal (fan_out, relu) convolutions; norm layers start at weight 1, bias 0.
        foreach (var m in modules())
            if (m is Conv2d c) Init.kaiming_normal_(c.weight, mode: "fan_out", nonlinearity: "relu");
    }

    Sequential MakeStage(bool bottleneck, int expansion, long planes, int blocks, long stride, NormLayerFactory norm)
    {
        Sequential? downsample = null;
        if (stride != 1 || inplanes != planes * expansion)
            downsample = new Sequential(new Conv2d(inplanes, planes * expansion, 1, stride: stride, bias: false), norm(planes * expansion));
        var stage = new Sequential();
        stage.Add(bottleneck ? new Bottleneck(inplanes, planes, stride, downsample, norm) : new BasicBlock(inplanes, planes, stride, downsample, norm));
        inplanes = planes * expansion;
        for (var k = 1; k < blocks; k++)
            stage.Add(bottleneck ? new Bottleneck(inplanes, planes, 1, null, norm) : new BasicBlock(inplanes, planes, 1, null, norm));
        return stage;
    }

    public static ResNet ResNet18(int numClasses = 1000, NormLayerFactory? normLayer = null) => new("basic", [2, 2, 2, 2], numClasses, normLayer);
    public static ResNet ResNet34(int numClasses = 1000, NormLayerFactory? normLayer = null) => new("basic", [3, 4, 6, 3], numClasses, normLayer);
    public static ResNet ResNet50(int numClasses = 1000, NormLayerFactory? normLayer = null) => new("bottleneck", [3, 4, 6, 3], numClasses, normLayer);
    public static ResNet ResNet101(int numClasses = 1000, NormLayerFactory? normLayer = null) => new("bottleneck", [3, 4, 23, 3], numClasses, normLayer);

    Tensor Stem(Tensor x)
    {
        using var c = conv1.forward(x);
        using var b = bn1.forward(c);
        b.relu_();
        return torch.max_pool2d(b, [3, 3], [2, 2], [1, 1]);
    }

    /// <summary>Outputs of layer1..layer4 for [N, 3, H, W] input (C2..C5; strides 4, 8, 16, 32).</summary>
    public Tensor[] forward_features(Tensor x)
    {
        var outputs = new Tensor[4];
        using var stem = Stem(x);
        var current = stem;
        for (var s = 0; s < 4; s++) current = outputs[s] = stages[s].forward(current);
        return outputs;
    }

    /// <summary>Class logits [N, numClasses].</summary>
    public override Tensor forward(Tensor x)
    {
        if (fc is null) throw new InvalidOperationException("this ResNet was built with numClasses: 0 (backbone only); use forward_features");
        var x0 = Stem(x);
        foreach (var stage in stages) { var y = stage.forward(x0); x0.Dispose(); x0 = y; }
        using (x0)
        using (var pooled = torch.adaptive_avg_pool2d(x0, [1, 1]))
        using (var flat = pooled.flatten(1))
            return fc.forward(flat);
    }
}
