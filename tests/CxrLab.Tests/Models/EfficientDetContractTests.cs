using CxrLab.Models;
using CxrLab.Models.Detection;
using CxrLab.Models.EfficientDet;
using CxrLab.Torch;
using CxrLab.Torch.Serialization;

namespace CxrLab.Tests.Models;

/// <summary>EfficientDet through the detector contract, built by the zoo at a small size (128 px, narrow BiFPN) so
/// each test takes seconds.</summary>
[Collection(CxrLab.Tests.Training.TorchRngCollection.Name)]
public class EfficientDetContractTests
{
    static IDetector Build(int numClasses, string arch = "efficientdet_d0") => DetectorZoo.Create(new DetectorSpec(arch, numClasses)
    {
        InputSize = 128,
        EfficientDet = new EfficientDetConfig { FpnChannels = 16, FpnCellRepeats = 1, BoxClassRepeats = 1 },
    });

    static List<Tensor> Images()
    {
        var a = torch.rand([3, 100, 140]);
        var b = torch.rand([3, 90, 60]);
        return [a, b];
    }

    static DetectionTarget[] Targets() =>
    [
        DetectionTarget.From([10, 20, 60, 70, 80, 10, 130, 90], [0, 2]),
        DetectionTarget.From([5, 5, 40, 80], [1]),
    ];

    [Fact]
    public void Zoo_rows_build_every_variant_name_with_effdets_input_size_and_no_background()
    {
        foreach (var name in EfficientDetVariants.Names)
        {
            var row = DetectorZoo.Find(name);
            Assert.Equal("efficientdet", row.Family);
            Assert.False(row.HasBackground);
            Assert.Equal(EfficientDetVariants.Get(name).ImageSize, row.DefaultInputSize);
        }
        using var d = Build(3, "tf_efficientdet_d0");
        Assert.Equal(3, d.NumClasses);
        Assert.False(d.LabelSpace.HasBackground);
        Assert.Equal(128, d.Preprocessing.InputSize);
        Assert.Equal("tf_efficientdet_d0", d.Arch);
    }

    [Fact]
    public void Training_gives_finite_named_losses_and_gradients_with_and_without_boxes()
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(1);
        using var d = Build(3);
        d.Module.train();
        foreach (var empty in new[] { false, true })
        {
            d.Module.zero_grad();
            var targets = empty ? [DetectionTarget.Empty(), DetectionTarget.Empty()] : Targets();
            var losses = d.ForwardTrain(Images(), targets);
            Assert.Equal(["loss_class", "loss_box"], losses.Keys.ToArray());
            Assert.All(losses.Values, l => Assert.True(float.IsFinite(l.item<float>())));
            if (empty) Assert.Equal(0f, losses["loss_box"].item<float>());
            else Assert.True(losses["loss_box"].item<float>() > 0);
            var total = losses.Values.Aggregate((a, b) => a + b);
            total.backward();
            var grads = d.Module.named_parameters().Where(p => p.parameter.grad is not null).ToList();
            Assert.NotEmpty(grads);
            Assert.All(grads, p => Assert.True(p.parameter.grad!.isfinite().all().item<bool>(), $"{p.name} has a non-finite gradient"));
            Assert.NotNull(d.Module.named_parameters().First(p => p.name == "class_net.predict.conv_pw.bias").parameter.grad);
        }
    }

    [Fact]
    public void Labels_outside_the_task_classes_are_refused()
    {
        using var d = Build(3);
        d.Module.train();
        var bad = new[] { DetectionTarget.From([10, 20, 60, 70], [3]), DetectionTarget.Empty() };
        var e = Assert.Throws<ArgumentException>(() => d.ForwardTrain(Images(), bad));
        Assert.Contains("0..2", e.Message);
    }

    [Fact]
    public void Predict_gives_boxes_inside_each_input_image_with_task_labels()
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(2);
        using var d = Build(3);
        d.Module.eval();
        var images = Images();
        var detections = d.Predict(images);
        for (var i = 0; i < images.Count; i++)
        {
            var (h, w) = (images[i].size(1), images[i].size(2));
            var det = detections[i];
            Assert.InRange(det.Count, 1, 100);
            var b = det.Boxes.ToArray<float>();
            for (var k = 0; k < b.Length; k += 4)
            {
                Assert.InRange(b[k], 0, w + 1e-3f); Assert.InRange(b[k + 2], 0, w + 1e-3f);
                Assert.InRange(b[k + 1], 0, h + 1e-3f); Assert.InRange(b[k + 3], 0, h + 1e-3f);
            }
            Assert.All(det.Labels.ToArray<long>(), l => Assert.InRange(l, 0, 2));
            var s = det.Scores.ToArray<float>();
            Assert.True(s.Zip(s.Skip(1)).All(p => p.First >= p.Second), "scores must be best first");
        }
        // Candidates + selection = Predict, for other thresholds too.
        using var candidates = d.PredictCandidates(images);
        var strict = d.Postprocess with { ScoreThresh = 0.3, NmsThresh = 0.3, MaxDetections = 10 };
        var selected = d.SelectDetections(candidates, strict);
        d.Postprocess = strict;
        var direct = d.Predict(images);
        for (var i = 0; i < images.Count; i++)
        {
            Assert.Equal(direct[i].Boxes.ToArray<float>(), selected[i].Boxes.ToArray<float>());
            Assert.All(selected[i].Scores.ToArray<float>(), s => Assert.True(s >= 0.3));
        }
    }

    [Fact]
    public void Saved_weights_load_into_a_fresh_model_with_identical_outputs_and_another_class_count_is_refused_naming_both()
    {
        using var scope = torch.NewDisposeScope();
        var dir = Directory.CreateTempSubdirectory("cxr-effdet-").FullName;
        try
        {
            var path = Path.Combine(dir, "w.safetensors");
            var images = Images();
            List<Detections> before;
            using (var a = Build(3))
            {
                a.Module.eval();
                a.Module.save_safetensors(path);
                before = a.Predict(images);
            }
            using (var b = Build(3))
            {
                b.Module.eval();
                Assert.True(b.LoadWeights(path).IsExact);
                var after = b.Predict(images);
                for (var i = 0; i < images.Count; i++)
                {
                    Assert.Equal(before[i].Boxes.ToArray<float>(), after[i].Boxes.ToArray<float>());
                    Assert.Equal(before[i].Scores.ToArray<float>(), after[i].Scores.ToArray<float>());
                    Assert.Equal(before[i].Labels.ToArray<long>(), after[i].Labels.ToArray<long>());
                }
            }
            using var c = Build(5);
            var e = Assert.Throws<ArgumentException>(() => c.LoadWeights(path));
            Assert.Contains("3 classes", e.Message);
            Assert.Contains("5", e.Message);
            // Fine-tuning: everything but the class output loads; that is re-initialised with the prior bias.
            var notes = new List<string>();
            c.LoadWeights(path, new WeightsLoadOptions { ReinitClassifier = true, Log = notes.Add });
            Assert.Contains(notes, n => n.Contains("class_net.predict.conv_pw") && n.Contains("5 classes") && n.Contains("has 3"));
            var own = c.Module.state_dict();
            Assert.True(own["class_net.predict.conv_pw.bias"].eq(EfficientDetNet.PriorBias).all().item<bool>());
            var saved = SafeTensors.Read(path, out _);
            using var dw = saved["class_net.predict.conv_dw.weight"].ToTensor();
            Assert.True(own["class_net.predict.conv_dw.weight"].eq(dw).all().item<bool>());
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}

/// <summary>Compound scaling's cost side: multiply-adds counted by <see cref="FlopCounterMode"/> on a forward pass.</summary>
public class EfficientDetComplexityTests
{
    [Fact]
    public void D0_multiply_adds_match_the_papers_count_and_the_extrapolation_from_128_px_is_exact()
    {
        var o = EfficientDetVariants.Get("tf_efficientdet_d0", 90);
        var (parameters, direct) = EfficientDetComplexity.Count(o);
        // The EfficientDet paper (Table 2) gives D0 2.5B "FLOPs" (multiply-adds) at 512 px for COCO's 90 classes.
        Assert.True(direct / 1e9 is > 2.4 and < 2.6, $"tf_efficientdet_d0 at 512 px: {direct / 1e9:0.000} G multiply-adds, the paper 2.5 G");
        Assert.Equal((parameters, direct), EfficientDetComplexity.CountExtrapolated(o));
        Assert.Equal(3_880_067, parameters);   // effdet's tf_efficientdet_d0 (Fixtures/zoo_param_counts.json)
    }
}
