using CxrLab.Torch;
using CxrLab.Torch.Vision;

namespace CxrLab.Tests.Torch.Vision;

/// <summary>The device-agnostic aten composition of NMS and RoIAlign (what a CUDA tensor gets without torchvision's
/// library) against our native CPU kernels, run on CPU: RoIAlign outputs and input gradients in float64 agree to
/// rounding (1e-12) for every sampling/alignment mode, boxes partly or wholly outside the map, degenerate boxes and
/// empty box sets; NMS keeps exactly the same indices, ties, duplicates and long suppression chains included.
/// Inputs come from System.Random, so the tests do not touch libtorch's generator.</summary>
public class AtenVisionOpsTests
{
    static Tensor Features(Random rng, ScalarType dtype, params long[] shape)
    {
        var values = new double[shape.Aggregate(1L, (a, b) => a * b)];
        for (var i = 0; i < values.Length; i++) values[i] = rng.NextDouble() * 2 - 1;
        using var t = Tensor.From(values, shape);
        return t.to(dtype);
    }

    // Boxes in image pixels for a map of mapH × mapW cells at `scale`: inside, partly outside, wholly outside,
    // thinner than a cell, inverted (x2 < x1), covering the map.
    static Tensor Rois(Random rng, int count, long batch, long mapH, long mapW, double scale, ScalarType dtype)
    {
        double imageW = mapW / scale, imageH = mapH / scale;
        var rows = new List<double>();
        for (var i = 0; i < count; i++)
        {
            double x1 = rng.NextDouble() * imageW, y1 = rng.NextDouble() * imageH;
            double w = rng.NextDouble() * imageW / 2 + 0.3, h = rng.NextDouble() * imageH / 2 + 0.3;
            switch (i % 6)
            {
                case 1: x1 -= imageW / 3; y1 += imageH / 3; break;         // partly outside (left/bottom)
                case 2: x1 = imageW + 5; y1 = -h - 5; break;                // wholly outside
                case 3: w = rng.NextDouble() * 0.8; h = rng.NextDouble() * 0.8; break;  // thinner than a cell
                case 4: w = -w / 4; break;                                  // inverted
                case 5: x1 = -2; y1 = -3; w = imageW + 4; h = imageH + 6; break;  // covers the map
            }
            rows.AddRange([rng.Next((int)batch), x1, y1, x1 + w, y1 + h]);
        }
        using var t = Tensor.From(rows.ToArray(), count, 5);
        return t.to(dtype);
    }

    static double MaxAbsDiff(Tensor a, Tensor b)
    {
        Assert.Equal(a.shape, b.shape);
        if (a.numel() == 0) return 0;
        using var d = (a.detach().to(ScalarType.Float64) - b.detach().to(ScalarType.Float64)).abs().max();
        return d.item<double>();
    }

    static (Tensor Output, Tensor Grad) RunRoiAlign(VisionKernel kernel, Tensor features, Tensor rois, long[] size, double scale, long ratio, bool aligned, Tensor? seed)
    {
        var input = features.detach().clone().requires_grad_();
        Tensor output;
        using (VisionKernels.Use(kernel)) output = VisionOps.roi_align(input, rois, size, scale, ratio, aligned);
        var weight = seed ?? torch.ones_like(output);
        (output * weight).sum().backward();
        return (output.detach(), input.grad!);
    }

    [Theory]
    [InlineData(-1, false)]
    [InlineData(-1, true)]
    [InlineData(2, false)]
    [InlineData(2, true)]
    public void Roi_align_composition_equals_the_native_kernel_forward_and_backward(long samplingRatio, bool aligned)
    {
        var rng = new Random(17 + (int)samplingRatio * 3 + (aligned ? 1 : 0));
        foreach (var (scale, size) in new (double, long[])[] { (1.0, [2, 3]), (0.5, [7, 7]), (0.25, [3, 2]), (1 / 3.0, [1]) })
        {
            using var scope = torch.NewDisposeScope();
            var features = Features(rng, ScalarType.Float64, 2, 3, 11, 13);
            var rois = Rois(rng, 18, 2, 11, 13, scale, ScalarType.Float64);
            var seed = Features(rng, ScalarType.Float64, 18, 3, size[0], size[^1]);
            var native = RunRoiAlign(VisionKernel.Native, features, rois, size, scale, samplingRatio, aligned, seed);
            var aten = RunRoiAlign(VisionKernel.Aten, features, rois, size, scale, samplingRatio, aligned, seed);
            var context = $"scale {scale}, size [{string.Join(", ", size)}], ratio {samplingRatio}, aligned {aligned}";
            Assert.True(MaxAbsDiff(native.Output, aten.Output) < 1e-12, $"forward differs: {context}");
            Assert.True(MaxAbsDiff(native.Grad, aten.Grad) < 1e-12, $"gradient differs: {context}");
            // The cases are not vacuous: many outputs are non-zero.
            using var nonzero = native.Output.ne(0).sum();
            Assert.True(nonzero.item<long>() > native.Output.numel() / 4, context);
        }
    }

    [Fact]
    public void Roi_align_composition_equals_the_native_kernel_in_float32_and_bfloat16()
    {
        var rng = new Random(5);
        using var scope = torch.NewDisposeScope();
        var features = Features(rng, ScalarType.Float32, 2, 4, 16, 12);
        var rois = Rois(rng, 24, 2, 16, 12, 0.25, ScalarType.Float32);
        var native = RunRoiAlign(VisionKernel.Native, features, rois, [7, 7], 0.25, 2, false, null);
        var aten = RunRoiAlign(VisionKernel.Aten, features, rois, [7, 7], 0.25, 2, false, null);
        Assert.True(MaxAbsDiff(native.Output, aten.Output) < 1e-5);
        Assert.True(MaxAbsDiff(native.Grad, aten.Grad) < 1e-4);
        // Reduced precision is computed in float32 and returned in the input's dtype (torchvision's autocast rule).
        var half = features.to(ScalarType.BFloat16);
        Tensor nativeHalf, atenHalf;
        using (VisionKernels.Use(VisionKernel.Native)) nativeHalf = VisionOps.roi_align(half, rois, [5, 5], 0.25, -1, true);
        using (VisionKernels.Use(VisionKernel.Aten)) atenHalf = VisionOps.roi_align(half, rois, [5, 5], 0.25, -1, true);
        Assert.Equal(ScalarType.BFloat16, atenHalf.DType);
        Assert.True(MaxAbsDiff(nativeHalf, atenHalf) < 1e-2);
    }

    [Fact]
    public void Roi_align_composition_handles_an_empty_box_set_like_the_native_kernel()
    {
        using var scope = torch.NewDisposeScope();
        var features = Features(new Random(1), ScalarType.Float64, 1, 3, 6, 5);
        var none = torch.zeros([0, 5], ScalarType.Float64);
        foreach (var ratio in new long[] { -1, 2 })
        {
            var native = RunRoiAlign(VisionKernel.Native, features, none, [2, 2], 1, ratio, false, null);
            var aten = RunRoiAlign(VisionKernel.Aten, features, none, [2, 2], 1, ratio, false, null);
            Assert.Equal([0L, 3, 2, 2], aten.Output.shape);
            Assert.Equal(native.Grad.shape, aten.Grad.shape);
            Assert.Equal(0.0, MaxAbsDiff(native.Grad, aten.Grad));
        }
    }

    [Fact]
    public void Roi_align_composition_checks_its_inputs()
    {
        using var scope = torch.NewDisposeScope();
        var ex = Assert.Throws<ArgumentException>(() => AtenVisionOps.roi_align(torch.zeros(1, 2, 3), torch.zeros(1, 5), [2, 2]));
        Assert.Contains("[N, C, H, W]", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => AtenVisionOps.roi_align(torch.zeros(1, 1, 3, 3), torch.zeros(1, 4), [2, 2]));
        Assert.Contains("[K, 5]", ex.Message);
    }

    static Tensor NmsBoxes(Random rng, int n, double extent, double minSide, double maxSide)
    {
        var v = new float[n * 4];
        for (var i = 0; i < n; i++)
        {
            var x = rng.NextDouble() * extent;
            var y = rng.NextDouble() * extent;
            v[4 * i] = (float)x;
            v[4 * i + 1] = (float)y;
            v[4 * i + 2] = (float)(x + minSide + rng.NextDouble() * (maxSide - minSide));
            v[4 * i + 3] = (float)(y + minSide + rng.NextDouble() * (maxSide - minSide));
        }
        return Tensor.From(v, n, 4);
    }

    static Tensor Scores(Random rng, int n, int levels)
    {
        // levels > 0 quantises the scores so many tie (the stable sort decides their order on both sides).
        var v = Enumerable.Range(0, n).Select(_ => levels > 0 ? (float)(rng.Next(levels) / (double)levels) : (float)rng.NextDouble()).ToArray();
        return Tensor.From(v, n);
    }

    static void SameKeep(Tensor boxes, Tensor scores, double threshold, int blockSize, string context)
    {
        using var native = VisionOps.nms(boxes, scores, threshold);
        using var aten = AtenVisionOps.nms(boxes, scores, threshold, blockSize);
        Assert.Equal(ScalarType.Int64, aten.DType);
        Assert.True(native.ToArray<long>().SequenceEqual(aten.ToArray<long>()), $"{context}: native [{string.Join(",", native.ToArray<long>())}] vs aten [{string.Join(",", aten.ToArray<long>())}]");
    }

    [Fact]
    public void Nms_composition_keeps_the_same_boxes_as_the_native_kernel()
    {
        var rng = new Random(11);
        using var scope = torch.NewDisposeScope();
        foreach (var n in new[] { 1, 2, 7, 300 })
        foreach (var threshold in new[] { 0.3, 0.5, 0.7 })
        foreach (var ties in new[] { 0, 5 })
        {
            var boxes = NmsBoxes(rng, n, 60, 2, 30);
            SameKeep(boxes, Scores(rng, n, ties), threshold, 512, $"n {n}, iou {threshold}, ties {ties}");
        }
        // Many blocks and dense clusters: 1500 boxes, blocks of 64.
        var dense = NmsBoxes(rng, 1500, 80, 5, 40);
        var denseScores = Scores(rng, 1500, 0);
        SameKeep(dense, denseScores, 0.5, 64, "1500 boxes, blocks of 64");
        SameKeep(dense, denseScores, 0.5, 512, "1500 boxes, blocks of 512");
        // VisionOps.nms routes to the composition when told to.
        var nativeKeep = VisionOps.nms(dense, denseScores, 0.5);
        Tensor routed;
        using (VisionKernels.Use(VisionKernel.Aten)) routed = VisionOps.nms(dense, denseScores, 0.5);
        Assert.Equal(nativeKeep.ToArray<long>(), routed.ToArray<long>());
    }

    [Fact]
    public void Nms_composition_resolves_long_suppression_chains_duplicates_and_empty_boxes()
    {
        using var scope = torch.NewDisposeScope();
        // A sliding row: each box overlaps the next (IoU 8/12) but not the one after (6/14), scores falling along the
        // row; greedy NMS keeps every other box, a chain as long as the row.
        const int n = 120;
        var row = new float[n * 4];
        for (var i = 0; i < n; i++) { row[4 * i] = 2 * i; row[4 * i + 2] = 2 * i + 10; row[4 * i + 3] = 10; }
        var boxes = Tensor.From(row, n, 4);
        var scores = Tensor.From(Enumerable.Range(0, n).Select(i => 1f - i / (float)n).ToArray(), n);
        using var keep = AtenVisionOps.nms(boxes, scores, 0.5, 32);
        Assert.Equal(Enumerable.Range(0, n / 2).Select(i => 2L * i).ToArray(), keep.ToArray<long>());
        SameKeep(boxes, scores, 0.5, 32, "sliding row");
        SameKeep(boxes, scores.flip(0), 0.5, 32, "sliding row, reversed scores");
        // Duplicates, zero-area boxes and equal scores.
        var odd = Tensor.From(new float[] { 0, 0, 10, 10, 0, 0, 10, 10, 5, 5, 5, 5, 5, 5, 5, 5, 1, 1, 9, 9, 0, 0, 10, 10 }, 6, 4);
        SameKeep(odd, Tensor.From(new float[] { 0.5f, 0.5f, 0.9f, 0.9f, 0.5f, 0.2f }, 6), 0.5, 4, "duplicates");
        SameKeep(odd, Tensor.From(new float[] { 0.5f, 0.5f, 0.9f, 0.9f, 0.5f, 0.2f }, 6), 0.0, 2, "threshold 0");
        using var empty = AtenVisionOps.nms(torch.zeros(0, 4), torch.zeros(0), 0.5);
        Assert.Equal([0L], empty.shape);
        Assert.Equal(ScalarType.Int64, empty.DType);
    }
}
