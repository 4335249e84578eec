using CxrLab.Augment;

namespace CxrLab.Tests.Augment;

public class YamlAndLoaderTests
{
    const string RsnaYaml = """
        box_policy: {min_area: 4, min_visibility: 0.25}
        pipeline:
          - one_of:
              - affine: {scale_x: [0.98, 1.04], scale_y: [0.98, 1.04], translate_x: [-0.03, 0.03], translate_y: [-0.05, 0.05], rotate: [-2, 2], shear: [-1, 1]}
              - piecewise_affine: {scale: [0.002, 0.03]}
          - one_of: [{multiply: {factor: [0.85, 1.15]}}, {contrast: {alpha: [0.85, 1.15]}}]
          - one_of: [{gaussian_blur: {sigma: [0.0, 0.12]}}, {sharpen: {alpha: [0.0, 0.12]}}]
          - sometimes: {p: 0.5, then: hflip}
          - when_classes: {classes: [1, 12], then: [clahe, equalize]}
        """;

    [Fact]
    public void YamlBuildsTheSamePipelineAsCSharp()
    {
        var fromYaml = PipelineYaml.Parse(RsnaYaml);
        var fromCode = new Pipeline(new Sequential(
            new OneOf(new Affine(), new PiecewiseAffine()),
            new OneOf(new Multiply((0.85, 1.15)), new ContrastNormalization((0.85, 1.15))),
            new OneOf(new GaussianBlur((0.0, 0.12)), new Sharpen((0.0, 0.12))),
            new Sometimes(0.5, new Flip()),
            new WhenClasses([1, 12], new Sequential(new Clahe(), new EqualizeHist()))), new BoxPolicy(4, 1, 0.25f));
        Assert.Equal(fromCode.Policy, fromYaml.Policy);
        for (var seed = 0UL; seed < 4; seed++)
        {
            var sample = Synthetic.WithBoxes(60, 50, 3, (int)seed);
            var a = fromYaml.Run(sample, seed).Sample;
            var b = fromCode.Run(sample, seed).Sample;
            Assert.Equal(b.Image.Data, a.Image.Data);
            Assert.Equal(b.Target.Boxes, a.Target.Boxes);
        }
    }

    [Theory]
    [InlineData("pipeline:\n  - hflip\n  - zoom: {factr: [0.9, 1.1]}\n", ":3:", "unknown key 'factr'")]
    [InlineData("pipeline:\n  - hflip\n  - twirl: {}\n", ":3:", "unknown transform 'twirl'")]
    [InlineData("pipeline:\n  - sometimes: {p: 2, then: hflip}\n", ":2:", "[0, 1]")]
    [InlineData("pipeline:\n  - zoom: {factor: [1.1, 0.9]}\n", ":2:", "min ≤ max")]
    [InlineData("pipeline:\n  - multiply: {factor: 1.1, fill: 3}\n", ":2:", "no fill")]
    public void YamlErrorsNameTheLineAndKey(string yaml, string line, string message)
    {
        var error = Assert.Throws<FormatException>(() => PipelineYaml.Parse(yaml, "aug.yaml"));
        Assert.Contains("aug.yaml" + line, error.Message);
        Assert.Contains(message, error.Message);
    }

    [Fact]
    public void LoaderIsDeterministicForAnyWorkerCount()
    {
        var source = Synthetic.Pool(23, 48, 40, 500);
        var pipeline = PipelineYaml.Parse(RsnaYaml + "\n  - sometimes: {p: 0.5, then: mosaic}\n");
        List<float[]> Run(int workers, int epoch, int prefetch) =>
            new AugmentLoader(source, pipeline, seed: 7, workers: workers, prefetch: prefetch).Epoch(epoch).Select(s => s.Image.Data).ToList();
        var one = Run(1, 0, 4);
        var three = Run(3, 0, 2);
        Assert.Equal(23, one.Count);
        for (var i = 0; i < one.Count; i++) Assert.Equal(one[i], three[i]);
        var nextEpoch = Run(3, 1, 8);
        Assert.True(Enumerable.Range(0, 23).Count(i => !nextEpoch[i].SequenceEqual(one[i])) > 20, "another epoch augments differently");
        // Sample i of an epoch is exactly Pipeline.Run with seed f(seed, epoch, index).
        var loader = new AugmentLoader(source, pipeline, seed: 7, workers: 2);
        var order = loader.Order(0);
        var direct = pipeline.Run(source.Get(order[5]), SampleSeed.Of(7, 0, order[5]), source).Sample;
        Assert.Equal(direct.Image.Data, one[5]);
        Assert.Equal(Enumerable.Range(0, 23), order.Order());
    }

    [Fact]
    public void LoaderBatchesCountsAndStopsEarly()
    {
        var source = Synthetic.Pool(10, 32, 32, 900);
        var loader = new AugmentLoader(source, new Pipeline(new Flip()), seed: 1, workers: 2, prefetch: 3);
        var batches = loader.Batches(0, 4).ToList();
        Assert.Equal([4, 4, 2], batches.Select(b => b.Count));
        Assert.Equal(10, loader.Stats.Samples);
        Assert.Equal(30, loader.Stats.BoxesOut);
        // Breaking out of an epoch returns promptly (workers stop).
        var first = loader.Epoch(1).First();
        Assert.NotNull(first);
    }

    [Fact]
    public void LoaderSurfacesAWorkerError()
    {
        var source = Synthetic.Pool(4, 32, 32, 1);
        var loader = new AugmentLoader(source, new Pipeline(new Failing()), seed: 1);
        var error = Assert.Throws<InvalidOperationException>(() => loader.Epoch(0).ToList());
        Assert.Contains("failing transform", error.Message);
    }

    sealed record Failing : ITransform
    {
        public Sample Apply(Sample sample, AugmentContext context) => throw new InvalidOperationException("failing transform");
    }

    [Fact]
    public void GeometricStepsTakeFillAndCategoryConfigsRejectDuplicateIds()
    {
        var pipeline = PipelineYaml.Parse("pipeline:\n  - zoom: {factor: 0.5, fill: 0.25}\n");
        var output = pipeline.Run(Synthetic.WithBoxes(40, 40, 1, 1), 0).Sample;
        Assert.Equal(0.25f, output.Image.At(0, 0), 1e-6);
        var error = Assert.Throws<FormatException>(() => CxrLab.Augment.Categories.CategoryConfig.Parse(
            "name: x\noutputs:\n  - suffix: a\n    pipeline: [hflip]\n  - suffix: a\n    pipeline: [vflip]\n", "cat.yaml"));
        Assert.Contains("cat.yaml:5", error.Message);
        Assert.Contains("duplicate suffix", error.Message);
    }
}
