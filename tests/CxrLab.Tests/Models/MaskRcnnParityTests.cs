using System.Text.Json;
using CxrLab.Data;
using CxrLab.Models.Detection;
using CxrLab.Models.MaskRcnn;
using CxrLab.Torch;
using CxrLab.Torch.Nn;
using TwoStageOptions = CxrLab.Models.Detection.TwoStage.TwoStageOptions;

using static CxrLab.Tests.Models.TorchvisionScriptReference;

namespace CxrLab.Tests.Models;

/// <summary>Runs tests/fixtures/make_maskrcnn_fixtures.py once (torchvision ResNet-18 FPN Mask R-CNN, weights saved by
/// torch.save in both key layouts, reference detections with masks as COCO RLE, seeded losses, RLE cases) into a temp folder.</summary>
public sealed class TorchvisionMaskRcnnReference() : TorchvisionScriptReference("make_maskrcnn_fixtures.py", "cxr-maskrcnn-", 600)
{
    /// <summary>torchvision's model: 2 task classes (3 with background), box head 256 wide.</summary>
    public MaskRcnn Model(string weights = "weights.pth")
    {
        var model = MaskRcnn.ResNet18Fpn(new MaskRcnnOptions
        {
            TwoStage = new TwoStageOptions
            {
                NumClasses = Ref.GetProperty("num_classes").GetInt32() - 1,
                MinSize = Ref.GetProperty("min_size").GetInt32(),
                MaxSize = Ref.GetProperty("max_size").GetInt32(),
                RepresentationSize = Ref.GetProperty("representation_size").GetInt32(),
            },
        });
        var result = model.LoadWeights(Path.Combine(Dir, weights));
        Assert.True(result.IsExact);
        return model;
    }
}

[Collection(CxrLab.Tests.Training.TorchRngCollection.Name)]
public class MaskRcnnParityTests(TorchvisionMaskRcnnReference reference) : IClassFixture<TorchvisionMaskRcnnReference>
{
    static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.ne(b).sum().item<long>() == 0;

    static List<float[]> Rows(Tensor boxes)
    {
        var flat = boxes.to(ScalarType.Float32).contiguous().ToArray<float>();
        return Enumerable.Range(0, flat.Length / 4).Select(i => flat[(i * 4)..(i * 4 + 4)]).ToList();
    }

    [Fact]
    public void Detections_and_their_masks_match_torchvision()
    {
        using var scope = torch.NewDisposeScope();
        using var model = reference.Model();
        model.eval();
        var images = reference.Images();
        var detections = model.Predict(images);
        var expected = reference.Ref.GetProperty("detections");
        for (var i = 0; i < detections.Count; i++)
        {
            var refBoxes = expected[i].GetProperty("boxes").EnumerateArray().Select(Row).ToList();
            var refScores = Row(expected[i].GetProperty("scores"));
            // torchvision's labels count background as 0; ours are task ids.
            var refLabels = expected[i].GetProperty("labels").EnumerateArray().Select(x => x.GetInt64() - 1).ToArray();
            var refMasks = expected[i].GetProperty("masks").EnumerateArray().Select(CocoRle.FromJson).ToList();
            var d = detections[i];
            var boxes = Rows(d.Boxes);
            var scores = d.Scores.ToArray<float>();
            var labels = d.Labels.ToArray<long>();
            Assert.NotNull(d.Masks);
            Assert.Equal([d.Count, images[i].size(1), images[i].size(2)], d.Masks!.shape);
            Assert.Equal(ScalarType.Bool, d.Masks.DType);
            var top = refBoxes.Count;
            Assert.True(top > 50, $"reference has only {top} detections; the fixture should exercise more");
            int matched = 0, masksMatched = 0;
            for (var r = 0; r < top; r++)
            {
                var j = Enumerable.Range(0, boxes.Count).FirstOrDefault(j => labels[j] == refLabels[r] && Iou(boxes[j], refBoxes[r]) >= 0.99 && Math.Abs(scores[j] - refScores[r]) <= 1e-3, -1);
                if (j < 0) continue;
                matched++;
                using var theirs = refMasks[r].Decode();
                if (CocoRle.Iou(d.Masks[j], theirs) >= 0.95) masksMatched++;
            }
            Assert.True(matched >= 0.95 * top, $"image {i}: {matched}/{top} of torchvision's detections matched");
            Assert.True(masksMatched >= 0.95 * matched, $"image {i}: {masksMatched}/{matched} matched detections have a mask of IoU ≥ 0.95 with torchvision's");
        }
    }

    [Fact]
    public void Mask_head_probabilities_before_pasting_equal_torchvisions()
    {
        using var scope = torch.NewDisposeScope();
        using var model = reference.Model();
        model.eval();
        var images = reference.Images();
        using var candidates = model.PredictCandidates(images);
        var sizes = reference.Ref.GetProperty("image_sizes").EnumerateArray().Select(s => (s[0].GetInt64(), s[1].GetInt64())).ToList();
        Assert.Equal(sizes, candidates.ImageSizes);
        // The mask head on torchvision's own detections (resized pixels) → its 28×28 probabilities of the predicted class.
        var features = model.Backbone.Forward(model.Transform.Forward(images).Images.Tensors);
        var pooled = model.RoIHeads.MaskRoiPool!.FeatmapNames.Select(n => features.First(f => f.Name == n).Feature).ToList();
        var boxes = reference.Ref.GetProperty("raw_boxes").EnumerateArray().Select(b => Tensor.From(b.EnumerateArray().SelectMany(Row).ToArray(), b.GetArrayLength(), 4)).ToList();
        var labels = reference.Ref.GetProperty("detections").EnumerateArray().Select(d => Tensor.From(d.GetProperty("labels").EnumerateArray().Select(x => x.GetInt64()).ToArray())).ToList();
        using var _ = torch.no_grad();
        var probs = model.RoIHeads.ForwardMasks(pooled, boxes, labels, sizes);
        for (var i = 0; i < probs.Length; i++)
        {
            var want = Row(reference.Ref.GetProperty("raw_masks")[i]);
            var got = probs[i].contiguous().ToArray<float>();
            Assert.Equal(want.Length, got.Length);
            var worst = want.Zip(got).Max(p => Math.Abs(p.First - p.Second));
            Assert.True(worst <= 2e-4, $"image {i}: mask probabilities differ from torchvision's by up to {worst}");
        }
    }

    List<DetectionTarget> Targets()
    {
        var sizes = reference.Ref.GetProperty("sizes");
        return reference.Ref.GetProperty("targets").EnumerateArray().Select((t, i) =>
        {
            var boxes = t.GetProperty("boxes").EnumerateArray().SelectMany(Row).ToArray();
            var labels = t.GetProperty("labels").EnumerateArray().Select(x => x.GetInt64() - 1).ToArray();
            var (h, w) = (sizes[i][1].GetInt64(), sizes[i][2].GetInt64());
            var masks = Tensor.FromBytes(File.ReadAllBytes(Path.Combine(reference.Dir, $"target{i}_masks.bin")), ScalarType.UInt8, [labels.Length, h, w]);
            return new DetectionTarget(Tensor.From(boxes, labels.Length, 4), Tensor.From(labels), masks);
        }).ToList();
    }

    List<DetectionTarget> EmptyTargets() => reference.Images().Select(im =>
        new DetectionTarget(torch.zeros(0, 4), torch.zeros([0], ScalarType.Int64), torch.zeros([0, im.size(1), im.size(2)], ScalarType.UInt8))).ToList();

    void AssertLosses(Dictionary<string, Tensor> losses, string key)
    {
        Assert.Equal(new[] { "loss_box_reg", "loss_classifier", "loss_mask", "loss_objectness", "loss_rpn_box_reg" }, losses.Keys.Order(StringComparer.Ordinal));
        foreach (var p in reference.Ref.GetProperty(key).EnumerateObject())
        {
            var got = losses[p.Name].item<float>();
            var want = p.Value.GetDouble();
            Assert.True(Math.Abs(got - want) <= 1e-4 + 1e-3 * Math.Abs(want), $"{key}.{p.Name}: torchvision {want}, ours {got}");
        }
    }

    [Fact]
    public void Training_losses_with_the_mask_loss_equal_torchvision_with_the_same_seed()
    {
        using var scope = torch.NewDisposeScope();
        using var model = reference.Model();
        model.train();
        var images = reference.Images();
        var seed = (ulong)reference.Ref.GetProperty("seed").GetInt64();
        torch.manual_seed(seed);
        AssertLosses(model.ForwardTrain(images, Targets()), "losses");
    }

    [Fact]
    public void Images_without_objects_train_and_a_batch_mixing_both_gives_torchvisions_losses()
    {
        using var scope = torch.NewDisposeScope();
        using var model = reference.Model();
        model.train();
        var images = reference.Images();
        var seed = (ulong)reference.Ref.GetProperty("seed").GetInt64();
        torch.manual_seed(seed);
        var empty = model.ForwardTrain(images, EmptyTargets());
        AssertLosses(empty, "empty_losses");
        Assert.Equal(0f, empty["loss_mask"].item<float>());
        Assert.Equal(0f, empty["loss_box_reg"].item<float>());
        // The zero mask loss still has a graph, so a training step over it works.
        var total = empty.Values.Aggregate((a, b) => a + b);
        total.backward();
        torch.manual_seed(seed);
        AssertLosses(model.ForwardTrain(images, [Targets()[0], EmptyTargets()[1]]), "mixed_losses");
    }

    [Fact]
    public void The_v1_mask_head_keys_load_into_the_same_model()
    {
        using var scope = torch.NewDisposeScope();
        using var current = reference.Model();
        using var legacy = reference.Model("weights_v1.pth");
        var a = current.state_dict();
        var b = legacy.state_dict();
        Assert.Contains("roi_heads.mask_head.3.0.weight", a.Keys);
        Assert.Contains("roi_heads.mask_predictor.mask_fcn_logits.weight", a.Keys);
        foreach (var (k, v) in a) Assert.True(Same(v, b[k]), k);
    }

    [Fact]
    public void Rle_of_masks_equals_the_pycocotools_layout()
    {
        using var scope = torch.NewDisposeScope();
        var cases = reference.Ref.GetProperty("rle_cases");
        for (var i = 0; i < cases.GetArrayLength(); i++)
        {
            var want = CocoRle.FromJson(cases[i]);
            var mask = Tensor.FromBytes(File.ReadAllBytes(Path.Combine(reference.Dir, $"rle_case{i}.bin")), ScalarType.UInt8, [want.Height, want.Width]);
            var got = CocoRle.Encode(mask);
            Assert.Equal((want.Height, want.Width), (got.Height, got.Width));
            Assert.Equal(want.Counts, got.Counts);
            Assert.True(Same(got.Decode(), mask.ne(0)), $"case {i} does not decode back");
        }
    }

    [Fact]
    public void A_checkpoint_with_another_class_count_is_refused_or_reinitialised_with_the_mask_classifier()
    {
        using var scope = torch.NewDisposeScope();
        using var model = MaskRcnn.ResNet18Fpn(new MaskRcnnOptions { TwoStage = new TwoStageOptions { NumClasses = 1, MinSize = 224, MaxSize = 320, RepresentationSize = 256 } });
        var path = Path.Combine(reference.Dir, "weights.pth");
        var e = Assert.Throws<ArgumentException>(() => model.LoadWeights(path));
        Assert.Contains("2 classes", e.Message);
        var notes = new List<string>();
        model.LoadWeights(path, new WeightsLoadOptions { ReinitClassifier = true, Log = notes.Add });
        Assert.Equal([2L, 256, 1, 1], model.state_dict()["roi_heads.mask_predictor.mask_fcn_logits.weight"].shape);
        Assert.Single(notes);
    }
}
