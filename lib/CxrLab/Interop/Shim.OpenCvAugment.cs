using System.Runtime.InteropServices;

namespace CxrLab.Interop;

// P/Invokes of lib/CxrLab.Native/src/opencv_augment.cpp (warps, CLAHE, equalisation, filters, intensity maps).
internal static partial class Shim
{
    [DllImport(NativeLibraries.Shim)]
    public static extern unsafe int cxr_cv_warp_affine(void* src, int rows, int cols, int depth, int channels,
        void* dst, int dstRows, int dstCols, double* m, int interpolation, int borderMode, double borderValue);

    [DllImport(NativeLibraries.Shim)]
    public static extern unsafe int cxr_cv_warp_perspective(void* src, int rows, int cols, int depth, int channels,
        void* dst, int dstRows, int dstCols, double* m, int interpolation, int borderMode, double borderValue);

    [DllImport(NativeLibraries.Shim)]
    public static extern unsafe int cxr_cv_remap(void* src, int rows, int cols, int depth, int channels,
        void* dst, int dstRows, int dstCols, float* mapX, float* mapY, int interpolation, int borderMode, double borderValue);

    [DllImport(NativeLibraries.Shim)]
    public static extern unsafe int cxr_cv_flip(void* src, int rows, int cols, int depth, int channels, void* dst, int code);

    [DllImport(NativeLibraries.Shim)]
    public static extern unsafe int cxr_cv_rotate(void* src, int rows, int cols, int depth, int channels, void* dst, int code);

    [DllImport(NativeLibraries.Shim)]
    public static extern unsafe int cxr_cv_clahe(void* src, int rows, int cols, int depth, void* dst, double clipLimit, int tilesX, int tilesY);

    [DllImport(NativeLibraries.Shim)]
    public static extern unsafe int cxr_cv_equalize_hist(void* src, int rows, int cols, void* dst);

    [DllImport(NativeLibraries.Shim)]
    public static extern unsafe int cxr_cv_gaussian_blur(void* src, int rows, int cols, int depth, int channels, void* dst,
        int ksizeX, int ksizeY, double sigmaX, double sigmaY, int borderMode);

    [DllImport(NativeLibraries.Shim)]
    public static extern unsafe int cxr_cv_filter2d(void* src, int rows, int cols, int depth, int channels, void* dst,
        float* kernel, int kRows, int kCols, double delta, int borderMode);

    [DllImport(NativeLibraries.Shim)]
    public static extern unsafe int cxr_cv_convert(void* src, int rows, int cols, int srcDepth, int channels, void* dst, int dstDepth,
        double alpha, double beta);

    [DllImport(NativeLibraries.Shim)]
    public static extern unsafe int cxr_cv_clamp_pow(float* data, int rows, int cols, int channels, double lo, double hi, double power);

    [DllImport(NativeLibraries.Shim)]
    public static extern unsafe int cxr_cv_add_gaussian_noise(float* data, int rows, int cols, int channels, ulong seed, double mean, double stddev);

    [DllImport(NativeLibraries.Shim)]
    public static extern unsafe int cxr_cv_add_weighted(void* a, void* b, int rows, int cols, int depth, int channels, void* dst,
        double alpha, double beta, double gamma);

    [DllImport(NativeLibraries.Shim)]
    public static extern unsafe int cxr_cv_copy_rect(void* src, int rows, int cols, int depth, int channels, int sx, int sy, int w, int h,
        void* dst, int dstRows, int dstCols, int dx, int dy);

    [DllImport(NativeLibraries.Shim)]
    public static extern unsafe int cxr_cv_cvt_color(void* src, int rows, int cols, int depth, int channels, void* dst, int dstChannels, int code);
}
