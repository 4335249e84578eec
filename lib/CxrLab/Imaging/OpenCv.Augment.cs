using CxrLab.Interop;

namespace CxrLab.Imaging;

/// <summary>How pixels outside the source are filled by warps and filters (OpenCV's cv::BorderTypes).</summary>
public enum BorderMode
{
    Constant = 0,
    Replicate = 1,
    Reflect = 2,
    Wrap = 3,
    Reflect101 = 4,
    Transparent = 5,
}

// Warps, CLAHE, equalisation, blur, filters and intensity maps used by CxrLab.Augment.
// Matrices follow OpenCV: they map source to destination in pixel-centre coordinates.
public static partial class OpenCv
{
    /// <summary>cv::warpAffine of <paramref name="src"/> into a new image of <paramref name="dstRows"/> × <paramref name="dstCols"/>.
    /// <paramref name="matrix"/> is 2×3 row-major (dst ← src), pixel-centre coordinates.</summary>
    public static unsafe Image WarpAffine(Image src, ReadOnlySpan<double> matrix, int dstRows, int dstCols,
        Interpolation interpolation = Interpolation.Linear, BorderMode border = BorderMode.Constant, double borderValue = 0)
    {
        if (matrix.Length != 6) throw new ArgumentException($"an affine matrix has 6 values, got {matrix.Length}", nameof(matrix));
        var dst = new Image(dstRows, dstCols, src.Channels);
        fixed (float* s = src.Data)
        fixed (float* d = dst.Data)
        fixed (double* m = matrix)
            Shim.Check(Shim.cxr_cv_warp_affine(s, src.Rows, src.Cols, 5, src.Channels, d, dstRows, dstCols, m, (int)interpolation, (int)border, borderValue));
        return dst;
    }

    /// <summary>cv::warpPerspective with a 3×3 row-major homography (dst ← src), pixel-centre coordinates.</summary>
    public static unsafe Image WarpPerspective(Image src, ReadOnlySpan<double> matrix, int dstRows, int dstCols,
        Interpolation interpolation = Interpolation.Linear, BorderMode border = BorderMode.Constant, double borderValue = 0)
    {
        if (matrix.Length != 9) throw new ArgumentException($"a homography has 9 values, got {matrix.Length}", nameof(matrix));
        var dst = new Image(dstRows, dstCols, src.Channels);
        fixed (float* s = src.Data)
        fixed (float* d = dst.Data)
        fixed (double* m = matrix)
            Shim.Check(Shim.cxr_cv_warp_perspective(s, src.Rows, src.Cols, 5, src.Channels, d, dstRows, dstCols, m, (int)interpolation, (int)border, borderValue));
        return dst;
    }

    /// <summary>cv::remap: dst(y, x) = src(mapY(y, x), mapX(y, x)); maps are dstRows × dstCols, pixel-centre coordinates.</summary>
    public static unsafe Image Remap(Image src, float[] mapX, float[] mapY, int dstRows, int dstCols,
        Interpolation interpolation = Interpolation.Linear, BorderMode border = BorderMode.Constant, double borderValue = 0)
    {
        CheckLength(mapX.Length, dstRows, dstCols, 1, nameof(mapX));
        CheckLength(mapY.Length, dstRows, dstCols, 1, nameof(mapY));
        var dst = new Image(dstRows, dstCols, src.Channels);
        fixed (float* s = src.Data)
        fixed (float* d = dst.Data)
        fixed (float* mx = mapX)
        fixed (float* my = mapY)
            Shim.Check(Shim.cxr_cv_remap(s, src.Rows, src.Cols, 5, src.Channels, d, dstRows, dstCols, mx, my, (int)interpolation, (int)border, borderValue));
        return dst;
    }

    /// <summary>cv::flip: <paramref name="horizontal"/> mirrors left↔right, <paramref name="vertical"/> top↔bottom.</summary>
    public static unsafe Image Flip(Image src, bool horizontal, bool vertical)
    {
        if (!horizontal && !vertical) return src.Clone();
        var code = horizontal && vertical ? -1 : horizontal ? 1 : 0;
        var dst = new Image(src.Rows, src.Cols, src.Channels);
        fixed (float* s = src.Data)
        fixed (float* d = dst.Data)
            Shim.Check(Shim.cxr_cv_flip(s, src.Rows, src.Cols, 5, src.Channels, d, code));
        return dst;
    }

    /// <summary>cv::rotate by <paramref name="quarterTurns"/> × 90° counter-clockwise (any integer; 0 copies).</summary>
    public static unsafe Image Rotate90(Image src, int quarterTurns)
    {
        var k = ((quarterTurns % 4) + 4) % 4;
        if (k == 0) return src.Clone();
        // cv::RotateFlags: 0 = 90° clockwise, 1 = 180°, 2 = 90° counter-clockwise.
        var code = k == 1 ? 2 : k == 2 ? 1 : 0;
        var dst = k == 2 ? new Image(src.Rows, src.Cols, src.Channels) : new Image(src.Cols, src.Rows, src.Channels);
        fixed (float* s = src.Data)
        fixed (float* d = dst.Data)
            Shim.Check(Shim.cxr_cv_rotate(s, src.Rows, src.Cols, 5, src.Channels, d, code));
        return dst;
    }

    /// <summary>CLAHE (cv::createCLAHE) on one channel of 8- or 16-bit pixels.</summary>
    public static unsafe void Clahe<T>(ReadOnlySpan<T> src, int rows, int cols, Span<T> dst, double clipLimit = 2.0, int tilesX = 8, int tilesY = 8)
        where T : unmanaged
    {
        CheckLength(src.Length, rows, cols, 1, nameof(src));
        CheckLength(dst.Length, rows, cols, 1, nameof(dst));
        fixed (T* s = src)
        fixed (T* d = dst)
            Shim.Check(Shim.cxr_cv_clahe(s, rows, cols, DepthOf<T>(), d, clipLimit, tilesX, tilesY));
    }

    /// <summary>cv::equalizeHist on one 8-bit channel.</summary>
    public static unsafe void EqualizeHist(ReadOnlySpan<byte> src, int rows, int cols, Span<byte> dst)
    {
        CheckLength(src.Length, rows, cols, 1, nameof(src));
        CheckLength(dst.Length, rows, cols, 1, nameof(dst));
        fixed (byte* s = src)
        fixed (byte* d = dst)
            Shim.Check(Shim.cxr_cv_equalize_hist(s, rows, cols, d));
    }

    /// <summary>cv::GaussianBlur in place or into <paramref name="dst"/>; a kernel size of 0 is derived from sigma.</summary>
    public static unsafe void GaussianBlur<T>(ReadOnlySpan<T> src, int rows, int cols, int channels, Span<T> dst,
        double sigmaX, double sigmaY = 0, int ksizeX = 0, int ksizeY = 0, BorderMode border = BorderMode.Reflect101) where T : unmanaged
    {
        CheckLength(src.Length, rows, cols, channels, nameof(src));
        CheckLength(dst.Length, rows, cols, channels, nameof(dst));
        fixed (T* s = src)
        fixed (T* d = dst)
            Shim.Check(Shim.cxr_cv_gaussian_blur(s, rows, cols, DepthOf<T>(), channels, d, ksizeX, ksizeY, sigmaX, sigmaY, (int)border));
    }

    /// <summary>cv::filter2D (correlation, centred anchor) with a float kernel of <paramref name="kernelRows"/> × <paramref name="kernelCols"/>.</summary>
    public static unsafe void Filter2D<T>(ReadOnlySpan<T> src, int rows, int cols, int channels, Span<T> dst,
        ReadOnlySpan<float> kernel, int kernelRows, int kernelCols, double delta = 0, BorderMode border = BorderMode.Reflect101) where T : unmanaged
    {
        CheckLength(src.Length, rows, cols, channels, nameof(src));
        CheckLength(dst.Length, rows, cols, channels, nameof(dst));
        CheckLength(kernel.Length, kernelRows, kernelCols, 1, nameof(kernel));
        fixed (T* s = src)
        fixed (T* d = dst)
        fixed (float* k = kernel)
            Shim.Check(Shim.cxr_cv_filter2d(s, rows, cols, DepthOf<T>(), channels, d, k, kernelRows, kernelCols, delta, (int)border));
    }

    /// <summary>cv::Mat::convertTo: dst = saturate_cast&lt;TDst&gt;(src × alpha + beta) (rounding to nearest).</summary>
    public static unsafe void Convert<TSrc, TDst>(ReadOnlySpan<TSrc> src, int rows, int cols, int channels, Span<TDst> dst, double alpha = 1, double beta = 0)
        where TSrc : unmanaged where TDst : unmanaged
    {
        CheckLength(src.Length, rows, cols, channels, nameof(src));
        CheckLength(dst.Length, rows, cols, channels, nameof(dst));
        fixed (TSrc* s = src)
        fixed (TDst* d = dst)
            Shim.Check(Shim.cxr_cv_convert(s, rows, cols, DepthOf<TSrc>(), channels, d, DepthOf<TDst>(), alpha, beta));
    }

    /// <summary>In place: clamps to [lo, hi] then raises to <paramref name="power"/> (skipped when 1).</summary>
    public static unsafe void ClampPow(Image image, double lo = 0, double hi = 1, double power = 1)
    {
        fixed (float* p = image.Data)
            Shim.Check(Shim.cxr_cv_clamp_pow(p, image.Rows, image.Cols, image.Channels, lo, hi, power));
    }

    /// <summary>In place: adds Gaussian noise N(mean, stddev) from OpenCV's RNG seeded with <paramref name="seed"/>.</summary>
    public static unsafe void AddGaussianNoise(Image image, ulong seed, double stddev, double mean = 0)
    {
        fixed (float* p = image.Data)
            Shim.Check(Shim.cxr_cv_add_gaussian_noise(p, image.Rows, image.Cols, image.Channels, seed, mean, stddev));
    }

    /// <summary>cv::addWeighted: returns a × alpha + b × beta + gamma (same sizes).</summary>
    public static unsafe Image AddWeighted(Image a, double alpha, Image b, double beta, double gamma = 0)
    {
        if (a.Rows != b.Rows || a.Cols != b.Cols || a.Channels != b.Channels)
            throw new ArgumentException($"addWeighted needs equal sizes, got {a} and {b}");
        var dst = new Image(a.Rows, a.Cols, a.Channels);
        fixed (float* pa = a.Data)
        fixed (float* pb = b.Data)
        fixed (float* d = dst.Data)
            Shim.Check(Shim.cxr_cv_add_weighted(pa, pb, a.Rows, a.Cols, 5, a.Channels, d, alpha, beta, gamma));
        return dst;
    }

    /// <summary>Copies the <paramref name="width"/> × <paramref name="height"/> rectangle at (sx, sy) of
    /// <paramref name="src"/> into <paramref name="dst"/> at (dx, dy); both rectangles must lie inside their images.</summary>
    public static unsafe void CopyRect(Image src, int sx, int sy, int width, int height, Image dst, int dx, int dy)
    {
        if (src.Channels != dst.Channels) throw new ArgumentException($"channel mismatch: {src} into {dst}");
        fixed (float* s = src.Data)
        fixed (float* d = dst.Data)
            Shim.Check(Shim.cxr_cv_copy_rect(s, src.Rows, src.Cols, 5, src.Channels, sx, sy, width, height, d, dst.Rows, dst.Cols, dx, dy));
    }

    /// <summary>Grey → RGB by cv::cvtColor (COLOR_GRAY2RGB) for 8-bit buffers.</summary>
    public static unsafe void GreyToRgb(ReadOnlySpan<byte> grey, int rows, int cols, Span<byte> rgb)
    {
        CheckLength(grey.Length, rows, cols, 1, nameof(grey));
        CheckLength(rgb.Length, rows, cols, 3, nameof(rgb));
        fixed (byte* s = grey)
        fixed (byte* d = rgb)
            Shim.Check(Shim.cxr_cv_cvt_color(s, rows, cols, 0, 1, d, 3, 8));
    }
}
