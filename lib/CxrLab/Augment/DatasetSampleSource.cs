using CxrLab.Data;

namespace CxrLab.Augment;

/// <summary>A <see cref="DetectionDataset"/>'s items as samples: the item's pixels (one channel, [0, 1]), its target
/// (boxes in the delivered image's pixels, VinBigData labels 0–13) and, when the dataset keeps readers
/// (<see cref="DatasetItem.BoxSources"/>, fusion None or KeepOneReader), the rad_id of each box as its box tag.
/// Pixels are loaded on each <see cref="Get"/>; safe from several threads when the image source is.</summary>
public sealed class DatasetSampleSource : ISampleSource
{
    readonly IReadOnlyList<DatasetItem> items;

    public DatasetSampleSource(IReadOnlyList<DatasetItem> items) => this.items = items;

    /// <summary>Items of <paramref name="dataset"/>; with <paramref name="abnormalOnly"/> only those with at least one box
    /// (the seed's 4,394 abnormal of 15,000). Items are ordered by image id (ordinal), so a build does not depend on
    /// the row order of train.csv.</summary>
    public static DatasetSampleSource Of(DetectionDataset dataset, bool abnormalOnly) =>
        new(dataset.Items.Where(i => !abnormalOnly || i.Target.Count > 0).OrderBy(i => i.ImageId, StringComparer.Ordinal).ToList());

    public int Count => items.Count;
    public DatasetItem Item(int index) => items[index];
    public string ImageId(int index) => items[index].ImageId;
    public IReadOnlyList<int> LabelsOf(int index) => items[index].Target.Labels;

    public Sample Get(int index)
    {
        var item = items[index];
        var image = item.Load();
        if (image.Channels != 1) throw new InvalidDataException($"image {item.ImageId}: expected a grey image, got {image.Channels} channels");
        if (image.Width != item.Info.Width || image.Height != item.Info.Height)
            throw new InvalidDataException($"image {item.ImageId}: the source describes it as {item.Info.Width}×{item.Info.Height} but loads {image.Width}×{image.Height} " +
                                           "(a stale meta.csv? rebuild the cache with ./cxr convert)");
        return Sample.Of(image, item.Target.Boxes, item.Target.Labels, item.ImageId, item.BoxSources);
    }
}
