using CxrLab.Torch;
using CxrLab.Torch.Nn;

namespace CxrLab.Models.EfficientDet;

/// <summary>One BiFPN node: the pyramid level it outputs and which earlier nodes it fuses (indices into the growing
/// list: 0..L−1 the layer's inputs P3..P7, then each node's output in order).</summary>
public sealed record FpnNode(int FeatLevel, int[] InputsOffsets);

/// <summary>effdet's <c>bifpn_config</c>: the node graph of one BiFPN layer. Top-down, P6 … P3, each fusing its level's
/// latest node with the level above; then bottom-up, P4 … P7, each fusing every node of its level with the level below.</summary>
public static class BiFpnGraph
{
    public static List<FpnNode> Build(int minLevel, int maxLevel)
    {
        var numLevels = maxLevel - minLevel + 1;
        var nodeIds = Enumerable.Range(0, numLevels).ToDictionary(i => minLevel + i, i => new List<int> { i });
        var next = numLevels;
        var nodes = new List<FpnNode>();
        for (var level = maxLevel - 1; level >= minLevel; level--)
        {
            nodes.Add(new FpnNode(level, [nodeIds[level][^1], nodeIds[level + 1][^1]]));
            nodeIds[level].Add(next++);
        }
        for (var level = minLevel + 1; level <= maxLevel; level++)
        {
            nodes.Add(new FpnNode(level, [.. nodeIds[level], nodeIds[level - 1][^1]]));
            nodeIds[level].Add(next++);
        }
        return nodes;
    }

    /// <summary>effdet's <c>get_feat_sizes</c>: the input size and each level's size, halving with ceiling: index = level.</summary>
    public static List<(int H, int W)> FeatSizes(int imageSize, int maxLevel)
    {
        var sizes = new List<(int, int)> { (imageSize, imageSize) };
        var s = imageSize;
        for (var i = 1; i <= maxLevel; i++) { s = (s - 1) / 2 + 1; sizes.Add((s, s)); }
        return sizes;
    }
}

/// <summary>effdet's <c>FpnCombine</c>: resamples every input to the node's size and channels, then fuses them with
/// <see cref="FusionMode"/>. Keys <c>edge_weights</c> (one per input, init 1) and <c>resample.{offset}.*</c>.</summary>
public sealed class FpnCombine : Module<List<Tensor>, Tensor>
{
    readonly int[] offsets;
    readonly FusionMode fusion;
    readonly ResampleFeatureMap[] resamplers;

    public FpnCombine(IReadOnlyList<(long Channels, (int H, int W) Size)> featureInfo, int fpnChannels, int[] inputsOffsets, (int H, int W) outputSize,
        EfficientDetOptions o, BnSettings norm)
    {
        (offsets, fusion) = (inputsOffsets, o.Fusion);
        if (fusion != FusionMode.Sum) register_parameter("edge_weights", torch.ones(inputsOffsets.Length));
        var resample = register_module("resample", new ModuleDict<ResampleFeatureMap>());
        resamplers = inputsOffsets.Select(off =>
        {
            var r = new ResampleFeatureMap(featureInfo[off].Channels, fpnChannels, featureInfo[off].Size, outputSize, o.Pad, norm, o.ApplyResampleBn, o.RedundantBias);
            resample.Add(off.ToString(System.Globalization.CultureInfo.InvariantCulture), r);
            return r;
        }).ToArray();
    }

    /// <summary>The learned fusion weights (null for "sum").</summary>
    public Tensor? EdgeWeights => param_or_null("edge_weights");

    public override Tensor forward(List<Tensor> x)
    {
        using var scope = torch.NewDisposeScope();
        var nodes = offsets.Select((off, i) => resamplers[i].forward(x[off])).ToArray();
        Tensor result;
        switch (fusion)
        {
            case FusionMode.Attn:
            {
                var w = param("edge_weights").to(nodes[0].DType).softmax(0);
                result = (torch.stack(nodes, -1) * w).sum(-1);
                break;
            }
            case FusionMode.FastAttn:
            {
                // relu(w) / (Σ relu(w) + 1e-4), applied per input before summing (effdet's order of operations).
                var w = param("edge_weights").to(nodes[0].DType).relu();
                var sum = w.sum() + 0.0001;
                result = torch.stack(nodes.Select((n, i) => n * w[i] / sum), -1).sum(-1);
                break;
            }
            default:
                result = torch.stack(nodes, -1).sum(-1);
                break;
        }
        return scope.MoveToOuter(result);
    }
}

/// <summary>effdet's <c>Fnode</c>: combine, then <c>after_combine</c> = swish → separable conv → BN (pre-activation).</summary>
public sealed class Fnode : Module<List<Tensor>, Tensor>
{
    readonly FpnCombine combine;
    readonly Sequential afterCombine;

    public Fnode(FpnCombine combine, Sequential afterCombine)
    {
        this.combine = register_module("combine", combine);
        this.afterCombine = register_module("after_combine", afterCombine);
    }

    public FpnCombine Combine => combine;

    public override Tensor forward(List<Tensor> x)
    {
        using var fused = combine.forward(x);
        return afterCombine.forward(fused);
    }
}

/// <summary>One BiFPN layer (effdet's <c>BiFpnLayer</c>): runs the nodes of <see cref="BiFpnGraph"/> in order, each
/// appending its output, and returns the last <c>num_levels</c> (P3'…P7'). Keys <c>fnode.{i}.*</c>.</summary>
public sealed class BiFpnLayer : Module<List<Tensor>, List<Tensor>>
{
    readonly ModuleList<Fnode> fnode;
    readonly int numLevels;

    /// <summary>Channels and sizes of the outputs (input to the next layer).</summary>
    public List<(long Channels, (int H, int W) Size)> OutputInfo { get; }

    public BiFpnLayer(List<(long Channels, (int H, int W) Size)> featureInfo, List<(int H, int W)> featSizes, EfficientDetOptions o, BnSettings norm)
    {
        numLevels = o.NumLevels;
        var graph = BiFpnGraph.Build(o.MinLevel, o.MaxLevel);
        var info = featureInfo.Concat(graph.Select(n => ((long)o.FpnChannels, featSizes[n.FeatLevel]))).ToList();
        fnode = register_module("fnode", new ModuleList<Fnode>());
        foreach (var node in graph)
        {
            var combine = new FpnCombine(info, o.FpnChannels, node.InputsOffsets, featSizes[node.FeatLevel], o, norm);
            var after = new Sequential([
                ("act", new SiLU()),
                ("conv", new SeparableConv2d(o.FpnChannels, o.FpnChannels, o.Pad, bias: o.RedundantBias, norm, act: false)),
            ]);
            fnode.Add(new Fnode(combine, after));
        }
        OutputInfo = info.Skip(info.Count - numLevels).ToList();
    }

    public IReadOnlyList<Fnode> Nodes => fnode;

    /// <summary>Consumes <paramref name="x"/> (the caller's list is not changed; intermediate nodes are disposed).</summary>
    public override List<Tensor> forward(List<Tensor> x)
    {
        var all = new List<Tensor>(x);
        foreach (var node in fnode) all.Add(node.forward(all));
        var outputs = all.Skip(all.Count - numLevels).ToList();
        foreach (var t in all.Take(all.Count - numLevels)) if (!x.Contains(t)) t.Dispose();
        return outputs;
    }
}

/// <summary>effdet's <c>BiFpn</c>: makes P6 and P7 from the backbone's last map (<c>resample.{3,4}</c>: 1×1 conv + BN
/// to the FPN width, then max-pool), then <c>cell.{r}</c> BiFPN layers. In: backbone maps at strides 8, 16, 32; out:
/// P3…P7 with <see cref="EfficientDetOptions.FpnChannels"/> channels.</summary>
public sealed class BiFpn : Module<List<Tensor>, List<Tensor>>
{
    readonly ModuleDict<ResampleFeatureMap> resample;
    readonly ModuleList<BiFpnLayer> cell;

    public BiFpn(EfficientDetOptions o, IReadOnlyList<long> backboneChannels)
    {
        var norm = new BnSettings(o.BnEps, o.BnMomentum);
        var featSizes = BiFpnGraph.FeatSizes(o.ImageSize, o.MaxLevel);
        resample = register_module("resample", new ModuleDict<ResampleFeatureMap>());
        var info = new List<(long Channels, (int H, int W) Size)>();
        var prevSize = featSizes[o.MinLevel];
        long inChannels = 0;
        for (var level = 0; level < o.NumLevels; level++)
        {
            var size = featSizes[level + o.MinLevel];
            if (level < backboneChannels.Count)
                inChannels = backboneChannels[level];
            else
            {
                resample.Add(level.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    new ResampleFeatureMap(inChannels, o.FpnChannels, prevSize, size, o.Pad, norm, o.ApplyResampleBn, o.RedundantBias));
                inChannels = o.FpnChannels;
            }
            info.Add((inChannels, size));
            prevSize = size;
        }
        cell = register_module("cell", new ModuleList<BiFpnLayer>());
        for (var r = 0; r < o.FpnCellRepeats; r++)
        {
            var layer = new BiFpnLayer(info, featSizes, o, norm);
            cell.Add(layer);
            info = layer.OutputInfo;
        }
    }

    public IReadOnlyList<BiFpnLayer> Cells => cell;

    /// <summary>P3…P7 from the backbone maps; the inputs stay the caller's.</summary>
    public override List<Tensor> forward(List<Tensor> x)
    {
        var levels = new List<Tensor>(x.Select(t => t.alias()));
        foreach (var (_, r) in resample.Items) levels.Add(r.forward(levels[^1]));
        foreach (var layer in cell)
        {
            var next = layer.forward(levels);
            foreach (var t in levels) t.Dispose();
            levels = next;
        }
        return levels;
    }
}
