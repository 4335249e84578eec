using System.Text.Json;
using CxrLab.Models.Detection;
using CxrLab.Torch;
using CxrLab.Torch.Nn;
using FrcnnModel = CxrLab.Models.FasterRcnn.FasterRcnn;
using TwoStageOptions = CxrLab.Models.Detection.TwoStage.TwoStageOptions;

using static CxrLab.Tests.Models.TorchvisionScriptReference;

namespace CxrLab.Tests.Models;

/// <summary>Runs tests/fixtures/make_frcnn_fixtures.py once (torchvision ResNet-18 FPN Faster R-CNN,
/// weights saved by torch.save, reference detections, proposals and losses) into a temp folder.</summary>
public sealed class TorchvisionFrcnnReference() : TorchvisionScriptReference("make_frcnn_fixtures.py", "cxr-frcnn-", 300)
{
    public FrcnnModel Model()
    {
        var model = FrcnnModel.ResNet18Fpn(new TwoStageOptions
        {
            // torchvision counts the background class; ours counts task classes and adds it inside.
            NumClasses = Ref.GetProperty("num_classes").GetInt32() - 1,
            MinSize = Ref.GetProperty("min_size").GetInt32(),
            MaxSize = Ref.GetProperty("max_size").GetInt32(),
        });
        var result = model.LoadWeights(Path.Combine(Dir, "weights.pth"));
        Assert.True(result.IsExact);
        return model;
    }
}

[Collection(CxrLab.Tests.Training.TorchRngCollection.Name)]
public class FasterRcnnParityTests(TorchvisionFrcnnReference reference) : IClassFixture<TorchvisionFrcnnReference>
{
    static List<float[]> Rows(Tensor boxes)
    {
        var flat = boxes.to(ScalarType.Float32).contiguous().ToArray<float>();
        return Enumerable.Range(0, flat.Length / 4).Select(i => flat[(i * 4)..(i * 4 + 4)]).ToList();
    }

    [Fact]
    public void Eval_detections_match_torchvision_with_its_saved_checkpoint()
    {
        using var scope = torch.NewDisposeScope();
        using var model = reference.Model();
        model.eval();
        var detections = model.Predict(reference.Images());
        var expected = reference.Ref.GetProperty("detections");
        for (var i = 0; i < detections.Count; i++)
        {
            var refBoxes = expected[i].GetProperty("boxes").EnumerateArray().Select(Row).ToList();
            var refScores = Row(expected[i].GetProperty("scores"));
            // torchvision's labels count the background as 0; ours are task ids (its label − 1).
            var refLabels = expected[i].GetProperty("labels").EnumerateArray().Select(x => x.GetInt64() - 1).ToArray();
            var boxes = Rows(detections[i].Boxes);
            var scores = detections[i].Scores.ToArray<float>();
            var labels = detections[i].Labels.ToArray<long>();
            var top = Math.Min(100, refBoxes.Count);
            Assert.True(top > 50, $"reference has only {top} detections; the fixture should exercise more");
            var matched = 0;
            for (var r = 0; r < top; r++)
                if (Enumerable.Range(0, boxes.Count).Any(j => labels[j] == refLabels[r] && Iou(boxes[j], refBoxes[r]) >= 0.99 && Math.Abs(scores[j] - refScores[r]) <= 1e-3))
                    matched++;
            Assert.True(matched >= 0.95 * top, $"image {i}: {matched}/{top} of torchvision's detections matched");
        }
    }

    [Fact]
    public void Rpn_proposals_match_torchvision()
    {
        using var scope = torch.NewDisposeScope();
        using var model = reference.Model();
        model.eval();
        var (proposals, sizes) = model.Proposals(reference.Images());
        var expectedSizes = reference.Ref.GetProperty("image_sizes").EnumerateArray().Select(s => (s[0].GetInt64(), s[1].GetInt64())).ToList();
        Assert.Equal(expectedSizes, sizes);
        var expected = reference.Ref.GetProperty("proposals");
        for (var i = 0; i < proposals.Count; i++)
        {
            var refBoxes = expected[i].EnumerateArray().Select(Row).ToList();
            var ours = Rows(proposals[i]);
            Assert.InRange(ours.Count, refBoxes.Count * 0.98, refBoxes.Count * 1.02);
            // Same order (descending objectness): compare position by position, allowing a few swaps.
            var same = Enumerable.Range(0, Math.Min(ours.Count, refBoxes.Count)).Count(k => Iou(ours[k], refBoxes[k]) >= 0.99);
            Assert.True(same >= 0.95 * refBoxes.Count, $"image {i}: {same}/{refBoxes.Count} proposals equal torchvision's");
        }
    }

    [Fact]
    public void Rpn_inspection_gives_torchvisions_proposals_with_their_objectness_and_the_anchors_per_level()
    {
        using var scope = torch.NewDisposeScope();
        using var model = reference.Model();
        model.eval();
        var images = reference.Images();
        using var view = model.InspectRpn(images);
        var (proposals, sizes) = model.Proposals(images);
        Assert.Equal(sizes, view.ImageSizes);
        var expectedScores = reference.Ref.GetProperty("proposal_scores");
        for (var i = 0; i < images.Count; i++)
        {
            // Inspection runs the same RPN as the model: the proposals are the ones Rpn_proposals_match_torchvision checks.
            Assert.Equal(Rows(proposals[i]).SelectMany(r => r), Rows(view.Proposals[i]).SelectMany(r => r));
            var refBoxes = reference.Ref.GetProperty("proposals")[i].EnumerateArray().Select(Row).ToList();
            var refScores = Row(expectedScores[i]);
            var ours = Rows(view.Proposals[i]);
            var scores = view.Objectness[i].ToArray<float>();
            Assert.Equal(ours.Count, scores.Length);
            Assert.True(scores.Zip(scores.Skip(1)).All(p => p.First >= p.Second), "objectness must be best first");
            var compared = Enumerable.Range(0, Math.Min(ours.Count, refBoxes.Count)).Where(k => Iou(ours[k], refBoxes[k]) >= 0.99).ToList();
            Assert.True(compared.Count >= 0.95 * refBoxes.Count, $"image {i}: only {compared.Count}/{refBoxes.Count} proposals line up with torchvision's");
            Assert.All(compared, k => Assert.True(Math.Abs(scores[k] - refScores[k]) <= 1e-4, $"image {i} proposal {k}: objectness {scores[k]}, torchvision {refScores[k]}"));
        }
        var counts = reference.Ref.GetProperty("anchors_per_level").EnumerateArray().Select(x => x.GetInt64()).ToArray();
        Assert.Equal(counts, view.AnchorLevels.Select(l => l.Count).ToArray());
        Assert.Equal(counts, view.AnchorLevels.Select(l => l.Anchors.size(0)).ToArray());
        Assert.Equal([32.0, 64, 128, 256, 512], view.AnchorLevels.Select(l => l.Sizes.Single()).ToArray());
        Assert.Equal([4L, 8, 16, 32], view.AnchorLevels.Take(4).Select(l => l.Stride.X).ToArray());
        // torchvision's stride is the padded size floor-divided by the grid: "pool" (5 cells on 288 px) gets 57, not 64.
        Assert.All(view.AnchorLevels, l => Assert.Equal((view.BatchSize.H / l.FeatureSize.H, view.BatchSize.W / l.FeatureSize.W), l.Stride));
    }

    [Fact]
    public void Candidates_post_processed_with_any_thresholds_equal_predict_with_those_thresholds()
    {
        using var scope = torch.NewDisposeScope();
        using var model = reference.Model();
        model.eval();
        var images = reference.Images();
        using var candidates = model.PredictCandidates(images);
        var (proposals, _) = model.Proposals(images);
        for (var i = 0; i < images.Count; i++) Assert.Equal(proposals[i].size(0) * model.NumClasses, candidates.PerImage[i].Boxes.size(0));
        var defaults = model.Postprocess;
        foreach (var options in new[] { defaults, defaults with { ScoreThresh = 0.2, NmsThresh = 0.3 }, defaults with { ScoreThresh = 0.0, NmsThresh = 0.9, MaxDetections = 20 },
                     defaults with { ClassAgnostic = true, NmsThresh = 0.4 } })
        {
            model.Postprocess = options;
            var direct = model.Predict(images);
            var selected = model.SelectDetections(candidates, options);
            for (var i = 0; i < images.Count; i++)
            {
                Assert.Equal(direct[i].Boxes.ToArray<float>(), selected[i].Boxes.ToArray<float>());
                Assert.Equal(direct[i].Scores.ToArray<float>(), selected[i].Scores.ToArray<float>());
                Assert.Equal(direct[i].Labels.ToArray<long>(), selected[i].Labels.ToArray<long>());
                Assert.All(selected[i].Scores.ToArray<float>(), s => Assert.True(s > options.ScoreThresh));
                Assert.True(selected[i].Boxes.size(0) <= options.MaxDetections);
                Assert.All(selected[i].Labels.ToArray<long>(), l => Assert.InRange(l, 0, model.NumClasses - 1));
            }
        }
        model.Postprocess = defaults;
    }

    DetectionTarget[] Targets(bool empty) => reference.Ref.GetProperty("targets").EnumerateArray().Select(t => empty
        ? DetectionTarget.Empty()
        : DetectionTarget.From(t.GetProperty("boxes").EnumerateArray().SelectMany(Row).ToArray(),
            t.GetProperty("labels").EnumerateArray().Select(x => x.GetInt64() - 1).ToArray())).ToArray();  // torchvision's labels → task ids

    [Fact]
    public void Training_losses_equal_torchvision_with_the_same_seed_and_empty_targets_give_zero_box_loss()
    {
        using var scope = torch.NewDisposeScope();
        using var model = reference.Model();
        model.train();
        var images = reference.Images();
        var seed = (ulong)reference.Ref.GetProperty("seed").GetInt64();
        foreach (var (empty, key) in new[] { (false, "losses"), (true, "empty_losses") })
        {
            torch.manual_seed(seed);
            var losses = model.ForwardTrain(images, Targets(empty));
            Assert.Equal(["loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg"], losses.Keys.ToArray());
            foreach (var p in reference.Ref.GetProperty(key).EnumerateObject())
            {
                var got = losses[p.Name].item<float>();
                var want = p.Value.GetDouble();
                Assert.True(Math.Abs(got - want) <= 1e-4 + 1e-3 * Math.Abs(want), $"{key}.{p.Name}: torchvision {want}, ours {got}");
            }
            if (empty)
            {
                Assert.Equal(0f, losses["loss_box_reg"].item<float>());
                Assert.Equal(0f, losses["loss_rpn_box_reg"].item<float>());
            }
            // Gradients flow to the trainable parameters (and not to the frozen stem).
            var total = losses.Values.Aggregate((a, b) => a + b);
            model.zero_grad();
            total.backward();
            var named = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
            Assert.NotNull(named["roi_heads.box_predictor.cls_score.weight"].grad);
            Assert.NotNull(named["backbone.body.layer4.0.conv1.weight"].grad);
            Assert.False(named["backbone.body.conv1.weight"].requires_grad);
        }
    }

    [Fact]
    public void Class_count_mismatch_says_how_to_fix_it_and_replace_head_loads_the_rest()
    {
        using var model = FrcnnModel.ResNet18Fpn(new TwoStageOptions { NumClasses = 14, MinSize = 224, MaxSize = 320 });
        var weights = Path.Combine(reference.Dir, "weights.pth");
        // The fixture is torchvision's num_classes=5: 4 task classes + background.
        var e = Assert.Throws<ArgumentException>(() => model.LoadWeights(weights));
        Assert.Contains("trained for 4 classes", e.Message);
        Assert.Contains("model has 14", e.Message);
        Assert.Contains("--num-classes 4", e.Message);
        var notes = new List<string>();
        var result = model.LoadWeights(weights, new WeightsLoadOptions { ReinitClassifier = true, Log = notes.Add });
        Assert.All(result.Missing, k => Assert.StartsWith("roi_heads.box_predictor.", k));
        Assert.Contains(notes, n => n.Contains("re-initialised the classifier", StringComparison.Ordinal) && n.Contains("14 classes", StringComparison.Ordinal));
        Assert.Equal(14, model.NumClasses);
        Assert.Equal([15L, 1024], model.state_dict()["roi_heads.box_predictor.cls_score.weight"].shape);
        model.ReplaceHead(3);
        Assert.Equal(3, model.NumClasses);
        Assert.Equal(new LabelSpace(3, true), model.LabelSpace);
        Assert.Equal([4L, 1024], model.state_dict()["roi_heads.box_predictor.cls_score.weight"].shape);
        Assert.Equal([16L, 1024], model.state_dict()["roi_heads.box_predictor.bbox_pred.weight"].shape);
    }

    [Fact]
    public void Legacy_key_layout_is_upgraded()
    {
        using var model = FrcnnModel.ResNet18Fpn(new TwoStageOptions { NumClasses = 4 });
        Assert.Equal("backbone.fpn.inner_blocks.2.0.weight", model.UpgradeLegacyKey("backbone.fpn.inner_blocks.2.weight"));
        Assert.Equal("backbone.fpn.layer_blocks.0.0.bias", model.UpgradeLegacyKey("backbone.fpn.layer_blocks.0.bias"));
        Assert.Equal("backbone.fpn.layer_blocks.0.0.bias", model.UpgradeLegacyKey("backbone.fpn.layer_blocks.0.0.bias"));
        Assert.Equal("rpn.head.conv.0.0.weight", model.UpgradeLegacyKey("rpn.head.conv.weight"));
        Assert.Equal("rpn.head.conv.0.0.weight", model.UpgradeLegacyKey("rpn.head.conv.0.0.weight"));
        Assert.Equal("backbone.body.layer1.0.conv1.weight", model.UpgradeLegacyKey("backbone.body.layer1.0.conv1.weight"));
        var keys = model.state_dict().Keys.ToList();
        Assert.Contains("backbone.fpn.inner_blocks.0.0.weight", keys);
        Assert.Contains("rpn.head.conv.0.0.weight", keys);
        Assert.Contains("roi_heads.box_head.fc6.weight", keys);
        Assert.DoesNotContain(keys, k => k.StartsWith("backbone.body.fc", StringComparison.Ordinal));
    }
}
