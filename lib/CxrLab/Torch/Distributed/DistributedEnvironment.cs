using System.Globalization;

namespace CxrLab.Torch.Distributed;

/// <summary>Where a worker stands in a distributed run, read from the variables launchers set:
/// torchrun, <c>./cxr train --nproc-per-node</c> and Kubeflow's PyTorchJob set <c>RANK</c>, <c>WORLD_SIZE</c>,
/// <c>LOCAL_RANK</c>, <c>MASTER_ADDR</c>, <c>MASTER_PORT</c>; under Slurm's <c>srun</c> without them, <c>SLURM_PROCID</c>,
/// <c>SLURM_NTASKS</c> and <c>SLURM_LOCALID</c> stand in (MASTER_ADDR and MASTER_PORT must still be exported by the
/// batch script, see docs/distributed.md).</summary>
/// <param name="Rank">Global rank, 0..WorldSize−1.</param>
/// <param name="WorldSize">Processes in the run.</param>
/// <param name="LocalRank">Rank on this node (picks the GPU).</param>
/// <param name="LocalWorldSize">Processes on this node.</param>
/// <param name="MasterAddr">Host of rank 0's TCPStore.</param>
/// <param name="MasterPort">Its port.</param>
public sealed record DistributedEnvironment(int Rank, int WorldSize, int LocalRank, int LocalWorldSize, string MasterAddr, int MasterPort)
{
    /// <summary>torchrun's default port.</summary>
    public const int DefaultPort = 29500;

    /// <summary>The variables a launcher sets for one worker (what <see cref="FromEnvironment"/> reads back).</summary>
    public IReadOnlyDictionary<string, string> ToVariables() => new Dictionary<string, string>
    {
        ["RANK"] = Rank.ToString(CultureInfo.InvariantCulture),
        ["WORLD_SIZE"] = WorldSize.ToString(CultureInfo.InvariantCulture),
        ["LOCAL_RANK"] = LocalRank.ToString(CultureInfo.InvariantCulture),
        ["LOCAL_WORLD_SIZE"] = LocalWorldSize.ToString(CultureInfo.InvariantCulture),
        ["MASTER_ADDR"] = MasterAddr,
        ["MASTER_PORT"] = MasterPort.ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>This process's place in a distributed run, or null when no launcher started it as a worker
    /// (neither WORLD_SIZE nor Slurm's SLURM_NTASKS with more than one task).</summary>
    public static DistributedEnvironment? FromEnvironment() => From(Environment.GetEnvironmentVariable);

    /// <summary><see cref="FromEnvironment"/> over any variable source (tests).</summary>
    /// <param name="get">Variable lookup; null when unset.</param>
    public static DistributedEnvironment? From(Func<string, string?> get)
    {
        var torchStyle = get("WORLD_SIZE") is not null;
        var slurm = !torchStyle && get("SLURM_NTASKS") is { } n && int.TryParse(n, out var tasks) && tasks > 1 && get("SLURM_PROCID") is not null;
        if (!torchStyle && !slurm) return null;
        int Int(string name, int? fallback = null)
        {
            var text = get(name);
            if (text is null) return fallback ?? throw new InvalidOperationException($"{name} is not set; a distributed worker needs it (launch with ./cxr train --nproc-per-node, torchrun or srun)");
            return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v)
                ? v : throw new InvalidOperationException($"{name}='{text}' is not an integer");
        }
        var worldSize = torchStyle ? Int("WORLD_SIZE") : Int("SLURM_NTASKS");
        var rank = torchStyle ? Int("RANK") : Int("SLURM_PROCID");
        var localRank = torchStyle ? Int("LOCAL_RANK", 0) : Int("SLURM_LOCALID", 0);
        var localWorld = torchStyle ? Int("LOCAL_WORLD_SIZE", worldSize) : Int("SLURM_NTASKS_PER_NODE", worldSize);
        if (worldSize < 1) throw new InvalidOperationException($"WORLD_SIZE={worldSize} must be at least 1");
        if (rank < 0 || rank >= worldSize) throw new InvalidOperationException($"RANK={rank} is outside 0..{worldSize - 1} (WORLD_SIZE={worldSize})");
        var addr = get("MASTER_ADDR") ?? (worldSize == 1 ? "127.0.0.1" : throw new InvalidOperationException("MASTER_ADDR is not set: the host name of rank 0"));
        var port = Int("MASTER_PORT", DefaultPort);
        return new DistributedEnvironment(rank, worldSize, localRank, localWorld, addr, port);
    }
}
