using System.Collections;
using CxrLab.Imaging;

namespace CxrLab.Data;

/// <summary>One image of a detection dataset: its id, size (and original size), its target in the
/// delivered image's pixels, per-box confidences from label fusion (1 when unfused), the group it must stay
/// with in splits (patient), the image-level classes used for stratification and resampling, and a loader.
/// <see cref="BoxSources"/>: per box, the reader (VinBigData rad_id) who drew it, when every box is one reader's
/// box unchanged (fusion None or KeepOneReader); null otherwise (WBF, NMS, RSNA).</summary>
public sealed record DatasetItem(string ImageId, ImageInfo Info, Target Target, IReadOnlyList<float> BoxScores,
    string GroupId, IReadOnlyList<int> ImageClasses, Func<Image> LoadImage, IReadOnlyList<string>? BoxSources = null)
{
    /// <summary>Loads the pixels (one channel, [0, 1], Info.Height × Info.Width).</summary>
    public Image Load() => LoadImage();
}

/// <summary>A loaded dataset: items in file order, class names (index = label), the validation report of
/// loading, and how label fusion changed the boxes (VinBigData train).</summary>
public sealed class DetectionDataset(string name, IReadOnlyList<string> classNames, IReadOnlyList<DatasetItem> items,
    ValidationReport report, FusionReport? fusion = null) : IReadOnlyList<DatasetItem>
{
    public string Name { get; } = name;

    /// <summary>Class names by box label (VinBigData: 15 names, 0–13 boxes, 14 "No finding";
    /// RSNA: "Lung Opacity").</summary>
    public IReadOnlyList<string> ClassNames { get; } = classNames;
    public IReadOnlyList<DatasetItem> Items { get; } = items;
    public ValidationReport Report { get; } = report;
    public FusionReport? Fusion { get; } = fusion;

    public DatasetItem this[int index] => Items[index];
    public int Count => Items.Count;
    public IEnumerator<DatasetItem> GetEnumerator() => Items.GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>A dataset of the given items (e.g. a fold or a resampled list; repeats allowed).</summary>
    public DetectionDataset Subset(IEnumerable<int> indices, string? suffix = null) =>
        new($"{Name}{suffix}", ClassNames, indices.Select(i => Items[i]).ToList(), Report, Fusion);

    /// <summary>Image-level class sets of every item (for splits and resampling).</summary>
    public IReadOnlyList<IReadOnlyList<int>> ImageClasses => Items.Select(i => i.ImageClasses).ToList();

    /// <summary>Box labels of every item (for box histograms).</summary>
    public IReadOnlyList<IReadOnlyList<int>> BoxLabels => Items.Select(i => i.Target.Labels).ToList();

    /// <summary>Truth boxes in ORIGINAL pixels for scoring (VinBigData: a "No finding" image gets class 14
    /// with box (0,0,1,1), as Kaggle scores it).</summary>
    public Evaluation.TruthSet ToTruth(bool noFindingBox)
    {
        var boxes = new List<Evaluation.TruthBox>();
        foreach (var item in Items.DistinctBy(i => i.ImageId))
        {
            for (var i = 0; i < item.Target.Count; i++)
                boxes.Add(new Evaluation.TruthBox(item.ImageId, item.Target.Labels[i], item.Info.ToOriginal(item.Target.Boxes[i])));
            if (noFindingBox && item.Target.Count == 0)
                boxes.Add(new Evaluation.TruthBox(item.ImageId, VinBigClasses.NoFinding, VinBigClasses.NoFindingBox));
        }
        return new Evaluation.TruthSet(Items.Select(i => i.ImageId), boxes);
    }
}
