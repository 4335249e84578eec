using System.Runtime.InteropServices;

namespace CxrLab.Interop;

/// <summary>DICOM pixel codecs of the native shim (src/dicom_codecs.cpp, src/dicom_jpeg_lossless.cpp): one single-sample frame from its
/// encapsulated bytes into rows × cols little-endian samples of <c>bytesPerSample</c> bytes.</summary>
internal static partial class Shim
{
    [DllImport(NativeLibraries.Shim)]
    public static extern unsafe int cxr_dicom_rle_decode(byte* data, long length, int rows, int cols, int bytesPerSample, byte* output, long outputBytes);

    [DllImport(NativeLibraries.Shim)]
    public static extern unsafe int cxr_dicom_jpeg_decode(byte* data, long length, int rows, int cols, byte* output, long outputBytes);

    /// <summary>JPEG Lossless, process 14 (src/dicom_jpeg_lossless.cpp); bytesPerSample 1 or 2.</summary>
    [DllImport(NativeLibraries.Shim)]
    public static extern unsafe int cxr_dicom_jpeg_lossless_decode(byte* data, long length, int rows, int cols, int bytesPerSample, byte* output, long outputBytes);

    [DllImport(NativeLibraries.Shim)]
    public static extern unsafe int cxr_dicom_jpegls_decode(byte* data, long length, int rows, int cols, int bytesPerSample, byte* output, long outputBytes);

    [DllImport(NativeLibraries.Shim)]
    public static extern unsafe int cxr_dicom_j2k_decode(byte* data, long length, int rows, int cols, int bytesPerSample, int threads, byte* output, long outputBytes);

    [DllImport(NativeLibraries.Shim)]
    public static extern unsafe int cxr_dicom_j2k_check(byte* data, long length, int rows, int cols, int samples, int bitsAllocated);
}
