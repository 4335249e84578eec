using System.Text.Json;
using CxrLab.Torch;
using CxrLab.Torch.Nn;
using CxrLab.Torch.Vision;

namespace CxrLab.Tests.Torch;

/// <summary>Losses and detection ops against PyTorch / torchvision 0.14 (fixtures from make_torch_fixtures.py).</summary>
public class LossAndDetectionOpTests
{
    static readonly JsonElement Cases = FixtureFile.Json("torch_losses.json").RootElement;
    static Tensor R(string c, string n) => Reference.Read(Cases.GetProperty(c), n);

    [Fact]
    public void BceWithLogitsAndCrossEntropyMatchPyTorch()
    {
        using var scope = torch.NewDisposeScope();
        Reference.Close(R("bce_logits", "mean"), Losses.binary_cross_entropy_with_logits(R("bce_logits", "x"), R("bce_logits", "y"), pos_weight: R("bce_logits", "pos_weight")));
        Reference.Close(R("bce_logits", "sum"), Losses.binary_cross_entropy_with_logits(R("bce_logits", "x"), R("bce_logits", "y"), reduction: "sum"));
        Reference.Close(R("cross_entropy", "plain"), Losses.cross_entropy(R("cross_entropy", "x"), R("cross_entropy", "y")));
        Reference.Close(R("cross_entropy", "smooth"), Losses.cross_entropy(R("cross_entropy", "x"), R("cross_entropy", "y"), label_smoothing: 0.1));
        Reference.Close(R("cross_entropy", "ignore3"), Losses.cross_entropy(R("cross_entropy", "x"), torch.tensor(new long[] { 0, 3, 4, 3, 2, 1 }), ignore_index: 3));
    }

    [Fact]
    public void RegressionLossesMatchPyTorch()
    {
        using var scope = torch.NewDisposeScope();
        var a = R("regression", "a");
        var b = R("regression", "b");
        Reference.Close(R("regression", "smooth_l1_beta"), Losses.smooth_l1_loss(a, b, beta: 1.0 / 9, reduction: "sum"));
        Reference.Close(R("regression", "l1"), Losses.l1_loss(a, b));
        Reference.Close(R("regression", "huber"), Losses.huber_loss(a, b, delta: 0.5));
        var x = a.clone().requires_grad_();
        Losses.smooth_l1_loss(x, b, beta: 0.5).backward();
        Reference.Close(R("regression", "smooth_l1_grad"), x.grad!);
    }

    [Fact]
    public void FocalAndBoxLossesMatchTorchvision()
    {
        using var scope = torch.NewDisposeScope();
        Reference.Close(R("focal", "out"), Losses.sigmoid_focal_loss(R("focal", "x"), R("focal", "y"), reduction: "sum"), 1e-5, 1e-5);
        Reference.Close(R("focal", "none"), Losses.sigmoid_focal_loss(R("focal", "x"), R("focal", "y")), 1e-6, 1e-5);
        var b1 = R("boxes", "b1");
        var b2 = R("boxes", "b2");
        Reference.Close(R("boxes", "iou"), VisionOps.box_iou(b1, b2));
        Reference.Close(R("boxes", "giou"), VisionOps.generalized_box_iou(b1, b2));
        Reference.Close(R("boxes", "giou_loss"), Losses.generalized_box_iou_loss(b1[..5], b2));
        // IoU loss is 1 − the diagonal of the pairwise IoU.
        var diag = VisionOps.box_iou(b1[..5], b2).gather(1, torch.arange(0, 5).unsqueeze(1)).squeeze(1);
        Reference.Close(1 - diag, Losses.iou_loss(b1[..5], b2), 1e-6);
    }

    [Fact]
    public void NmsAndBatchedNmsKeepTheSameBoxesAsTorchvision()
    {
        using var scope = torch.NewDisposeScope();
        var boxes = R("nms", "boxes");
        var scores = R("nms", "scores");
        Assert.Equal(R("nms", "keep").ToArray<long>(), VisionOps.nms(boxes, scores, 0.3).ToArray<long>());
        Assert.Equal(R("nms", "batched").ToArray<long>(), VisionOps.batched_nms(boxes, scores, R("nms", "idxs"), 0.3).ToArray<long>());
        Assert.Equal(0, VisionOps.nms(torch.zeros(0, 4), torch.zeros(0), 0.5).numel());
    }

    [Theory]
    [InlineData("roi_align_aligned")]
    [InlineData("roi_align_adaptive")]
    public void RoiAlignForwardAndGradientMatchTorchvision(string name)
    {
        var c = Cases.GetProperty(name);
        var kw = c.GetProperty("kwargs");
        var size = kw.GetProperty("output_size").EnumerateArray().Select(v => v.GetInt64()).ToArray();
        using var scope = torch.NewDisposeScope();
        var feat = Reference.Read(c, "feat").requires_grad_();
        var output = VisionOps.roi_align(feat, Reference.Read(c, "rois"), size, kw.GetProperty("spatial_scale").GetDouble(),
            kw.GetProperty("sampling_ratio").GetInt64(), kw.GetProperty("aligned").GetBoolean());
        Reference.Close(Reference.Read(c, "out"), output, 1e-5, 1e-5, "out");
        (output * Reference.Read(c, "seed_w")).sum().backward();
        Reference.Close(Reference.Read(c, "grad"), feat.grad!, 1e-5, 1e-5, "grad");
    }

    [Fact]
    public void RoiAlignGradientMatchesFiniteDifferences()
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(3);
        var feat = torch.randn([1, 2, 6, 6], ScalarType.Float64).requires_grad_();
        var rois = torch.tensor(new[] { 0, 0.7, 1.1, 4.3, 5.2 }, 1, 5);
        VisionOps.roi_align(feat, rois, [2, 2], sampling_ratio: 2, aligned: true).pow(2).sum().backward();
        var analytic = feat.grad!.ToArray<double>();
        var values = feat.detach().ToArray<double>();
        foreach (var i in new[] { 7, 8, 14, 21, 50 })
        {
            double Eval(double d)
            {
                var v = (double[])values.Clone();
                v[i] += d;
                using var f = Tensor.From(v, 1, 2, 6, 6);
                using var o = VisionOps.roi_align(f, rois, [2, 2], sampling_ratio: 2, aligned: true);
                using var s = o.pow(2).sum();
                return s.item<double>();
            }
            var numeric = (Eval(1e-6) - Eval(-1e-6)) / 2e-6;
            Assert.True(Math.Abs(numeric - analytic[i]) < 1e-6, $"element {i}: numeric {numeric} vs analytic {analytic[i]}");
        }
    }

    [Fact]
    public void BoxCoderEncodesAndDecodesLikeTorchvision()
    {
        using var scope = torch.NewDisposeScope();
        var coder = new BoxCoder(10, 10, 5, 5);
        var deltas = coder.encode_single(R("box_coder", "gt"), R("box_coder", "proposals"));
        Reference.Close(R("box_coder", "deltas"), deltas, 1e-5, 1e-5);
        Reference.Close(R("box_coder", "decoded"), coder.decode_single(deltas * 0.7, R("box_coder", "proposals")), 1e-4, 1e-5);
        // decode(encode(gt)) recovers gt
        Reference.Close(R("box_coder", "gt"), coder.decode_single(deltas, R("box_coder", "proposals")), 1e-3, 1e-5);
    }
}
