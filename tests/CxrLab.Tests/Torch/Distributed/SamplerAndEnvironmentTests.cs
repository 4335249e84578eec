using CxrLab.Torch.Distributed;
using CxrLab.Training;

namespace CxrLab.Tests.Torch.Distributed;

public sealed class SamplerAndEnvironmentTests
{
    [Theory]
    [InlineData(8, 2)]
    [InlineData(7, 2)]
    [InlineData(13, 3)]
    [InlineData(2, 4)]
    public void Sampler_covers_every_image_once_per_epoch_across_ranks(int count, int world)
    {
        for (var epoch = 0; epoch < 3; epoch++)
        {
            var order = Trainer.EpochOrder(count, 42, epoch);
            var shards = Enumerable.Range(0, world).Select(r => new DistributedSampler(count, world, r, e => Trainer.EpochOrder(count, 42, e)).Indices(epoch)).ToArray();
            var perRank = (count + world - 1) / world;
            Assert.All(shards, s => Assert.Equal(perRank, s.Length));
            var all = shards.SelectMany(s => s).ToList();
            Assert.Equal(Enumerable.Range(0, count), all.Distinct().Order());
            Assert.Equal(perRank * world - count, all.Count - all.Distinct().Count());  // the padding, nothing else repeats
            // Step k of all ranks together is the single process's batch k (positions k·R … k·R+R−1 of the epoch order).
            for (var k = 0; k < perRank; k++)
                for (var r = 0; r < world; r++)
                    Assert.Equal(order[(k * world + r) % count], shards[r][k]);
        }
        if (count > 2)
            Assert.NotEqual(new DistributedSampler(count, world, 0, seed: 1).Indices(0), new DistributedSampler(count, world, 0, seed: 1).Indices(1));
    }

    [Fact]
    public void Sampler_drop_last_and_unshuffled()
    {
        var s = new DistributedSampler(7, 2, 1, shuffle: false, drop_last: true);
        Assert.Equal([1, 3, 5], s.Indices(0));
        Assert.Equal([1, 3, 5, 0], new DistributedSampler(7, 2, 1, shuffle: false).Indices(5));
    }

    [Fact]
    public void Environment_reads_torchrun_and_slurm_variables()
    {
        var torchrun = new Dictionary<string, string> { ["RANK"] = "3", ["WORLD_SIZE"] = "4", ["LOCAL_RANK"] = "1", ["MASTER_ADDR"] = "node0", ["MASTER_PORT"] = "1234" };
        Assert.Equal(new DistributedEnvironment(3, 4, 1, 4, "node0", 1234), DistributedEnvironment.From(torchrun.GetValueOrDefault));
        var slurm = new Dictionary<string, string> { ["SLURM_PROCID"] = "5", ["SLURM_NTASKS"] = "8", ["SLURM_LOCALID"] = "1", ["SLURM_NTASKS_PER_NODE"] = "4", ["MASTER_ADDR"] = "n1" };
        Assert.Equal(new DistributedEnvironment(5, 8, 1, 4, "n1", 29500), DistributedEnvironment.From(slurm.GetValueOrDefault));
        Assert.Null(DistributedEnvironment.From(_ => null));
        var bad = new Dictionary<string, string> { ["RANK"] = "4", ["WORLD_SIZE"] = "4", ["MASTER_ADDR"] = "a" };
        Assert.Contains("RANK=4", Assert.Throws<InvalidOperationException>(() => DistributedEnvironment.From(bad.GetValueOrDefault)).Message);
        var noAddr = new Dictionary<string, string> { ["RANK"] = "0", ["WORLD_SIZE"] = "2" };
        Assert.Contains("MASTER_ADDR", Assert.Throws<InvalidOperationException>(() => DistributedEnvironment.From(noAddr.GetValueOrDefault)).Message);
    }
}
