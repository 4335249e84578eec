using System.Text.Json;
using CxrLab.Torch;
using CxrLab.Torch.Distributed;

namespace CxrLab.Training.Distributed;

/// <summary>What the <see cref="Trainer"/> needs to train one replica of a data-parallel run: its share of every
/// epoch (<see cref="DistributedSampler"/> over the trainer's seeded epoch order), gradient averaging through
/// <see cref="DistributedDataParallel"/> (armed only on the micro-batch that ends an accumulation, so accumulated
/// gradients are reduced once), validation split across ranks and gathered so every rank computes the metric on
/// the whole set, epoch losses averaged over ranks, and the rule that rank 0 alone writes files.
/// With R ranks of batch B the run takes the same images per step as one process of batch B·R (same LR schedule
/// and number of steps per epoch); see docs/distributed.md for when the two give the same weights.</summary>
public sealed class DataParallelTraining : IDisposable
{
    /// <summary>Wraps a replica that is already on its device; the default process group must exist.</summary>
    /// <param name="ddp">The model's DDP wrapper (rank 0's weights already broadcast by its constructor).</param>
    public DataParallelTraining(DistributedDataParallel ddp)
    {
        Ddp = ddp;
        Group = ddp.Group;
    }

    public DistributedDataParallel Ddp { get; }
    public ProcessGroup Group { get; }
    public int Rank => Group.Rank;
    public int WorldSize => Group.WorldSize;

    /// <summary>True on rank 0, the only rank that writes logs, metrics, plots and checkpoints.</summary>
    public bool IsWriter => Group.Rank == 0;

    /// <summary>Images each rank sees per epoch (⌈count/R⌉; the last shard is padded with the epoch's first images).</summary>
    public int SamplesPerRank(int count) => new DistributedSampler(count, WorldSize, Rank).NumSamples;

    /// <summary>This rank's part of an epoch whose full order is <paramref name="epochOrder"/> (the same on every rank).</summary>
    public int[] Shard(int[] epochOrder) => new DistributedSampler(epochOrder.Length, WorldSize, Rank, _ => epochOrder).Indices(0);

    /// <summary>Before the forward of a micro-batch; <paramref name="synchronize"/> is false inside an accumulation.</summary>
    public void BeforeForward(bool synchronize)
    {
        if (synchronize) Ddp.prepare_for_forward();
    }

    /// <summary>Before backward of <paramref name="loss"/>; arms the gradient all-reduce when <paramref name="synchronize"/>.</summary>
    public void BeforeBackward(Tensor loss, bool synchronize)
    {
        if (synchronize) Ddp.prepare_for_backward(loss);
    }

    /// <summary>The validation images this rank predicts: r, r+R, r+2R, … (no padding, nothing counted twice).</summary>
    public IEnumerable<int> ValidationIndices(int count)
    {
        for (var i = Rank; i < count; i += WorldSize) yield return i;
    }

    /// <summary>Every rank's validation results, in data-set order (rank r's k-th item is image k·R + r), on every rank.</summary>
    public List<ValidationItem> Gather(List<ValidationItem> mine)
    {
        var parts = dist.all_gather_bytes(JsonSerializer.SerializeToUtf8Bytes(mine), Group)
            .Select(b => JsonSerializer.Deserialize<List<ValidationItem>>(b) ?? []).ToArray();
        var all = new List<ValidationItem>(parts.Sum(p => p.Count));
        for (var k = 0; all.Count < all.Capacity; k++)
            foreach (var part in parts)
                if (k < part.Count) all.Add(part[k]);
        return all;
    }

    /// <summary>The mean over ranks of per-rank values (epoch losses), keys in the same order on every rank.</summary>
    public Dictionary<string, double> Average(Dictionary<string, double> values)
    {
        if (WorldSize == 1 || values.Count == 0) return values;
        var keys = values.Keys.Order(StringComparer.Ordinal).ToArray();
        using var scope = torch.NewDisposeScope();
        var t = torch.tensor(keys.Select(k => values[k]).ToArray(), keys.Length);
        dist.all_reduce(t, ReduceOp.SUM, Group);
        var sums = t.ToArray<double>();
        return keys.Select((k, i) => (k, v: sums[i] / WorldSize)).ToDictionary(p => p.k, p => p.v);
    }

    /// <summary>True on every rank when <paramref name="flag"/> is true on any (a stop request reaches the ranks at different steps).</summary>
    public bool AnyRank(bool flag)
    {
        if (WorldSize == 1) return flag;
        using var scope = torch.NewDisposeScope();
        var t = torch.tensor(new[] { flag ? 1L : 0L }, 1);
        dist.all_reduce(t, ReduceOp.MAX, Group);
        return t.item<long>() != 0;
    }

    /// <summary>Rank 0's string on every rank (the run folder rank 0 created).</summary>
    public string FromRankZero(string value)
    {
        var gathered = dist.all_gather_bytes(IsWriter ? System.Text.Encoding.UTF8.GetBytes(value) : [], Group);
        return System.Text.Encoding.UTF8.GetString(gathered[0]);
    }

    /// <summary>What resuming a checkpoint written by <paramref name="savedWorldSize"/> ranks means with this world size;
    /// null when it is the same (exact resume).</summary>
    public static string? ResumeNote(int savedWorldSize, int worldSize, int batchSize) => savedWorldSize == worldSize ? null :
        $"resuming a run written with {savedWorldSize} rank(s) on {worldSize}: weights, optimizer state and the step count carry over, " +
        $"but the effective batch changes from {savedWorldSize * batchSize} to {worldSize * batchSize} images per step and every epoch " +
        "is split differently, so the run is no longer identical to an uninterrupted one; an interrupted epoch restarts from its first batch. " +
        "Scale optimizer.lr with the effective batch if needed.";

    public void Dispose() => Ddp.Dispose();
}
