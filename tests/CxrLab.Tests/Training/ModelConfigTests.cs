using CxrLab.Experiments;
using CxrLab.Tasks;
using CxrLab.Tasks.VinBigData;
using CxrLab.Models.Detection;
using CxrLab.Torch;
using CxrLab.Torch.Nn;
using CxrLab.Training;

namespace CxrLab.Tests.Training;

/// <summary><c>model.norm_layer</c> and <c>faster_rcnn.anchor_sizes</c>/<c>aspect_ratios</c>: the YAML reaches the built model.</summary>
[Collection(TorchRngCollection.Name)]
public class ModelConfigTests
{
    static ExperimentConfig Config(string model, string fasterRcnn = "") => ExperimentConfigLoader.Load($$"""
        name: tiny
        model: {arch: fasterrcnn_resnet18_fpn, num_classes: 2, input_size: 64, max_size: 64{{model}}}
        faster_rcnn: {fpn_channels: 16, representation_size: 32{{fasterRcnn}}}
        """, "m.yaml");

    static bool HasBatchNorm(Module m) => m.modules().Any(x => x is BatchNorm2d);
    static bool HasFrozen(Module m) => m.modules().Any(x => x is FrozenBatchNorm2d);

    [Fact]
    public void Norm_layer_follows_torchvision_rule_unless_given()
    {
        // Random init → BatchNorm2d; weights given → FrozenBatchNorm2d; an explicit value wins either way.
        Assert.Equal(NormLayer.BatchNorm, ExperimentRunner.SpecOf(Config("")).NormLayerOrDefault);
        Assert.Equal(NormLayer.Frozen, ExperimentRunner.SpecOf(Config(", weights: some.pth")).NormLayerOrDefault);
        Assert.Equal(NormLayer.BatchNorm, ExperimentRunner.SpecOf(Config(", weights: some.pth, norm_layer: batchnorm")).NormLayerOrDefault);
        Assert.Equal(NormLayer.Frozen, ExperimentRunner.SpecOf(Config(", norm_layer: frozen")).NormLayerOrDefault);

        using (var scratch = ExperimentRunner.BuildModel(Config("")))
        {
            Assert.True(HasBatchNorm(scratch.Module));
            Assert.False(HasFrozen(scratch.Module));
            Assert.Contains("backbone.body.bn1.num_batches_tracked", scratch.Module.state_dict().Keys);
        }
        using (var frozen = ExperimentRunner.BuildModel(Config(", norm_layer: frozen")))
        {
            Assert.True(HasFrozen(frozen.Module));
            Assert.False(HasBatchNorm(frozen.Module));
        }

        var bad = Assert.Throws<ConfigException>(() => Config(", norm_layer: groupnorm"));
        Assert.Contains("m.yaml:2 model.norm_layer", bad.Message);
        Assert.Contains("batchnorm", bad.Message);
    }

    [Fact]
    public void Anchor_sizes_and_ratios_reach_the_rpn()
    {
        using var scope = torch.NewDisposeScope();
        using var detector = ExperimentRunner.BuildModel(Config("", ", anchor_sizes: [8, 16, 32, 64, 128], aspect_ratios: [1.0, 2.0]"));
        var model = Assert.IsAssignableFrom<CxrLab.Models.Detection.TwoStage.GeneralizedRcnn>(detector);
        Assert.Equal([2, 2, 2, 2, 2], model.Rpn.AnchorGenerator.NumAnchorsPerLocation);
        var expected = new AnchorGenerator([[8], [16], [32], [64], [128]], Enumerable.Repeat(new[] { 1.0, 2.0 }, 5).ToArray());
        (long, long)[] shapes = [(16, 16), (8, 8), (4, 4), (2, 2), (1, 1)];
        var ours = model.Rpn.AnchorGenerator.AnchorsForImage(64, 64, shapes, ScalarType.Float32, Device.CPU);
        Assert.Equal(expected.AnchorsForImage(64, 64, shapes, ScalarType.Float32, Device.CPU).ToArray<float>(), ours.ToArray<float>());
        // The first anchor of level 0 is the 8-px square at the origin (ratio 1): torchvision's rounding of ±4.
        Assert.Equal(new[] { -4f, -4f, 4f, 4f }, ours[0].ToArray<float>());

        var count = Assert.Throws<ArgumentException>(() => ExperimentRunner.BuildModel(Config("", ", anchor_sizes: [16, 32, 64, 128]")));
        Assert.Contains("one per FPN level", count.Message);
        var ratio = Assert.Throws<ConfigException>(() => Config("", ", aspect_ratios: [0.0, 1.0]"));
        Assert.Contains("m.yaml:3 faster_rcnn.aspect_ratios", ratio.Message);
    }
}
