namespace CxrLab.Data;

/// <summary>Per-class image targets. <see cref="MaxImages"/>: cap a class (e.g. "No finding") by dropping
/// images — only images whose every class is over its cap are dropped, so a capped class never takes an
/// uncapped finding with it. <see cref="MinImages"/>: repeat images holding a class until it appears on at
/// least that many images (rarest class first). Counting is honest: a repeated image counts for every class it holds.</summary>
public sealed record ResamplingPlan(IReadOnlyDictionary<int, int>? MaxImages = null, IReadOnlyDictionary<int, int>? MinImages = null)
{
    /// <summary>Raise every class to at least <paramref name="minImages"/> images, cap the given classes.</summary>
    public static ResamplingPlan Balance(IEnumerable<int> classes, int minImages, IReadOnlyDictionary<int, int>? caps = null) =>
        new(caps, classes.ToDictionary(c => c, _ => minImages));
}

/// <summary>Images per class and boxes per class of a list of items.</summary>
public sealed record ClassHistogram(IReadOnlyDictionary<int, int> Images, IReadOnlyDictionary<int, int> Boxes, int TotalImages)
{
    public static ClassHistogram Of(IReadOnlyList<IReadOnlyList<int>> imageClasses, IReadOnlyList<IReadOnlyList<int>>? boxLabels, IEnumerable<int> indices)
    {
        var images = new SortedDictionary<int, int>();
        var boxes = new SortedDictionary<int, int>();
        var total = 0;
        foreach (var i in indices)
        {
            total++;
            foreach (var c in imageClasses[i].Distinct()) images[c] = images.GetValueOrDefault(c) + 1;
            if (boxLabels is not null) foreach (var c in boxLabels[i]) boxes[c] = boxes.GetValueOrDefault(c) + 1;
        }
        return new ClassHistogram(images, boxes, total);
    }
}

/// <summary>The resampled item list (indices into the dataset, repeats allowed, in a seeded shuffled order)
/// and the histograms before and after.</summary>
public sealed record ResamplingResult(IReadOnlyList<int> Indices, ClassHistogram Before, ClassHistogram After)
{
    /// <summary>A text table: class, images before → after, boxes before → after.</summary>
    public string Table(Func<int, string>? nameOf = null)
    {
        var classes = Before.Images.Keys.Concat(After.Images.Keys).Distinct().Order();
        var lines = new List<string> { $"{"class",-28}{"images before → after",24}{"boxes before → after",26}" };
        foreach (var c in classes)
            lines.Add($"{nameOf?.Invoke(c) ?? c.ToString(),-28}{Before.Images.GetValueOrDefault(c),13} → {After.Images.GetValueOrDefault(c),-8}{Before.Boxes.GetValueOrDefault(c),14} → {After.Boxes.GetValueOrDefault(c)}");
        lines.Add($"{"total images",-28}{Before.TotalImages,13} → {After.TotalImages}");
        return string.Join(Environment.NewLine, lines);
    }
}

/// <summary>Per-class up- and down-sampling of images (the seeds' imbalance experiments).</summary>
public static class ClassResampler
{
    public static ResamplingResult Resample(DetectionDataset dataset, ResamplingPlan plan, int seed) =>
        Resample(dataset.ImageClasses, dataset.BoxLabels, plan, seed);

    /// <summary>Resamples items given their image-level classes (and optionally box labels, for the box
    /// histogram). Deterministic for a seed.</summary>
    public static ResamplingResult Resample(IReadOnlyList<IReadOnlyList<int>> imageClasses, IReadOnlyList<IReadOnlyList<int>>? boxLabels, ResamplingPlan plan, int seed)
    {
        var n = imageClasses.Count;
        var rng = new Random(seed);
        var before = ClassHistogram.Of(imageClasses, boxLabels, Enumerable.Range(0, n));
        var counts = new Dictionary<int, int>(before.Images);
        var kept = new List<int>();

        // Down-sampling: visit images in a seeded random order; drop one when each of its classes is capped
        // and still above its cap.
        var caps = plan.MaxImages ?? new Dictionary<int, int>();
        var order = Enumerable.Range(0, n).ToArray();
        rng.Shuffle(order);
        var dropped = new bool[n];
        foreach (var i in order)
        {
            var classes = imageClasses[i].Distinct().ToList();
            if (classes.Count > 0 && classes.All(c => caps.TryGetValue(c, out var cap) && counts[c] > cap))
            {
                dropped[i] = true;
                foreach (var c in classes) counts[c]--;
            }
        }
        for (var i = 0; i < n; i++) if (!dropped[i]) kept.Add(i);

        // Up-sampling: rarest class first; cycle through its images (seeded order) adding copies.
        var mins = plan.MinImages ?? new Dictionary<int, int>();
        foreach (var (c, min) in mins.OrderBy(kv => counts.GetValueOrDefault(kv.Key)).ThenBy(kv => kv.Key))
        {
            var holders = kept.Distinct().Where(i => imageClasses[i].Contains(c)).ToArray();
            if (holders.Length == 0) continue; // nothing to repeat
            rng.Shuffle(holders);
            for (var k = 0; counts.GetValueOrDefault(c) < min; k++)
            {
                var i = holders[k % holders.Length];
                kept.Add(i);
                foreach (var cls in imageClasses[i].Distinct()) counts[cls] = counts.GetValueOrDefault(cls) + 1;
            }
        }
        var result = kept.ToArray();
        rng.Shuffle(result);
        return new ResamplingResult(result, before, ClassHistogram.Of(imageClasses, boxLabels, result));
    }

    /// <summary>Repeat-factor sampling (LVIS, Gupta et al. 2019; detectron2's <c>RepeatFactorTrainingSampler</c>):
    /// class c, present on a fraction f(c) of the images, gets r(c) = max(1, sqrt(t / f(c))); an image is repeated
    /// r(i) = max over its classes of r(c) times — floor(r(i)) copies plus one more with probability frac(r(i)).
    /// detectron2 redraws that rounding every epoch; here it is drawn once from <paramref name="seed"/>, so every epoch
    /// of a run has the same length and a resumed run the same list. Images without classes keep one copy.</summary>
    public static ResamplingResult RepeatFactor(IReadOnlyList<IReadOnlyList<int>> imageClasses, IReadOnlyList<IReadOnlyList<int>>? boxLabels, double threshold, int seed)
    {
        if (threshold is <= 0 or > 1) throw new ArgumentOutOfRangeException(nameof(threshold), threshold, "the repeat threshold is a fraction of images in (0, 1]");
        var n = imageClasses.Count;
        var before = ClassHistogram.Of(imageClasses, boxLabels, Enumerable.Range(0, n));
        var factorOf = RepeatFactors(before, threshold);
        var rng = new Random(seed);
        var kept = new List<int>();
        for (var i = 0; i < n; i++)
        {
            var r = imageClasses[i].Select(c => factorOf[c]).DefaultIfEmpty(1).Max();
            var copies = (int)Math.Floor(r) + (rng.NextDouble() < r - Math.Floor(r) ? 1 : 0);
            for (var k = 0; k < copies; k++) kept.Add(i);
        }
        var result = kept.ToArray();
        rng.Shuffle(result);
        return new ResamplingResult(result, before, ClassHistogram.Of(imageClasses, boxLabels, result));
    }

    /// <summary>r(c) = max(1, sqrt(t / f(c))) for every class of <paramref name="histogram"/>.</summary>
    public static IReadOnlyDictionary<int, double> RepeatFactors(ClassHistogram histogram, double threshold) =>
        histogram.Images.ToDictionary(kv => kv.Key, kv => Math.Max(1, Math.Sqrt(threshold / ((double)kv.Value / Math.Max(1, histogram.TotalImages)))));
}
