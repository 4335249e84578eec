namespace CxrLab.Data;

/// <summary>Loads the Kaggle RSNA Pneumonia layout: <c>stage_2_train_labels.csv</c>,
/// <c>stage_2_detailed_class_info.csv</c>, <c>stage_2_train_images/*.dcm</c>, <c>stage_2_test_images/*.dcm</c>.</summary>
public static class RsnaDataset
{
    public const string LabelsCsv = "stage_2_train_labels.csv";
    public const string DetailedCsv = "stage_2_detailed_class_info.csv";
    public const string SampleSubmissionCsv = "stage_2_sample_submission.csv";
    public const string TrainFolder = "stage_2_train_images";
    public const string TestFolder = "stage_2_test_images";
    public const string DicomExtension = ".dcm";

    /// <summary>The DICOM files of the train (<paramref name="test"/> false) or test split as an image source,
    /// read by the given DICOM reader.</summary>
    public static DicomFolderSource DicomSource(string root, bool test, Func<string, Imaging.Image> readImage, Func<string, (int Width, int Height)>? readSize = null) =>
        new(Path.Combine(root, test ? TestFolder : TrainFolder), DicomExtension, readImage, readSize);

    /// <summary>Train split: opacity boxes (label 0) in the source's pixels; image classes = the detailed class
    /// index (0 Lung Opacity, 1 No Lung Opacity / Not Normal, 2 Normal); group = patientId.</summary>
    public static DetectionDataset LoadTrain(string root, IImageSource images)
    {
        var labelsCsv = Path.Combine(root, LabelsCsv);
        var report = new ValidationReport();
        var rows = RsnaLabels.Read(labelsCsv, report, id => images.Contains(id) ? (images.Describe(id).OriginalWidth, images.Describe(id).OriginalHeight) : null);
        var detailedPath = Path.Combine(root, DetailedCsv);
        var detailed = File.Exists(detailedPath) ? RsnaLabels.ReadDetailed(detailedPath, report) : new Dictionary<string, string>();
        var items = new List<DatasetItem>();
        foreach (var group in rows.GroupBy(r => r.PatientId, StringComparer.Ordinal))
        {
            var id = group.Key;
            if (!images.Contains(id))
            {
                report.Add(labelsCsv, group.First().Line, IssueKind.MissingImage, $"{id} has labels but no image file in the source");
                continue;
            }
            var info = images.Describe(id);
            var boxes = new List<Box>();
            foreach (var r in group)
                if (r.Box is { } b && info.ToImage(b).Clip(info.Width, info.Height) is { IsValid: true } scaled) boxes.Add(scaled);
            var detailedIndex = detailed.TryGetValue(id, out var name) ? RsnaClasses.Detailed.ToList().IndexOf(name)
                : boxes.Count > 0 ? 0 : 2;
            if (boxes.Count > 0 && detailedIndex != 0)
                report.Add(detailedPath, 0, IssueKind.Warning, $"{id} has opacity boxes but detailed class '{name}'");
            items.Add(new DatasetItem(id, info, new Target(info.Width, info.Height, boxes, boxes.Select(_ => RsnaClasses.LungOpacity).ToList()),
                boxes.Select(_ => 1f).ToList(), id, [detailedIndex], () => images.Load(id)));
        }
        return new DetectionDataset("rsna-train", [RsnaClasses.LungOpacityName], items, report);
    }

    /// <summary>Reads the truth in original pixels from stage_2_train_labels.csv (for scoring).</summary>
    public static Evaluation.TruthSet ReadTruth(string labelsCsv, ValidationReport report)
    {
        var rows = RsnaLabels.Read(labelsCsv, report);
        return new Evaluation.TruthSet(rows.Select(r => r.PatientId),
            rows.Where(r => r.Box is not null).Select(r => new Evaluation.TruthBox(r.PatientId, RsnaClasses.LungOpacity, r.Box!.Value)));
    }
}
