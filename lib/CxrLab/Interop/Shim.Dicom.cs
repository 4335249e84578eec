using System.Runtime.InteropServices;

namespace CxrLab.Interop;

/// <summary>DICOM pixel codecs of the native shim (src/dicom_codecs.cpp, src/dicom_jpeg_lossless.cpp, src/dicom_jpegls.cpp): one single-sample frame from its
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

    /// <summary>JPEG-LS, our decoder (src/dicom_jpegls.cpp); bytesPerSample 1 or 2. 0 = decoded, 1 = a feature left to CharLS
    /// (output untouched), -1 = failure.</summary>
    [DllImport(NativeLibraries.Shim)]
    public static extern unsafe int cxr_dicom_jpegls_decode_own(byte* data, long length, int rows, int cols, int bytesPerSample, byte* output, long outputBytes);

    /// <summary>Header only: 1 = our JPEG-LS decoder takes this stream, 0 = CharLS should, -1 = malformed header.</summary>
    [DllImport(NativeLibraries.Shim)]
    public static extern unsafe int cxr_dicom_jpegls_own_supports(byte* data, long length, int rows, int cols, int bytesPerSample);

    /// <summary>JPEG-LS with CharLS (src/dicom_codecs.cpp).</summary>
    [DllImport(NativeLibraries.Shim)]
    public static extern unsafe int cxr_dicom_jpegls_decode(byte* data, long length, int rows, int cols, int bytesPerSample, byte* output, long outputBytes);

    [DllImport(NativeLibraries.Shim)]
    public static extern unsafe int cxr_dicom_j2k_decode(byte* data, long length, int rows, int cols, int bytesPerSample, int threads, byte* output, long outputBytes);

    [DllImport(NativeLibraries.Shim)]
    public static extern unsafe int cxr_dicom_j2k_check(byte* data, long length, int rows, int cols, int samples, int bitsAllocated);
}
