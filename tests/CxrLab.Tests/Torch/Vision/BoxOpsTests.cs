using System.Text.Json;
using CxrLab.Tests.Torch;
using CxrLab.Torch;
using CxrLab.Torch.Vision;

namespace CxrLab.Tests.Torch.Vision;

/// <summary>VisionOps' box functions against torchvision 0.14 (fixture torch_box_ops.json from
/// tests/fixtures/make_torch_fixtures.py): box_convert between every pair of formats, IoU and GIoU including
/// disjoint, nested and identical boxes, and batched_nms on both of torchvision's paths, with our native kernel
/// and with the aten composition a CUDA tensor would use.</summary>
public class BoxOpsTests
{
    static readonly JsonElement Cases = FixtureFile.Json("torch_box_ops.json").RootElement;

    [Fact]
    public void Box_convert_matches_torchvision_for_every_pair_of_formats()
    {
        using var scope = torch.NewDisposeScope();
        var input = Reference.Read(Cases, "convert_in");
        Assert.Equal([2L, 6, 4], input.shape);
        foreach (var from in VisionOps.BoxFormats)
        foreach (var to in VisionOps.BoxFormats)
            Reference.Close(Reference.Read(Cases, $"convert_{from}_{to}"), VisionOps.box_convert(input, from, to), 1e-6, 1e-6, $"{from} → {to}");
        // Round trips return the boxes.
        Reference.Close(input, VisionOps.box_convert(VisionOps.box_convert(input, "cxcywh", "xywh"), "xywh", "cxcywh"), 1e-5, 1e-6);
        var ex = Assert.Throws<ArgumentException>(() => VisionOps.box_convert(input, "xyxy", "yolo"));
        Assert.Contains("xyxy, xywh, cxcywh", ex.Message);
    }

    [Fact]
    public void Iou_and_generalized_iou_match_torchvision()
    {
        using var scope = torch.NewDisposeScope();
        var c = Cases.GetProperty("giou");
        var a = Reference.Read(c, "a");
        var b = Reference.Read(c, "b");
        Reference.Close(Reference.Read(c, "iou"), VisionOps.box_iou(a, b), 1e-6, 1e-6, "iou");
        var giou = VisionOps.generalized_box_iou(a, b);
        Reference.Close(Reference.Read(c, "giou"), giou, 1e-6, 1e-6, "giou");
        // b holds a[0] and a[1] themselves (GIoU 1) and a far box (GIoU towards −1).
        Assert.Equal(1.0, giou[0, 6].item<float>(), 6);
        Assert.True(giou[0, 8].item<float>() < -0.9);
    }

    [Theory]
    [InlineData("bnms_trick")]
    [InlineData("bnms_vanilla")]
    public void Batched_nms_matches_torchvision_on_both_paths_and_kernels(string name)
    {
        var c = Cases.GetProperty(name);
        using var scope = torch.NewDisposeScope();
        var boxes = Reference.Read(c, "boxes");
        var scores = Reference.Read(c, "scores");
        var idxs = Reference.Read(c, "idxs");
        var threshold = c.GetProperty("iou_threshold").GetDouble();
        var expected = Reference.Read(c, "keep").ToArray<long>();
        // > 4000 coordinates on CPU takes torchvision's per-category path.
        Assert.Equal(name == "bnms_vanilla", boxes.numel() > 4000);
        Assert.Equal(expected, VisionOps.batched_nms(boxes, scores, idxs, threshold).ToArray<long>());
        using (VisionKernels.Use(VisionKernel.Aten))
            Assert.Equal(expected, VisionOps.batched_nms(boxes, scores, idxs, threshold).ToArray<long>());
        // Not vacuous: NMS dropped boxes, and categories kept boxes that overlap across categories.
        Assert.InRange(expected.Length, boxes.size(0) / 4, boxes.size(0) - 10);
        using var plain = VisionOps.nms(boxes, scores, threshold);
        Assert.True(plain.size(0) < expected.Length);
    }

    [Fact]
    public void Batched_nms_of_no_boxes_is_empty()
    {
        using var scope = torch.NewDisposeScope();
        var keep = VisionOps.batched_nms(torch.zeros(0, 4), torch.zeros(0), torch.zeros([0], ScalarType.Int64), 0.5);
        Assert.Equal([0L], keep.shape);
        Assert.Equal(ScalarType.Int64, keep.DType);
    }

    [Fact]
    public void Clip_and_remove_small_boxes_follow_torchvision()
    {
        using var scope = torch.NewDisposeScope();
        var boxes = Tensor.From(new float[] { -5, 2, 30, 50, 10, -1, 12, 4, 3, 3, 3.5f, 40 }, 3, 4);
        var clipped = VisionOps.clip_boxes_to_image(boxes, (Height: 20, Width: 25));
        Assert.Equal(new float[] { 0, 2, 25, 20, 10, 0, 12, 4, 3, 3, 3.5f, 20 }, clipped.ToArray<float>());
        Assert.Equal(new long[] { 0, 1 }, VisionOps.remove_small_boxes(clipped, 1.0).ToArray<long>());
        Assert.Equal(new long[] { 0 }, VisionOps.remove_small_boxes(clipped, 4.5).ToArray<long>());
    }
}
