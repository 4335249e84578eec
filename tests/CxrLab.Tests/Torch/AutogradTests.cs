using CxrLab.Torch;

namespace CxrLab.Tests.Torch;

[Collection(CxrLab.Tests.Training.TorchRngCollection.Name)]
public class AutogradTests
{
    [Fact]
    public void BackwardAccumulatesGradientsOfLeaves()
    {
        using var scope = torch.NewDisposeScope();
        var x = torch.tensor(new[] { 1f, 2f, 3f }).requires_grad_();
        Assert.True(x.is_leaf);
        var y = (x * x).sum(); // dy/dx = 2x
        Assert.False(y.is_leaf);
        y.backward(retain_graph: true);
        Assert.Equal(new[] { 2f, 4f, 6f }, x.grad!.ToArray<float>());
        y.backward(); // accumulates
        Assert.Equal(new[] { 4f, 8f, 12f }, x.grad!.ToArray<float>());
        x.grad = null;
        Assert.Null(x.grad);
    }

    [Fact]
    public void BackwardWithAnExplicitGradientAndAutogradGrad()
    {
        using var scope = torch.NewDisposeScope();
        var x = torch.tensor(new[] { 1f, 2f }).requires_grad_();
        var y = x.exp();
        y.backward(torch.tensor(new[] { 1f, 0.5f }));
        Assert.Equal(new[] { MathF.E, 0.5f * MathF.Exp(2) }, x.grad!.ToArray<float>(), new FloatTolerance(1e-5f));
        var z = torch.tensor(new[] { 3f }).requires_grad_();
        var unused = torch.tensor(new[] { 1f }).requires_grad_();
        var g = torch.grad([(z * z * z).sum()], [z, unused]);
        Assert.Equal(27f, g[0]!.item<float>(), 4);
        Assert.Null(g[1]);
    }

    [Fact]
    public void NoGradAndInferenceModeStopRecording()
    {
        using var scope = torch.NewDisposeScope();
        var x = torch.ones(2).requires_grad_();
        using (torch.no_grad())
        {
            Assert.False(torch.is_grad_enabled());
            Assert.False((x * 2).requires_grad);
            using (torch.enable_grad()) Assert.True((x * 2).requires_grad);
        }
        Assert.True(torch.is_grad_enabled());
        Assert.True((x * 2).requires_grad);
        using (torch.inference_mode())
        {
            Assert.True(torch.is_inference_mode_enabled());
            Assert.False((x * 2).requires_grad);
        }
        Assert.False(torch.is_inference_mode_enabled());
    }

    [Fact]
    public void DetachCutsTheGraphAndBackwardWithoutGradErrorsClearly()
    {
        using var scope = torch.NewDisposeScope();
        var x = torch.ones(2).requires_grad_();
        var d = (x * 3).detach();
        Assert.False(d.requires_grad);
        var error = Assert.Throws<CxrLab.Interop.TorchException>(() => d.sum().backward());
        Assert.Contains("does not require grad", error.Message);
    }

    [Fact]
    public void ManualSeedMakesRandomTensorsRepeatable()
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(42);
        var a = torch.randn(5).ToArray<float>();
        torch.manual_seed(42);
        Assert.Equal(a, torch.randn(5).ToArray<float>());
    }

    [Fact]
    public void DeviceMovesStayOnCpuWithoutCuda()
    {
        using var scope = torch.NewDisposeScope();
        var x = torch.ones(2);
        Assert.Equal(DeviceType.CPU, x.to(Device.Parse("cpu")).device.Type);
        Assert.Equal(torch.cuda_is_available(), TorchRuntime.CudaDeviceCount > 0);
        if (!torch.cuda_is_available()) Assert.ThrowsAny<CxrLab.Interop.NativeException>(() => x.cuda());
        Assert.Equal("cuda:1", Device.Parse("cuda:1").ToString());
    }
}
