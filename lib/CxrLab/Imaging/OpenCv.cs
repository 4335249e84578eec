using System.Runtime.InteropServices;
using CxrLab.Interop;

namespace CxrLab.Imaging;

/// <summary>OpenCV image operations on interleaved row-major buffers (rows × cols × channels).</summary>
public static partial class OpenCv
{
    public static string Version => Marshal.PtrToStringUTF8(Shim.cxr_cv_version()) ?? "";

    /// <summary>OpenCV depth code for an element type (CV_8U, CV_16U, CV_32F, ...).</summary>
    public static int DepthOf<T>() where T : unmanaged =>
        typeof(T) == typeof(byte) ? 0 :
        typeof(T) == typeof(sbyte) ? 1 :
        typeof(T) == typeof(ushort) ? 2 :
        typeof(T) == typeof(short) ? 3 :
        typeof(T) == typeof(int) ? 4 :
        typeof(T) == typeof(float) ? 5 :
        typeof(T) == typeof(double) ? 6 :
        throw new NotSupportedException($"OpenCV has no depth for {typeof(T).Name}");

    /// <summary>cv::resize of <paramref name="src"/> into <paramref name="dst"/>, whose length fixes nothing:
    /// the sizes are given explicitly and checked against the buffers.</summary>
    public static unsafe void Resize<T>(ReadOnlySpan<T> src, int rows, int cols, int channels,
        Span<T> dst, int dstRows, int dstCols, Interpolation interpolation = Interpolation.Linear) where T : unmanaged
    {
        CheckLength(src.Length, rows, cols, channels, nameof(src));
        CheckLength(dst.Length, dstRows, dstCols, channels, nameof(dst));
        fixed (T* s = src)
        fixed (T* d = dst)
            Shim.Check(Shim.cxr_cv_resize(s, rows, cols, DepthOf<T>(), channels, d, dstRows, dstCols, (int)interpolation));
    }

    /// <summary>Allocating convenience over <see cref="Resize{T}(ReadOnlySpan{T}, int, int, int, Span{T}, int, int, Interpolation)"/>.</summary>
    public static T[] Resize<T>(ReadOnlySpan<T> src, int rows, int cols, int channels, int dstRows, int dstCols,
        Interpolation interpolation = Interpolation.Linear) where T : unmanaged
    {
        var dst = new T[checked(dstRows * dstCols * channels)];
        Resize(src, rows, cols, channels, dst, dstRows, dstCols, interpolation);
        return dst;
    }

    static void CheckLength(int length, int rows, int cols, int channels, string name)
    {
        if (rows <= 0 || cols <= 0 || channels <= 0)
            throw new ArgumentException($"{name}: size {rows}×{cols}×{channels} must be positive", name);
        if ((long)rows * cols * channels != length)
            throw new ArgumentException($"{name}: buffer holds {length} values, {rows}×{cols}×{channels} needs {(long)rows * cols * channels}", name);
    }
}
