using CxrLab.Torch;
using CxrLab.Torch.Distributed;
using CxrLab.Torch.Nn;
using CxrLab.Training;
using CxrLab.Training.Distributed;

namespace CxrLab.Cli.Verbs;

/// <summary>A <c>./cxr train</c> process started as one worker of a distributed run (by <see cref="DistributedLauncher"/>,
/// torchrun, srun or a PyTorchJob: the environment says so): joins the process group, picks its GPU from LOCAL_RANK,
/// shares rank 0's run folder, and wraps the model for data-parallel training.</summary>
public sealed class DistributedReplica : IDisposable
{
    readonly ExperimentConfig config;

    DistributedReplica(ExperimentConfig config, DistributedEnvironment env, ProcessGroup group)
    {
        this.config = config;
        Environment = env;
        Group = group;
    }

    public DistributedEnvironment Environment { get; }
    public ProcessGroup Group { get; }
    public bool IsWriter => Group.Rank == 0;

    /// <summary>Joins the run the environment describes, or returns null when this process is not a worker of a
    /// multi-process run. A CUDA <c>train.device</c> becomes <c>cuda:LOCAL_RANK</c>.</summary>
    public static DistributedReplica? JoinIfLaunched(ExperimentConfig config)
    {
        var env = DistributedEnvironment.FromEnvironment();
        if (env is null || env.WorldSize == 1) return null;
        var cuda = config.Train.Device.StartsWith("cuda", StringComparison.Ordinal);
        if (cuda) config.Train.Device = $"cuda:{env.LocalRank}";
        var backend = config.Distributed.Backend is { Length: > 0 } b ? b : cuda && dist.is_backend_available("nccl") ? "nccl" : "gloo";
        var group = dist.init_process_group(backend, env, TimeSpan.FromSeconds(config.Distributed.TimeoutS));
        return new DistributedReplica(config, env, group);
    }

    /// <summary>Rank 0's run folder on every rank (rank 0 passes the folder it created or resumes; the others must see
    /// the same path: one machine, or a shared file system across nodes).</summary>
    public RunDirectory ShareRun(Func<RunDirectory?> createOnRankZero)
    {
        var path = "";
        RunDirectory? mine = null;
        if (IsWriter) { mine = createOnRankZero(); path = mine?.Path ?? ""; }
        var gathered = dist.all_gather_bytes(System.Text.Encoding.UTF8.GetBytes(path), Group);
        var shared = System.Text.Encoding.UTF8.GetString(gathered[0]);
        if (shared.Length == 0) throw new DistributedException("rank 0 could not open the run folder; see its output");
        return mine ?? RunDirectory.Join(shared);
    }

    /// <summary>The model as a replica: SyncBatchNorm when <c>distributed.sync_batchnorm</c>, then DDP (rank 0's weights everywhere).</summary>
    public DataParallelTraining Wrap(Module model)
    {
        var converted = config.Distributed.SyncBatchnorm ? SyncBatchNorm.convert_sync_batchnorm(model, Group) : 0;
        if (IsWriter && config.Distributed.SyncBatchnorm)
            Console.Error.WriteLine($"distributed.sync_batchnorm: {converted} BatchNorm2d layer(s) normalise over all {Group.WorldSize} ranks" +
                                    (converted == 0 ? " (none: the model uses FrozenBatchNorm2d; set model.norm_layer: batchnorm)" : ""));
        var ddp = new DistributedDataParallel(model, new DdpOptions
        {
            BucketCapMb = config.Distributed.BucketCapMb,
            FindUnusedParameters = config.Distributed.FindUnusedParameters,
            BroadcastBuffers = config.Distributed.BroadcastBuffers,
        }, Group);
        return new DataParallelTraining(ddp);
    }

    public void Dispose() => dist.destroy_process_group();
}
