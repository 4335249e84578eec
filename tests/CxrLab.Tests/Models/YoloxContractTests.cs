using CxrLab.Models;
using CxrLab.Models.Detection;
using CxrLab.Models.Yolox;
using CxrLab.Torch;
using CxrLab.Torch.Serialization;

namespace CxrLab.Tests.Models;

/// <summary>The detector contract for the YOLOX family, built through the zoo (yolox_nano at a 128-px input).</summary>
[Collection(CxrLab.Tests.Training.TorchRngCollection.Name)]
public class YoloxContractTests
{
    static IDetector Nano(int classes = 14) => DetectorZoo.Create(new DetectorSpec("yolox_nano", classes) { InputSize = 128 });

    static Tensor Xray(long h, long w, int seed)
    {
        torch.manual_seed((ulong)seed);
        using var noise = torch.rand([1, h, w]);
        using var grey = noise * 0.5 + 0.25;
        return grey.expand(3, h, w).contiguous();
    }

    [Fact]
    public void Zoo_rows_are_megvii_yolox_without_background()
    {
        var rows = DetectorZoo.Entries.Where(e => e.Family == "yolox").ToList();
        Assert.Equal(["yolox_nano", "yolox_tiny", "yolox_s", "yolox_m", "yolox_l", "yolox_x", "yolox_darknet53"], rows.Select(r => r.Arch));
        Assert.All(rows, r => Assert.False(r.HasBackground));
        Assert.All(rows, r => Assert.Equal("Megvii YOLOX", r.Reference[..12]));
        using var model = Nano();
        Assert.Equal(new PostprocessOptions { ScoreThresh = 0.01, NmsThresh = 0.65, MaxDetections = 1000 }, model.Postprocess);
        Assert.Equal((ResizeMode.Letterbox, 128, 255.0, 114.0), (model.Preprocessing.Mode, model.Preprocessing.InputSize, model.Preprocessing.PixelScale, model.Preprocessing.PadValue));
    }

    [Fact]
    public void ForwardTrain_gives_finite_named_losses_and_gradients_with_and_without_boxes()
    {
        using var scope = torch.NewDisposeScope();
        using var model = Nano();
        model.Module.train();
        ((YOLOX)model).UseL1Loss = true;
        var images = new[] { Xray(100, 140, 1), Xray(120, 90, 2) };
        var targets = new[] { DetectionTarget.From([10, 12, 60, 50, 70, 20, 130, 90], [3, 13]), DetectionTarget.Empty() };
        var losses = model.ForwardTrain(images, targets);
        Assert.Equal(["loss_iou", "loss_conf", "loss_cls", "loss_l1"], losses.Keys);
        Assert.All(losses.Values, l => Assert.True(double.IsFinite(l.item<float>()) && l.item<float>() > 0));
        var total = losses.Values.Aggregate((a, b) => a + b);
        total.backward();
        var grads = model.Module.parameters().Select(p => p.grad).ToList();
        Assert.True(grads.Count(g => g is not null) > 0.9 * grads.Count);
        Assert.All(grads.Where(g => g is not null), g => Assert.True(g!.isfinite().all().item<bool>()));

        model.Module.zero_grad();
        var empty = model.ForwardTrain(images, [DetectionTarget.Empty(), DetectionTarget.Empty()]);
        Assert.Equal(0f, empty["loss_iou"].item<float>());
        Assert.Equal(0f, empty["loss_cls"].item<float>());
        Assert.True(empty["loss_conf"].item<float>() > 0);
        empty.Values.Aggregate((a, b) => a + b).backward();
        Assert.All(model.Module.parameters().Select(p => p.grad).Where(g => g is not null), g => Assert.True(g!.isfinite().all().item<bool>()));
    }

    [Fact]
    public void Predict_gives_boxes_inside_the_image_with_task_labels()
    {
        using var scope = torch.NewDisposeScope();
        using var model = Nano();
        model.Module.eval();
        model.Postprocess = model.Postprocess with { ScoreThresh = 0.0 };
        var images = new[] { Xray(100, 140, 3), Xray(150, 60, 4) };
        var detections = model.Predict(images);
        Assert.Equal(2, detections.Count);
        for (var i = 0; i < 2; i++)
        {
            var d = detections[i];
            Assert.True(d.Count > 0);
            var (h, w) = (images[i].size(1), images[i].size(2));
            var b = d.Boxes.contiguous().ToArray<float>();
            for (var k = 0; k < b.Length; k += 4)
                Assert.True(b[k] >= 0 && b[k + 1] >= 0 && b[k + 2] <= w && b[k + 3] <= h && b[k] <= b[k + 2] && b[k + 1] <= b[k + 3]);
            Assert.All(d.Labels.ToArray<long>(), l => Assert.InRange(l, 0, 13));
            var s = d.Scores.ToArray<float>();
            Assert.True(s.Zip(s.Skip(1)).All(p => p.First >= p.Second), "scores descending");
        }
        // Candidates + selection = Predict.
        using var candidates = model.PredictCandidates(images);
        var again = model.SelectDetections(candidates);
        for (var i = 0; i < 2; i++) Assert.Equal(detections[i].Scores.ToArray<float>(), again[i].Scores.ToArray<float>());
    }

    [Fact]
    public void Saved_weights_load_to_identical_outputs_and_another_class_count_is_refused_naming_both()
    {
        using var scope = torch.NewDisposeScope();
        var dir = Directory.CreateTempSubdirectory("cxr-yolox-").FullName;
        try
        {
            using var model = Nano();
            model.Module.eval();
            var path = Path.Combine(dir, "w.safetensors");
            model.Module.save_safetensors(path);
            using var copy = Nano();
            copy.Module.eval();
            Assert.True(copy.LoadWeights(path).IsExact);
            var image = new[] { Xray(90, 110, 5) };
            model.Postprocess = copy.Postprocess = model.Postprocess with { ScoreThresh = 0.0 };
            var a = model.Predict(image)[0];
            var b = copy.Predict(image)[0];
            Assert.Equal(a.Boxes.contiguous().ToArray<float>(), b.Boxes.contiguous().ToArray<float>());
            Assert.Equal(a.Scores.ToArray<float>(), b.Scores.ToArray<float>());

            using var three = Nano(3);
            var error = Assert.Throws<ArgumentException>(() => three.LoadWeights(path));
            Assert.Contains("14 classes", error.Message);
            Assert.Contains("has 3", error.Message);
        }
        finally { Directory.Delete(dir, true); }
    }
}
