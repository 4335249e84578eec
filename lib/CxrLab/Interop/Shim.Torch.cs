using System.Runtime.InteropServices;

namespace CxrLab.Interop;

internal static partial class Shim
{
    [DllImport(NativeLibraries.Shim)] public static extern IntPtr cxr_torch_version();
    [DllImport(NativeLibraries.Shim)] public static extern long cxr_torch_config(byte[]? buffer, long capacity);
    [DllImport(NativeLibraries.Shim)] public static extern int cxr_torch_set_num_threads(int n);
    [DllImport(NativeLibraries.Shim)] public static extern int cxr_torch_get_num_threads();
    [DllImport(NativeLibraries.Shim)] public static extern int cxr_torch_cuda_device_count();
    [DllImport(NativeLibraries.Shim)] public static extern int cxr_torch_has_mkldnn();
    [DllImport(NativeLibraries.Shim)] public static extern int cxr_native_set_heap_policy(int retain);
    [DllImport(NativeLibraries.Shim)] public static extern int cxr_native_release_free_memory();
    [DllImport(NativeLibraries.Shim)] public static extern int cxr_native_heap_stats(out long inUse, out long mapped, out long free);
    [DllImport(NativeLibraries.Shim)] public static extern double cxr_torch_gemm_gflops(long n, int reps);

    [DllImport(NativeLibraries.Shim)]
    public static extern unsafe IntPtr cxr_tensor_from_buffer(void* data, int dtype, long* shape, int ndim);
    [DllImport(NativeLibraries.Shim)] public static extern void cxr_tensor_free(IntPtr handle);
    [DllImport(NativeLibraries.Shim)] public static extern int cxr_tensor_ndim(IntPtr handle);
    [DllImport(NativeLibraries.Shim)] public static extern unsafe int cxr_tensor_shape(IntPtr handle, long* shape);
    [DllImport(NativeLibraries.Shim)] public static extern int cxr_tensor_dtype(IntPtr handle);
    [DllImport(NativeLibraries.Shim)] public static extern long cxr_tensor_numel(IntPtr handle);
    [DllImport(NativeLibraries.Shim)] public static extern unsafe int cxr_tensor_copy_to(IntPtr handle, void* dst, long nbytes);
}
