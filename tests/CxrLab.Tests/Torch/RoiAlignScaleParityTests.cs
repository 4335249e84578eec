using System.Text.Json;
using CxrLab.Torch;
using CxrLab.Torch.Vision;

namespace CxrLab.Tests.Torch;

/// <summary>RoIAlign at a size where the kernels' parallel paths matter (two images, 40 channels split
/// into several channel ranges in backward, many RoIs, some partly outside the map) against
/// torchvision run live on the same inputs.</summary>
public sealed class RoiAlignScaleParityTests
{
    const string Script = """
        import json, torch, torchvision
        torch.manual_seed(11)
        feat = torch.randn(2, 40, 12, 14, requires_grad=True)
        xy = torch.rand(60, 2) * torch.tensor([70., 60.]) - 8
        wh = torch.rand(60, 2) * 40 + 1
        rois = torch.cat([torch.randint(0, 2, (60, 1)).float(), xy, xy + wh], 1)
        seed = torch.randn(60, 40, 7, 7)
        out = {}
        for name, kw in {"ratio2": dict(spatial_scale=0.25, sampling_ratio=2, aligned=False),
                         "adaptive_aligned": dict(spatial_scale=0.25, sampling_ratio=-1, aligned=True)}.items():
            feat.grad = None
            o = torchvision.ops.roi_align(feat, rois, (7, 7), **kw)
            (o * seed).sum().backward()
            out[name] = {"out": o.detach().flatten().tolist(), "grad": feat.grad.flatten().tolist()}
        out["feat"] = feat.detach().flatten().tolist(); out["rois"] = rois.flatten().tolist(); out["seed"] = seed.flatten().tolist()
        print(json.dumps(out))
        """;

    static readonly Lazy<JsonElement> Live = new(() => JsonDocument.Parse(PythonReference.Run(Script)).RootElement);

    static Tensor Floats(string name, params long[] shape) =>
        Tensor.From(Live.Value.GetProperty(name).EnumerateArray().Select(v => v.GetSingle()).ToArray(), shape);

    [Theory]
    [InlineData("ratio2", 2, false)]
    [InlineData("adaptive_aligned", -1, true)]
    public void ForwardAndGradientMatchTorchvision(string name, long samplingRatio, bool aligned)
    {
        using var scope = torch.NewDisposeScope();
        var feat = Floats("feat", 2, 40, 12, 14).requires_grad_();
        var rois = Floats("rois", 60, 5);
        var output = VisionOps.roi_align(feat, rois, [7, 7], 0.25, samplingRatio, aligned);
        var expected = Live.Value.GetProperty(name);
        var expectedOut = Tensor.From(expected.GetProperty("out").EnumerateArray().Select(v => v.GetSingle()).ToArray(), 60, 40, 7, 7);
        Reference.Close(expectedOut, output, 1e-5, 1e-5, "out");
        (output * Floats("seed", 60, 40, 7, 7)).sum().backward();
        var expectedGrad = Tensor.From(expected.GetProperty("grad").EnumerateArray().Select(v => v.GetSingle()).ToArray(), 2, 40, 12, 14);
        Reference.Close(expectedGrad, feat.grad!, 1e-4, 1e-5, "grad");
    }
}
