using System.Text.Json;
using CxrLab.Models.Detection;
using CxrLab.Torch;
using CxrLab.Torch.Vision;

namespace CxrLab.Tests.Models;

/// <summary>The detection building blocks against torchvision 0.14 (Debian python3-torchvision)
/// on the same inputs: one Python run makes random inputs and torchvision's outputs.</summary>
[Collection(CxrLab.Tests.Training.TorchRngCollection.Name)]
public class DetectionOpsTests
{
    const string Script = """
        import json, torch, torchvision
        from torchvision.ops import boxes as B, roi_align, MultiScaleRoIAlign
        from torchvision.models.detection import _utils as U
        from torchvision.models.detection.anchor_utils import AnchorGenerator
        from torchvision.models.detection.image_list import ImageList
        torch.manual_seed(0)
        def rand_boxes(n, size=200.0):
            xy = torch.rand(n, 2) * size
            wh = torch.rand(n, 2) * size / 3 + 1
            return torch.cat([xy, xy + wh], 1)
        L = lambda t: t.tolist()
        out = {}
        a, b = rand_boxes(30), rand_boxes(20)
        out['a'], out['b'] = L(a), L(b)
        out['iou'] = L(B.box_iou(a, b))
        boxes = rand_boxes(300); scores = torch.rand(300); idxs = torch.randint(0, 5, (300,))
        out['nms_boxes'], out['nms_scores'], out['nms_idxs'] = L(boxes), L(scores), L(idxs)
        out['nms'] = L(B.nms(boxes, scores, 0.5))
        out['bnms'] = L(B.batched_nms(boxes, scores, idxs, 0.5))
        big = rand_boxes(1500); bs = torch.rand(1500); bi = torch.randint(0, 3, (1500,))
        out['big_boxes'], out['big_scores'], out['big_idxs'] = L(big), L(bs), L(bi)
        out['bnms_big'] = L(B.batched_nms(big, bs, bi, 0.7))
        out['clip'] = L(B.clip_boxes_to_image(boxes - 20, (150, 170)))
        out['small'] = L(B.remove_small_boxes(boxes - torch.tensor([0, 0, 40, 0.]), 5.0))
        coder = U.BoxCoder((10., 10., 5., 5.))
        prop = rand_boxes(40); gt = rand_boxes(40)
        out['prop'], out['gt'] = L(prop), L(gt)
        out['enc'] = L(coder.encode_single(gt, prop))
        deltas = torch.randn(40, 12)
        out['deltas'] = L(deltas)
        out['dec'] = L(coder.decode(deltas, [prop]))
        m = U.Matcher(0.7, 0.3, allow_low_quality_matches=True)
        q = B.box_iou(rand_boxes(6, 60), rand_boxes(80, 60))
        out['q'], out['match'] = L(q), L(m(q))
        labels = [torch.randint(-1, 3, (500,)), torch.randint(-1, 2, (90,))]
        out['labels'] = [L(l) for l in labels]
        torch.manual_seed(123)
        pos, neg = U.BalancedPositiveNegativeSampler(64, 0.25)(labels)
        out['pos'], out['neg'] = [L(p) for p in pos], [L(n) for n in neg]
        ag = AnchorGenerator(((32,), (64,), (128,)), ((0.5, 1.0, 2.0),) * 3)
        feats = [torch.zeros(1, 1, 16, 20), torch.zeros(1, 1, 8, 10), torch.zeros(1, 1, 4, 5)]
        out['anchors'] = L(ag(ImageList(torch.zeros(1, 3, 128, 160), [(120, 150)]), feats)[0])
        ms = MultiScaleRoIAlign(['0', '1', '2'], 7, 2)
        fs = {'0': torch.randn(2, 4, 32, 40), '1': torch.randn(2, 4, 16, 20), '2': torch.randn(2, 4, 8, 10)}
        mb = [rand_boxes(20, 120.0) * torch.tensor([1., 1., 1.5, 1.5]), rand_boxes(9, 100.0)]
        out['ms_feats'] = [L(fs[k]) for k in ['0', '1', '2']]
        out['ms_boxes'] = [L(x) for x in mb]
        out['ms'] = L(ms(fs, mb, [(128, 160), (120, 150)]))
        print(json.dumps(out))
        """;

    static readonly Lazy<JsonElement> Reference = new(() => JsonDocument.Parse(PythonReference.Run(Script)).RootElement);

    static JsonElement R(string key) => Reference.Value.GetProperty(key);

    static float[] Floats(JsonElement e)
    {
        var list = new List<float>();
        void Walk(JsonElement x)
        {
            if (x.ValueKind == JsonValueKind.Array) foreach (var c in x.EnumerateArray()) Walk(c);
            else list.Add(x.GetSingle());
        }
        Walk(e);
        return list.ToArray();
    }

    static long[] Longs(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt64()).ToArray();

    static Tensor T(JsonElement e, params long[] shape) => Tensor.From(Floats(e), shape);
    static Tensor Boxes(JsonElement e) => T(e, e.GetArrayLength(), 4);

    static void Close(float[] expected, Tensor actual, double tol = 1e-5)
    {
        var got = actual.to(ScalarType.Float32).contiguous().ToArray<float>();
        Assert.Equal(expected.Length, got.Length);
        for (var i = 0; i < got.Length; i++)
            Assert.True(Math.Abs(expected[i] - got[i]) <= tol * (1 + Math.Abs(expected[i])), $"element {i}: expected {expected[i]}, got {got[i]}");
    }

    [Fact]
    public void Box_iou_clip_and_small_boxes_match_torchvision()
    {
        using var scope = torch.NewDisposeScope();
        Close(Floats(R("iou")), VisionOps.box_iou(Boxes(R("a")), Boxes(R("b"))));
        var boxes = Boxes(R("nms_boxes"));
        Close(Floats(R("clip")), VisionOps.clip_boxes_to_image(boxes - 20, (150, 170)));
        using var shift = Tensor.From([0f, 0f, 40f, 0f]);
        Assert.Equal(Longs(R("small")), VisionOps.remove_small_boxes(boxes - shift, 5.0).ToArray<long>());
    }

    [Fact]
    public void Nms_and_batched_nms_keep_the_same_boxes_in_the_same_order()
    {
        using var scope = torch.NewDisposeScope();
        var boxes = Boxes(R("nms_boxes"));
        var scores = T(R("nms_scores"), 300);
        var idxs = Tensor.From(Longs(R("nms_idxs")));
        Assert.Equal(Longs(R("nms")), VisionOps.nms(boxes, scores, 0.5).ToArray<long>());
        Assert.Equal(Longs(R("bnms")), VisionOps.batched_nms(boxes, scores, idxs, 0.5).ToArray<long>());
        // > 1000 boxes takes torchvision's per-class path
        var big = Boxes(R("big_boxes"));
        Assert.Equal(Longs(R("bnms_big")), VisionOps.batched_nms(big, T(R("big_scores"), 1500), Tensor.From(Longs(R("big_idxs"))), 0.7).ToArray<long>());
        Assert.Equal(0, VisionOps.nms(torch.zeros(0, 4), torch.zeros(0), 0.5).numel());
    }

    [Fact]
    public void Box_coder_encodes_and_decodes_like_torchvision()
    {
        using var scope = torch.NewDisposeScope();
        var coder = new BoxCoder(10, 10, 5, 5);
        var prop = Boxes(R("prop"));
        Close(Floats(R("enc")), coder.encode_single(Boxes(R("gt")), prop), 1e-4);
        var decoded = coder.decode(T(R("deltas"), 40, 12), prop);
        Assert.Equal([40L, 3, 4], decoded.shape);
        Close(Floats(R("dec")), decoded, 1e-5);
    }

    [Fact]
    public void Matcher_with_low_quality_matches_equals_torchvision()
    {
        using var scope = torch.NewDisposeScope();
        var q = T(R("q"), 6, 80);
        Assert.Equal(Longs(R("match")), new Matcher(0.7, 0.3, allowLowQualityMatches: true).Match(q).ToArray<long>());
        Assert.Throws<ArgumentException>(() => new Matcher(0.7, 0.3).Match(torch.zeros(0, 5)));
    }

    [Fact]
    public void Sampler_draws_the_same_samples_as_torchvision_for_the_same_seed()
    {
        using var scope = torch.NewDisposeScope();
        var labels = R("labels").EnumerateArray().Select(l => Tensor.From(Longs(l))).ToList();
        torch.manual_seed(123);
        var (pos, neg) = new BalancedPositiveNegativeSampler(64, 0.25).Sample(labels);
        for (var i = 0; i < 2; i++)
        {
            Assert.Equal(Longs(R("pos")[i]), pos[i].to(ScalarType.Int64).ToArray<long>());
            Assert.Equal(Longs(R("neg")[i]), neg[i].to(ScalarType.Int64).ToArray<long>());
        }
    }

    [Fact]
    public void Anchors_match_torchvision()
    {
        using var scope = torch.NewDisposeScope();
        var gen = new AnchorGenerator([[32], [64], [128]], Enumerable.Repeat(new double[] { 0.5, 1, 2 }, 3).ToArray());
        var anchors = gen.AnchorsForImage(128, 160, [(16, 20), (8, 10), (4, 5)], ScalarType.Float32, Device.CPU);
        Close(Floats(R("anchors")), anchors, 0);
        Assert.Equal([3, 3, 3], gen.NumAnchorsPerLocation);
    }

    [Fact]
    public void Multi_scale_roi_align_matches_torchvision()
    {
        using var scope = torch.NewDisposeScope();
        var feats = R("ms_feats").EnumerateArray().Select((x, i) => T(x, 2, 4, 32 >> i, 40 >> i)).ToList();
        var boxes = R("ms_boxes").EnumerateArray().Select(Boxes).ToList();
        var ms = new MultiScaleRoIAlign(7, 2).Forward(feats, boxes, [(128, 160), (120, 150)]);
        Assert.Equal([29L, 4, 7, 7], ms.shape);
        Close(Floats(R("ms")), ms, 1e-4);
        // The aten composition (what a CUDA feature map gets without torchvision's library) matches torchvision too.
        using (VisionKernels.Use(VisionKernel.Aten))
            Close(Floats(R("ms")), new MultiScaleRoIAlign(7, 2).Forward(feats, boxes, [(128, 160), (120, 150)]), 1e-4);
    }
}
