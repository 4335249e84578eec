namespace CxrLab.Tests.Data;

using CxrLab.Data;

/// <summary>VinBigLabels.Write round-trips through VinBigLabels.Read; reader ids reach DatasetItem.BoxSources only when
/// fusion keeps readers' boxes unchanged.</summary>
public class VinBigWriterTests : IDisposable
{
    readonly string root = Path.Combine(Path.GetTempPath(), $"cxr-vbwriter-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
    }

    [Fact]
    public void WrittenRowsReadBackWithClassNamesAndBoxes()
    {
        Directory.CreateDirectory(root);
        var path = Path.Combine(root, "train.csv");
        VinBigAnnotation[] rows =
        [
            new("a", 8, "R1", new Box(1.5f, 2.25f, 30.125f, 40f), 0),
            new("a", 8, "R2", new Box(2f, 3f, 31f, 41f), 0),
            new("b", VinBigClasses.NoFinding, "R3", null, 0),
        ];
        VinBigLabels.Write(path, rows);
        var lines = File.ReadAllLines(path);
        Assert.Equal(string.Join(",", VinBigLabels.Columns), lines[0]);
        Assert.Equal("b,No finding,14,R3,,,,", lines[3]);
        var report = new ValidationReport();
        var back = VinBigLabels.Read(path, report);
        Assert.Empty(report.Issues);
        Assert.Equal(rows.Select(r => (r.ImageId, r.ClassId, r.RadId)), back.Select(r => (r.ImageId, r.ClassId, r.RadId)));
        for (var i = 0; i < 2; i++)
        {
            var (w, r) = (rows[i].Box!.Value, back[i].Box!.Value);
            Assert.True(Math.Abs(w.X1 - r.X1) <= 0.005f && Math.Abs(w.Y1 - r.Y1) <= 0.005f && Math.Abs(w.X2 - r.X2) <= 0.005f && Math.Abs(w.Y2 - r.Y2) <= 0.005f,
                $"{w} written, {r} read (0.01 px rounding)");
        }
        Assert.Throws<ArgumentException>(() => VinBigLabels.Write(path, [new VinBigAnnotation("c", 15, "", null, 0)]));
    }

    [Fact]
    public void BoxSourcesAreReaderIdsOnlyWithoutFusion()
    {
        Directory.CreateDirectory(root);
        VinBigLabels.Write(Path.Combine(root, "train.csv"),
        [
            new("a", 3, "R1", new Box(10, 10, 40, 40), 0),
            new("a", 3, "R2", new Box(11, 10, 41, 40), 0),
            new("a", 0, "R2", new Box(50, 50, 60, 70), 0),
        ]);
        CacheMeta.Write(Path.Combine(root, "meta.csv"), [("a", ImageInfo.Original(100, 100))]);
        var source = new PngCacheSource(root); // meta only: LoadTrain describes images, pixels are not read here
        File.WriteAllBytes(Path.Combine(root, "a.png"), []);
        var none = VinBigDataset.LoadTrain(root, source, FusionOptions.None).Single();
        Assert.Equal(["R1", "R2", "R2"], none.BoxSources!.OrderBy(s => s));
        for (var i = 0; i < none.Target.Count; i++)
            Assert.Equal(none.BoxSources![i] == "R1" ? 10f : none.Target.Labels[i] == 3 ? 11f : 50f, none.Target.Boxes[i].X1);
        var one = VinBigDataset.LoadTrain(root, source, new FusionOptions(FusionMethod.KeepOneReader)).Single();
        Assert.Equal(["R2", "R2"], one.BoxSources!);
        Assert.Null(VinBigDataset.LoadTrain(root, source, new FusionOptions(FusionMethod.Wbf)).Single().BoxSources);
    }
}
