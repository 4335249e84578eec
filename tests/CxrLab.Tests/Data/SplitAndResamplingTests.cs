using CxrLab.Data;

namespace CxrLab.Tests.Data;

public class SplitAndResamplingTests
{
    /// <summary>Image classes shaped like VinBigData: most images "No finding" (14), rare classes on few images.</summary>
    static List<IReadOnlyList<int>> Classes(int n, int seed)
    {
        var rng = new Random(seed);
        var list = new List<IReadOnlyList<int>>();
        for (var i = 0; i < n; i++)
        {
            if (rng.NextDouble() < 0.65) { list.Add([14]); continue; }
            var set = new SortedSet<int>();
            for (var k = rng.Next(1, 4); k > 0; k--) set.Add(rng.NextDouble() < 0.1 ? 12 : rng.Next(0, 5));
            list.Add(set.ToList());
        }
        return list;
    }

    [Fact]
    public void EveryItemIsValidatedExactlyOnceAndClassesSpreadEvenly()
    {
        var classes = Classes(300, 1);
        var split = MultilabelStratifiedKFold.Split(classes, 5, seed: 7);
        Assert.Equal(Enumerable.Range(0, 300), split.Folds.SelectMany(f => f.Validation).Order());
        Assert.All(split.Folds, f => Assert.Empty(f.Train.Intersect(f.Validation)));
        Assert.All(split.Folds, f => Assert.Equal(300, f.Train.Count + f.Validation.Count));
        foreach (var c in classes.SelectMany(x => x).Distinct())
        {
            var perFold = split.ClassImagesPerFold.Select(h => h.GetValueOrDefault(c)).ToList();
            Assert.True(perFold.Max() - perFold.Min() <= 2, $"class {c}: {string.Join(",", perFold)}");
        }
        Assert.InRange(split.Folds.Min(f => f.Validation.Count), 55, 65);
        Assert.Contains("fold4", split.HistogramTable());
    }

    [Fact]
    public void SameSeedSameFoldsAndGroupsStayTogether()
    {
        var classes = Classes(120, 2);
        var groups = Enumerable.Range(0, 120).Select(i => $"patient{i / 3}").ToList();
        var a = MultilabelStratifiedKFold.Split(classes, 4, seed: 3, groups);
        var b = MultilabelStratifiedKFold.Split(classes, 4, seed: 3, groups);
        var c = MultilabelStratifiedKFold.Split(classes, 4, seed: 4, groups);
        Assert.Equal(a.FoldOf, b.FoldOf);
        Assert.NotEqual(a.FoldOf, c.FoldOf);
        foreach (var g in Enumerable.Range(0, 120).GroupBy(i => groups[i]))
            Assert.Single(g.Select(i => a.FoldOf[i]).Distinct());
    }

    [Fact]
    public void CapsAndMinimaAreReachedAndCountedHonestly()
    {
        var classes = Classes(400, 5);
        var boxes = classes.Select(c => (IReadOnlyList<int>)c.Where(x => x != 14).ToList()).ToList();
        var plan = new ResamplingPlan(MaxImages: new Dictionary<int, int> { [14] = 100 }, MinImages: new Dictionary<int, int> { [12] = 40, [0] = 10 });
        var result = ClassResampler.Resample(classes, boxes, plan, seed: 1);
        Assert.True(result.Before.Images[14] > 200);
        Assert.Equal(100, result.After.Images[14]); // "No finding" images hold only class 14, so the cap is met exactly
        Assert.True(result.Before.Images[12] < 40);
        Assert.InRange(result.After.Images[12], 40, 40 + 0); // repeats stop as soon as the minimum is reached
        // every abnormal image survives (only all-capped images may be dropped)
        var abnormal = Enumerable.Range(0, classes.Count).Where(i => !classes[i].SequenceEqual([14]));
        Assert.All(abnormal, i => Assert.Contains(i, result.Indices));
        // the after-histogram is a recount of the returned indices: repeats count for every class they hold
        var recount = ClassHistogram.Of(classes, boxes, result.Indices);
        Assert.Equal(recount.Images, result.After.Images);
        Assert.Equal(recount.Boxes, result.After.Boxes);
        Assert.True(result.After.Images[0] > result.Before.Images[0] - 1); // co-occurring classes rise with repeats, never fall
        Assert.Equal(result.Indices, ClassResampler.Resample(classes, boxes, plan, seed: 1).Indices);
        Assert.Contains("total images", result.Table());
    }
}
