using CxrLab.Models;
using CxrLab.Models.Detection;
using CxrLab.Torch;
using CxrLab.Torch.Serialization;

namespace CxrLab.Tests.Models;

/// <summary>The detector contract, checked on every arch of the zoo at a tiny size: what verbs, the trainer and the
/// notebooks rely on without knowing the family.</summary>
[Collection(CxrLab.Tests.Training.TorchRngCollection.Name)]
public sealed class DetectorContractTests : IDisposable
{
    readonly string temp = Directory.CreateTempSubdirectory("cxr-contract-").FullName;

    public void Dispose() => Directory.Delete(temp, recursive: true);

    public static TheoryData<string> Archs() => [.. DetectorZoo.Entries.Select(e => e.Arch)];

    /// <summary>A small, fast instance of an arch: small input and, where the family allows, narrow layers.</summary>
    static DetectorSpec Tiny(string arch, int numClasses) => DetectorZoo.Find(arch).Family switch
    {
        "faster_rcnn" => new DetectorSpec(arch, numClasses)
        {
            InputSize = 64, MaxSize = 96, ScoreThresh = 0.0,
            FasterRcnn = new CxrLab.Models.FasterRcnn.FasterRcnnConfig
            {
                FpnChannels = 16, RepresentationSize = 32, AnchorSizes = [8, 16, 32, 64, 128],
                RpnPostNmsTopNTrain = 64, RpnPostNmsTopNTest = 32, RoiBatchSizePerImage = 32,
            },
        },
        _ => new DetectorSpec(arch, numClasses) { InputSize = 64, ScoreThresh = 0.0 },
    };

    static Tensor Image(int h, int w, int seed)
    {
        using var scope = torch.NewDisposeScope();
        var y = torch.linspace(0, 1, h).reshape(h, 1);
        var x = torch.linspace(0, 1, w).reshape(1, w);
        var blob = ((x - 0.3 - 0.1 * seed).square() + (y - 0.5).square()) / -0.03;
        return scope.MoveToOuter((blob.exp() * 0.6 + 0.2).expand(3, h, w).contiguous());
    }

    [Theory, MemberData(nameof(Archs))]
    public void Training_gives_finite_named_losses_and_gradients_with_and_without_boxes(string arch)
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(1);
        using var model = DetectorZoo.Create(Tiny(arch, 3));
        Assert.Equal(arch, model.Arch);
        Assert.Equal(3, model.NumClasses);
        Assert.Equal(3, model.LabelSpace.NumClasses);
        model.train();
        var images = new[] { Image(64, 80, 0), Image(72, 64, 1) };
        foreach (var withBoxes in new[] { true, false })
        {
            var targets = withBoxes
                ? new[] { DetectionTarget.From([10, 12, 40, 44, 30, 20, 70, 50], [0, 2]), DetectionTarget.Empty() }
                : new[] { DetectionTarget.Empty(), DetectionTarget.Empty() };
            model.Module.zero_grad();
            var losses = model.ForwardTrain(images, targets);
            Assert.NotEmpty(losses);
            Assert.All(losses, kv =>
            {
                Assert.StartsWith("loss", kv.Key);
                Assert.Equal(0, kv.Value.dim());
                Assert.True(float.IsFinite(kv.Value.item<float>()), $"{arch} {kv.Key} = {kv.Value.item<float>()} (boxes: {withBoxes})");
            });
            losses.Values.Aggregate((a, b) => a + b).backward();
            var grads = model.Module.parameters().Where(p => p.requires_grad && p.grad is not null).ToList();
            Assert.NotEmpty(grads);
            Assert.All(grads, p => Assert.True(p.grad!.isfinite().all().item<bool>(), $"{arch}: a gradient is not finite"));
            Assert.Contains(grads, p => p.grad!.abs().sum().item<float>() > 0);
        }
        // Labels are task ids: K itself is refused where it enters the model.
        var bad = Assert.Throws<ArgumentException>(() => model.ForwardTrain([images[0]], [DetectionTarget.From([10, 12, 40, 44], [3])]));
        Assert.Contains("0..2", bad.Message);
    }

    [Theory, MemberData(nameof(Archs))]
    public void Predict_gives_boxes_inside_each_image_with_task_labels_and_hflip_tta_is_well_formed(string arch)
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(2);
        using var model = DetectorZoo.Create(Tiny(arch, 3));
        model.eval();
        var images = new[] { Image(64, 80, 0), Image(72, 64, 1) };
        foreach (var hflip in new[] { false, true })
        {
            var detections = TestTimeAugmentation.Predict(model, images, hflip);
            Assert.Equal(images.Length, detections.Count);
            for (var i = 0; i < images.Length; i++)
            {
                var d = detections[i];
                var (h, w) = (images[i].size(1), images[i].size(2));
                Assert.Equal(d.Count, d.Boxes.size(0));
                Assert.Equal(d.Count, d.Labels.size(0));
                Assert.True(d.Count <= model.Postprocess.MaxDetections);
                var boxes = d.Boxes.contiguous().ToArray<float>();
                for (var k = 0; k < boxes.Length; k += 4)
                {
                    Assert.InRange(boxes[k], 0, boxes[k + 2]);
                    Assert.InRange(boxes[k + 1], 0, boxes[k + 3]);
                    Assert.InRange(boxes[k + 2], 0, w);
                    Assert.InRange(boxes[k + 3], 0, h);
                }
                Assert.All(d.Labels.ToArray<long>(), l => Assert.InRange(l, 0, 2));
                var scores = d.Scores.ToArray<float>();
                Assert.All(scores, s => Assert.InRange(s, model.Postprocess.ScoreThresh, 1));
                if (hflip) Assert.True(scores.Zip(scores.Skip(1)).All(p => p.First >= p.Second), $"{arch}: merged TTA detections must be best first");
                d.Dispose();
            }
        }
    }

    [Theory, MemberData(nameof(Archs))]
    public void State_dict_saved_and_loaded_gives_identical_outputs_and_another_class_count_is_refused(string arch)
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(3);
        var path = Path.Combine(temp, $"{arch}.safetensors");
        var image = Image(64, 64, 0);
        float[] expected;
        using (var model = DetectorZoo.Create(Tiny(arch, 3)))
        {
            model.eval();
            model.Module.save_safetensors(path);
            expected = model.Predict([image])[0].Scores.ToArray<float>();
        }
        torch.manual_seed(99);   // a different random init, overwritten by the load
        using (var loaded = DetectorZoo.Create(Tiny(arch, 3)))
        {
            var result = loaded.LoadWeights(path);
            Assert.Empty(result.Missing);
            Assert.Empty(result.Unexpected);
            loaded.eval();
            Assert.Equal(expected, loaded.Predict([image])[0].Scores.ToArray<float>());
        }
        using var other = DetectorZoo.Create(Tiny(arch, 5));
        var e = Assert.Throws<ArgumentException>(() => other.LoadWeights(path));
        Assert.Contains("trained for 3 classes", e.Message);
        Assert.Contains("has 5", e.Message);
        // Re-initialising the classifier keeps the rest and says so.
        var notes = new List<string>();
        other.LoadWeights(path, new WeightsLoadOptions { ReinitClassifier = true, Log = notes.Add });
        Assert.Contains(notes, n => n.Contains("re-initialised", StringComparison.Ordinal));
        Assert.Equal(5, other.NumClasses);
    }

    [Fact]
    public void Unknown_arch_suggests_the_closest_and_lists_the_zoo()
    {
        var e = Assert.Throws<ArgumentException>(() => DetectorZoo.Create("fasterrcnn_resnet5_fpn", 14));
        Assert.Contains("did you mean 'fasterrcnn_resnet50_fpn'", e.Message);
        Assert.Contains("./cxr models", e.Message);
    }

    [Fact]
    public void Two_stage_label_space_adds_background_inside_only()
    {
        using var model = DetectorZoo.Create(Tiny("fasterrcnn_resnet18_fpn", 14));
        Assert.Equal(new LabelSpace(14, HasBackground: true), model.LabelSpace);
        Assert.Equal(15, model.LabelSpace.ModelClasses);
        Assert.Equal([15L, 32], model.Module.state_dict()["roi_heads.box_predictor.cls_score.weight"].shape);
        using var labels = Tensor.From(new long[] { 0, 13 });
        using var inside = model.LabelSpace.ToModel(labels);
        Assert.Equal([1L, 14], inside.ToArray<long>());
        using var back = model.LabelSpace.ToTask(inside);
        Assert.Equal([0L, 13], back.ToArray<long>());
    }
}
