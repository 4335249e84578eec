namespace CxrLab.Augment;

/// <summary>The result of one pipeline run: the augmented sample (every box valid under the policy) and its box counts.</summary>
public sealed record AugmentResult(Sample Sample, AugmentStats Stats);

/// <summary>A root transform plus the box policy, run with an explicit seed: the same seed, sample and pool
/// give the same output, on any thread. Build it in C# or from YAML (<see cref="PipelineYaml"/>).</summary>
public sealed class Pipeline(ITransform root, BoxPolicy? policy = null)
{
    public ITransform Root { get; } = root;
    public BoxPolicy Policy { get; } = policy ?? BoxPolicy.Default;

    /// <summary>Augments <paramref name="sample"/>. Mixing transforms draw donors from <paramref name="pool"/>.
    /// Boxes are clipped and filtered once more at the end, so degenerate input boxes never come out either.</summary>
    public AugmentResult Run(Sample sample, ulong seed, ISampleSource? pool = null)
    {
        var context = new AugmentContext(new Random(SampleSeed.ToInt32(seed)), Policy, pool);
        context.Stats.Samples = 1;
        context.Stats.BoxesIn = sample.Target.Count;
        var output = Root.Apply(sample, context);
        var (indices, boxes) = Policy.Select(output.Target.Boxes, output.Image.Width, output.Image.Height, context.Stats);
        if (indices.Count != output.Target.Count)
            output = output.Rebuild(output.Image, indices, boxes, output.Target.Masks is { } m ? indices.Select(i => m[i]).ToList() : null);
        context.Stats.BoxesOut = output.Target.Count;
        return new AugmentResult(output, context.Stats);
    }

    public override string ToString() => $"Pipeline({Root}, {Policy})";
}

/// <summary>Per-sample seeds: f(seed, epoch, index) by SplitMix64 mixing, so a sample's augmentation does not
/// depend on which worker draws it or in which order.</summary>
public static class SampleSeed
{
    public static ulong Of(ulong seed, int epoch, long index) => Mix(Mix(Mix(seed) ^ (ulong)(uint)epoch) ^ (ulong)index);

    public static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>A seed for System.Random (whose seeded sequence is fixed across .NET versions).</summary>
    public static int ToInt32(ulong seed) => (int)(Mix(seed) & 0x7FFFFFFF);
}
