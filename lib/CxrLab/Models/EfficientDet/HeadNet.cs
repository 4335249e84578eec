using CxrLab.Torch;
using CxrLab.Torch.Nn;

namespace CxrLab.Models.EfficientDet;

/// <summary>effdet's <c>HeadNet</c> (class net or box net): <see cref="EfficientDetOptions.BoxClassRepeats"/> separable
/// convs shared by every level, each followed by a BatchNorm of its own per level and swish, then a shared separable
/// <c>predict</c> conv with <c>outputsPerAnchor × anchors</c> channels. Keys <c>conv_rep.{r}.*</c>,
/// <c>bn_rep.{r}.{level}.bn.*</c> (effdet's repeat-first layout), <c>predict.*</c>. Output channel = anchor·outputs +
/// output (class id, or ty, tx, th, tw).</summary>
public sealed class HeadNet : Module<List<Tensor>, List<Tensor>>
{
    readonly ModuleList<SeparableConv2d> convRep;
    readonly ModuleList<ModuleList<Sequential>> bnRep;
    readonly SeparableConv2d predict;

    public int OutputsPerAnchor { get; }

    public HeadNet(EfficientDetOptions o, int outputsPerAnchor)
    {
        OutputsPerAnchor = outputsPerAnchor;
        var norm = new BnSettings(o.BnEps, o.BnMomentum);
        convRep = register_module("conv_rep", new ModuleList<SeparableConv2d>());
        for (var r = 0; r < o.BoxClassRepeats; r++)
            convRep.Add(new SeparableConv2d(o.FpnChannels, o.FpnChannels, o.Pad, bias: o.RedundantBias, norm: null, act: false));
        bnRep = register_module("bn_rep", new ModuleList<ModuleList<Sequential>>());
        for (var r = 0; r < o.BoxClassRepeats; r++)
        {
            var perLevel = new ModuleList<Sequential>();
            for (var l = 0; l < o.NumLevels; l++) perLevel.Add(new Sequential([("bn", (Module<Tensor, Tensor>)norm.Make(o.FpnChannels))]));
            bnRep.Add(perLevel);
        }
        predict = register_module("predict", new SeparableConv2d(o.FpnChannels, (long)outputsPerAnchor * o.AnchorsPerLocation, o.Pad, bias: true, norm: null, act: false));
    }

    public SeparableConv2d Predict => predict;
    public IReadOnlyList<SeparableConv2d> ConvRep => convRep;

    public override List<Tensor> forward(List<Tensor> x)
    {
        var outputs = new List<Tensor>();
        for (var level = 0; level < x.Count; level++)
        {
            var h = x[level].alias();
            for (var r = 0; r < convRep.Count; r++)
            {
                h = h.Then(convRep[r].forward).Then(bnRep[r][level].forward).Then(torch.silu);
            }
            outputs.Add(h.Then(predict.forward));
        }
        return outputs;
    }
}
