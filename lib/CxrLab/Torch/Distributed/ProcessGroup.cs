using System.Runtime.InteropServices;
using CxrLab.Interop;

namespace CxrLab.Torch.Distributed;

/// <summary>How <see cref="dist.all_reduce"/> combines the ranks' tensors (c10d's ReduceOp codes).
/// <c>AVG</c> is NCCL only, as in PyTorch; with Gloo reduce with <c>SUM</c> and divide.</summary>
public enum ReduceOp { SUM = 0, AVG = 1, PRODUCT = 2, MIN = 3, MAX = 4 }

/// <summary>A c10d process group (<c>torch.distributed.ProcessGroup</c>): the ranks that run collectives
/// together over one backend. Made by <c>dist.init_process_group</c>; every collective is called by
/// every rank in the same order.</summary>
public sealed class ProcessGroup : IDisposable
{
    IntPtr handle;

    internal ProcessGroup(IntPtr handle, string backend, TimeSpan timeout)
    {
        this.handle = handle;
        Backend = backend;
        Timeout = timeout;
        Rank = Shim.Check(Shim.cxr_dist_rank(handle));
        WorldSize = Shim.Check(Shim.cxr_dist_world_size(handle));
    }

    /// <summary>This process's rank, 0..<see cref="WorldSize"/>−1.</summary>
    public int Rank { get; }

    /// <summary>Number of processes in the group.</summary>
    public int WorldSize { get; }

    /// <summary><c>gloo</c> or <c>nccl</c>.</summary>
    public string Backend { get; }

    /// <summary>How long a collective (or the rendezvous) waits for the other ranks before failing.</summary>
    public TimeSpan Timeout { get; }

    internal IntPtr Handle => handle != IntPtr.Zero ? handle : throw new ObjectDisposedException(nameof(ProcessGroup), "the process group was destroyed (destroy_process_group)");

    /// <summary>Backends the native shim was built with (<c>gloo</c>; <c>nccl</c> on a CUDA libtorch with NCCL).</summary>
    public static IReadOnlyList<string> AvailableBackends =>
        (Marshal.PtrToStringUTF8(Shim.cxr_dist_backends()) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries);

    public void Dispose()
    {
        if (handle == IntPtr.Zero) return;
        Shim.cxr_dist_free(handle);
        handle = IntPtr.Zero;
    }

    public override string ToString() => $"ProcessGroup({Backend}, rank {Rank} of {WorldSize})";
}
