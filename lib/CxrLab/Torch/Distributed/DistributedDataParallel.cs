using CxrLab.Interop;
using CxrLab.Torch.Nn;

namespace CxrLab.Torch.Distributed;

/// <summary>Options of <see cref="DistributedDataParallel"/>, with PyTorch's defaults.</summary>
public sealed record DdpOptions
{
    /// <summary>Gradient bucket size in MiB (PyTorch: 25). Smaller buckets start communicating earlier in backward.</summary>
    public double BucketCapMb { get; init; } = 25;

    /// <summary>Size of the first bucket in bytes (PyTorch: 1 MiB), so the first all-reduce starts as soon as the last layers' gradients exist.</summary>
    public long FirstBucketBytes { get; init; } = 1L << 20;

    /// <summary>Search the graph of the outputs passed to <see cref="DistributedDataParallel.prepare_for_backward"/> each
    /// iteration for parameters that got no gradient (heads that skip branches) and count them as zero. Costs a graph
    /// traversal per iteration; without it an unused parameter makes the next iteration fail with c10d's message naming it.</summary>
    public bool FindUnusedParameters { get; init; }

    /// <summary>Copy rank 0's buffers (BatchNorm running statistics) to every rank before each forward (PyTorch: true).</summary>
    public bool BroadcastBuffers { get; init; } = true;
}

/// <summary><c>torch.nn.parallel.DistributedDataParallel</c> for a module: at construction the ranks check that
/// their parameter lists agree and rank 0's parameters and buffers are copied to all; during backward c10d's
/// Reducer all-reduces gradients in buckets (reverse registration order, ~25 MiB, the first 1 MiB) from
/// autograd hooks as soon as a bucket is full, overlapping communication with the rest of backward; when
/// backward returns every <c>.grad</c> holds the mean over ranks. The module's own forward is called as usual
/// between <see cref="prepare_for_forward"/> and <see cref="prepare_for_backward"/> (PyTorch's wrapper calls the
/// same two reducer methods inside its forward). Skipping <see cref="prepare_for_backward"/> (see
/// <see cref="no_sync"/>) accumulates gradients locally; the next synchronised backward reduces the sum.</summary>
public sealed class DistributedDataParallel : IDisposable
{
    IntPtr reducer;
    readonly List<Tensor> parameters;
    readonly List<Tensor> buffers;
    bool syncDisabled;

    /// <summary>Wraps <paramref name="module"/> (already on its device) for the default or given group.</summary>
    /// <param name="module">The replica; its trainable parameters are reduced, its buffers broadcast.</param>
    /// <param name="options">Bucket sizes, unused-parameter search, buffer broadcast.</param>
    /// <param name="process_group">Default: <see cref="dist.default_group"/>.</param>
    public DistributedDataParallel(Module module, DdpOptions? options = null, ProcessGroup? process_group = null)
    {
        Module = module;
        Options = options ?? new DdpOptions();
        Group = process_group ?? dist.default_group;
        parameters = module.parameters().Where(p => p.requires_grad).ToList();
        if (parameters.Count == 0) throw new ArgumentException($"{module.GetType().Name} has no trainable parameters to synchronise");
        buffers = module.named_buffers().Select(b => b.buffer).ToList();
        var handles = parameters.Select(p => p.Handle).ToArray();
        try
        {
            Shim.Check(Shim.cxr_dist_verify_params(Group.Handle, handles, handles.Length));
        }
        catch (NativeException e)
        {
            throw new DistributedException($"rank {Group.Rank}: the ranks' models differ (build the same arch and config everywhere): {e.Message}", e);
        }
        // Rank 0's initial state everywhere (PyTorch's _sync_module_states), so the replicas start identical.
        using (torch.no_grad()) dist.broadcast_coalesced([.. module.parameters(), .. buffers], 0, 250L << 20, Group);
        reducer = Shim.CheckHandle(Shim.cxr_ddp_reducer_new(Group.Handle, handles, handles.Length,
            (long)(Options.BucketCapMb * (1 << 20)), Options.FirstBucketBytes, Options.FindUnusedParameters ? 1 : 0));
    }

    /// <summary>The wrapped replica.</summary>
    public Module Module { get; }

    /// <summary>The group gradients are averaged over.</summary>
    public ProcessGroup Group { get; }

    public DdpOptions Options { get; }

    /// <summary>Call before the module's forward: regroups the buckets by gradient arrival order after the first
    /// iteration and broadcasts rank 0's buffers (when <see cref="DdpOptions.BroadcastBuffers"/>).</summary>
    public void prepare_for_forward()
    {
        if (syncDisabled) return;
        Call(() => Shim.cxr_ddp_prepare_for_forward(Reducer), "bucket rebuild");
        if (Options.BroadcastBuffers && buffers.Count > 0 && Group.WorldSize > 1)
            using (torch.no_grad()) dist.broadcast_coalesced(buffers, 0, 250L << 20, Group);
    }

    /// <summary>Call after forward, before <c>backward()</c>: arms the gradient hooks for this backward. With
    /// <see cref="DdpOptions.FindUnusedParameters"/> the graph of <paramref name="outputs"/> is searched for unused parameters.</summary>
    public void prepare_for_backward(params Tensor[] outputs)
    {
        if (syncDisabled) return;
        var handles = Options.FindUnusedParameters ? outputs.Select(o => o.Handle).ToArray() : [];
        Call(() => Shim.cxr_ddp_prepare_for_backward(Reducer, handles, handles.Length), "prepare_for_backward");
    }

    /// <summary>Within the returned scope backward passes accumulate gradients locally without communicating
    /// (gradient accumulation); the first synchronised backward afterwards reduces the accumulated sum.</summary>
    public IDisposable no_sync()
    {
        var previous = syncDisabled;
        syncDisabled = true;
        return new Restore(() => syncDisabled = previous);
    }

    IntPtr Reducer => reducer != IntPtr.Zero ? reducer : throw new ObjectDisposedException(nameof(DistributedDataParallel));

    void Call(Func<int> call, string what)
    {
        try { Shim.Check(call()); }
        catch (NativeException e) { throw dist.Failed(Group, what, e); }
    }

    public void Dispose()
    {
        if (reducer == IntPtr.Zero) return;
        Shim.cxr_ddp_reducer_free(reducer);
        reducer = IntPtr.Zero;
    }

    sealed class Restore(Action undo) : IDisposable
    {
        public void Dispose() => undo();
    }
}
