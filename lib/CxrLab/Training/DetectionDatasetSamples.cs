using CxrLab.Augment;
using CxrLab.Data;

namespace CxrLab.Training;

/// <summary>A <see cref="DetectionDataset"/> as the trainer sees it: the image read from the cache on each
/// <see cref="Load"/>, augmented (training epochs only) with a seed that depends only on (seed, epoch, index),
/// so resumed runs see the same images. Labels stay the dataset's class ids; ids at or above <paramref name="numClasses"/>
/// (VinBigData's "No finding", 14) and boxes without area are left out of the target. Mixing steps (CutMix, Mosaic,
/// MixUp) draw their donors from <paramref name="pool"/> (give the training items: never validation), by default
/// this dataset's own items, each once. <paramref name="epochAugment"/> is a recipe's per-epoch augmentation run after
/// <paramref name="augment"/> (<see cref="IEpochAugmentable"/>).</summary>
public sealed class DetectionDatasetSamples(DetectionDataset dataset, Pipeline? augment, long seed, int numClasses = int.MaxValue, ISampleSource? pool = null,
    Func<int, ITransform?>? epochAugment = null) : IDetectionDataset, IEpochAugmentable
{
    /// <summary>The donor pool of the mixing steps.</summary>
    public ISampleSource Pool { get; } = pool ?? new DatasetSampleSource(dataset.Items.DistinctBy(i => i.ImageId).ToList());

    public DetectionDataset Dataset { get; } = dataset;
    public int Count => Dataset.Count;

    public DetectionSample Load(int index, int epoch)
    {
        var item = Dataset[index];
        var image = item.Load();
        var target = item.Target;
        var sampleSeed = SampleSeed.Of((ulong)seed, epoch, index);
        if (augment is not null && epoch >= 0)
        {
            var result = augment.Run(new Sample(image, target, item.ImageId), sampleSeed, Pool);
            (image, target) = (result.Sample.Image, result.Sample.Target);
        }
        if (epochAugment is not null && epoch >= 0)
        {
            var result = EpochAugmentation.Apply(epochAugment, new Sample(image, target, item.ImageId), sampleSeed, epoch, Pool);
            (image, target) = (result.Image, result.Target);
        }
        return new DetectionSample(item.ImageId, InMemoryDetectionDataset.ToTensor(image),
            InMemoryDetectionDataset.ToModelTarget(target, c => c >= 0 && c < numClasses ? c : null));
    }

    public IDetectionDataset WithEpochAugmentation(Func<int, ITransform?> augmentation) =>
        new DetectionDatasetSamples(Dataset, augment, seed, numClasses, Pool, augmentation);
}
