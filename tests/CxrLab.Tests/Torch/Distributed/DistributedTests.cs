using System.Diagnostics;
using System.Text.Json;
using CxrLab.Torch;
using CxrLab.Torch.Serialization;

namespace CxrLab.Tests.Torch.Distributed;

/// <summary>torch.distributed with two real processes on loopback over Gloo (c10d), every wait bounded.</summary>
public sealed class DistributedTests : IDisposable
{
    readonly string temp = Directory.CreateTempSubdirectory("cxr-ddp-").FullName;

    public void Dispose() => Directory.Delete(temp, recursive: true);

    static float[] Input(int r) => [1f + r, 10f - 3 * r, 0.5f * (r + 1)];

    static float[] Floats(JsonElement e) => e.EnumerateArray().Select(x => x.GetSingle()).ToArray();

    [Fact]
    public void Collectives_equal_their_definitions_on_every_rank()
    {
        const int world = 2;
        Worker.RunRanks(world, 120, "distributed-check", "collectives", "--out", temp, "--timeout", "60");
        var inputs = Enumerable.Range(0, world).Select(Input).ToArray();
        float[] Fold(Func<float, float, float> f) => Enumerable.Range(0, 3).Select(i => inputs.Select(x => x[i]).Aggregate(f)).ToArray();
        for (var r = 0; r < world; r++)
        {
            var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(temp, $"rank{r}.json"))).RootElement;
            Assert.Equal(r, json.GetProperty("rank").GetInt32());
            Assert.Equal(Fold((a, b) => a + b), Floats(json.GetProperty("all_reduce_SUM")));
            Assert.Equal(Fold(Math.Max), Floats(json.GetProperty("all_reduce_MAX")));
            Assert.Equal(Fold(Math.Min), Floats(json.GetProperty("all_reduce_MIN")));
            Assert.Equal(Fold((a, b) => a * b), Floats(json.GetProperty("all_reduce_PRODUCT")));
            Assert.Equal(inputs[world - 1], Floats(json.GetProperty("broadcast_from_last")));
            var gathered = json.GetProperty("all_gather").EnumerateArray().Select(Floats).ToArray();
            Assert.Equal(inputs, gathered);
            Assert.Equal(Enumerable.Range(0, world).Select(k => new string('x', k + 1) + $"rank{k}"),
                json.GetProperty("all_gather_bytes").EnumerateArray().Select(e => e.GetString()));
            // y = Σ_k 2·x_k; loss_r = Σ c_r·y with c_r = (r+1)·[1,2,3]: dloss/dx_r = 2·Σ_k c_k.
            Assert.Equal(Fold((a, b) => a + b).Select(v => 2 * v), Floats(json.GetProperty("autograd_sum")));
            var cSum = Enumerable.Range(0, world).Sum(k => k + 1);
            Assert.Equal(new[] { 1f, 2f, 3f }.Select(c => 2 * c * cSum), Floats(json.GetProperty("autograd_grad")));
        }
    }

    static Dictionary<string, float[]> Weights(string path) =>
        SafeTensors.Read(path).Where(kv => kv.Value.DType == ScalarType.Float32).ToDictionary(kv => kv.Key, kv => kv.Value.ToArray<float>());

    static double MaxDiff(Dictionary<string, float[]> a, Dictionary<string, float[]> b)
    {
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        return a.Keys.Max(k => a[k].Zip(b[k]).Select(p => Math.Abs((double)p.First - p.Second)).DefaultIfEmpty(0).Max());
    }

    static double[] Losses(string dir, int rank) =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, $"rank{rank}.json"))).RootElement.GetProperty("losses").EnumerateArray().Select(e => e.GetDouble()).ToArray();

    /// <summary>Trainer steps of a small Faster R-CNN: 2 ranks × batch 1 started by the launcher (./cxr's torchrun) end with
    /// the weights of 1 process × batch 2 — the gradients are averaged, not summed or left local (the ranks see
    /// different images, so a missing all-reduce leaves them apart), and the epoch shards are the single run's batches.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Two_ranks_of_batch_1_end_with_the_weights_of_one_process_of_batch_2(bool syncBatchNorm)
    {
        var single = Path.Combine(temp, "single");
        var ddp = Path.Combine(temp, "ddp");
        string[] extra = syncBatchNorm ? ["--sync-bn"] : [];
        using (var one = new Worker(["distributed-check", "train", "--out", single, "--batch", "2", .. extra]))
            Assert.True(one.Wait(240) == 0, one.Stderr);
        using (var launcher = new Worker(["distributed-check", "train", "--out", ddp, "--batch", "1", "--nproc-per-node", "2", .. extra]))
            Assert.True(launcher.Wait(240) == 0, launcher.Stdout + launcher.Stderr);

        var reference = Weights(Path.Combine(single, "rank0.safetensors"));
        var rank0 = Weights(Path.Combine(ddp, "rank0.safetensors"));
        var rank1 = Weights(Path.Combine(ddp, "rank1.safetensors"));
        Assert.True(MaxDiff(rank0, rank1) == 0, "the replicas drifted apart");
        var diff = MaxDiff(reference, rank0);
        Assert.True(diff < 1e-5, $"max |w_ddp - w_single| = {diff}");
        // The weights moved (so equality is not of untouched initial weights).
        var steps = JsonDocument.Parse(File.ReadAllText(Path.Combine(ddp, "rank0.json"))).RootElement.GetProperty("steps").GetInt64();
        Assert.Equal(4, steps);
        // Each single-process step loss is the mean of the two ranks' losses on their halves of the batch.
        var (l0, l1, ls) = (Losses(ddp, 0), Losses(ddp, 1), Losses(single, 0));
        for (var s = 0; s < ls.Length; s++) Assert.Equal(ls[s], (l0[s] + l1[s]) / 2, 4);
        Assert.NotEqual(l0[0], l1[0]);
        // Rank 0 alone wrote the run: one run folder, rank 1 kept no metrics rows.
        var runs = Directory.GetDirectories(Path.Combine(ddp, "runs", "ddp-check"));
        Assert.Single(runs);
        Assert.True(File.Exists(Path.Combine(runs[0], "checkpoints", "last.ckpt")));
        Assert.Equal(2, File.ReadAllLines(Path.Combine(runs[0], "metrics.jsonl")).Length);
        var rank1Summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(ddp, "rank1.json"))).RootElement;
        Assert.Equal(0, rank1Summary.GetProperty("log_rows").GetInt32());
        // Validation gathered from both ranks: each computes the metric over the whole set, as the single process.
        var v0 = JsonDocument.Parse(File.ReadAllText(Path.Combine(ddp, "rank0.json"))).RootElement.GetProperty("validate").GetDouble();
        Assert.Equal(v0, rank1Summary.GetProperty("validate").GetDouble());
    }

    /// <summary>YOLOX as Faster R-CNN above, for one step: 2 ranks × batch 1 with SyncBatchNorm end with the weights of
    /// 1 process × batch 2 (its losses divide by the foreground count, which data-parallel runs average over ranks first).
    /// One step, because SimOTA's assignment is discrete: on a random init its costs nearly tie, and the float summation
    /// order of one process vs two can flip an anchor in a later step.</summary>
    [Fact]
    public void Yolox_two_ranks_of_batch_1_end_with_the_weights_of_one_process_of_batch_2()
    {
        var single = Path.Combine(temp, "yolox-single");
        var ddp = Path.Combine(temp, "yolox-ddp");
        using (var one = new Worker(["distributed-check", "train", "--out", single, "--batch", "2", "--images", "2", "--epochs", "1", "--arch", "yolox_nano", "--sync-bn"]))
            Assert.True(one.Wait(240) == 0, one.Stderr);
        using (var launcher = new Worker(["distributed-check", "train", "--out", ddp, "--batch", "1", "--images", "2", "--epochs", "1", "--arch", "yolox_nano", "--sync-bn", "--nproc-per-node", "2"]))
            Assert.True(launcher.Wait(240) == 0, launcher.Stdout + launcher.Stderr);
        static Dictionary<string, float[]> Parameters(string path) =>
            Weights(path).Where(kv => !kv.Key.Contains(".running_")).ToDictionary(kv => kv.Key, kv => kv.Value);
        // Relative to the step: YOLOX's early-layer gradients are large (objectness summed over every anchor), so float
        // summation order alone moves them by ~1e-3 of the step (one process with 1 vs 2 threads differs that much too).
        var initial = Parameters(Path.Combine(single, "initial.safetensors"));
        var after = Parameters(Path.Combine(single, "rank0.safetensors"));
        Assert.Equal(initial.Keys.Order(), Parameters(Path.Combine(ddp, "initial.safetensors")).Keys.Order());
        Assert.True(MaxDiff(initial, Parameters(Path.Combine(ddp, "initial.safetensors"))) == 0, "the runs started from different weights");
        var diff = MaxDiff(after, Parameters(Path.Combine(ddp, "rank0.safetensors")));
        var step = MaxDiff(initial, after);
        Assert.True(step > 0, "the step did not move the weights");
        Assert.True(diff < 1e-2 * step, $"max |w_ddp - w_single| = {diff}, {diff / step:P2} of the step (max |Δw| = {step})");
        var (l0, l1, ls) = (Losses(ddp, 0), Losses(ddp, 1), Losses(single, 0));
        Assert.Single(ls);
        Assert.Equal(ls[0], (l0[0] + l1[0]) / 2, 4);
        Assert.NotEqual(l0[0], l1[0]);
    }

    /// <summary>The other families train data-parallel through the same trainer hooks: two ranks of batch 1 run every step,
    /// stay identical replicas (gradients all-reduced, rank 0's weights broadcast) and move away from the start.</summary>
    [Theory]
    [InlineData("yolox_nano")]
    [InlineData("efficientdet_d0")]
    public void Other_families_train_as_identical_replicas(string arch)
    {
        var ddp = Path.Combine(temp, arch);
        using (var launcher = new Worker(["distributed-check", "train", "--out", ddp, "--batch", "1", "--arch", arch, "--nproc-per-node", "2"]))
            Assert.True(launcher.Wait(240) == 0, launcher.Stdout + launcher.Stderr);
        // Parameters only: BatchNorm's running statistics are rank 0's at the start of each forward (broadcast_buffers, as
        // PyTorch's DDP) and each rank's own after its last one.
        static Dictionary<string, float[]> Parameters(string path) =>
            Weights(path).Where(kv => !kv.Key.Contains(".running_")).ToDictionary(kv => kv.Key, kv => kv.Value);
        var rank0 = Parameters(Path.Combine(ddp, "rank0.safetensors"));
        var rank1 = Parameters(Path.Combine(ddp, "rank1.safetensors"));
        Assert.True(MaxDiff(rank0, rank1) == 0, $"{arch}: the replicas drifted apart");
        Assert.Equal(4, JsonDocument.Parse(File.ReadAllText(Path.Combine(ddp, "rank0.json"))).RootElement.GetProperty("steps").GetInt64());
        var (l0, l1) = (Losses(ddp, 0), Losses(ddp, 1));
        Assert.All(l0.Concat(l1), l => Assert.True(double.IsFinite(l)));
        Assert.NotEqual(l0[0], l1[0]);
    }

    /// <summary>A branch used only on odd steps: without find_unused_parameters c10d stops the run at the next step with its
    /// message naming the unused parameters; with it, the run completes and the replicas stay identical (different
    /// initial weights per rank, so this also checks rank 0's start-up broadcast).</summary>
    [Fact]
    public void Unused_parameters_fail_clearly_without_the_option_and_train_with_it()
    {
        var without = Path.Combine(temp, "without");
        var port = Worker.FreePort();
        var ranks = Enumerable.Range(0, 2).Select(r => new Worker(["distributed-check", "unused", "--out", without, "--timeout", "60"], Worker.RankEnv(r, 2, port))).ToList();
        try
        {
            foreach (var w in ranks)
            {
                Assert.NotEqual(0, w.Wait(120));
                Assert.Contains("find_unused_parameters", w.Stderr);
                Assert.Contains("did not receive grad", w.Stderr);
            }
        }
        finally { foreach (var w in ranks) w.Dispose(); }

        var with = Path.Combine(temp, "with");
        Worker.RunRanks(2, 120, "distributed-check", "unused", "--out", with, "--find-unused", "--timeout", "60");
        var w0 = Weights(Path.Combine(with, "rank0.safetensors"));
        Assert.Equal(0, MaxDiff(w0, Weights(Path.Combine(with, "rank1.safetensors"))));
        Assert.Equal(4, w0.Count);
    }

    [Fact]
    public void A_killed_rank_makes_the_other_exit_non_zero_before_the_timeout()
    {
        const double timeout = 90;
        var port = Worker.FreePort();
        using var survivor = new Worker(["distributed-check", "wait", "--out", temp, "--timeout", $"{timeout}"], Worker.RankEnv(0, 2, port));
        using var victim = new Worker(["distributed-check", "wait", "--out", temp, "--timeout", $"{timeout}"], Worker.RankEnv(1, 2, port));
        var ready = Stopwatch.StartNew();
        while (!(survivor.Stdout.Contains("ready") && victim.Stdout.Contains("ready")))
        {
            Assert.True(ready.Elapsed.TotalSeconds < 120, $"workers never got ready:\n{survivor.Stderr}\n{victim.Stderr}");
            Assert.False(survivor.Process.HasExited || victim.Process.HasExited, $"a worker exited early:\n{survivor.Stderr}\n{victim.Stderr}");
            Thread.Sleep(100);
        }
        victim.Process.Kill();
        var clock = Stopwatch.StartNew();
        var code = survivor.Wait(timeout);
        Assert.NotEqual(0, code);
        Assert.True(clock.Elapsed.TotalSeconds < timeout, $"took {clock.Elapsed.TotalSeconds:0.0} s");
        Assert.Contains("rank 0 of 2", survivor.Stderr);
    }
}
