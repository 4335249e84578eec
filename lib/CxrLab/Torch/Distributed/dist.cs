using CxrLab.Interop;

namespace CxrLab.Torch.Distributed;

/// <summary><c>torch.distributed</c> (read it as <c>import torch.distributed as dist</c>): one default process
/// group per process, formed by env:// rendezvous, and the blocking collectives on it. Every call that
/// communicates must be made by every rank in the same order.
/// <code>
/// dist.init_process_group("gloo");          // MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE from the environment
/// var t = torch.ones(3) * dist.get_rank();
/// dist.all_reduce(t);                        // t = sum over ranks
/// dist.destroy_process_group();
/// </code></summary>
#pragma warning disable CS8981 // PyTorch spelling on purpose: ports read dist.all_reduce(...)
public static class dist
#pragma warning restore CS8981
{
    static ProcessGroup? group;

    /// <summary>PyTorch's default: collectives and the rendezvous fail after 30 minutes without progress.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(30);

    /// <summary>True after <see cref="init_process_group(string, TimeSpan?, int?, int?)"/> and before <see cref="destroy_process_group"/>.</summary>
    public static bool is_initialized() => group is not null;

    /// <summary>True when this native shim has the backend (<c>gloo</c>, <c>nccl</c>).</summary>
    public static bool is_backend_available(string backend) => ProcessGroup.AvailableBackends.Contains(backend);

    /// <summary>Forms the default group by env:// rendezvous: rank 0 serves a TCPStore on MASTER_ADDR:MASTER_PORT
    /// and every rank joins it (RANK and WORLD_SIZE from the environment unless given, as torchrun, Slurm via
    /// <see cref="DistributedEnvironment"/>, or a Kubernetes PyTorchJob set them). Fails with the missing variable's
    /// name, or after <paramref name="timeout"/> when the other ranks do not arrive.</summary>
    /// <param name="backend"><c>gloo</c> (CPU; also works for CUDA tensors) or <c>nccl</c> (CUDA builds).</param>
    /// <param name="timeout">Rendezvous and per-collective timeout; default 30 min as PyTorch.</param>
    /// <param name="world_size">Overrides WORLD_SIZE.</param>
    /// <param name="rank">Overrides RANK.</param>
    public static ProcessGroup init_process_group(string backend = "gloo", TimeSpan? timeout = null, int? world_size = null, int? rank = null)
    {
        var env = DistributedEnvironment.FromEnvironment()
                  ?? throw new InvalidOperationException("init_process_group(env://) needs RANK and WORLD_SIZE (and MASTER_ADDR, MASTER_PORT) in the " +
                                                         "environment; start the workers with ./cxr train --nproc-per-node N, torchrun or srun");
        env = env with { Rank = rank ?? env.Rank, WorldSize = world_size ?? env.WorldSize };
        return init_process_group(backend, env, timeout);
    }

    /// <summary>Forms the default group from an explicit rendezvous description.</summary>
    /// <param name="backend"><c>gloo</c> or <c>nccl</c>.</param>
    /// <param name="env">Master address and port, rank and world size.</param>
    /// <param name="timeout">Rendezvous and per-collective timeout; default 30 min.</param>
    public static ProcessGroup init_process_group(string backend, DistributedEnvironment env, TimeSpan? timeout = null)
    {
        if (group is not null) throw new InvalidOperationException("the default process group is already initialized (call destroy_process_group first)");
        var t = timeout ?? DefaultTimeout;
        IntPtr handle;
        try
        {
            handle = Shim.CheckHandle(Shim.cxr_dist_init_process_group(backend, env.MasterAddr, env.MasterPort, env.Rank, env.WorldSize, (long)t.TotalMilliseconds));
        }
        catch (Exception e) when (e is NativeException)
        {
            throw new DistributedException($"rank {env.Rank} of {env.WorldSize} could not join the {backend} group at {env.MasterAddr}:{env.MasterPort} " +
                                           $"within {t.TotalSeconds:0.#} s: {e.Message}", e);
        }
        group = new ProcessGroup(handle, backend, t);
        return group;
    }

    /// <summary>Leaves and frees the default group (the others should do the same).</summary>
    public static void destroy_process_group()
    {
        group?.Dispose();
        group = null;
    }

    /// <summary>The default group.</summary>
    public static ProcessGroup default_group => group ?? throw new InvalidOperationException("torch.distributed is not initialized: call dist.init_process_group first");

    /// <summary>This process's rank in the group (0 without a group, as a single process is rank 0 of 1).</summary>
    public static int get_rank(ProcessGroup? pg = null) => (pg ?? group)?.Rank ?? 0;

    /// <summary>Number of processes in the group (1 without a group).</summary>
    public static int get_world_size(ProcessGroup? pg = null) => (pg ?? group)?.WorldSize ?? 1;

    /// <summary>The group's backend name.</summary>
    public static string get_backend(ProcessGroup? pg = null) => (pg ?? default_group).Backend;

    /// <summary>Reduces <paramref name="tensor"/> over all ranks, in place, on every rank.</summary>
    public static void all_reduce(Tensor tensor, ReduceOp op = ReduceOp.SUM, ProcessGroup? pg = null) =>
        Run(pg, g => Shim.cxr_dist_all_reduce(g.Handle, tensor.Handle, (int)op), "all_reduce");

    /// <summary>The sum over ranks as a new tensor that autograd can differentiate: backward all-reduces the incoming
    /// gradient, so each rank's input receives the sum of every rank's output gradients (SyncBatchNorm's statistics).</summary>
    public static Tensor all_reduce_sum_autograd(Tensor tensor, ProcessGroup? pg = null)
    {
        var g = pg ?? default_group;
        try { return new Tensor(Shim.CheckHandle(Shim.cxr_dist_all_reduce_sum_autograd(g.Handle, tensor.Handle))); }
        catch (Exception e) when (e is NativeException) { throw Failed(g, "all_reduce", e); }
    }

    /// <summary>Copies rank <paramref name="src"/>'s <paramref name="tensor"/> into every rank's, in place.</summary>
    public static void broadcast(Tensor tensor, int src = 0, ProcessGroup? pg = null) =>
        Run(pg, g => Shim.cxr_dist_broadcast(g.Handle, tensor.Handle, src), "broadcast");

    /// <summary>Fills <paramref name="tensor_list"/> (one tensor per rank, shaped like <paramref name="tensor"/>) with every
    /// rank's <paramref name="tensor"/> in rank order.</summary>
    public static void all_gather(IReadOnlyList<Tensor> tensor_list, Tensor tensor, ProcessGroup? pg = null) =>
        Run(pg, g => Shim.cxr_dist_all_gather(g.Handle, tensor_list.Select(t => t.Handle).ToArray(), tensor_list.Count, tensor.Handle), "all_gather");

    /// <summary>Every rank's <paramref name="tensor"/> in rank order (allocates the outputs).</summary>
    public static Tensor[] all_gather(Tensor tensor, ProcessGroup? pg = null)
    {
        var g = pg ?? default_group;
        var outputs = Enumerable.Range(0, g.WorldSize).Select(_ => torch.zeros_like(tensor)).ToArray();
        all_gather(outputs, tensor, g);
        return outputs;
    }

    /// <summary>Every rank's byte payload (any length) in rank order: lengths are gathered first, then the payloads
    /// padded to the longest. For small objects (validation results), like <c>all_gather_object</c>.</summary>
    public static byte[][] all_gather_bytes(byte[] payload, ProcessGroup? pg = null)
    {
        var g = pg ?? default_group;
        using var scope = torch.NewDisposeScope();
        var lengths = all_gather(torch.tensor(new long[] { payload.Length }, 1), g).Select(t => t.item<long>()).ToArray();
        var longest = (int)lengths.Max();
        var padded = new byte[Math.Max(1, longest)];
        payload.CopyTo(padded, 0);
        var gathered = all_gather(Tensor.FromBytes(padded, ScalarType.UInt8, [padded.Length]), g);
        return gathered.Select((t, r) => t.ToBytes()[..(int)lengths[r]]).ToArray();
    }

    /// <summary>Returns when every rank has called it.</summary>
    public static void barrier(ProcessGroup? pg = null) => Run(pg, g => Shim.cxr_dist_barrier(g.Handle), "barrier");

    /// <summary>Broadcasts many tensors from <paramref name="src"/> packed into flat buffers of up to
    /// <paramref name="buffer_bytes"/> (DDP's start-up sync of parameters and buffers).</summary>
    public static void broadcast_coalesced(IReadOnlyList<Tensor> tensors, int src = 0, long buffer_bytes = 250L << 20, ProcessGroup? pg = null)
    {
        if (tensors.Count == 0) return;
        Run(pg, g => Shim.cxr_dist_broadcast_coalesced(g.Handle, tensors.Select(t => t.Handle).ToArray(), tensors.Count, buffer_bytes, src), "broadcast");
    }

    static void Run(ProcessGroup? pg, Func<ProcessGroup, int> call, string what)
    {
        var g = pg ?? default_group;
        try { Shim.Check(call(g)); }
        catch (Exception e) when (e is NativeException) { throw Failed(g, what, e); }
    }

    internal static DistributedException Failed(ProcessGroup g, string what, Exception e)
    {
        // Transport failures mean a peer is gone or stuck; anything else (c10d's own checks) speaks for itself.
        var lost = new[] { "onnection", "closed", "imed out", "imeout", "peer", "Broken pipe", "reset" }.Any(e.Message.Contains);
        return new($"{what} failed on rank {g.Rank} of {g.WorldSize} ({g.Backend})" +
                   (lost ? $": another rank has probably died or stopped answering (timeout {g.Timeout.TotalSeconds:0.#} s); see its log. libtorch said: " : ": ") +
                   e.Message, e);
    }
}

/// <summary>A collective or the rendezvous failed: a peer died, timed out, or the ranks disagree.</summary>
public sealed class DistributedException(string message, Exception? inner = null) : Exception(message, inner);
