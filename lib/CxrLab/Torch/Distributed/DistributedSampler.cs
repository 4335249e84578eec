namespace CxrLab.Torch.Distributed;

/// <summary><c>torch.utils.data.DistributedSampler</c>: each rank's share of a data set of <c>count</c> items for one
/// epoch. The epoch's order (a seeded shuffle, the same on every rank) is padded by repeating its first items
/// until its length divides by the number of replicas, then rank r takes positions r, r+R, r+2R, … So every
/// item is seen once per epoch across ranks (plus at most R−1 repeats), every rank gets the same number of
/// items (the ranks must run the same number of steps), and rank r's k-th item sits at position k·R + r of the
/// epoch order: a batch of B per rank is the same set of images as a batch of B·R in a single process.
/// <see cref="DropLast"/> instead drops the tail so nothing repeats.</summary>
public sealed class DistributedSampler
{
    readonly Func<int, int[]> order;

    /// <summary>A sampler over <paramref name="count"/> items.</summary>
    /// <param name="count">Items in the data set.</param>
    /// <param name="num_replicas">Number of ranks.</param>
    /// <param name="rank">This rank.</param>
    /// <param name="epochOrder">The epoch's full order, identical on every rank (the trainer's seeded shuffle); default:
    /// a shuffle seeded by <paramref name="seed"/> and the epoch.</param>
    /// <param name="seed">Seed of the default shuffle (the run's seed).</param>
    /// <param name="shuffle">False keeps 0..count−1 in order.</param>
    /// <param name="drop_last">Drop the tail instead of padding.</param>
    public DistributedSampler(int count, int num_replicas, int rank, Func<int, int[]>? epochOrder = null, long seed = 0, bool shuffle = true, bool drop_last = false)
    {
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count));
        if (num_replicas < 1) throw new ArgumentOutOfRangeException(nameof(num_replicas), $"num_replicas must be >= 1, got {num_replicas}");
        if (rank < 0 || rank >= num_replicas) throw new ArgumentOutOfRangeException(nameof(rank), $"rank {rank} is outside 0..{num_replicas - 1}");
        (Count, NumReplicas, Rank, DropLast) = (count, num_replicas, rank, drop_last);
        order = !shuffle ? _ => Enumerable.Range(0, count).ToArray()
              : epochOrder ?? (epoch =>
              {
                  var o = Enumerable.Range(0, count).ToArray();
                  new Random(unchecked((int)((seed * 1_000_003L + epoch) & 0x7fffffff))).Shuffle(o);
                  return o;
              });
        if (drop_last && count < num_replicas) throw new ArgumentException($"{count} items cannot give each of {num_replicas} ranks one with drop_last");
    }

    public int Count { get; }
    public int NumReplicas { get; }
    public int Rank { get; }
    public bool DropLast { get; }

    /// <summary>Items per rank per epoch: ⌈count/R⌉ (padded) or ⌊count/R⌋ (drop_last).</summary>
    public int NumSamples => DropLast ? Count / NumReplicas : (Count + NumReplicas - 1) / NumReplicas;

    /// <summary>This rank's items for <paramref name="epoch"/> (PyTorch: set_epoch then iterate).</summary>
    public int[] Indices(int epoch)
    {
        var full = order(epoch);
        if (full.Length != Count) throw new InvalidOperationException($"the epoch order has {full.Length} items, the data set {Count}");
        var total = NumSamples * NumReplicas;
        var padded = new int[total];
        for (var i = 0; i < total; i++) padded[i] = Count == 0 ? 0 : full[i % Count];
        var mine = new int[NumSamples];
        for (var k = 0; k < NumSamples; k++) mine[k] = padded[k * NumReplicas + Rank];
        return mine;
    }
}
