using CxrLab.Augment.Categories;
using CxrLab.Data;
using CxrLab.Data.Phantom;
using CxrLab.Dicom;
using CxrLab.Imaging;

namespace CxrLab.Tests.Augment;

/// <summary>The shipped category configs (experiments/datasets/vinbig-A..D.yaml) built on small phantom VinBigData
/// (Kaggle layout, read through the datasets library from a PNG cache or from DICOM): counts per source, unique ids,
/// valid boxes, files on disk, and the output loading back as a dataset.</summary>
public class CategoryTests : IDisposable
{
    readonly string root = Path.Combine(Path.GetTempPath(), $"cxr-category-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
    }

    static string RepoFile(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Research.sln"))) return Path.Combine(dir.FullName, relative);
        throw new FileNotFoundException($"repository root (Research.sln) not found above {AppContext.BaseDirectory}");
    }

    const int Size = 64;
    const int CacheWidth = 48;

    /// <summary>A phantom VinBigData root with a PNG cache at <see cref="CacheWidth"/> px wide (boxes must be scaled),
    /// plus rows the phantom rarely draws: a class 12 and a class 1 finding (3 readers each) on two abnormal images (the
    /// rare classes C/D paste) and the seed's degenerate y_min == y_max box (reader R99).</summary>
    (string Data, string Cache) MakeData(int images = 10)
    {
        var data = Path.Combine(root, "data");
        var cache = Path.Combine(root, "cache");
        VinBigPhantom.Write(data, new PhantomOptions(Images: images, Size: Size, Seed: 11, TestImages: 1, AbnormalFraction: 0.7, PngCacheDir: cache, PngCacheSize: CacheWidth));
        var csv = Path.Combine(data, VinBigDataset.TrainCsv);
        var rows = VinBigLabels.Read(csv, new ValidationReport());
        var abnormal = AbnormalIds(rows);
        Assert.True(abnormal.Count >= 3, $"phantom seed gave only {abnormal.Count} abnormal images");
        for (var r = 1; r <= 3; r++)
        {
            rows.Add(new VinBigAnnotation(abnormal[0], 12, $"R{r}", new Box(10 + r, 12, 34 + r, 40), 0));
            rows.Add(new VinBigAnnotation(abnormal[1], 1, $"R{r}", new Box(30, 20 + r, 52, 44 + r), 0));
        }
        rows.Add(new VinBigAnnotation(abnormal[2], 8, "R99", new Box(30, 20, 40, 20), 0));
        VinBigLabels.Write(csv, rows);
        return (data, cache);
    }

    /// <summary>Ids with at least one valid finding box, read straight from the CSV rows (not through the dataset).</summary>
    static List<string> AbnormalIds(IEnumerable<VinBigAnnotation> rows) =>
        rows.Where(r => r.ClassId != VinBigClasses.NoFinding && r.Box is { IsValid: true }).Select(r => r.ImageId).Distinct().Order(StringComparer.Ordinal).ToList();

    [Theory]
    [InlineData("A", 1)]
    [InlineData("B", 4)]
    [InlineData("C", 5)]
    [InlineData("D", 7)]
    public void ShippedCategoryBuildsWithTheSeedsImageCounts(string category, int perSource)
    {
        var (data, cache) = MakeData();
        var sourceRows = VinBigLabels.Read(Path.Combine(data, VinBigDataset.TrainCsv), new ValidationReport());
        var sources = AbnormalIds(sourceRows);
        var allIds = sourceRows.Select(r => r.ImageId).Distinct().ToList();
        var config = CategoryConfig.Load(RepoFile($"experiments/datasets/vinbig-{category}.yaml"));
        var dataset = VinBigDataset.LoadTrain(data, new PngCacheSource(cache), new FusionOptions(config.Fusion));
        Assert.Contains(dataset.Report.Issues, i => i.Kind == IssueKind.ZeroArea); // the degenerate row stops at the loader
        var outDir = Path.Combine(root, "out");
        var progress = 0;
        var report = CategoryBuilder.Build(config, dataset, outDir, (done, total) => progress = Math.Max(progress, done), threads: 2);
        Assert.Equal(sources.Count, report.SourceImages);
        Assert.Equal(sources.Count, progress);
        Assert.Equal(sources.Count * perSource, report.OutputImages);
        Assert.All(report.ImagesPerOutput.Values, n => Assert.Equal(sources.Count, n));

        var rows = VinBigLabels.Read(Path.Combine(outDir, VinBigDataset.TrainCsv), new ValidationReport());
        var ids = rows.Select(r => r.ImageId).Distinct().ToList();
        Assert.Equal(sources.Count * perSource, ids.Count);
        // Every source id has exactly perSource images derived from it (phantom ids are 32 hex digits).
        Assert.Equal(sources, ids.Select(id => id[..32]).Distinct().Order(StringComparer.Ordinal));
        foreach (var g in ids.GroupBy(id => id[..32])) Assert.Equal(perSource, g.Count());
        foreach (var id in ids)
        {
            var png = ImageCodecs.Read(CategoryBuilder.ImagePath(outDir, id));
            Assert.Equal(PixelDepth.UInt16, png.Depth);
            foreach (var r in rows.Where(r => r.ImageId == id && r.ClassId != VinBigClasses.NoFinding))
            {
                var b = r.Box!.Value;
                Assert.True(b.IsValid && b.X1 >= 0 && b.Y1 >= 0 && b.X2 <= png.Cols && b.Y2 <= png.Rows && b.Area >= 4, $"{id}: bad box {b}");
                Assert.StartsWith("R", r.RadId); // every reader's box kept, with its rad_id
            }
        }
        // The degenerate source row never reaches the output; the "No finding" sources are not used.
        Assert.DoesNotContain(rows, r => r.RadId == "R99");
        Assert.DoesNotContain(ids, id => !sources.Contains(id[..32]));
        Assert.True(allIds.Count > sources.Count, "the phantom should hold some \"No finding\" images");
        // Category A is the source rows as they are (all readers' boxes), scaled to the cache's pixels; boxes the
        // scaling leaves below the config's box policy are dropped and counted.
        if (category == "A")
        {
            var scale = (float)CacheWidth / Size;
            var sourceBoxes = sourceRows.Where(r => r.ClassId != VinBigClasses.NoFinding && r.Box is { IsValid: true }).ToList();
            var kept = sourceBoxes.Where(r => r.Box!.Value.Scale(scale, scale) is var b && b.Area >= config.Policy.MinArea
                                              && b.Width >= config.Policy.MinSide && b.Height >= config.Policy.MinSide).ToList();
            Assert.Equal(kept.Count, rows.Count);
            Assert.Equal(sourceBoxes.Count - kept.Count, report.Stats.DroppedSmall);
            foreach (var s in kept)
            {
                var expected = s.Box!.Value;
                Assert.Contains(rows, r => r.ImageId == s.ImageId && r.ClassId == s.ClassId && r.RadId == s.RadId
                    && Math.Abs(r.Box!.Value.X1 - expected.X1 * scale) < 0.02 && Math.Abs(r.Box!.Value.X2 - expected.X2 * scale) < 0.02);
            }
        }
        // Category C/D: every "rare" image holds a class 1 or 12 box pasted from a donor.
        if (category is "C" or "D")
            foreach (var id in ids.Where(id => id.EndsWith("_rare")))
                Assert.Contains(rows, r => r.ImageId == id && r.ClassId is 1 or 12);
        // The output is itself a dataset: train.csv + a PNG cache (meta.csv) in its own pixels.
        var back = VinBigDataset.LoadTrain(outDir, new PngCacheSource(Path.Combine(outDir, CategoryBuilder.ImagesFolder)), FusionOptions.None);
        Assert.Equal(ids.Count, back.Count);
        Assert.DoesNotContain(back.Report.Issues, i => i.Kind != IssueKind.Warning);
        // Deterministic: a second build gives the same train.csv.
        var again = Path.Combine(root, "again");
        CategoryBuilder.Build(config, dataset, again, threads: 1);
        Assert.Equal(File.ReadAllText(Path.Combine(outDir, VinBigDataset.TrainCsv)), File.ReadAllText(Path.Combine(again, VinBigDataset.TrainCsv)));
    }

    [Fact]
    public void BadCsvRowNamesTheLineAndTheBuildUsesTheRest()
    {
        var (data, cache) = MakeData(images: 6);
        var csv = Path.Combine(data, VinBigDataset.TrainCsv);
        var id = VinBigLabels.Read(csv, new ValidationReport()).First(r => r.ClassId != VinBigClasses.NoFinding).ImageId;
        File.AppendAllText(csv, $"{id},Nodule/Mass,eight,R1,1,2,3,4\n");
        var badLine = File.ReadAllLines(csv).Length;
        var dataset = VinBigDataset.LoadTrain(data, new PngCacheSource(cache), FusionOptions.None);
        var issue = Assert.Single(dataset.Report.Issues, i => i.Kind == IssueKind.Malformed);
        Assert.Equal(badLine, issue.Line);
        Assert.Contains($"train.csv:{badLine}", issue.ToString());
        var report = CategoryBuilder.Build(CategoryConfig.Load(RepoFile("experiments/datasets/vinbig-A.yaml")), dataset, Path.Combine(root, "out"), threads: 1);
        Assert.True(report.SourceImages > 0);
    }

    [Fact]
    public void FusionKeyChoosesHowReadersAreCombined()
    {
        var yaml = "name: t\nfusion: wbf\noutputs:\n  - suffix: ''\n    pipeline: []\n";
        Assert.Equal(FusionMethod.Wbf, CategoryConfig.Parse(yaml).Fusion);
        Assert.Equal(FusionMethod.None, CategoryConfig.Parse(yaml.Replace("fusion: wbf\n", "")).Fusion);
        var error = Assert.Throws<FormatException>(() => CategoryConfig.Parse(yaml.Replace("wbf", "mean")));
        Assert.Contains("fusion", error.Message);
    }

    /// <summary>End to end: phantom DICOM in the Kaggle layout (no cache; DICOM read through GDCM) → vinbig-B → the output
    /// loads back through VinBigDataset.LoadTrain over a PngCacheSource with 4× the abnormal source images, and the
    /// hflip copy's boxes are the source boxes mirrored in the output PNG's pixels.</summary>
    [Fact]
    public void SynthThenCategoryBLoadsBackAsADatasetWithFourImagesPerSource()
    {
        var data = Path.Combine(root, "synth");
        VinBigPhantom.Write(data, new PhantomOptions(Images: 6, Size: Size, Seed: 3, TestImages: 1, AbnormalFraction: 0.6));
        var sourceRows = VinBigLabels.Read(Path.Combine(data, VinBigDataset.TrainCsv), new ValidationReport());
        var sources = AbnormalIds(sourceRows);
        Assert.NotEmpty(sources);
        var config = CategoryConfig.Load(RepoFile("experiments/datasets/vinbig-B.yaml"));
        var outDir = Path.Combine(root, "B");
        var report = CategoryBuilder.Build(config, data, VinBigDataset.DicomSource(data, "train", DicomReaders.Display, DicomReaders.Size), outDir, threads: 2);
        Assert.Equal(sources.Count, report.SourceImages);

        var output = VinBigDataset.LoadTrain(outDir, new PngCacheSource(Path.Combine(outDir, CategoryBuilder.ImagesFolder)), FusionOptions.None);
        Assert.Equal(4 * sources.Count, output.Count);
        Assert.DoesNotContain(output.Report.Issues, i => i.Kind != IssueKind.Warning);
        foreach (var source in sources)
        {
            Assert.Equal(4, output.Items.Count(i => i.ImageId.StartsWith(source, StringComparison.Ordinal)));
            var original = output.Items.Single(i => i.ImageId == source);
            var flipped = output.Items.Single(i => i.ImageId == source + "_hflip");
            Assert.Equal(original.Info, flipped.Info);
            Assert.Equal(original.Target.Count, flipped.Target.Count);
            var w = original.Info.Width;
            var mirrored = flipped.Target.Boxes.Zip(flipped.BoxSources!, (b, r) => (r, new Box(w - b.X2, b.Y1, w - b.X1, b.Y2))).ToList();
            for (var k = 0; k < original.Target.Count; k++)
            {
                var b = original.Target.Boxes[k];
                Assert.Contains(mirrored, m => m.r == original.BoxSources![k] && Math.Abs(m.Item2.X1 - b.X1) < 0.02 && Math.Abs(m.Item2.X2 - b.X2) < 0.02
                                               && Math.Abs(m.Item2.Y1 - b.Y1) < 0.02 && Math.Abs(m.Item2.Y2 - b.Y2) < 0.02);
            }
            // The loaded pixels are the PNG the build wrote, in the size meta.csv names.
            var image = flipped.Load();
            Assert.Equal((flipped.Info.Width, flipped.Info.Height), (image.Width, image.Height));
        }
        // The source ("" output) boxes are the DICOM rows themselves (same frame, no cache): every reader's valid box.
        var sourceBoxes = sourceRows.Count(r => r.ClassId != VinBigClasses.NoFinding && r.Box is { IsValid: true });
        Assert.Equal(sourceBoxes, output.Items.Where(i => sources.Contains(i.ImageId)).Sum(i => i.Target.Count));
    }
}
