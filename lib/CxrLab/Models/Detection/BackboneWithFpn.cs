using CxrLab.Models.Backbones;
using CxrLab.Models.Necks;
using CxrLab.Torch;
using CxrLab.Torch.Nn;

namespace CxrLab.Models.Detection;

/// <summary>A ResNet body (FrozenBatchNorm, no classifier) feeding an FPN, with torchvision's
/// keys <c>body.*</c> and <c>fpn.*</c>. Returns five levels "0".."3" (strides 4–32) and "pool" (64).</summary>
public sealed class BackboneWithFpn : Module
{
    readonly ResNet body;
    readonly FeaturePyramidNetwork fpn;

    /// <param name="body">A ResNet built with numClasses 0.</param>
    /// <param name="trainableLayers">0–5: how many stages, from layer4 down to conv1, keep
    /// requires_grad (torchvision's default 3 trains layer2–4).</param>
    /// <param name="outChannels">FPN channels.</param>
    public BackboneWithFpn(ResNet body, int trainableLayers = 3, long outChannels = 256)
    {
        if (trainableLayers is < 0 or > 5) throw new ArgumentOutOfRangeException(nameof(trainableLayers), $"{trainableLayers} must be 0–5");
        this.body = register_module("body", body);
        string[] order = ["layer4", "layer3", "layer2", "layer1", "conv1"];
        var train = order.Take(trainableLayers).ToList();
        if (trainableLayers == 5) train.Add("bn1");
        foreach (var (name, p) in body.named_parameters())
            if (!train.Any(prefix => name.StartsWith(prefix, StringComparison.Ordinal))) p.requires_grad = false;
        fpn = register_module("fpn", new FeaturePyramidNetwork(body.StageChannels, outChannels));
        OutChannels = outChannels;
    }

    public long OutChannels { get; }

    public List<(string Name, Tensor Feature)> Forward(Tensor images) => fpn.Forward(body.forward_features(images));

    /// <summary>ResNet-{18,34,50,101} with FrozenBatchNorm2d (eps as given; torchvision uses 1e-5,
    /// and 0.0 for its COCO v1 weights).</summary>
    public static BackboneWithFpn ResNetFpn(int depth, int trainableLayers = 3, double frozenBnEps = 1e-5, long outChannels = 256)
    {
        NormLayerFactory norm = c => new FrozenBatchNorm2d(c, frozenBnEps);
        var body = depth switch
        {
            18 => ResNet.ResNet18(0, norm),
            34 => ResNet.ResNet34(0, norm),
            50 => ResNet.ResNet50(0, norm),
            101 => ResNet.ResNet101(0, norm),
            _ => throw new ArgumentException($"ResNet-{depth} is not available; use 18, 34, 50 or 101"),
        };
        return new BackboneWithFpn(body, trainableLayers, outChannels);
    }
}
