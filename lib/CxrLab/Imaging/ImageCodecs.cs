using CxrLab.Interop;

namespace CxrLab.Imaging;

/// <summary>OpenCV depth of decoded pixels.</summary>
public enum PixelDepth { UInt8 = 0, UInt16 = 2, Float32 = 5 }

/// <summary>A decoded image with its stored pixel type: <see cref="Pixels"/> is byte[], ushort[] or
/// float[] (rows × cols × channels, interleaved; colour channels in RGB(A) order).</summary>
public sealed record DecodedImage(Array Pixels, PixelDepth Depth, int Rows, int Cols, int Channels)
{
    /// <summary>Float image scaled to [0, 1] by the depth's maximum (255 or 65535).</summary>
    public Image ToImage()
    {
        var data = new float[Rows * Cols * Channels];
        switch (Pixels)
        {
            case byte[] b: for (var i = 0; i < data.Length; i++) data[i] = b[i] / 255f; break;
            case ushort[] u: for (var i = 0; i < data.Length; i++) data[i] = u[i] / 65535f; break;
            case float[] f: Array.Copy(f, data, data.Length); break;
            default: throw new InvalidOperationException($"unexpected pixel array {Pixels.GetType().Name}");
        }
        return new Image(data, Rows, Cols, Channels);
    }
}

/// <summary>PNG/JPEG reading and writing through OpenCV (8- and 16-bit, 1/3/4 channels; colour as RGB(A)).</summary>
public static class ImageCodecs
{
    /// <summary>Decodes PNG/JPEG/... bytes keeping the stored depth (16-bit PNGs stay 16-bit).</summary>
    public static unsafe DecodedImage Decode(ReadOnlySpan<byte> bytes, string? nameForErrors = null)
    {
        IntPtr mat;
        fixed (byte* p = bytes) mat = Shim.cxr_cv_imdecode(p, bytes.Length, -1);
        if (mat == IntPtr.Zero)
        {
            var error = Shim.LastError();
            throw nameForErrors is null ? error : new InvalidDataException($"{nameForErrors}: {error.Message}", error);
        }
        try
        {
            Shim.Check(Shim.cxr_cv_mat_info(mat, out var rows, out var cols, out var depth, out var channels));
            var count = rows * cols * channels;
            Array pixels = (PixelDepth)depth switch
            {
                PixelDepth.UInt8 => new byte[count],
                PixelDepth.UInt16 => new ushort[count],
                PixelDepth.Float32 => new float[count],
                _ => throw new NotSupportedException($"{nameForErrors ?? "image"}: OpenCV depth {depth} is not supported"),
            };
            var elementSize = depth == 0 ? 1 : depth == 2 ? 2 : 4;
            var handle = System.Runtime.InteropServices.GCHandle.Alloc(pixels, System.Runtime.InteropServices.GCHandleType.Pinned);
            try { Shim.Check(Shim.cxr_cv_mat_copy_to(mat, (void*)handle.AddrOfPinnedObject(), (long)count * elementSize)); }
            finally { handle.Free(); }
            return new DecodedImage(pixels, (PixelDepth)depth, rows, cols, channels);
        }
        finally { Shim.cxr_cv_mat_free(mat); }
    }

    /// <summary>Reads an image file keeping its stored depth.</summary>
    public static DecodedImage Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"image not found: {path}", path);
        return Decode(File.ReadAllBytes(path), path);
    }

    /// <summary>Encodes pixels (byte or ushort; float only for formats that take it) with the codec of
    /// <paramref name="extension"/> (".png", ".jpg"). PNG compression 0–9, or −1 for OpenCV's own default (what cv2.imwrite
    /// does without parameters: zlib's fastest level with speed-tuned filtering; files differ from any explicit level).</summary>
    public static unsafe byte[] Encode<T>(ReadOnlySpan<T> pixels, int rows, int cols, int channels, string extension = ".png", int pngCompression = 3)
        where T : unmanaged
    {
        if ((long)rows * cols * channels != pixels.Length)
            throw new ArgumentException($"buffer holds {pixels.Length} values, {rows}×{cols}×{channels} needs {(long)rows * cols * channels}");
        int* parameters = stackalloc int[2] { 16 /* IMWRITE_PNG_COMPRESSION */, pngCompression };
        IntPtr buffer;
        fixed (T* p = pixels)
            buffer = Shim.CheckHandle(Shim.cxr_cv_imencode(extension, p, rows, cols, OpenCv.DepthOf<T>(), channels, parameters,
                extension == ".png" && pngCompression >= 0 ? 2 : 0));
        try
        {
            var bytes = new byte[Shim.Check(Shim.cxr_cv_buffer_size(buffer))];
            fixed (byte* d = bytes) Shim.Check(Shim.cxr_cv_buffer_copy_to(buffer, d, bytes.Length));
            return bytes;
        }
        finally { Shim.cxr_cv_buffer_free(buffer); }
    }

    /// <summary>Writes an image file atomically (temp file, then rename), codec by the path's extension.</summary>
    public static void Write<T>(string path, ReadOnlySpan<T> pixels, int rows, int cols, int channels = 1) where T : unmanaged =>
        Write(path, pixels, rows, cols, channels, 3);

    /// <summary><see cref="Write{T}(string, ReadOnlySpan{T}, int, int, int)"/> with a PNG compression level (−1: OpenCV's default).</summary>
    public static void Write<T>(string path, ReadOnlySpan<T> pixels, int rows, int cols, int channels, int pngCompression) where T : unmanaged
    {
        var bytes = Encode(pixels, rows, cols, channels, Path.GetExtension(path).ToLowerInvariant(), pngCompression);
        WriteAtomically(path, bytes);
    }

    /// <summary>Writes a float [0, 1] image as 8- or 16-bit (values clamped, rounded).</summary>
    public static void Write(string path, Image image, int bits = 8) => Write(path, image, bits, 3);

    /// <summary><see cref="Write(string, Image, int)"/> with a PNG compression level (−1: OpenCV's default, as cv2.imwrite).</summary>
    public static void Write(string path, Image image, int bits, int pngCompression)
    {
        if (bits == 16)
        {
            var pixels = new ushort[image.Data.Length];
            for (var i = 0; i < pixels.Length; i++) pixels[i] = (ushort)MathF.Round(Math.Clamp(image.Data[i], 0f, 1f) * 65535f);
            Write<ushort>(path, pixels, image.Rows, image.Cols, image.Channels, pngCompression);
        }
        else if (bits == 8)
        {
            var pixels = new byte[image.Data.Length];
            for (var i = 0; i < pixels.Length; i++) pixels[i] = (byte)MathF.Round(Math.Clamp(image.Data[i], 0f, 1f) * 255f);
            Write<byte>(path, pixels, image.Rows, image.Cols, image.Channels, pngCompression);
        }
        else throw new ArgumentOutOfRangeException(nameof(bits), bits, "bits must be 8 or 16");
    }

    /// <summary>Writes bytes to a temporary sibling file and renames it over <paramref name="path"/>,
    /// so a reader never sees a half-written file.</summary>
    public static void WriteAtomically(string path, ReadOnlySpan<byte> bytes)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(directory);
        var temp = Path.Combine(directory, $".{Path.GetFileName(path)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write))
                stream.Write(bytes);
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }
}
