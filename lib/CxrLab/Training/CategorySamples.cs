using CxrLab.Augment;
using CxrLab.Augment.Categories;
using CxrLab.Data;

namespace CxrLab.Training;

/// <summary>A dataset category (<see cref="CategoryConfig"/>, the seed's A–D) drawn online: every training image makes
/// each of the category's outputs once per epoch (so an epoch holds as many images as <c>./cxr dataset build</c> writes:
/// 1, 4, 5 or 7 per source), each output's pipeline run with a seed of (run seed, epoch, index) — fresh draws every
/// epoch, the same on resume. Mixing outputs (CutMix, Mosaic) take their donors from <see cref="Pool"/>: the training
/// items only, never validation. Then the config's <c>augment:</c> steps, if any. Labels at or above the model's class count
/// are left out of the target as in <see cref="DetectionDatasetSamples"/>.</summary>
public sealed class CategorySamples : IDetectionDataset, IEpochAugmentable
{
    readonly (int Item, int Output)[] entries;
    readonly Pipeline? extra;
    readonly long seed;
    readonly int numClasses;
    Func<int, ITransform?>? epochAugment;

    public CategorySamples(CategoryConfig category, DetectionDataset train, Pipeline? extra, long seed, int numClasses = int.MaxValue)
    {
        Category = category;
        Dataset = train;
        this.extra = extra;
        this.seed = seed;
        this.numClasses = numClasses;
        // Donors: each training image once (a resampled list repeats items; donors are drawn uniformly from images).
        Pool = new DatasetSampleSource(train.Items.DistinctBy(i => i.ImageId).ToList());
        var list = new List<(int, int)>();
        for (var i = 0; i < train.Count; i++)
            for (var o = 0; o < category.Outputs.Count; o++)
                if (category.Outputs[o].WhenClasses is not { } classes || train[i].Target.Labels.Any(classes.Contains))
                    list.Add((i, o));
        entries = list.ToArray();
    }

    public CategoryConfig Category { get; }
    public DetectionDataset Dataset { get; }

    /// <summary>The donor pool of the mixing outputs: the training items, each once.</summary>
    public DatasetSampleSource Pool { get; }

    public int Count => entries.Length;

    /// <summary>Which training item and which output (index into <see cref="CategoryConfig.Outputs"/>) sample <paramref name="index"/> is.</summary>
    public (int Item, int Output) Entry(int index) => entries[index];

    /// <summary>The augmented sample (pixels [0, 1], boxes in its pixels, dataset labels) of <paramref name="index"/> in <paramref name="epoch"/>.</summary>
    public Sample Draw(int index, int epoch)
    {
        var (item, output) = entries[index];
        var source = Dataset[item];
        var sample = Sample.Of(source.Load(), source.Target.Boxes, source.Target.Labels, source.ImageId, source.BoxSources);
        var sampleSeed = SampleSeed.Of((ulong)seed, epoch, index);
        sample = Category.Outputs[output].Pipeline.Run(sample, sampleSeed, Pool).Sample;
        if (extra is not null) sample = extra.Run(sample, SampleSeed.Of(sampleSeed, epoch, 0xa06), Pool).Sample;
        return EpochAugmentation.Apply(epochAugment, sample, sampleSeed, epoch, Pool);
    }

    public DetectionSample Load(int index, int epoch)
    {
        if (epoch < 0) throw new ArgumentOutOfRangeException(nameof(epoch), epoch, "a category is a training set; validation reads the images unaugmented");
        var sample = Draw(index, epoch);
        var (item, output) = entries[index];
        var suffix = Category.Outputs[output].Suffix;
        var id = suffix.Length == 0 ? Dataset[item].ImageId : $"{Dataset[item].ImageId}_{suffix}";
        return new DetectionSample(id, InMemoryDetectionDataset.ToTensor(sample.Image),
            InMemoryDetectionDataset.ToModelTarget(sample.Target, c => c >= 0 && c < numClasses ? c : null));
    }

    /// <summary>The same category and donors with a recipe's per-epoch augmentation after the category's outputs.</summary>
    public IDetectionDataset WithEpochAugmentation(Func<int, ITransform?> augmentation) =>
        new CategorySamples(Category, Dataset, extra, seed, numClasses) { epochAugment = augmentation };
}
