namespace CxrLab.Data;

/// <summary>Loads the Kaggle VinBigData layout: <c>train.csv</c>, <c>train/*.dicom</c>, <c>test/*.dicom</c>,
/// <c>sample_submission.csv</c>.</summary>
public static class VinBigDataset
{
    public const string TrainCsv = "train.csv";
    public const string SampleSubmissionCsv = "sample_submission.csv";
    public const string DicomExtension = ".dicom";

    /// <summary>Beside train.csv in a dataset <c>./cxr dataset build</c> made: <c>image_id,source_id</c>, the source image
    /// each output image was made from. <see cref="LoadTrain"/> groups items by it, so folds never split a source's copies.</summary>
    public const string SourceIdsCsv = "source_ids.csv";

    /// <summary>Writes <see cref="SourceIdsCsv"/> rows (image id, source image id).</summary>
    public static void WriteSourceIds(string path, IEnumerable<(string ImageId, string SourceId)> rows) =>
        CsvRows.WriteAtomically(path, new[] { "image_id,source_id" }.Concat(rows.Select(r => $"{CsvRows.Escape(r.ImageId)},{CsvRows.Escape(r.SourceId)}")));

    /// <summary>Reads <see cref="SourceIdsCsv"/> of <paramref name="root"/> (image id → source id); empty when the file is absent.</summary>
    public static IReadOnlyDictionary<string, string> ReadSourceIds(string root)
    {
        var path = Path.Combine(root, SourceIdsCsv);
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        if (!File.Exists(path)) return map;
        foreach (var row in CsvRows.Read(path, "image_id", "source_id"))
        {
            var id = row["image_id"];
            var source = row["source_id"];
            if (string.IsNullOrEmpty(id) || string.IsNullOrEmpty(source))
                throw new InvalidDataException($"{path}:{row.Line}: image_id and source_id must both be given");
            map[id] = source;
        }
        return map;
    }

    /// <summary>The DICOM files of a split (<c>train</c> or <c>test</c>) as an image source, read by the given
    /// DICOM reader (CxrLab.Dicom's <c>DicomReaders.Display, DicomReaders.Size</c>).</summary>
    public static DicomFolderSource DicomSource(string root, string split, Func<string, Imaging.Image> readImage, Func<string, (int Width, int Height)>? readSize = null) =>
        new(Path.Combine(root, split), DicomExtension, readImage, readSize);

    /// <summary>Loads the train split: radiologists' boxes fused per image by <paramref name="fusion"/>
    /// (default WBF at IoU 0.4), mapped to <paramref name="images"/>' pixels and clipped. Items whose image the
    /// source lacks are listed in the report and left out. Targets hold labels 0–13; a "No finding" image has
    /// an empty target and image class 14. Items are grouped (for folds) by their source image when the root has
    /// <see cref="SourceIdsCsv"/>, else each image is its own group.</summary>
    public static DetectionDataset LoadTrain(string root, IImageSource images, FusionOptions? fusion = null)
    {
        fusion ??= new FusionOptions();
        var csv = Path.Combine(root, TrainCsv);
        var report = new ValidationReport();
        var rows = VinBigLabels.Read(csv, report, id => images.Contains(id) ? Size(images.Describe(id)) : null);
        var sourceIds = ReadSourceIds(root);
        var items = new List<DatasetItem>();
        int boxesIn = 0, boxesOut = 0, noFinding = 0;
        var inPerClass = new SortedDictionary<int, int>();
        var outPerClass = new SortedDictionary<int, int>();
        foreach (var group in rows.GroupBy(r => r.ImageId, StringComparer.Ordinal))
        {
            var id = group.Key;
            if (!images.Contains(id))
            {
                report.Add(csv, group.First().Line, IssueKind.MissingImage, $"{id} has labels but no image file in the source");
                continue;
            }
            var readers = group.Select(r => r.RadId).Distinct().Count();
            var sourceBoxes = group.Where(r => r.Box is not null).Select(r => new SourceBox(r.RadId, r.ClassId, r.Box!.Value)).ToList();
            var fused = LabelFusion.Fuse(sourceBoxes, fusion, readers);
            boxesIn += sourceBoxes.Count; boxesOut += fused.Count;
            foreach (var b in sourceBoxes) inPerClass[b.Label] = inPerClass.GetValueOrDefault(b.Label) + 1;
            foreach (var b in fused) outPerClass[b.Label] = outPerClass.GetValueOrDefault(b.Label) + 1;
            if (fused.Count == 0) noFinding++;
            items.Add(MakeItem(id, images, fused, keepsReaders: fusion.Method is FusionMethod.None or FusionMethod.KeepOneReader,
                group: sourceIds.GetValueOrDefault(id, id)));
        }
        var fusionReport = new FusionReport(fusion.Method, items.Count, noFinding, boxesIn, boxesOut, inPerClass, outPerClass);
        return new DetectionDataset("vinbig-train", VinBigClasses.Names, items, report, fusionReport);
    }

    /// <summary>The test split: image ids from <c>sample_submission.csv</c> (else the source's folder is not
    /// listed and the CSV is required); empty targets.</summary>
    public static DetectionDataset LoadTest(string root, IImageSource images)
    {
        var csv = Path.Combine(root, SampleSubmissionCsv);
        var report = new ValidationReport();
        var items = new List<DatasetItem>();
        foreach (var row in CsvRows.Read(csv, "image_id", "PredictionString"))
        {
            report.RowsRead++;
            var id = row["image_id"];
            if (string.IsNullOrEmpty(id)) { report.Add(csv, row.Line, IssueKind.Malformed, "empty image_id"); continue; }
            if (!images.Contains(id)) { report.Add(csv, row.Line, IssueKind.MissingImage, $"{id} has no image file in the source"); continue; }
            items.Add(MakeItem(id, images, []));
        }
        return new DetectionDataset("vinbig-test", VinBigClasses.Names, items, report);
    }

    /// <summary>Reads a fused truth in original pixels straight from a train.csv (for scoring), without images.
    /// A "No finding" image (no abnormal box after fusion) gets class 14 with box (0,0,1,1).</summary>
    public static Evaluation.TruthSet ReadTruth(string trainCsv, FusionOptions fusion, ValidationReport report)
    {
        var rows = VinBigLabels.Read(trainCsv, report);
        var ids = new List<string>();
        var boxes = new List<Evaluation.TruthBox>();
        foreach (var group in rows.GroupBy(r => r.ImageId, StringComparer.Ordinal))
        {
            ids.Add(group.Key);
            var readers = group.Select(r => r.RadId).Distinct().Count();
            var sourceBoxes = group.Where(r => r.Box is not null).Select(r => new SourceBox(r.RadId, r.ClassId, r.Box!.Value)).ToList();
            var fused = LabelFusion.Fuse(sourceBoxes, fusion, readers);
            boxes.AddRange(fused.Select(f => new Evaluation.TruthBox(group.Key, f.Label, f.Box)));
            if (fused.Count == 0) boxes.Add(new Evaluation.TruthBox(group.Key, VinBigClasses.NoFinding, VinBigClasses.NoFindingBox));
        }
        return new Evaluation.TruthSet(ids, boxes);
    }

    static DatasetItem MakeItem(string id, IImageSource images, IReadOnlyList<FusedBox> fused, bool keepsReaders = false, string? group = null)
    {
        var info = images.Describe(id);
        var boxes = new List<Box>();
        var labels = new List<int>();
        var scores = new List<float>();
        var sources = new List<string>();
        foreach (var f in fused)
        {
            var b = info.ToImage(f.Box).Clip(info.Width, info.Height);
            if (!b.IsValid) continue; // a sliver that rounds away at cache resolution
            boxes.Add(b); labels.Add(f.Label); scores.Add(f.Score); sources.Add(f.Source ?? "");
        }
        IReadOnlyList<int> classes = labels.Count == 0 ? [VinBigClasses.NoFinding] : labels.Distinct().Order().ToList();
        return new DatasetItem(id, info, new Target(info.Width, info.Height, boxes, labels), scores, group ?? id, classes, () => images.Load(id),
            keepsReaders ? sources : null);
    }

    static (int, int) Size(ImageInfo info) => (info.OriginalWidth, info.OriginalHeight);
}
