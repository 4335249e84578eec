using CxrLab.Torch;
using CxrLab.Torch.Nn;

namespace CxrLab.Models.Necks;

/// <summary>Feature Pyramid Network (torchvision.ops.FeaturePyramidNetwork with LastLevelMaxPool):
/// a 1×1 lateral ("inner") and a 3×3 output ("layer") convolution per input level, top-down
/// nearest upsampling, and an extra "pool" level = max-pool k1 s2 of the coarsest output.
/// Keys follow torchvision ≥ 0.13 (<c>inner_blocks.i.0.weight</c>); older checkpoints
/// (<c>inner_blocks.i.weight</c>) load through <see cref="UpgradeLegacyKeys"/>.</summary>
public sealed class FeaturePyramidNetwork : Module
{
    readonly ModuleList<Sequential> innerBlocks;
    readonly ModuleList<Sequential> layerBlocks;

    /// <param name="inChannelsList">Channels of each input level, finest first.</param>
    /// <param name="outChannels">Channels of every output level (256 in torchvision).</param>
    public FeaturePyramidNetwork(IReadOnlyList<long> inChannelsList, long outChannels)
    {
        innerBlocks = register_module("inner_blocks", new ModuleList<Sequential>());
        layerBlocks = register_module("layer_blocks", new ModuleList<Sequential>());
        foreach (var inChannels in inChannelsList)
        {
            if (inChannels <= 0) throw new ArgumentException("FPN input channels must be positive");
            innerBlocks.Add(new Sequential(new Conv2d(inChannels, outChannels, 1)));
            layerBlocks.Add(new Sequential(new Conv2d(outChannels, outChannels, 3, padding: 1)));
        }
        // torchvision: kaiming_uniform_(a=1) weights, zero biases.
        foreach (var m in modules())
            if (m is Conv2d c)
            {
                Init.kaiming_uniform_(c.weight, a: 1);
                if (c.bias is { } b) Init.zeros_(b);
            }
        OutChannels = outChannels;
    }

    public long OutChannels { get; }

    /// <summary>Outputs for inputs finest first: one per input level plus "pool" (names "0".."n-1", "pool").</summary>
    public List<(string Name, Tensor Feature)> Forward(IReadOnlyList<Tensor> x)
    {
        if (x.Count != innerBlocks.Count) throw new ArgumentException($"FPN built for {innerBlocks.Count} levels got {x.Count}");
        var results = new Tensor[x.Count];
        var lastInner = innerBlocks[^1].forward(x[^1]);
        results[^1] = layerBlocks[^1].forward(lastInner);
        for (var idx = x.Count - 2; idx >= 0; idx--)
        {
            var lateral = innerBlocks[idx].forward(x[idx]);
            var topDown = torch.interpolate(lastInner, size: [lateral.size(2), lateral.size(3)], mode: "nearest");
            lastInner = lateral + topDown;
            results[idx] = layerBlocks[idx].forward(lastInner);
        }
        var named = results.Select((r, i) => (i.ToString(System.Globalization.CultureInfo.InvariantCulture), r)).ToList();
        named.Add(("pool", torch.max_pool2d(results[^1], [1, 1], [2, 2], [0, 0])));
        return named;
    }

    /// <summary>Maps torchvision &lt; 0.13 FPN keys (<c>…inner_blocks.0.weight</c>) to the current layout
    /// (<c>…inner_blocks.0.0.weight</c>); other keys pass through.</summary>
    public static string UpgradeLegacyKeys(string key)
    {
        foreach (var block in new[] { "inner_blocks.", "layer_blocks." })
        {
            var at = key.IndexOf("fpn." + block, StringComparison.Ordinal);
            if (at < 0) continue;
            var rest = key[(at + 4 + block.Length)..]; // "0.weight" (old) or "0.0.weight" (new)
            var parts = rest.Split('.');
            if (parts.Length == 2) return key[..(at + 4 + block.Length)] + parts[0] + ".0." + parts[1];
        }
        return key;
    }
}
