using CxrLab.Augment;

namespace CxrLab.Training;

/// <summary>A training set that can run one more augmentation, chosen per epoch, after its own (a family recipe's, e.g.
/// Megvii's Mosaic/MixUp until the no-aug switch), seeded from (seed, epoch, index) and mixing donors from its own
/// training pool. The trainer asks for it with <c>train.recipe: reference</c>.</summary>
public interface IEpochAugmentable
{
    /// <summary>This set with <paramref name="augmentation"/>(epoch) run after its own augmentation (null: none that epoch).</summary>
    IDetectionDataset WithEpochAugmentation(Func<int, ITransform?> augmentation);
}

/// <summary>Runs a per-epoch augmentation on a sample with a seed apart from the data's own draws.</summary>
public static class EpochAugmentation
{
    const long Salt = 0x7ec1be;

    /// <summary><paramref name="sample"/> after <paramref name="augmentation"/>(epoch), or as it is when that is null or
    /// the sample is not a training one (epoch &lt; 0).</summary>
    public static Sample Apply(Func<int, ITransform?>? augmentation, Sample sample, ulong sampleSeed, int epoch, ISampleSource pool) =>
        epoch >= 0 && augmentation?.Invoke(epoch) is { } transform
            ? new Pipeline(transform).Run(sample, SampleSeed.Of(sampleSeed, epoch, Salt), pool).Sample
            : sample;
}
