using CxrLab.Data;
using CxrLab.Data.Phantom;
using CxrLab.Evaluation;

namespace CxrLab.Tests.Data;

public sealed class DatasetLoadingTests : IDisposable
{
    readonly string root = Directory.CreateTempSubdirectory("cxr-dataset").FullName;

    public void Dispose() => Directory.Delete(root, true);

    (string Dir, string Cache) Phantom(int images = 10, int size = 128, int cacheSize = 64)
    {
        var dir = Path.Combine(root, "vinbig");
        var cache = Path.Combine(root, "cache");
        VinBigPhantom.Write(dir, new PhantomOptions(Images: images, Size: size, Seed: 4, PngCacheDir: cache, PngCacheSize: cacheSize, AbnormalFraction: 0.7));
        return (dir, cache);
    }

    [Fact]
    public void CacheBoxesAreTheCsvBoxesScaledToTheCache()
    {
        var (dir, cache) = Phantom();
        var source = new PngCacheSource(cache);
        var dataset = VinBigDataset.LoadTrain(dir, source, FusionOptions.None);
        Assert.True(dataset.Report.IsClean, dataset.Report.ToString());
        Assert.Equal(10, dataset.Count);
        var rows = VinBigLabels.Read(Path.Combine(dir, "train.csv"), new ValidationReport());
        foreach (var item in dataset)
        {
            Assert.Equal(64, item.Info.Width);
            Assert.Equal(128, item.Info.OriginalWidth);
            var expected = rows.Where(r => r.ImageId == item.ImageId && r.Box is not null)
                .Select(r => (r.ClassId, r.Box!.Value.Scale(item.Info.ScaleX, item.Info.ScaleY))).ToList();
            Assert.Equal(expected.Count, item.Target.Count);
            for (var i = 0; i < expected.Count; i++)
            {
                Assert.Equal(expected[i].ClassId, item.Target.Labels[i]);
                Assert.Equal(expected[i].Item2.X1, item.Target.Boxes[i].X1, 3);
                Assert.Equal(expected[i].Item2.Y2, item.Target.Boxes[i].Y2, 3);
            }
            var image = item.Load();
            Assert.Equal((item.Info.Height, item.Info.Width), (image.Height, image.Width));
            Assert.Equal(item.Target.Count == 0, item.ImageClasses.SequenceEqual([VinBigClasses.NoFinding]));
        }
        Assert.Contains(dataset, i => i.Target.Count > 0);
    }

    [Fact]
    public void FusionReportsHowManyBoxesEachMethodKeeps()
    {
        var (dir, cache) = Phantom(images: 16);
        var source = new PngCacheSource(cache);
        var counts = new Dictionary<FusionMethod, FusionReport>();
        foreach (var method in Enum.GetValues<FusionMethod>())
            counts[method] = VinBigDataset.LoadTrain(dir, source, new FusionOptions(method)).Fusion!;
        var readerBoxes = counts[FusionMethod.None].BoxesIn;
        Assert.All(counts.Values, r => Assert.Equal(readerBoxes, r.BoxesIn));
        Assert.Equal(readerBoxes, counts[FusionMethod.None].BoxesOut);
        Assert.True(counts[FusionMethod.Wbf].BoxesOut < readerBoxes);
        Assert.True(counts[FusionMethod.Nms].BoxesOut < readerBoxes);
        Assert.True(counts[FusionMethod.KeepOneReader].BoxesOut < readerBoxes);
        // the phantom's readers jitter one lesion's box a little: WBF and NMS cluster them alike
        Assert.Equal(counts[FusionMethod.Wbf].BoxesOut, counts[FusionMethod.Nms].BoxesOut);
    }

    [Fact]
    public void MalformedCsvProducesAReportWithLineNumbersNotAnException()
    {
        var (dir, cache) = Phantom(images: 3);
        var csv = Path.Combine(dir, "train.csv");
        var firstId = File.ReadLines(csv).Skip(1).First().Split(',')[0];
        File.AppendAllLines(csv, [
            $"{firstId},Atelectasis,1,R1,10,20,30,20",          // line +1: zero height
            $"{firstId},Atelectasis,1,R1,100,20,400,60",        // +2: reaches outside a 128-px-wide image → clipped
            $"{firstId},Weird,17,R1,1,2,3,4",                   // +3: unknown class
            $"{firstId},Atelectasis,one,R1,1,2,3,4",            // +4: class id not a number
            $"{firstId},Atelectasis,1,R1,1,2,x,4",              // +5: coordinate not a number
            $"{firstId},Atelectasis,1,R1,1,2",                  // +6: short row
            "no_such_image,Nodule/Mass,8,R2,1,2,30,40",         // +7: image without a file
            $"{firstId},Atelectasis,1,R1,500,500,600,600",      // +8: wholly outside
        ]);
        var lines = File.ReadAllLines(csv).Length;
        var dataset = VinBigDataset.LoadTrain(dir, new PngCacheSource(cache), FusionOptions.None);
        var report = dataset.Report;
        int Line(int k) => lines - 8 + k;
        Assert.Equal(Line(1), Assert.Single(report.Issues, i => i.Kind == IssueKind.ZeroArea).Line);
        Assert.Equal(Line(2), Assert.Single(report.Issues, i => i.Kind == IssueKind.Clipped).Line);
        Assert.Equal(Line(3), Assert.Single(report.Issues, i => i.Kind == IssueKind.UnknownClass).Line);
        Assert.Equal([Line(4), Line(5), Line(6)], report.Issues.Where(i => i.Kind == IssueKind.Malformed).Select(i => i.Line));
        Assert.Equal(Line(7), Assert.Single(report.Issues, i => i.Kind == IssueKind.MissingImage).Line);
        Assert.Equal(["no_such_image"], report.MissingImages);
        Assert.Equal(Line(8), Assert.Single(report.Issues, i => i.Kind == IssueKind.OutsideImage).Line);
        Assert.Equal(3, dataset.Count);
        Assert.Contains($"train.csv:{Line(3)}: UnknownClass", report.ToString(50));
        var clipped = dataset.Single(i => i.ImageId == firstId).Target.Boxes.Max(b => b.X2);
        Assert.True(clipped <= 64, "the clipped box ends at the cache image's right edge");
    }

    [Fact]
    public void RsnaLoadsWithDetailedClassesAsImageClasses()
    {
        var dir = Path.Combine(root, "rsna");
        var cache = Path.Combine(root, "rsna-cache");
        RsnaPhantom.Write(dir, new PhantomOptions(Images: 12, Size: 96, Seed: 9, PngCacheDir: cache));
        var dataset = RsnaDataset.LoadTrain(dir, new PngCacheSource(cache));
        Assert.True(dataset.Report.IsClean, dataset.Report.ToString());
        Assert.Equal(12, dataset.Count);
        Assert.All(dataset, i => Assert.Equal(i.Target.Count > 0, i.ImageClasses[0] == 0));
        Assert.All(dataset, i => Assert.All(i.Target.Labels, l => Assert.Equal(RsnaClasses.LungOpacity, l)));
        var split = MultilabelStratifiedKFold.Split(dataset, folds: 3, seed: 1);
        Assert.Equal(Enumerable.Range(0, 12), split.Folds.SelectMany(f => f.Validation).Order());
        Assert.Equal(3, split.ClassImagesPerFold.Count);
    }

    [Fact]
    public void DatasetToSubmissionToScoreRoundTripsToAPerfectScore()
    {
        var (dir, cache) = Phantom(images: 12);
        var dataset = VinBigDataset.LoadTrain(dir, new PngCacheSource(cache), new FusionOptions(FusionMethod.Wbf));
        // "predict" the fused truth in cache pixels, convert to original pixels, write a Kaggle submission
        var detections = dataset.SelectMany(item => item.Target.Boxes.Select((b, i) =>
            new Detection(item.ImageId, item.Target.Labels[i], item.BoxScores[i], item.Info.ToOriginal(b)))).ToList();
        var submission = Path.Combine(root, "submission.csv");
        VinBigSubmission.Write(submission, dataset.Select(i => i.ImageId), detections);
        var score = KaggleScoring.ScoreVinBig(Path.Combine(dir, "train.csv"), submission, new FusionOptions(FusionMethod.Wbf));
        Assert.Equal(1.0, score.Map, 9);
        Assert.True(score.Voc.PerClass.Count >= 3);
        // and the same truth straight from the dataset agrees with the truth read from the CSV
        var fromDataset = KaggleScoring.Score(dataset.ToTruth(noFindingBox: true), VinBigSubmission.Read(submission, new ValidationReport()).Detections);
        Assert.Equal(1.0, fromDataset.Map, 9);
    }

    [Fact]
    public void DatasetVerbPrintsReportFoldsAndResampling()
    {
        var (dir, cache) = Phantom(images: 12);
        var output = CxrLab.Tests.Evaluation.Cli.Run("dataset", "vinbig", "--root", dir, "--cache", cache, "--folds", "3", "--cap", "14=2");
        Assert.Contains("vinbig-train", output);
        Assert.Contains("Wbf:", output);
        Assert.Contains("fold2", output);
        Assert.Matches(@"No finding\s+\d+ → 2\s", output);
    }

    [Fact]
    public void CacheMetaToleratesColumnOrderAndChecksScales()
    {
        var meta = Path.Combine(root, "meta.csv");
        File.WriteAllLines(meta, ["orig_height,image_id,height,width,orig_width,extra", "2000,a,500,400,1600,x"]);
        var info = CacheMeta.Read(meta)["a"];
        Assert.Equal(new ImageInfo(400, 500, 1600, 2000), info);
        Assert.Equal(0.25f, info.ScaleX);
        File.WriteAllLines(meta, ["image_id,width,height,orig_width,orig_height,scale_x,scale_y", "a,400,500,1600,2000,0.5,0.25"]);
        var error = Assert.Throws<InvalidDataException>(() => CacheMeta.Read(meta));
        Assert.Contains("meta.csv:2", error.Message);
        File.WriteAllLines(meta, ["image_id,width,height", "a,400,500"]);
        Assert.Contains("orig_width", Assert.Throws<InvalidDataException>(() => CacheMeta.Read(meta)).Message);
    }

    [Fact]
    public void CocoExportHoldsEveryImageAndBox()
    {
        var (dir, cache) = Phantom(images: 6);
        var dataset = VinBigDataset.LoadTrain(dir, new PngCacheSource(cache));
        var path = Path.Combine(root, "coco.json");
        var ids = CocoExport.WriteDataset(path, dataset);
        var detPath = Path.Combine(root, "dets.json");
        var written = CocoExport.WriteDetections(detPath, [new Detection(dataset[0].ImageId, 3, 0.5f, new CxrLab.Data.Box(1, 2, 11, 22)), new Detection("nope", 1, 0.5f, new CxrLab.Data.Box(1, 2, 3, 4))], ids);
        Assert.Equal(1, written);
        var output = PythonReference.Run($$"""
            import json
            d = json.load(open('{{path}}')); r = json.load(open('{{detPath}}'))
            print(len(d['images']), len(d['annotations']), len(d['categories']), r[0]['bbox'], r[0]['image_id'])
            """);
        Assert.Equal($"6 {dataset.Sum(i => i.Target.Count)} 15 [1, 2, 10, 20] 1", output.Trim());
    }
}
