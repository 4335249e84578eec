using System.Runtime.InteropServices;

namespace CxrLab.Interop;

internal static partial class Shim
{
    [DllImport(NativeLibraries.Shim)] public static extern unsafe IntPtr cxr_cv_imdecode(byte* bytes, long length, int flags);
    [DllImport(NativeLibraries.Shim)] public static extern int cxr_cv_mat_info(IntPtr mat, out int rows, out int cols, out int depth, out int channels);
    [DllImport(NativeLibraries.Shim)] public static extern unsafe int cxr_cv_mat_copy_to(IntPtr mat, void* dst, long nbytes);
    [DllImport(NativeLibraries.Shim)] public static extern void cxr_cv_mat_free(IntPtr mat);

    [DllImport(NativeLibraries.Shim, CharSet = CharSet.Ansi, BestFitMapping = false)]
    public static extern unsafe IntPtr cxr_cv_imencode(string ext, void* src, int rows, int cols, int depth, int channels, int* parameters, int count);
    [DllImport(NativeLibraries.Shim)] public static extern long cxr_cv_buffer_size(IntPtr buffer);
    [DllImport(NativeLibraries.Shim)] public static extern unsafe int cxr_cv_buffer_copy_to(IntPtr buffer, void* dst, long nbytes);
    [DllImport(NativeLibraries.Shim)] public static extern void cxr_cv_buffer_free(IntPtr buffer);

    [DllImport(NativeLibraries.Shim)]
    public static extern unsafe int cxr_cv_rectangle(void* img, int rows, int cols, int depth, int channels, int x1, int y1, int x2, int y2, double* color, int thickness);

    [DllImport(NativeLibraries.Shim)]
    public static extern unsafe int cxr_cv_put_text(void* img, int rows, int cols, int depth, int channels,
        [MarshalAs(UnmanagedType.LPUTF8Str)] string text, int x, int y, double scale, double* color, int thickness);

    [DllImport(NativeLibraries.Shim)]
    public static extern int cxr_cv_text_size([MarshalAs(UnmanagedType.LPUTF8Str)] string text, double scale, int thickness, out int width, out int height, out int baseline);
}
