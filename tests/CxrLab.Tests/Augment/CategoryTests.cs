using System.Globalization;
using CxrLab.Augment.Categories;
using CxrLab.Data;
using CxrLab.Imaging;

namespace CxrLab.Tests.Augment;

/// <summary>The shipped category configs (experiments/datasets/vinbig-A..D.yaml) built on a small generated
/// VinBigData cache folder: counts per source, unique ids, valid boxes, files on disk.</summary>
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

    /// <summary>6 abnormal images (two with class 1 or 12), 2 "No finding" images, one degenerate row; 3 readers per box.</summary>
    string MakeData()
    {
        var dir = Path.Combine(root, "data");
        var rows = new List<VinBigRow>();
        for (var i = 0; i < 8; i++)
        {
            var id = $"img{i:00}";
            var image = Synthetic.Texture(72, 64, i);
            ImageCodecs.Write(VinBigFolder.ImagePath(dir, id), image, 16);
            if (i >= 6)
            {
                for (var r = 0; r < 3; r++) rows.Add(new VinBigRow(id, "No finding", 14, $"R{r + 1}", null, null, null, null));
                continue;
            }
            var random = new Random(i);
            var common = random.Next(14) is var k && k is 1 or 12 ? 0 : k;
            var classes = i == 0 ? new[] { 12, 3 } : i == 1 ? new[] { 1 } : new[] { common, 10 };
            foreach (var c in classes)
            {
                int x = random.Next(2, 40), y = random.Next(2, 30), w = random.Next(10, 28), h = random.Next(10, 30);
                for (var r = 0; r < 3; r++)
                    rows.Add(new VinBigRow(id, VinBigCsv.ClassNames[c], c, $"R{r + 1}", x + r, y, x + w + r, y + h));
            }
        }
        rows.Add(new VinBigRow("img02", "Nodule/Mass", 8, "R9", 30, 20, 40, 20)); // the seed's y_min == y_max crash
        VinBigCsv.Write(Path.Combine(dir, "train.csv"), rows);
        return dir;
    }

    [Theory]
    [InlineData("A", 1)]
    [InlineData("B", 4)]
    [InlineData("C", 5)]
    [InlineData("D", 7)]
    public void ShippedCategoryBuildsWithTheSeedsImageCounts(string category, int perSource)
    {
        var data = MakeData();
        var config = CategoryConfig.Load(RepoFile($"experiments/datasets/vinbig-{category}.yaml"));
        var outDir = Path.Combine(root, "out");
        var progress = 0;
        var report = CategoryBuilder.Build(config, data, outDir, (done, total) => progress = Math.Max(progress, done), threads: 2);
        Assert.Equal(6, report.SourceImages);
        Assert.Equal(6, progress);
        Assert.Equal(6 * perSource, report.OutputImages);
        Assert.All(report.ImagesPerOutput.Values, n => Assert.Equal(6, n));

        var rows = VinBigCsv.Read(Path.Combine(outDir, "train.csv"));
        var ids = rows.Select(r => r.ImageId).Distinct().ToList();
        Assert.Equal(6 * perSource, ids.Count);
        // Every source id has exactly perSource images derived from it.
        foreach (var g in ids.GroupBy(id => id[..5])) Assert.Equal(perSource, g.Count());
        foreach (var id in ids)
        {
            var png = ImageCodecs.Read(VinBigFolder.ImagePath(outDir, id));
            Assert.Equal(PixelDepth.UInt16, png.Depth);
            foreach (var r in rows.Where(r => r.ImageId == id && r.ClassId != 14))
            {
                var b = r.Box;
                Assert.True(b.IsValid && b.X1 >= 0 && b.Y1 >= 0 && b.X2 <= png.Cols && b.Y2 <= png.Rows && b.Area >= 4, $"{id}: bad box {b}");
                Assert.StartsWith("R", r.RadId);
            }
        }
        // The degenerate source row never reaches the output; the "No finding" sources are not used.
        Assert.DoesNotContain(rows, r => r.ClassId == 8 && r.RadId == "R9");
        Assert.DoesNotContain(ids, id => id.StartsWith("img06") || id.StartsWith("img07"));
        Assert.True(report.Stats.DroppedDegenerate + report.Stats.DroppedSmall >= perSource);
        // Category A is the source rows as they are (all 3 readers' boxes).
        if (category == "A")
        {
            var source = VinBigCsv.Read(Path.Combine(data, "train.csv")).Where(r => r.ClassId != 14 && r.Box.IsValid).ToList();
            Assert.Equal(source.Count, rows.Count);
        }
        // Category C/D: every "rare" image holds a class 1 or 12 box pasted from a donor.
        if (category is "C" or "D")
            foreach (var id in ids.Where(id => id.EndsWith("_rare")))
                Assert.Contains(rows, r => r.ImageId == id && r.ClassId is 1 or 12);
        // Deterministic: a second build gives the same train.csv.
        var again = Path.Combine(root, "again");
        CategoryBuilder.Build(config, data, again, threads: 1);
        Assert.Equal(File.ReadAllText(Path.Combine(outDir, "train.csv")), File.ReadAllText(Path.Combine(again, "train.csv")));
    }

    [Fact]
    public void BadCsvRowNamesTheLine()
    {
        var dir = Path.Combine(root, "bad");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "train.csv"), "image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max\na,Nodule/Mass,8,R1,1,2,3,4\nb,Nodule/Mass,eight,R1,1,2,3,4\n");
        var error = Assert.Throws<InvalidDataException>(() => VinBigFolder.Open(dir, true));
        Assert.Contains("train.csv:3", error.Message);
    }
}
