using System.Runtime.InteropServices;

namespace CxrLab.Interop;

/// <summary>torch.distributed over c10d (src/torch_distributed.cpp).</summary>
internal static partial class Shim
{
    [DllImport(NativeLibraries.Shim)] public static extern IntPtr cxr_dist_backends();
    [DllImport(NativeLibraries.Shim)]
    public static extern IntPtr cxr_dist_init_process_group([MarshalAs(UnmanagedType.LPUTF8Str)] string backend,
        [MarshalAs(UnmanagedType.LPUTF8Str)] string masterAddr, int masterPort, int rank, int worldSize, long timeoutMs);
    [DllImport(NativeLibraries.Shim)] public static extern int cxr_dist_free(IntPtr pg);
    [DllImport(NativeLibraries.Shim)] public static extern int cxr_dist_rank(IntPtr pg);
    [DllImport(NativeLibraries.Shim)] public static extern int cxr_dist_world_size(IntPtr pg);
    [DllImport(NativeLibraries.Shim)] public static extern int cxr_dist_all_reduce(IntPtr pg, IntPtr tensor, int op);
    [DllImport(NativeLibraries.Shim)] public static extern IntPtr cxr_dist_all_reduce_sum_autograd(IntPtr pg, IntPtr tensor);
    [DllImport(NativeLibraries.Shim)] public static extern int cxr_dist_broadcast(IntPtr pg, IntPtr tensor, int src);
    [DllImport(NativeLibraries.Shim)] public static extern int cxr_dist_all_gather(IntPtr pg, IntPtr[] outputs, int n, IntPtr tensor);
    [DllImport(NativeLibraries.Shim)] public static extern int cxr_dist_barrier(IntPtr pg);
    [DllImport(NativeLibraries.Shim)] public static extern int cxr_dist_broadcast_coalesced(IntPtr pg, IntPtr[] tensors, int n, long bufferBytes, int src);
    [DllImport(NativeLibraries.Shim)] public static extern int cxr_dist_verify_params(IntPtr pg, IntPtr[] parameters, int n);
    [DllImport(NativeLibraries.Shim)]
    public static extern IntPtr cxr_ddp_reducer_new(IntPtr pg, IntPtr[] parameters, int n, long bucketBytes, long firstBucketBytes, int findUnused);
    [DllImport(NativeLibraries.Shim)] public static extern int cxr_ddp_reducer_free(IntPtr reducer);
    [DllImport(NativeLibraries.Shim)] public static extern int cxr_ddp_prepare_for_forward(IntPtr reducer);
    [DllImport(NativeLibraries.Shim)] public static extern int cxr_ddp_prepare_for_backward(IntPtr reducer, IntPtr[] outputs, int n);
}
