using CxrLab.Data;

namespace CxrLab.Tests.Data;

public class FusionTests
{
    static readonly Box A = new(10, 10, 50, 50);

    [Fact]
    public void ThreeReadersAgreeingFuseToOneBoxWithFullAgreement()
    {
        List<SourceBox> boxes = [new("R1", 2, A), new("R2", 2, new Box(12, 10, 52, 50)), new("R3", 2, new Box(8, 12, 48, 52))];
        var wbf = Assert.Single(LabelFusion.Fuse(boxes, new FusionOptions(FusionMethod.Wbf)));
        Assert.Equal(1f, wbf.Score, 6);
        Assert.Equal(3, wbf.Sources);
        Assert.Equal(10f, wbf.Box.X1, 4); // mean of 10, 12, 8
        Assert.Equal(50.666667f, wbf.Box.Y2, 4);
        var nms = Assert.Single(LabelFusion.Fuse(boxes, new FusionOptions(FusionMethod.Nms)));
        Assert.Equal(A, nms.Box); // the first of equal-confidence boxes
        Assert.Equal(1f, nms.Score, 6);
    }

    [Fact]
    public void DisagreementLowersAgreementAndDifferentClassesNeverMerge()
    {
        List<SourceBox> boxes = [new("R1", 2, A), new("R2", 5, A), new("R3", 2, new Box(200, 200, 240, 240))];
        var fused = LabelFusion.Fuse(boxes, new FusionOptions(FusionMethod.Wbf));
        Assert.Equal(3, fused.Count);
        Assert.All(fused, f => Assert.Equal(1f / 3, f.Score, 6));
        // a reader who drew nothing still counts towards the image's readers
        var withSilentReader = LabelFusion.Fuse([new("R1", 2, A), new("R2", 2, A)], new FusionOptions(FusionMethod.Wbf), sourceCount: 3);
        Assert.Equal(2f / 3, Assert.Single(withSilentReader).Score, 6);
    }

    [Fact]
    public void FusionInvariantsOnRandomReaders()
    {
        var rng = new Random(3);
        for (var trial = 0; trial < 50; trial++)
        {
            var boxes = new List<SourceBox>();
            for (var k = rng.Next(0, 12); k > 0; k--)
            {
                float x = rng.Next(0, 200), y = rng.Next(0, 200);
                boxes.Add(new SourceBox($"R{rng.Next(1, 4)}", rng.Next(0, 3), new Box(x, y, x + rng.Next(5, 60), y + rng.Next(5, 60)), (float)rng.NextDouble()));
            }
            foreach (var method in Enum.GetValues<FusionMethod>())
            {
                var fused = LabelFusion.Fuse(boxes, new FusionOptions(method, SkipThreshold: 0.1f), sourceCount: 3);
                var input = boxes.Where(b => b.Score >= 0.1f).ToList();
                Assert.True(fused.Count <= input.Count);
                Assert.Equal(input.Count == 0, fused.Count == 0);
                Assert.All(fused, f => Assert.InRange(f.Score, 0f, 1f));
                Assert.All(fused, f => Assert.Contains(f.Label, input.Select(b => b.Label)));
                // every fused box lies within the hull of its class's input boxes
                Assert.All(fused, f =>
                {
                    var same = input.Where(b => b.Label == f.Label).ToList();
                    Assert.True(f.Box.X1 >= same.Min(b => b.Box.X1) - 1e-3 && f.Box.X2 <= same.Max(b => b.Box.X2) + 1e-3);
                });
                if (method is FusionMethod.Nms or FusionMethod.Wbf)
                    foreach (var g in fused.GroupBy(f => f.Label))
                        Assert.Equal(fused.Count(f => f.Label == g.Key), g.Count());
            }
            // NMS output: no two kept boxes of a class overlap above the threshold
            var nms = LabelFusion.Fuse(boxes, new FusionOptions(FusionMethod.Nms), 3);
            foreach (var a in nms) foreach (var b in nms)
                if (!a.Equals(b) && a.Label == b.Label) Assert.True(a.Box.Iou(b.Box) <= 0.4f);
        }
    }

    [Fact]
    public void KeepOneReaderKeepsTheBusiestReader()
    {
        List<SourceBox> boxes = [new("R1", 2, A), new("R2", 2, A), new("R2", 3, new Box(100, 100, 120, 130)), new("R3", 4, A)];
        var kept = LabelFusion.Fuse(boxes, new FusionOptions(FusionMethod.KeepOneReader));
        Assert.Equal([2, 3], kept.Select(k => k.Label));
    }
}
