namespace CxrLab.Data;

/// <summary>One fold of a K-fold split: indices into the dataset.</summary>
public sealed record Fold(int Index, IReadOnlyList<int> Train, IReadOnlyList<int> Validation);

/// <summary>A K-fold assignment with per-fold class histograms (images holding each class).</summary>
public sealed record KFoldSplit(int FoldCount, IReadOnlyList<int> FoldOf, IReadOnlyList<Fold> Folds, IReadOnlyList<IReadOnlyDictionary<int, int>> ClassImagesPerFold)
{
    /// <summary>A text table: one row per class, one column per fold.</summary>
    public string HistogramTable(Func<int, string>? nameOf = null)
    {
        var classes = ClassImagesPerFold.SelectMany(h => h.Keys).Distinct().Order().ToList();
        var lines = new List<string> { "class".PadRight(28) + string.Concat(Enumerable.Range(0, FoldCount).Select(f => $"fold{f}".PadLeft(8))) };
        foreach (var c in classes)
            lines.Add((nameOf?.Invoke(c) ?? c.ToString()).PadRight(28) + string.Concat(ClassImagesPerFold.Select(h => h.GetValueOrDefault(c).ToString().PadLeft(8))));
        lines.Add("images".PadRight(28) + string.Concat(Enumerable.Range(0, FoldCount).Select(f => FoldOf.Count(x => x == f).ToString().PadLeft(8))));
        return string.Join(Environment.NewLine, lines);
    }
}

/// <summary>Multilabel-stratified K-fold (iterative stratification, Sechidis et al. 2011) over groups: all
/// items of a group (e.g. a patient) land in the same fold; each fold gets about 1/K of every class's groups.
/// Deterministic for a given seed.</summary>
public static class MultilabelStratifiedKFold
{
    /// <summary>Splits a dataset by its items' image classes, keeping each <see cref="DatasetItem.GroupId"/>
    /// (the patient for RSNA) in one fold.</summary>
    public static KFoldSplit Split(DetectionDataset dataset, int folds, int seed) =>
        Split(dataset.ImageClasses, folds, seed, dataset.Items.Select(i => i.GroupId).ToList());

    /// <summary>Splits items with the given image-level classes (e.g. <see cref="DetectionDataset.ImageClasses"/>)
    /// into <paramref name="folds"/> folds; <paramref name="groups"/> (default: each item its own group) keeps
    /// items together.</summary>
    public static KFoldSplit Split(IReadOnlyList<IReadOnlyList<int>> classesPerItem, int folds, int seed, IReadOnlyList<string>? groups = null)
    {
        if (folds < 2) throw new ArgumentOutOfRangeException(nameof(folds), folds, "need at least 2 folds");
        var n = classesPerItem.Count;
        if (groups is not null && groups.Count != n) throw new ArgumentException($"{groups.Count} groups for {n} items");
        // Groups in first-seen order, then shuffled by the seed.
        var groupIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        var members = new List<List<int>>();
        for (var i = 0; i < n; i++)
        {
            var key = groups?[i] ?? i.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (!groupIndex.TryGetValue(key, out var g)) { groupIndex[key] = g = members.Count; members.Add([]); }
            members[g].Add(i);
        }
        var rng = new Random(seed);
        var order = Enumerable.Range(0, members.Count).ToArray();
        rng.Shuffle(order);
        var groupClasses = members.Select(m => m.SelectMany(i => classesPerItem[i]).Distinct().Order().ToArray()).ToArray();
        var groupSize = members.Select(m => m.Count).ToArray();

        var classes = groupClasses.SelectMany(c => c).Distinct().Order().ToList();
        var desired = new Dictionary<int, double[]>();
        foreach (var c in classes)
        {
            var count = groupClasses.Count(gc => gc.Contains(c));
            desired[c] = Enumerable.Repeat((double)count / folds, folds).ToArray();
        }
        var desiredSize = Enumerable.Repeat((double)n / folds, folds).ToArray();
        var foldOfGroup = Enumerable.Repeat(-1, members.Count).ToArray();
        var remaining = new List<int>(order);

        while (remaining.Count > 0)
        {
            // The class with the fewest unassigned groups goes first (rare classes are spread before common ones fill folds).
            var counts = classes.Select(c => (c, remaining.Count(g => groupClasses[g].Contains(c)))).Where(x => x.Item2 > 0).ToList();
            if (counts.Count == 0)
            {
                foreach (var g in remaining) Assign(g, ArgMax(desiredSize, rng));
                break;
            }
            var label = counts.OrderBy(x => x.Item2).ThenBy(x => x.c).First().c;
            foreach (var g in remaining.Where(g => groupClasses[g].Contains(label)).ToList())
            {
                var want = desired[label];
                var best = want.Max();
                var candidates = Enumerable.Range(0, folds).Where(f => want[f] == best).ToList();
                if (candidates.Count > 1)
                {
                    var bestSize = candidates.Max(f => desiredSize[f]);
                    candidates = candidates.Where(f => desiredSize[f] == bestSize).ToList();
                }
                Assign(g, candidates[rng.Next(candidates.Count)]);
            }
        }

        void Assign(int g, int fold)
        {
            foldOfGroup[g] = fold;
            remaining.Remove(g);
            foreach (var c in groupClasses[g]) desired[c][fold] -= 1;
            desiredSize[fold] -= groupSize[g];
        }

        var foldOf = new int[n];
        for (var g = 0; g < members.Count; g++) foreach (var i in members[g]) foldOf[i] = foldOfGroup[g];
        var foldList = Enumerable.Range(0, folds).Select(f => new Fold(f,
            Enumerable.Range(0, n).Where(i => foldOf[i] != f).ToList(),
            Enumerable.Range(0, n).Where(i => foldOf[i] == f).ToList())).ToList();
        var histograms = Enumerable.Range(0, folds).Select(f =>
        {
            var h = new SortedDictionary<int, int>();
            for (var i = 0; i < n; i++)
                if (foldOf[i] == f) foreach (var c in classesPerItem[i].Distinct()) h[c] = h.GetValueOrDefault(c) + 1;
            return (IReadOnlyDictionary<int, int>)h;
        }).ToList();
        return new KFoldSplit(folds, foldOf, foldList, histograms);
    }

    static int ArgMax(double[] values, Random rng)
    {
        var best = values.Max();
        var candidates = Enumerable.Range(0, values.Length).Where(i => values[i] == best).ToList();
        return candidates[rng.Next(candidates.Count)];
    }
}
