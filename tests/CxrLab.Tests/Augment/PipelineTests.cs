using CxrLab.Augment;
using CxrLab.Data;
using CxrLab.Imaging;

namespace CxrLab.Tests.Augment;

public class PipelineTests
{
    /// <summary>The RSNA seed's imgaug pipeline, written in C#.</summary>
    static ITransform RsnaSeed() => new Sequential(
        new OneOf(new Affine(), new PiecewiseAffine()),
        new OneOf(new Multiply((0.85, 1.15)), new ContrastNormalization((0.85, 1.15))),
        new OneOf(new GaussianBlur((0.0, 0.12)), new Sharpen((0.0, 0.12))));

    static ITransform Heavy() => new Sequential(
        new SomeOf(1, 3, [new Rotate90([1, 2, 3]), new Flip(), new Zoom((0.6, 1.6)), new Rotate((-40, 40)),
            new Affine { TranslateX = (-0.4, 0.4), TranslateY = (-0.4, 0.4), ScaleX = (0.5, 1.5), ScaleY = (0.5, 1.5) }]),
        new Sometimes(0.5, new CutMix()),
        new Sometimes(0.3, new Mosaic()),
        new Sometimes(0.3, new MixUp()),
        new RandomResizedCrop(64, 48) { Scale = (0.2, 1) });

    [Fact]
    public void SameSeedSameOutputDifferentSeedDifferentOutput()
    {
        var pool = Synthetic.Pool(6, 80, 60, 100);
        var sample = Synthetic.WithBoxes(80, 60, 4, 1);
        foreach (var transform in new[] { RsnaSeed(), Heavy() })
        {
            var pipeline = new Pipeline(transform);
            var a = pipeline.Run(sample, 42, pool).Sample;
            var b = pipeline.Run(sample, 42, pool).Sample;
            Assert.Equal(a.Image.Data, b.Image.Data);
            Assert.Equal(a.Target.Boxes, b.Target.Boxes);
            Assert.Equal(a.Target.Labels, b.Target.Labels);
            var differs = Enumerable.Range(43, 5).Any(s => !pipeline.Run(sample, (ulong)s, pool).Sample.Image.Data.SequenceEqual(a.Image.Data));
            Assert.True(differs, "other seeds should give other outputs");
        }
    }

    [Fact]
    public void DegenerateBoxesNeverReachTheOutput()
    {
        var pool = Synthetic.Pool(6, 80, 60, 200);
        var policy = new BoxPolicy(MinArea: 6, MinSide: 2, MinVisibility: 0.3f);
        var pipeline = new Pipeline(Heavy(), policy);
        var rsna = new Pipeline(RsnaSeed(), policy);
        var totals = new AugmentStats();
        for (var seed = 0; seed < 60; seed++)
        {
            var sample = Synthetic.WithBoxes(80, 60, 6, seed);
            // Add the seed's y_min == y_max box, an inverted box, one outside the image and a sliver.
            var boxes = sample.Target.Boxes.Concat([new Box(10, 20, 30, 20), new Box(30, 10, 20, 25), new Box(90, 70, 120, 90), new Box(5, 5, 5.5f, 6)]).ToList();
            var labels = sample.Target.Labels.Concat([1, 2, 3, 4]).ToList();
            sample = CxrLab.Augment.Sample.Of(sample.Image, boxes, labels, "d");
            foreach (var p in new[] { pipeline, rsna })
            {
                var result = p.Run(sample, (ulong)seed, pool);
                var output = result.Sample;
                foreach (var b in output.Target.Boxes)
                {
                    Assert.True(b.IsValid, $"seed {seed}: invalid box {b}");
                    Assert.True(b.X1 >= 0 && b.Y1 >= 0 && b.X2 <= output.Image.Width && b.Y2 <= output.Image.Height, $"seed {seed}: {b} outside {output.Image.Width}×{output.Image.Height}");
                    Assert.True(b.Area >= policy.MinArea && b.Width >= policy.MinSide && b.Height >= policy.MinSide, $"seed {seed}: {b} below the policy");
                }
                if (ReferenceEquals(p, rsna))
                {
                    // No mixing: every input box is either out or counted as dropped.
                    Assert.Equal(result.Stats.BoxesIn, result.Stats.BoxesOut + result.Stats.Dropped);
                    Assert.True(result.Stats.Dropped >= 4, "the four bad boxes are dropped and counted");
                }
                totals.Add(result.Stats);
            }
        }
        Assert.True(totals.DroppedDegenerate > 0 && totals.DroppedSmall > 0 && totals.DroppedOccluded > 0, totals.ToString());
    }

    [Fact]
    public void CompositionPicksAsSpecified()
    {
        var sample = Synthetic.WithBoxes(40, 30, 2, 5);
        // OneOf with all weight on the flip always flips.
        var oneOf = new Pipeline(new OneOf(new Identity(), new Flip()) { Weights = [0, 1] });
        var flipped = new Pipeline(new Flip()).Run(sample, 0).Sample.Image.Data;
        for (var s = 0UL; s < 5; s++) Assert.Equal(flipped, oneOf.Run(sample, s).Sample.Image.Data);
        // Sometimes(p) applies in about p of the runs.
        var sometimes = new Pipeline(new Sometimes(0.3, new Flip()));
        var applied = Enumerable.Range(0, 400).Count(s => sometimes.Run(sample, (ulong)s).Sample.Image.Data.SequenceEqual(flipped));
        Assert.InRange(applied, 90, 150);
        // SomeOf(2, 2) of two counting steps applies both.
        var someOf = new Pipeline(new SomeOf(2, 2, [new Rotate90(2), new Rotate90(2)]));
        Assert.Equal(sample.Image.Data, someOf.Run(sample, 9).Sample.Image.Data);
        // The class filter applies only to samples holding the classes.
        var withTwelve = CxrLab.Augment.Sample.Of(sample.Image, sample.Target.Boxes, [12, 0]);
        var withoutTwelve = CxrLab.Augment.Sample.Of(sample.Image, sample.Target.Boxes, [3, 0]);
        var filter = new Pipeline(new WhenClasses([1, 12], new Flip()));
        Assert.Equal(flipped, filter.Run(withTwelve, 0).Sample.Image.Data);
        Assert.Equal(sample.Image.Data, filter.Run(withoutTwelve, 0).Sample.Image.Data);
    }

    [Fact]
    public void CutMixObjectPasteCarriesTheDonorBoxAndPixels()
    {
        var donor = Synthetic.WithBoxes(64, 48, 1, 77, id: "donor");
        donor = CxrLab.Augment.Sample.Of(Synthetic.Texture(64, 48, 1234), [new Box(20, 10, 40, 30)], [12], "donor", ["R9"]);
        var pool = new ListSampleSource([donor, Synthetic.WithBoxes(64, 48, 2, 5, id: "other")]);
        var sample = CxrLab.Augment.Sample.Of(Synthetic.Texture(64, 48, 9), [new Box(0, 0, 10, 10), new Box(25, 12, 35, 28)], [3, 0], "own");
        var cutmix = new CutMix { DonorClasses = [12], Margin = 0.1 };
        var output = new Pipeline(cutmix).Run(sample, 1, pool).Sample;
        // The donor's class-12 box arrives at its place with its rad_id; the fully covered own box is gone.
        var i = output.Target.Labels.ToList().IndexOf(12);
        Assert.True(i >= 0);
        Assert.Equal(new Box(20, 10, 40, 30), output.Target.Boxes[i]);
        Assert.Equal("R9", output.BoxTags![i]);
        Assert.DoesNotContain(0, output.Target.Labels);
        Assert.Contains(3, output.Target.Labels);
        // Pixels: the patch (box + 10% margin) is the donor's, outside it the sample's.
        Assert.Equal(donor.Image.At(15, 25), output.Image.At(15, 25));
        Assert.Equal(sample.Image.At(40, 60), output.Image.At(40, 60));
    }

    [Fact]
    public void CutMixForAClassNoDonorHoldsFallsBackToAnyDonorAndCountsIt()
    {
        // Small data may hold no image of the rare classes (the phantom's Pneumothorax, say): the build goes on.
        var pool = new ListSampleSource([Synthetic.WithBoxes(64, 48, 2, 5, id: "a"), Synthetic.WithBoxes(64, 48, 2, 6, id: "b")]);
        var sample = Synthetic.WithBoxes(64, 48, 2, 7, id: "own");
        var result = new Pipeline(new CutMix { DonorClasses = [99] }).Run(sample, 3, pool); // labels are 0–13
        Assert.Equal(1, result.Stats.DonorFallbacks);
        Assert.DoesNotContain(99, result.Sample.Target.Labels);
        Assert.Contains("no donor of the requested classes", result.Stats.ToString());
        Assert.False(result.Sample.Image.Data.SequenceEqual(sample.Image.Data)); // a random patch was still mixed in
    }

    [Fact]
    public void MosaicPutsEveryTileInsideTheCanvasWithItsBoxes()
    {
        var pool = Synthetic.Pool(5, 100, 80, 300);
        var sample = Synthetic.WithBoxes(100, 80, 3, 7);
        var result = new Pipeline(new Mosaic(), new BoxPolicy(MinArea: 1, MinSide: 0.5f, MinVisibility: 0)).Run(sample, 5, pool);
        var output = result.Sample;
        Assert.Equal((100, 80), (output.Image.Width, output.Image.Height));
        // Four tiles of three boxes each; none is cropped away by this mosaic.
        Assert.Equal(12, output.Target.Count);
        Assert.Equal(0, result.Stats.Dropped);
    }

    [Fact]
    public void MixUpBlendsAndKeepsBothBoxSets()
    {
        var donor = Synthetic.WithBoxes(50, 40, 2, 8, id: "donor");
        var sample = Synthetic.WithBoxes(50, 40, 3, 9);
        var output = new Pipeline(new MixUp(0.5)).Run(sample, 1, new ListSampleSource([donor])).Sample;
        Assert.Equal(5, output.Target.Count);
        Assert.Equal(0.5 * sample.Image.At(7, 9) + 0.5 * donor.Image.At(7, 9), output.Image.At(7, 9), 1e-5);
    }

    [Fact]
    public void MixingWithoutAPoolSaysWhatIsMissing()
    {
        var error = Assert.Throws<InvalidOperationException>(() => new Pipeline(new Mosaic()).Run(Synthetic.WithBoxes(40, 30, 1, 1), 0));
        Assert.Contains("donor pool", error.Message);
    }
}

public class PreviewGridTests
{
    [Fact]
    public void GridDrawsEachSampleWithItsClassColouredBoxes()
    {
        var image = new CxrLab.Imaging.Image(Enumerable.Repeat(0.5f, 100 * 100).ToArray(), 100, 100);
        var sample = CxrLab.Augment.Sample.Of(image, [new Box(20, 40, 80, 90)], [3]);
        var (rgb, rows, cols) = PreviewGrid.Render([sample, sample, sample], tile: 100);
        // 2 × 2 cells of 100 px plus 4 px gaps.
        Assert.Equal((212, 212), (rows, cols));
        var colour = PreviewGrid.ColourOf(3);
        // The box's bottom edge in the first cell (offset 4, 4) carries the class colour; its inside stays grey.
        var edge = ((4 + 90) * cols + 4 + 50) * 3;
        Assert.True(Math.Abs(rgb[edge] - colour.R) < 40 && Math.Abs(rgb[edge + 1] - colour.G) < 40 && Math.Abs(rgb[edge + 2] - colour.B) < 40,
            $"edge pixel ({rgb[edge]}, {rgb[edge + 1]}, {rgb[edge + 2]}) vs {colour}");
        var inside = ((4 + 70) * cols + 4 + 50) * 3;
        Assert.Equal(new byte[] { 128, 128, 128 }, rgb[inside..(inside + 3)]);
        // The empty fourth cell stays background.
        var empty = ((108 + 50) * cols + 108 + 50) * 3;
        Assert.Equal(32, rgb[empty]);
    }
}

public class MixingMaskTests
{
    /// <summary>Mixing keeps instance masks in step with boxes: each output mask's pixels lie in its box, and
    /// boxes that nothing covered match their mask within a pixel.</summary>
    [Fact]
    public void MasksFollowTheirBoxesThroughCutMixMosaicAndMixUp()
    {
        var pool = new ListSampleSource(Enumerable.Range(0, 4).Select(i => Synthetic.WithBoxes(90, 70, 3, 40 + i, masks: true, id: $"p{i}")).ToList());
        var policy = new BoxPolicy(MinArea: 4, MinSide: 2, MinVisibility: 0.3f);
        foreach (var transform in new ITransform[] { new CutMix(), new CutMix { DonorClasses = [pool.Get(0).Target.Labels[0]] }, new Mosaic(), new MixUp() })
            for (var seed = 0UL; seed < 6; seed++)
            {
                var sample = Synthetic.WithBoxes(90, 70, 3, (int)seed, masks: true);
                var output = new Pipeline(transform, policy).Run(sample, seed, pool).Sample;
                Assert.Equal(output.Target.Count, output.Target.Masks!.Count);
                var exact = 0;
                for (var i = 0; i < output.Target.Count; i++)
                {
                    var box = output.Target.Boxes[i];
                    var maskBox = Synthetic.MaskBox(output.Target.Masks[i]);
                    Assert.NotNull(maskBox);
                    var m = maskBox.Value;
                    Assert.True(m.X1 >= box.X1 - 1 && m.Y1 >= box.Y1 - 1 && m.X2 <= box.X2 + 1 && m.Y2 <= box.Y2 + 1, $"{transform} seed {seed}: mask {m} outside box {box}");
                    if (Math.Abs(m.X1 - box.X1) <= 1 && Math.Abs(m.X2 - box.X2) <= 1 && Math.Abs(m.Y1 - box.Y1) <= 1 && Math.Abs(m.Y2 - box.Y2) <= 1) exact++;
                }
                Assert.True(exact >= output.Target.Count / 2, $"{transform} seed {seed}: only {exact} of {output.Target.Count} masks match their boxes");
            }
    }
}
