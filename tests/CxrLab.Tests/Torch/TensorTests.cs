using CxrLab.Interop;
using CxrLab.Torch;

namespace CxrLab.Tests.Torch;

public class TensorTests
{
    [Fact]
    public void CreationFactoriesHaveTheRequestedShapeDtypeAndValues()
    {
        using var scope = torch.NewDisposeScope();
        Assert.Equal(new[] { 0f, 0, 0, 0, 0, 0 }, torch.zeros(2, 3).ToArray<float>());
        Assert.Equal(new[] { 1.0, 1.0 }, torch.ones([2], ScalarType.Float64).ToArray<double>());
        Assert.Equal(new long[] { 7, 7, 7 }, torch.full([3], 7).ToArray<long>());
        Assert.Equal(new long[] { 2, 4, 6 }, torch.arange(2, 8, 2).ToArray<long>());
        Assert.Equal(new[] { 0f, 0.25f, 0.5f, 0.75f, 1f }, torch.linspace(0, 1, 5).ToArray<float>());
        Assert.Equal(new long[] { 4, 5 }, torch.randn(4, 5).Shape);
        var u = torch.rand(1000).ToArray<float>();
        Assert.All(u, v => Assert.InRange(v, 0f, 1f));
        Assert.Equal(ScalarType.Bool, torch.full([2], true).DType);
        foreach (var dt in new[] { ScalarType.Float16, ScalarType.BFloat16, ScalarType.Int32, ScalarType.UInt8, ScalarType.Bool })
            Assert.Equal(dt, torch.zeros([2], dt).DType);
    }

    [Fact]
    public void ArithmeticBroadcastsAndPromotesLikePyTorch()
    {
        using var scope = torch.NewDisposeScope();
        var a = torch.tensor(new[] { 1f, 2f, 3f, 4f }, 2, 2);
        var b = torch.tensor(new[] { 10f, 20f }, 2);
        Assert.Equal(new[] { 11f, 22f, 13f, 24f }, (a + b).ToArray<float>());
        Assert.Equal(new[] { -9f, -18f, -7f, -16f }, (a - b).ToArray<float>());
        Assert.Equal(new[] { 2f, 4f, 6f, 8f }, (a * 2).ToArray<float>());
        Assert.Equal(new[] { 0.5f, 1f, 1.5f, 2f }, (a / 2.0).ToArray<float>());
        Assert.Equal(new[] { 0f, -1f, -2f, -3f }, (1 - a).ToArray<float>());
        var i = torch.tensor(new long[] { 1, 2 });
        Assert.Equal(ScalarType.Float32, (i * 0.5).DType); // int tensor * float scalar → default float
        Assert.Equal(new[] { 1f, 4f, 9f, 16f }, a.pow(2).ToArray<float>());
        Assert.Equal(new[] { 7f, 10f, 15f, 22f }, a.matmul(a).ToArray<float>());
    }

    [Fact]
    public void ComparisonsAndMasksIndexLikePyTorch()
    {
        using var scope = torch.NewDisposeScope();
        var a = torch.arange(0, 6).reshape(2, 3);
        var mask = a > 2L;
        Assert.Equal(ScalarType.Bool, mask.DType);
        Assert.Equal(new long[] { 3, 4, 5 }, a[mask].ToArray<long>());
        Assert.Equal(new long[] { 3, 4, 5 }, a[1].ToArray<long>());
        Assert.Equal(new long[] { 1, 4 }, a[.., 1].ToArray<long>());
        Assert.Equal(new long[] { 1, 2, 4, 5 }, a[.., 1..].ToArray<long>());
        Assert.Equal(new long[] { 2, 5 }, a[TensorIndex.Ellipsis, ^1..].reshape(-1).ToArray<long>());
        Assert.Equal(new long[] { 2, 1, 3 }, a[TensorIndex.Slice(), TensorIndex.NewAxis].Shape);
        var idx = torch.tensor(new long[] { 2, 0 });
        Assert.Equal(new long[] { 2, 0, 5, 3 }, a[.., idx].reshape(-1).ToArray<long>());
        var b = a.clone();
        b[mask] = torch.full([], 0L);
        Assert.Equal(new long[] { 0, 1, 2, 0, 0, 0 }, b.reshape(-1).ToArray<long>());
        b[0, 1..] = torch.tensor(new long[] { 8, 9 });
        Assert.Equal(new long[] { 0, 8, 9, 0, 0, 0 }, b.reshape(-1).ToArray<long>());
        Assert.Equal(new[] { true, false, false, true, true, true }, a.eq(0L).logical_or(mask).reshape(-1).ToArray<bool>());
    }

    [Fact]
    public void ReductionsSortsAndSelections()
    {
        using var scope = torch.NewDisposeScope();
        var a = torch.tensor(new[] { 3f, 1f, 2f, 9f, 7f, 8f }, 2, 3);
        Assert.Equal(30f, a.sum().item<float>());
        Assert.Equal(new[] { 2f, 8f }, a.mean(1).ToArray<float>());
        var (values, indices) = a.max(1);
        Assert.Equal(new[] { 3f, 9f }, values.ToArray<float>());
        Assert.Equal(new long[] { 0, 0 }, indices.ToArray<long>());
        Assert.Equal(3L, a.argmax().item<long>());
        var (top, topIdx) = a.reshape(-1).topk(2);
        Assert.Equal(new[] { 9f, 8f }, top.ToArray<float>());
        Assert.Equal(new long[] { 3, 5 }, topIdx.ToArray<long>());
        var (sorted, order) = a[0].sort(descending: true);
        Assert.Equal(new[] { 3f, 2f, 1f }, sorted.ToArray<float>());
        Assert.Equal(new long[] { 0, 2, 1 }, order.ToArray<long>());
        Assert.Equal(new[] { 3f, 2f, 2f, 7f, 7f, 7f }, a.clamp(2, 7).reshape(-1).ToArray<float>());
        var g = a.gather(1, torch.tensor(new long[] { 2, 0 }, 2, 1));
        Assert.Equal(new[] { 2f, 9f }, g.reshape(-1).ToArray<float>());
        Assert.Equal(new[] { 9f, 7f, 8f }, a.index_select(0, torch.tensor(new long[] { 1 })).reshape(-1).ToArray<float>());
        var s = torch.zeros(2, 3).scatter(1, torch.tensor(new long[] { 1, 2 }, 2, 1), torch.ones(2, 1));
        Assert.Equal(new[] { 0f, 1f, 0f, 0f, 0f, 1f }, s.reshape(-1).ToArray<float>());
        var w = torch.where(a > 5f, a, torch.zeros(2, 3));
        Assert.Equal(new[] { 0f, 0f, 0f, 9f, 7f, 8f }, w.reshape(-1).ToArray<float>());
    }

    [Fact]
    public void ViewsJoinsAndSplits()
    {
        using var scope = torch.NewDisposeScope();
        var a = torch.arange(0, 24).reshape(2, 3, 4);
        Assert.Equal(new long[] { 4, 2, 3 }, a.permute(2, 0, 1).Shape);
        Assert.Equal(new long[] { 2, 4, 3 }, a.transpose(1, 2).Shape);
        Assert.Equal(new long[] { 2, 12 }, a.flatten(1).Shape);
        Assert.Equal(new long[] { 1, 2, 3, 4 }, a.unsqueeze(0).Shape);
        Assert.Equal(new long[] { 4, 3, 4 }, torch.cat([a, a]).Shape);
        Assert.Equal(new long[] { 2, 2, 3, 4 }, torch.stack([a, a]).Shape);
        var parts = a.split(2, 2);
        Assert.Equal(2, parts.Length);
        Assert.Equal(new long[] { 2, 3, 2 }, parts[1].Shape);
        Assert.Equal(3, a.chunk(3, 1).Length);
        Assert.Equal(new long[] { 2, 3, 4 }, a.view(2, 3, 4).Shape);
        var p = torch.pad(torch.ones(1, 1, 2, 2), [1, 1, 0, 0]);
        Assert.Equal(new long[] { 1, 1, 2, 4 }, p.Shape);
        Assert.Equal(new[] { 0f, 1f, 1f, 0f }, p[0, 0, 0].ToArray<float>());
    }

    [Fact]
    public void ConversionsAndToString()
    {
        using var scope = torch.NewDisposeScope();
        var a = torch.tensor(new[] { 1.5f, -2.5f });
        Assert.Equal(new long[] { 1, -2 }, a.to(ScalarType.Int64).ToArray<long>());
        Assert.Equal(new[] { 1.5, -2.5 }, a.to(ScalarType.Float64).ToArray<double>());
        Assert.Equal(Device.CPU, a.to(Device.CPU).device.Type == DeviceType.CPU ? Device.CPU : Device.CUDA);
        Assert.Equal(ScalarType.Float16, a.to(ScalarType.Float16).DType);
        Assert.Equal(-2.5, a[1].item<double>());
        var text = a.ToString();
        Assert.Contains("shape=[2]", text);
        Assert.Contains("Float32", text);
        Assert.Contains("1.5", text);
        var bytes = a.ToBytes();
        using var back = Tensor.FromBytes(bytes, ScalarType.Float32, 2);
        Assert.Equal(a.ToArray<float>(), back.ToArray<float>());
    }

    [Fact]
    public void SoftmaxExpLogSqrtSigmoid()
    {
        using var scope = torch.NewDisposeScope();
        var x = torch.tensor(new[] { 0f, (float)Math.Log(3) });
        Assert.Equal(new[] { 0.25f, 0.75f }, x.softmax(0).ToArray<float>(), new FloatTolerance(1e-6f));
        Assert.Equal(new[] { MathF.Log(0.25f), MathF.Log(0.75f) }, x.log_softmax(0).ToArray<float>(), new FloatTolerance(1e-6f));
        Assert.Equal(new[] { 1f, 3f }, x.exp().ToArray<float>(), new FloatTolerance(1e-6f));
        Assert.Equal(new[] { 0.5f, 0.75f }, x.sigmoid().ToArray<float>(), new FloatTolerance(1e-6f));
        Assert.Equal(new[] { 2f, 3f }, torch.tensor(new[] { 4f, 9f }).sqrt().ToArray<float>());
    }

    [Fact]
    public void InterpolateAndGridSampleMatchHandComputedValues()
    {
        using var scope = torch.NewDisposeScope();
        var x = torch.tensor(new[] { 0f, 1f, 2f, 3f }, 1, 1, 2, 2);
        var up = torch.interpolate(x, scale_factor: [2.0], mode: "nearest");
        Assert.Equal(new long[] { 1, 1, 4, 4 }, up.Shape);
        Assert.Equal(new[] { 0f, 0f, 1f, 1f }, up[0, 0, 0].ToArray<float>());
        var bil = torch.interpolate(x, size: [3, 3], mode: "bilinear", align_corners: true);
        Assert.Equal(1.5f, bil[0, 0, 1, 1].item<float>(), 5);
        // identity grid with align_corners=true returns the input
        var grid = torch.tensor(new[] { -1f, -1f, 1f, -1f, -1f, 1f, 1f, 1f }, 1, 2, 2, 2);
        Assert.Equal(x.ToArray<float>(), torch.grid_sample(x, grid, align_corners: true).ToArray<float>(), new FloatTolerance(1e-6f));
    }

    [Fact]
    public void UnknownOperatorAndWrongArityGiveClearErrors()
    {
        var unknown = Assert.Throws<TorchException>(() => new Op("aten::no_such_op").Call(Arg.None));
        Assert.Contains("unknown operator 'aten::no_such_op'", unknown.Message);
        using var t = torch.ones(2);
        var arity = Assert.ThrowsAny<NativeException>(() => new Op("aten::add", "Tensor").Call(t, t));
        Assert.Contains("takes 3 arguments, 2 were passed", arity.Message);
        Assert.Contains("aten::add.Tensor(Tensor self, Tensor other, *, Scalar alpha=1)", arity.Message);
        using var m = torch.ones(2, 3);
        var shape = Assert.Throws<TorchException>(() => m.matmul(m));
        Assert.Contains("cannot be multiplied", shape.Message);
        Assert.Contains("aten::", shape.Message);
    }

    [Fact]
    public void DisposedTensorIsRejectedByEveryOp()
    {
        var t = torch.ones(2);
        t.Dispose();
        Assert.Throws<ObjectDisposedException>(() => t.exp());
        using var other = torch.ones(2);
        Assert.Throws<ObjectDisposedException>(() => other + t);
    }
}

/// <summary>Compares floats within an absolute tolerance.</summary>
public sealed class FloatTolerance(float tolerance) : IEqualityComparer<float>
{
    public bool Equals(float x, float y) => Math.Abs(x - y) <= tolerance;
    public int GetHashCode(float obj) => 0;
}
