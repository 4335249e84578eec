using CxrLab.Imaging;

namespace CxrLab.Viz;

/// <summary>Encoded PNG bytes with their size; shows as an image in a notebook (image/png).</summary>
public sealed record PngImage(byte[] Bytes, int Width, int Height)
{
    /// <summary>Encodes an 8-bit RGB (or gray, or RGBA) buffer.</summary>
    public static PngImage Encode(ReadOnlySpan<byte> pixels, int rows, int cols, int channels) =>
        new(ImageCodecs.Encode(pixels, rows, cols, channels, ".png"), cols, rows);

    /// <summary>Encodes a float image with values in [0, 1] (clamped) as 8-bit.</summary>
    public static PngImage FromImage(Image image) => Encode(ToBytes(image), image.Rows, image.Cols, image.Channels);

    /// <summary>Writes the PNG atomically.</summary>
    public void Save(string path) => ImageCodecs.WriteAtomically(path, Bytes);

    /// <summary>A data URI (for HTML and Plotly image traces).</summary>
    public string ToDataUri() => "data:image/png;base64," + Convert.ToBase64String(Bytes);

    public MimeBundle ToMimeBundle() => MimeBundle.Png(Bytes, ToString(), Width, Height);

    public override string ToString() => $"PngImage({Width}×{Height}, {Bytes.Length} bytes)";

    internal static byte[] ToBytes(Image image)
    {
        var bytes = new byte[image.Data.Length];
        for (var i = 0; i < bytes.Length; i++) bytes[i] = (byte)MathF.Round(Math.Clamp(image.Data[i], 0f, 1f) * 255f);
        return bytes;
    }
}
