namespace CxrLab.Training.Distributed;

/// <summary>The <c>distributed:</c> section of an experiment: how the replicas of a data-parallel run talk. Used
/// only when the run is started on several processes (<c>./cxr train --nproc-per-node N</c>, torchrun, srun, a
/// PyTorchJob); a single process ignores it. Defaults are PyTorch's.</summary>
public sealed class DistributedConfig
{
    /// <summary>c10d backend: <c>gloo</c> (CPU, tested) or <c>nccl</c> (CUDA builds of libtorch with NCCL); empty = nccl
    /// when <c>train.device</c> is CUDA and this build has it, else gloo (PyTorch's choice).</summary>
    public string Backend { get; set; } = "";

    /// <summary>Seconds the rendezvous and each collective wait for the other ranks before failing (PyTorch: 1800).
    /// A rank that dies usually closes its connections and the others fail at once; this bounds the rest.</summary>
    public double TimeoutS { get; set; } = 1800;

    /// <summary>Gradient bucket size in MiB (PyTorch: 25).</summary>
    public double BucketCapMb { get; set; } = 25;

    /// <summary>Search each iteration's graph for parameters without a gradient (heads that skip a branch);
    /// off by default as in PyTorch because it costs a graph traversal per step.</summary>
    public bool FindUnusedParameters { get; set; }

    /// <summary>Copy rank 0's buffers (BatchNorm running statistics) to all ranks before every forward (PyTorch: true).</summary>
    public bool BroadcastBuffers { get; set; } = true;

    /// <summary>Normalise BatchNorm2d layers with statistics over the whole global batch (all ranks) instead of each
    /// rank's own batch: what a single process with the global batch would compute. Costs one all-reduce per layer
    /// in forward and one in backward.</summary>
    public bool SyncBatchnorm { get; set; }
}
