using CxrLab.Torch;
using CxrLab.Torch.Nn;

namespace CxrLab.Models.Necks;

/// <summary>The levels an FPN adds above the backbone's (torchvision's <c>extra_blocks</c>).</summary>
public enum FpnExtraBlock
{
    /// <summary>None: one output per backbone level.</summary>
    None,
    /// <summary><c>LastLevelMaxPool</c>: "pool" = max-pool k1 s2 of the coarsest output (Faster/Mask R-CNN).</summary>
    MaxPool,
    /// <summary><c>LastLevelP6P7</c>: "p6" = 3×3 s2 conv of the coarsest output, "p7" = 3×3 s2 conv of relu(p6)
    /// (RetinaNet-style; keys <c>extra_blocks.p6</c>, <c>extra_blocks.p7</c>).</summary>
    P6P7,
}

/// <summary>Feature Pyramid Network (torchvision.ops.FeaturePyramidNetwork): a 1×1 lateral ("inner") and a 3×3
/// output ("layer") convolution per input level, top-down nearest upsampling, and the extra levels
/// <see cref="FpnExtraBlock"/> says (default: "pool" = max-pool k1 s2 of the coarsest output).
/// Keys follow torchvision ≥ 0.13 (<c>inner_blocks.i.0.weight</c>); older checkpoints
/// (<c>inner_blocks.i.weight</c>) load through <see cref="UpgradeLegacyKeys"/>.</summary>
public sealed class FeaturePyramidNetwork : Module
{
    readonly ModuleList<Sequential> innerBlocks;
    readonly ModuleList<Sequential> layerBlocks;
    readonly LastLevelP6P7? p6p7;

    /// <param name="inChannelsList">Channels of each input level, finest first.</param>
    /// <param name="outChannels">Channels of every output level (256 in torchvision).</param>
    /// <param name="extraBlock">Levels added above the backbone's.</param>
    public FeaturePyramidNetwork(IReadOnlyList<long> inChannelsList, long outChannels, FpnExtraBlock extraBlock = FpnExtraBlock.MaxPool)
    {
        ExtraBlock = extraBlock;
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
        if (extraBlock == FpnExtraBlock.P6P7) p6p7 = register_module("extra_blocks", new LastLevelP6P7(outChannels, outChannels));
        OutChannels = outChannels;
        LevelNames = [.. Enumerable.Range(0, inChannelsList.Count).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                      .. extraBlock switch { FpnExtraBlock.MaxPool => ["pool"], FpnExtraBlock.P6P7 => new[] { "p6", "p7" }, _ => [] }];
    }

    public long OutChannels { get; }
    public FpnExtraBlock ExtraBlock { get; }

    /// <summary>Names of the outputs, finest first: "0".."n-1" then the extra levels.</summary>
    public IReadOnlyList<string> LevelNames { get; }

    /// <summary>Outputs for inputs finest first: one per input level plus the extra levels (<see cref="LevelNames"/>).</summary>
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
        switch (ExtraBlock)
        {
            case FpnExtraBlock.MaxPool:
                named.Add(("pool", torch.max_pool2d(results[^1], [1, 1], [2, 2], [0, 0])));
                break;
            case FpnExtraBlock.P6P7:
                var (p6, p7) = p6p7!.Forward(results[^1]);
                named.Add(("p6", p6));
                named.Add(("p7", p7));
                break;
        }
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

/// <summary>torchvision's <c>LastLevelP6P7</c> fed by the FPN's coarsest output: p6 = conv3×3 s2, p7 = conv3×3 s2 of relu(p6)
/// (kaiming_uniform a=1, zero bias).</summary>
public sealed class LastLevelP6P7 : Module
{
    readonly Conv2d p6, p7;

    public LastLevelP6P7(long inChannels, long outChannels)
    {
        p6 = register_module("p6", new Conv2d(inChannels, outChannels, 3, stride: 2, padding: 1));
        p7 = register_module("p7", new Conv2d(outChannels, outChannels, 3, stride: 2, padding: 1));
        foreach (var c in new[] { p6, p7 })
        {
            Init.kaiming_uniform_(c.weight, a: 1);
            if (c.bias is { } b) Init.zeros_(b);
        }
    }

    public (Tensor P6, Tensor P7) Forward(Tensor x)
    {
        var a = p6.forward(x);
        return (a, p7.forward(a.relu()));
    }
}
