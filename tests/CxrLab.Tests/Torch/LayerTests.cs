using System.Text.Json;
using CxrLab.Torch;
using CxrLab.Torch.Nn;

namespace CxrLab.Tests.Torch;

/// <summary>Every layer against PyTorch on fixed inputs (fixtures from make_torch_fixtures.py), outputs and gradients.</summary>
public class LayerTests
{
    static readonly JsonElement Cases = FixtureFile.Json("torch_layers.json").RootElement;

    static void Load(Module m, JsonElement c, params string[] names)
    {
        using var _ = torch.no_grad();
        var sd = m.state_dict();
        foreach (var n in names) { using var v = Reference.Read(c, n); sd[n].copy_(v); }
    }

    // Output and input gradient (backward of sum(out * seed_w)) against PyTorch.
    static void CheckWithGrad(Module<Tensor, Tensor> m, JsonElement c, bool checkWeightGrad = false)
    {
        using var scope = torch.NewDisposeScope();
        var x = Reference.Read(c, "x").requires_grad_();
        var y = m.forward(x);
        Reference.Close(Reference.Read(c, "out"), y, 1e-4, 1e-4, "out");
        (y * Reference.Read(c, "seed_w")).sum().backward();
        Reference.Close(Reference.Read(c, "grad_x"), x.grad!, 1e-4, 1e-4, "grad_x");
        if (checkWeightGrad) Reference.Close(Reference.Read(c, "grad_w"), m.state_dict()["weight"].grad!, 1e-3, 1e-4, "grad_w");
    }

    [Theory]
    [InlineData("conv_basic")]
    [InlineData("conv_groups_stride")]
    [InlineData("conv_dilation")]
    [InlineData("conv_reflect")]
    [InlineData("conv_replicate")]
    [InlineData("conv_circular")]
    public void Conv2dMatchesPyTorch(string name)
    {
        var c = Cases.GetProperty(name);
        var kw = c.GetProperty("kwargs");
        using var conv = new Conv2d(4, 8, 3, stride: kw.GetProperty("stride").GetInt64(), padding: kw.GetProperty("padding").GetInt64(),
            dilation: kw.GetProperty("dilation").GetInt64(), groups: kw.GetProperty("groups").GetInt64(), padding_mode: kw.GetProperty("padding_mode").GetString()!);
        Load(conv, c, "weight", "bias");
        CheckWithGrad(conv, c, checkWeightGrad: true);
    }

    [Fact]
    public void ConvTranspose2dMatchesPyTorch()
    {
        var c = Cases.GetProperty("conv_transpose");
        using var m = new ConvTranspose2d(4, 6, 3, stride: 2, padding: 1, output_padding: 1);
        Load(m, c, "weight", "bias");
        CheckWithGrad(m, c);
    }

    [Fact]
    public void BatchNorm2dTrainsAndEvaluatesLikePyTorch()
    {
        var c = Cases.GetProperty("batchnorm_train");
        using var bn = new BatchNorm2d(4);
        Load(bn, c, "weight", "bias");
        CheckWithGrad(bn, c);
        Reference.Close(Reference.Read(c, "running_mean"), bn.buffer("running_mean"), 1e-5, 1e-5, "running_mean");
        Reference.Close(Reference.Read(c, "running_var"), bn.buffer("running_var"), 1e-5, 1e-5, "running_var");
        Assert.Equal(1L, bn.buffer("num_batches_tracked").item<long>());
        bn.eval();
        using var scope = torch.NewDisposeScope();
        Reference.Close(Reference.Read(Cases.GetProperty("batchnorm_eval"), "out"), bn.forward(Reference.Read(c, "x")), 1e-5, 1e-5);
    }

    [Fact]
    public void FrozenBatchNormMatchesTorchvisionAndIgnoresNumBatchesTracked()
    {
        var c = Cases.GetProperty("frozen_bn");
        using var m = new FrozenBatchNorm2d(4);
        using var scope = torch.NewDisposeScope();
        var state = new Dictionary<string, Tensor>();
        foreach (var n in new[] { "weight", "bias", "running_mean", "running_var" }) state[n] = Reference.Read(c, n);
        state["num_batches_tracked"] = torch.zeros([], ScalarType.Int64);
        Assert.True(m.load_state_dict(state).Unexpected.Count == 0);
        Reference.Close(Reference.Read(c, "out"), m.forward(Reference.Read(c, "x")), 1e-5, 1e-5);
        Assert.Empty(m.parameters());
    }

    [Fact]
    public void GroupNormAndLinearMatchPyTorch()
    {
        var g = Cases.GetProperty("groupnorm");
        using var gn = new GroupNorm(2, 4);
        Load(gn, g, "weight", "bias");
        CheckWithGrad(gn, g);
        var l = Cases.GetProperty("linear");
        using var lin = new Linear(6, 3);
        Load(lin, l, "weight", "bias");
        CheckWithGrad(lin, l);
    }

    [Theory]
    [InlineData("maxpool")]
    [InlineData("maxpool_ceil")]
    [InlineData("adaptive_avg")]
    [InlineData("upsample_nearest")]
    [InlineData("upsample_bilinear")]
    [InlineData("relu")]
    [InlineData("silu")]
    [InlineData("leaky_relu")]
    [InlineData("sigmoid")]
    [InlineData("hardswish")]
    public void ParameterFreeLayersMatchPyTorch(string name)
    {
        Module<Tensor, Tensor> m = name switch
        {
            "maxpool" => new MaxPool2d(3, 2, 1),
            "maxpool_ceil" => new MaxPool2d(2, 2, 0, ceil_mode: true),
            "adaptive_avg" => new AdaptiveAvgPool2d([3, 2]),
            "upsample_nearest" => new Upsample(scale_factor: 2),
            "upsample_bilinear" => new Upsample(size: [5, 9], mode: "bilinear", align_corners: false),
            "relu" => new ReLU(),
            "silu" => new SiLU(),
            "leaky_relu" => new LeakyReLU(0.1),
            "sigmoid" => new Sigmoid(),
            _ => new Hardswish(),
        };
        var c = Cases.GetProperty(name);
        using var scope = torch.NewDisposeScope();
        Reference.Close(Reference.Read(c, "out"), m.forward(Reference.Read(c, "x")), 1e-5, 1e-5);
    }

    [Fact]
    public void GridSampleMatchesPyTorch()
    {
        var c = Cases.GetProperty("grid_sample");
        using var scope = torch.NewDisposeScope();
        Reference.Close(Reference.Read(c, "out"), torch.grid_sample(Reference.Read(c, "x"), Reference.Read(c, "grid")), 1e-5, 1e-5);
    }

    [Fact]
    public void DropoutIsIdentityInEvalAndZeroesInTraining()
    {
        using var scope = torch.NewDisposeScope();
        var d = new Dropout(0.5);
        var x = torch.ones(1000);
        var y = d.forward(x).ToArray<float>();
        Assert.All(y, v => Assert.True(v == 0f || v == 2f));
        Assert.InRange(y.Count(v => v == 0f), 350, 650);
        d.eval();
        Assert.Equal(x.ToArray<float>(), d.forward(x).ToArray<float>());
    }

    [Fact]
    public void GradientsMatchFiniteDifferences()
    {
        // float64 so central differences are accurate; covers conv, group norm, softmax, interpolate.
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(5);
        var x = torch.randn([1, 2, 5, 5], ScalarType.Float64).requires_grad_();
        var w = torch.randn([3, 2, 3, 3], ScalarType.Float64);
        Tensor F(Tensor input)
        {
            var y = torch.conv2d(input, w, null, [1, 1], [1, 1]);
            var n = torch.group_norm(y, 3);
            var u = torch.interpolate(n, scale_factor: [2.0], mode: "bilinear", align_corners: false);
            return (u.softmax(1) * u).sum();
        }
        F(x).backward();
        var analytic = x.grad!.ToArray<double>();
        var values = x.detach().clone();
        var flat = values.ToArray<double>();
        const double h = 1e-6;
        foreach (var i in new[] { 0, 7, 13, 24, 31, 49 })
        {
            double Eval(double delta)
            {
                var copy = (double[])flat.Clone();
                copy[i] += delta;
                using var xi = Tensor.From(copy, 1, 2, 5, 5);
                using (torch.no_grad()) return F(xi).item<double>();
            }
            var numeric = (Eval(h) - Eval(-h)) / (2 * h);
            Assert.True(Math.Abs(numeric - analytic[i]) < 1e-6 + 1e-5 * Math.Abs(numeric), $"element {i}: numeric {numeric} vs autograd {analytic[i]}");
        }
    }
}
