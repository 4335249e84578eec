using CxrLab.Data;

namespace CxrLab.Augment;

/// <summary>What happens to boxes after a transform: each box is clipped to the image, then dropped when
/// it is degenerate (no width or height left, e.g. fully outside), smaller than <see cref="MinArea"/>
/// (pixels²) or <see cref="MinSide"/> (pixels), or when less than <see cref="MinVisibility"/> of its
/// unclipped area (0–1) is still visible. Every drop is counted in <see cref="AugmentStats"/>.</summary>
public sealed record BoxPolicy(float MinArea = 4, float MinSide = 1, float MinVisibility = 0.25f)
{
    public static BoxPolicy Default { get; } = new();

    /// <summary>Clips and filters <paramref name="boxes"/> (already mapped into a <paramref name="width"/> ×
    /// <paramref name="height"/> frame). <paramref name="fullAreas"/> gives each box's area before
    /// clipping or occlusion (null: the area of the unclipped box). Returns the kept indices and clipped boxes.</summary>
    public (List<int> Indices, List<Box> Boxes) Select(IReadOnlyList<Box> boxes, int width, int height, AugmentStats stats,
        IReadOnlyList<float>? fullAreas = null)
    {
        var indices = new List<int>(boxes.Count);
        var kept = new List<Box>(boxes.Count);
        for (var i = 0; i < boxes.Count; i++)
        {
            var raw = boxes[i];
            var fullArea = fullAreas?[i] ?? raw.Area;
            var clipped = raw.Clip(width, height);
            if (!float.IsFinite(clipped.X1 + clipped.Y1 + clipped.X2 + clipped.Y2) || !clipped.IsValid) { stats.DroppedDegenerate++; continue; }
            if (clipped.Area < MinArea || clipped.Width < MinSide || clipped.Height < MinSide) { stats.DroppedSmall++; continue; }
            if (fullArea > 0 && clipped.Area / fullArea < MinVisibility) { stats.DroppedOccluded++; continue; }
            if (clipped != raw) stats.Clipped++;
            indices.Add(i);
            kept.Add(clipped);
        }
        return (indices, kept);
    }
}

/// <summary>Box bookkeeping of one or more augmentation runs. Not thread-safe; merge per-thread copies with <see cref="Add"/>.</summary>
public sealed class AugmentStats
{
    /// <summary>Samples processed.</summary>
    public long Samples { get; set; }
    /// <summary>Boxes that entered the pipelines.</summary>
    public long BoxesIn { get; set; }
    /// <summary>Boxes that left them.</summary>
    public long BoxesOut { get; set; }
    /// <summary>Boxes kept but cut at the image border.</summary>
    public long Clipped { get; set; }
    /// <summary>Boxes dropped for zero width/height after clipping (e.g. fully outside the image).</summary>
    public long DroppedDegenerate { get; set; }
    /// <summary>Boxes dropped below the minimum area or side.</summary>
    public long DroppedSmall { get; set; }
    /// <summary>Boxes dropped because too little of them stayed visible (cropped away or pasted over).</summary>
    public long DroppedOccluded { get; set; }

    public long Dropped => DroppedDegenerate + DroppedSmall + DroppedOccluded;

    /// <summary>Mixing transforms that asked for a donor of given classes when no sample held them, and mixed
    /// with an arbitrary donor instead.</summary>
    public long DonorFallbacks { get; set; }

    public void Add(AugmentStats other)
    {
        Samples += other.Samples; BoxesIn += other.BoxesIn; BoxesOut += other.BoxesOut; Clipped += other.Clipped;
        DroppedDegenerate += other.DroppedDegenerate; DroppedSmall += other.DroppedSmall; DroppedOccluded += other.DroppedOccluded;
        DonorFallbacks += other.DonorFallbacks;
    }

    public override string ToString() =>
        $"{Samples} samples, boxes {BoxesIn} in → {BoxesOut} out; clipped {Clipped}; dropped {Dropped} (degenerate {DroppedDegenerate}, small {DroppedSmall}, occluded {DroppedOccluded})" +
        (DonorFallbacks > 0 ? $"; {DonorFallbacks} mixes found no donor of the requested classes and used any donor" : "");
}

/// <summary>Everything a transform may use besides the sample: the random stream (the only source of
/// randomness — no global state), the box policy, the donor pool for mixing transforms, and the counters.</summary>
public sealed class AugmentContext(Random random, BoxPolicy? policy = null, ISampleSource? pool = null)
{
    public Random Random { get; } = random;
    public BoxPolicy Policy { get; } = policy ?? BoxPolicy.Default;
    public ISampleSource? Pool { get; } = pool;
    public AugmentStats Stats { get; } = new();

    /// <summary>A seed for OpenCV's RNG (noise), drawn from <see cref="Random"/>.</summary>
    public ulong NextSeed() => (ulong)Random.NextInt64(1, long.MaxValue);

    /// <summary>The donor pool; throws a clear error when a mixing transform runs without one.</summary>
    public ISampleSource RequirePool(string transform) =>
        Pool is { Count: > 0 } pool ? pool : throw new InvalidOperationException($"{transform} needs a donor pool of samples: pass one to Pipeline.Run / the loader");
}

/// <summary>A transform of a sample: image, boxes, labels (and masks) mapped together.</summary>
public interface ITransform
{
    Sample Apply(Sample sample, AugmentContext context);
}
