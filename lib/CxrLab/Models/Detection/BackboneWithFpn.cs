using CxrLab.Models.Backbones;
using CxrLab.Models.Necks;
using CxrLab.Torch;
using CxrLab.Torch.Nn;

namespace CxrLab.Models.Detection;

/// <summary>Which normalisation a detection backbone's ResNet uses (torchvision's <c>norm_layer</c>).</summary>
public enum NormLayer
{
    /// <summary><c>FrozenBatchNorm2d</c>: fixed statistics and affine, all buffers. Right for pretrained
    /// weights (batches of 2–4 images would make poor batch statistics); with a random init it is no
    /// normalisation at all (mean 0, var 1, weight 1, bias 0 forever).</summary>
    Frozen,
    /// <summary><c>BatchNorm2d</c>: batch statistics in training, running averages in evaluation, trainable
    /// affine. torchvision's choice when a detector is trained from scratch.</summary>
    BatchNorm,
}

/// <summary>A ResNet body (no classifier) feeding an FPN, with torchvision's keys <c>body.*</c> and
/// <c>fpn.*</c>. Returns the body's levels "0".."3" (strides 4–32) and the FPN's extra levels (default "pool", stride 64). The state_dict keys are the
/// same with either <see cref="NormLayer"/> (BatchNorm adds <c>num_batches_tracked</c>, which FrozenBatchNorm
/// accepts and ignores), so checkpoints move between the two; in evaluation both compute the same function.</summary>
public sealed class BackboneWithFpn : Module
{
    readonly ResNet body;
    readonly FeaturePyramidNetwork fpn;

    /// <param name="body">A ResNet built with numClasses 0.</param>
    /// <param name="trainableLayers">0–5: how many stages, from layer4 down to conv1, keep
    /// requires_grad (torchvision's default 3 trains layer2–4).</param>
    /// <param name="outChannels">FPN channels.</param>
    /// <param name="extraBlock">The FPN's levels above the body's.</param>
    public BackboneWithFpn(ResNet body, int trainableLayers = 3, long outChannels = 256, FpnExtraBlock extraBlock = FpnExtraBlock.MaxPool)
    {
        if (trainableLayers is < 0 or > 5) throw new ArgumentOutOfRangeException(nameof(trainableLayers), $"{trainableLayers} must be 0–5");
        this.body = register_module("body", body);
        string[] order = ["layer4", "layer3", "layer2", "layer1", "conv1"];
        var train = order.Take(trainableLayers).ToList();
        if (trainableLayers == 5) train.Add("bn1");
        foreach (var (name, p) in body.named_parameters())
            if (!train.Any(prefix => name.StartsWith(prefix, StringComparison.Ordinal))) p.requires_grad = false;
        fpn = register_module("fpn", new FeaturePyramidNetwork(body.StageChannels, outChannels, extraBlock));
        OutChannels = outChannels;
    }

    public long OutChannels { get; }

    /// <summary>Every output level's name, finest first ("0".."3", then the extra levels).</summary>
    public IReadOnlyList<string> LevelNames => fpn.LevelNames;

    /// <summary>The levels that come from the body ("0".."3"), what RoI heads pool from.</summary>
    public IReadOnlyList<string> BodyLevelNames => fpn.LevelNames.Take(body.StageChannels.Length).ToList();

    public List<(string Name, Tensor Feature)> Forward(Tensor images) => fpn.Forward(body.forward_features(images));

    /// <summary>ResNet-{18,34,50,101}: FrozenBatchNorm2d (eps as given; torchvision uses 1e-5, and 0.0 for
    /// its COCO v1 weights) or BatchNorm2d (eps 1e-5, momentum 0.1) as <paramref name="normLayer"/> says.
    /// torchvision's builders pick Frozen when weights are loaded and BatchNorm2d when training from scratch.</summary>
    public static BackboneWithFpn ResNetFpn(int depth, int trainableLayers = 3, double frozenBnEps = 1e-5, long outChannels = 256, NormLayer normLayer = NormLayer.Frozen,
        FpnExtraBlock extraBlock = FpnExtraBlock.MaxPool)
    {
        NormLayerFactory norm = normLayer switch
        {
            NormLayer.Frozen => c => new FrozenBatchNorm2d(c, frozenBnEps),
            NormLayer.BatchNorm => c => new BatchNorm2d(c),
            _ => throw new ArgumentOutOfRangeException(nameof(normLayer), normLayer, "use Frozen or BatchNorm"),
        };
        var body = depth switch
        {
            18 => ResNet.ResNet18(0, norm),
            34 => ResNet.ResNet34(0, norm),
            50 => ResNet.ResNet50(0, norm),
            101 => ResNet.ResNet101(0, norm),
            _ => throw new ArgumentException($"ResNet-{depth} is not available; use 18, 34, 50 or 101"),
        };
        return new BackboneWithFpn(body, trainableLayers, outChannels, extraBlock);
    }
}
