using System.Runtime.InteropServices;

namespace CxrLab.Interop;

internal static partial class Shim
{
    [DllImport(NativeLibraries.Shim)] public static extern IntPtr cxr_cv_version();

    [DllImport(NativeLibraries.Shim)]
    public static extern unsafe int cxr_cv_resize(void* src, int rows, int cols, int depth, int channels,
        void* dst, int dstRows, int dstCols, int interpolation);
}
