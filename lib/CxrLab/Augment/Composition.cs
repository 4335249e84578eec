namespace CxrLab.Augment;

/// <summary>Leaves the sample as it is.</summary>
public sealed record Identity : ITransform
{
    public Sample Apply(Sample sample, AugmentContext context) => sample;
}

/// <summary>Applies every step in order.</summary>
public sealed record Sequential(IReadOnlyList<ITransform> Steps) : ITransform
{
    public Sequential(params ITransform[] steps) : this((IReadOnlyList<ITransform>)steps) { }

    public Sample Apply(Sample sample, AugmentContext context)
    {
        foreach (var step in Steps) sample = step.Apply(sample, context);
        return sample;
    }
}

/// <summary>Applies exactly one of <see cref="Choices"/>, picked uniformly or by <see cref="Weights"/>.</summary>
public sealed record OneOf(IReadOnlyList<ITransform> Choices) : ITransform
{
    public OneOf(params ITransform[] choices) : this((IReadOnlyList<ITransform>)choices) { }

    /// <summary>Relative weights, one per choice (need not sum to 1); null = uniform.</summary>
    public IReadOnlyList<double>? Weights { get; init; }

    public Sample Apply(Sample sample, AugmentContext context)
    {
        if (Choices.Count == 0) return sample;
        return Choices[Pick(context.Random)].Apply(sample, context);
    }

    int Pick(Random random)
    {
        if (Weights is null) return random.Next(Choices.Count);
        if (Weights.Count != Choices.Count || Weights.Any(w => w < 0) || Weights.Sum() <= 0)
            throw new InvalidOperationException($"OneOf: {Weights.Count} weights for {Choices.Count} choices; weights must be ≥ 0 with a positive sum");
        var u = random.NextDouble() * Weights.Sum();
        for (var i = 0; i < Choices.Count; i++)
        {
            u -= Weights[i];
            if (u < 0) return i;
        }
        return Choices.Count - 1;
    }
}

/// <summary>Applies between <see cref="Min"/> and <see cref="Max"/> distinct choices (count uniform), in random
/// order or in listed order (<see cref="RandomOrder"/> false), like imgaug's SomeOf.</summary>
public sealed record SomeOf(int Min, int Max, IReadOnlyList<ITransform> Choices) : ITransform
{
    public bool RandomOrder { get; init; } = true;

    public Sample Apply(Sample sample, AugmentContext context)
    {
        if (Min < 0 || Max < Min) throw new InvalidOperationException($"SomeOf: need 0 ≤ min ≤ max, got {Min}..{Max}");
        var n = Math.Min(context.Random.Next(Min, Max + 1), Choices.Count);
        var order = Enumerable.Range(0, Choices.Count).ToArray();
        context.Random.Shuffle(order);
        var chosen = order.Take(n).ToArray();
        if (!RandomOrder) Array.Sort(chosen);
        foreach (var i in chosen) sample = Choices[i].Apply(sample, context);
        return sample;
    }
}

/// <summary>Applies <see cref="Then"/> with probability <see cref="P"/>, else <see cref="Else"/> (if any).</summary>
public sealed record Sometimes(double P, ITransform Then, ITransform? Else = null) : ITransform
{
    public Sample Apply(Sample sample, AugmentContext context)
    {
        if (context.Random.NextDouble() < P) return Then.Apply(sample, context);
        return Else?.Apply(sample, context) ?? sample;
    }
}

/// <summary>Class filter: applies <see cref="Then"/> only to samples holding a box of one of <see cref="Classes"/>
/// (the VinBigData seed applied CutMix/CLAHE/equalisation only to images with classes 1 and 12).</summary>
public sealed record WhenClasses(IReadOnlyList<int> Classes, ITransform Then) : ITransform
{
    public Sample Apply(Sample sample, AugmentContext context) => sample.HasAnyClass(Classes.ToHashSet()) ? Then.Apply(sample, context) : sample;
}
