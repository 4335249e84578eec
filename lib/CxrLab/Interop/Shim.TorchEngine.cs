using System.Runtime.InteropServices;

namespace CxrLab.Interop;

/// <summary>One tagged argument or return value of a boxed dispatcher call (layout shared with
/// torch_dispatch.cpp's CxrArg).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NativeArg
{
    public int Kind;
    public int Flags;
    public long I;
    public double D;
    public IntPtr P;
    public long N;
}

/// <summary>Tags of <see cref="NativeArg"/>; mirror the enum in torch_dispatch.cpp.</summary>
internal enum ArgKind
{
    None = 0, Tensor = 1, Int = 2, Double = 3, Bool = 4, IntList = 5, DoubleList = 6, TensorList = 7,
    OptTensorList = 8, ScalarType = 9, Device = 10, String = 11, MemoryFormat = 12, Layout = 13, BoolList = 14,
    Other = 99,
}

internal static partial class Shim
{
    [DllImport(NativeLibraries.Shim)] public static extern IntPtr cxr_op_find(string name, string overload);
    [DllImport(NativeLibraries.Shim)] public static extern long cxr_op_schema(IntPtr op, byte[]? buffer, long capacity);
    [DllImport(NativeLibraries.Shim)] public static extern unsafe int cxr_op_call(IntPtr op, NativeArg* args, int nargs, NativeArg* rets, int capacity);

    [DllImport(NativeLibraries.Shim), SuppressGCTransition] public static extern long cxr_tensor_live_count();
    [DllImport(NativeLibraries.Shim)] public static extern unsafe int cxr_tensor_strides(IntPtr handle, long* strides);
    [DllImport(NativeLibraries.Shim)] public static extern unsafe int cxr_tensor_device(IntPtr handle, int* index);
    [DllImport(NativeLibraries.Shim)] public static extern IntPtr cxr_tensor_data_ptr(IntPtr handle);
    [DllImport(NativeLibraries.Shim)] public static extern int cxr_tensor_is_contiguous(IntPtr handle);
    [DllImport(NativeLibraries.Shim)] public static extern IntPtr cxr_tensor_alias(IntPtr handle);
    [DllImport(NativeLibraries.Shim)] public static extern int cxr_tensor_requires_grad(IntPtr handle);
    [DllImport(NativeLibraries.Shim)] public static extern int cxr_tensor_set_requires_grad(IntPtr handle, int value);
    [DllImport(NativeLibraries.Shim)] public static extern int cxr_tensor_is_leaf(IntPtr handle);
    [DllImport(NativeLibraries.Shim)] public static extern int cxr_tensor_retain_grad(IntPtr handle);
    [DllImport(NativeLibraries.Shim)] public static extern unsafe int cxr_tensor_grad(IntPtr handle, IntPtr* grad);
    [DllImport(NativeLibraries.Shim)] public static extern int cxr_tensor_set_grad(IntPtr handle, IntPtr grad);
    [DllImport(NativeLibraries.Shim)] public static extern int cxr_tensor_backward(IntPtr handle, IntPtr gradient, int retainGraph, int createGraph);
    [DllImport(NativeLibraries.Shim)]
    public static extern unsafe int cxr_autograd_grad(IntPtr* outputs, IntPtr* gradOutputs, int nOutputs, IntPtr* inputs, int nInputs,
        int retainGraph, int createGraph, IntPtr* result);
    [DllImport(NativeLibraries.Shim)] public static extern int cxr_grad_set_enabled(int enabled);
    [DllImport(NativeLibraries.Shim), SuppressGCTransition] public static extern int cxr_grad_is_enabled();
    [DllImport(NativeLibraries.Shim)] public static extern IntPtr cxr_inference_mode_enter(int enabled);
    [DllImport(NativeLibraries.Shim)] public static extern void cxr_inference_mode_exit(IntPtr guard);
    [DllImport(NativeLibraries.Shim)] public static extern int cxr_inference_mode_is_enabled();
    [DllImport(NativeLibraries.Shim)] public static extern int cxr_manual_seed(ulong seed);
    [DllImport(NativeLibraries.Shim)] public static extern int cxr_cuda_is_available();
}

internal static partial class Shim
{
    [DllImport(NativeLibraries.Shim)] public static extern IntPtr cxr_vision_nms(IntPtr boxes, IntPtr scores, double iouThreshold);
    [DllImport(NativeLibraries.Shim)]
    public static extern IntPtr cxr_vision_roi_align(IntPtr input, IntPtr rois, double spatialScale, long pooledH, long pooledW, long samplingRatio, int aligned);
    [DllImport(NativeLibraries.Shim)] public static extern int cxr_vision_load_library(string path);
    [DllImport(NativeLibraries.Shim)] public static extern int cxr_op_has_kernel(string name, string overload, string dispatchKey);
}

internal static partial class Shim
{
    [DllImport(NativeLibraries.Shim)] public static extern IntPtr cxr_tensor_binary(int op, IntPtr a, IntPtr b);
    [DllImport(NativeLibraries.Shim)] public static extern IntPtr cxr_tensor_binary_scalar(int op, IntPtr a, double s, int integral);
}
