using CxrLab.Torch;
using CxrLab.Torch.Vision;

namespace CxrLab.Tests.Torch.Vision;

/// <summary>The device policy of NMS and RoIAlign, and the torchvision path through the dispatcher. There is no GPU
/// here, so the CUDA branch itself is not run: these tests load Debian's CPU build of torchvision's library, check
/// what the policy sees in the dispatcher, and run torchvision's kernels on CPU through the same call as the CUDA
/// path against our native kernels.</summary>
public class VisionKernelsTests
{
    static readonly Lazy<string> DebianTorchvision = new(() =>
        PythonReference.Run("import importlib.util; print(importlib.util.find_spec('torchvision._C').origin)").Trim());

    [Fact]
    public void Cpu_tensors_use_the_native_kernels_unless_overridden_for_a_scope()
    {
        Assert.Equal(VisionKernel.Native, VisionKernels.For(Device.CPU));
        using (VisionKernels.Use(VisionKernel.Aten))
        {
            Assert.Equal(VisionKernel.Aten, VisionKernels.For(Device.CPU));
            Assert.Equal(VisionKernel.Aten, VisionKernels.For(Device.CUDA));
        }
        Assert.Equal(VisionKernel.Native, VisionKernels.For(Device.CPU));
    }

    [Fact]
    public void A_missing_or_broken_torchvision_library_is_a_clear_error()
    {
        var missing = Assert.Throws<FileNotFoundException>(() => VisionKernels.LoadTorchvision("/nonexistent/_C.so"));
        Assert.Contains(VisionKernels.TorchvisionLibraryVariable, missing.Message);
        var notALibrary = Path.GetTempFileName();
        try
        {
            File.WriteAllText(notALibrary, "not an ELF file");
            var ex = Assert.ThrowsAny<Exception>(() => VisionKernels.LoadTorchvision(notALibrary));
            Assert.Contains("could not load", ex.Message);
        }
        finally { File.Delete(notALibrary); }
    }

    [Fact]
    public void Torchvision_kernels_registered_by_its_library_run_through_the_dispatcher_and_equal_ours()
    {
        VisionKernels.LoadTorchvision(DebianTorchvision.Value);
        Assert.True(VisionKernels.TorchvisionAvailable(Device.CPU));
        // Debian's build has CPU kernels only: a CUDA tensor would get the aten composition.
        Assert.False(VisionKernels.TorchvisionAvailable(Device.CUDA));
        Assert.Equal(VisionKernel.Aten, VisionKernels.For(Device.CUDA));
        Assert.Equal(VisionKernel.Native, VisionKernels.For(Device.CPU));
        Assert.Contains("no CUDA kernels", Assert.Throws<InvalidOperationException>(() => VisionKernels.RequireTorchvision(Device.CUDA)).Message);

        using var scope = torch.NewDisposeScope();
        var rng = new Random(3);
        var values = Enumerable.Range(0, 2 * 3 * 10 * 12).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var features = Tensor.From(values, 2, 3, 10, 12);
        var rois = Tensor.From(new float[] { 0, 1.3f, 2.2f, 30.9f, 19.1f, 1, -4, 3, 16, 44, 0, 20, 8, 21, 9.5f }, 3, 5);
        (Tensor, Tensor) Run(VisionKernel kernel)
        {
            var input = features.clone().requires_grad_();
            Tensor output;
            using (VisionKernels.Use(kernel)) output = VisionOps.roi_align(input, rois, [3, 4], 0.5, 2, true);
            output.pow(2).sum().backward();
            return (output.detach(), input.grad!);
        }
        var (ours, ourGrad) = Run(VisionKernel.Native);
        var (theirs, theirGrad) = Run(VisionKernel.Torchvision);
        Reference.Close(theirs, ours, 1e-5, 1e-5, "roi_align");
        Reference.Close(theirGrad, ourGrad, 1e-5, 1e-5, "roi_align grad");

        var boxes = Tensor.From(Enumerable.Range(0, 200 * 4).Select(i => (float)(i % 4 < 2 ? rng.NextDouble() * 50 : 50 + rng.NextDouble() * 30)).ToArray(), 200, 4);
        var scores = Tensor.From(Enumerable.Range(0, 200).Select(_ => (float)rng.NextDouble()).ToArray(), 200);
        Tensor keepTheirs;
        using (VisionKernels.Use(VisionKernel.Torchvision)) keepTheirs = VisionOps.nms(boxes, scores, 0.4);
        Assert.Equal(keepTheirs.ToArray<long>(), VisionOps.nms(boxes, scores, 0.4).ToArray<long>());
    }
}
