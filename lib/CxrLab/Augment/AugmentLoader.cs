namespace CxrLab.Augment;

/// <summary>Online augmentation for training: worker threads load and augment samples ahead of the consumer
/// (at most <see cref="Prefetch"/> samples ahead) and hand them out in order. Sample i of epoch e is augmented
/// with seed <see cref="SampleSeed.Of"/>(seed, e, source index) and the epoch's order is a seeded shuffle, so
/// the stream is identical for any number of workers. Mixing transforms draw donors from the source itself.</summary>
public sealed class AugmentLoader
{
    readonly object statsLock = new();

    public AugmentLoader(ISampleSource source, Pipeline pipeline, ulong seed, int workers = 2, int prefetch = 16, bool shuffle = true)
    {
        if (workers < 1) throw new ArgumentOutOfRangeException(nameof(workers), workers, "need at least one worker");
        if (prefetch < 1) throw new ArgumentOutOfRangeException(nameof(prefetch), prefetch, "prefetch must be at least 1");
        Source = source;
        Pipeline = pipeline;
        Seed = seed;
        Workers = workers;
        Prefetch = prefetch;
        Shuffle = shuffle;
    }

    public ISampleSource Source { get; }
    public Pipeline Pipeline { get; }
    public ulong Seed { get; }
    public int Workers { get; }
    public int Prefetch { get; }
    public bool Shuffle { get; }

    /// <summary>Box counts over everything this loader produced so far.</summary>
    public AugmentStats Stats { get; } = new();

    /// <summary>The source indices of epoch <paramref name="epoch"/> in the order they are served.</summary>
    public int[] Order(int epoch)
    {
        var order = Enumerable.Range(0, Source.Count).ToArray();
        if (Shuffle) new Random(SampleSeed.ToInt32(SampleSeed.Of(Seed, epoch, -1))).Shuffle(order);
        return order;
    }

    /// <summary>The augmented samples of one epoch, in order. Stopping the enumeration early stops the workers.</summary>
    public IEnumerable<Sample> Epoch(int epoch, CancellationToken cancellation = default)
    {
        var order = Order(epoch);
        if (order.Length == 0) yield break;
        var slots = new TaskCompletionSource<Sample>[order.Length];
        for (var i = 0; i < slots.Length; i++) slots[i] = new TaskCompletionSource<Sample>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var window = new SemaphoreSlim(Prefetch);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        var next = -1;
        var threads = new Thread[Math.Min(Workers, order.Length)];
        for (var w = 0; w < threads.Length; w++)
        {
            threads[w] = new Thread(() =>
            {
                var local = new AugmentStats();
                try
                {
                    while (true)
                    {
                        window.Wait(stop.Token);
                        var position = Interlocked.Increment(ref next);
                        if (position >= order.Length) break;
                        try
                        {
                            var index = order[position];
                            var result = Pipeline.Run(Source.Get(index), SampleSeed.Of(Seed, epoch, index), Source);
                            local.Add(result.Stats);
                            slots[position].SetResult(result.Sample);
                        }
                        catch (Exception e) { slots[position].SetException(e); }
                    }
                }
                catch (OperationCanceledException) { }
                finally { lock (statsLock) Stats.Add(local); }
            }) { IsBackground = true, Name = $"augment-worker-{w}" };
            threads[w].Start();
        }
        try
        {
            for (var position = 0; position < order.Length; position++)
            {
                var sample = slots[position].Task.WaitAsync(stop.Token).GetAwaiter().GetResult();
                window.Release();
                yield return sample;
            }
        }
        finally
        {
            stop.Cancel();
            foreach (var t in threads) t.Join();
        }
    }

    /// <summary>One epoch as batches of <paramref name="batchSize"/> samples (the last one may be smaller unless <paramref name="dropLast"/>).</summary>
    public IEnumerable<IReadOnlyList<Sample>> Batches(int epoch, int batchSize, bool dropLast = false, CancellationToken cancellation = default)
    {
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "batch size must be at least 1");
        var batch = new List<Sample>(batchSize);
        foreach (var sample in Epoch(epoch, cancellation))
        {
            batch.Add(sample);
            if (batch.Count == batchSize) { yield return batch; batch = new List<Sample>(batchSize); }
        }
        if (batch.Count > 0 && !dropLast) yield return batch;
    }
}
