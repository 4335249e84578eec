namespace CxrLab.Imaging;

/// <summary>An interleaved row-major float32 image: <see cref="Rows"/> × <see cref="Cols"/> ×
/// <see cref="Channels"/>. X-rays are one channel with values in [0, 1] (1 = white) after the
/// DICOM display stage; the buffer is owned by the image and may be reused by in-place operations.</summary>
public sealed class Image
{
    public Image(int rows, int cols, int channels = 1) : this(new float[CheckedLength(rows, cols, channels)], rows, cols, channels) { }

    public Image(float[] data, int rows, int cols, int channels = 1)
    {
        var length = CheckedLength(rows, cols, channels);
        if (data.Length != length)
            throw new ArgumentException($"image buffer holds {data.Length} values, {rows}×{cols}×{channels} needs {length}", nameof(data));
        Data = data;
        Rows = rows;
        Cols = cols;
        Channels = channels;
    }

    public float[] Data { get; }
    public int Rows { get; }
    public int Cols { get; }
    public int Channels { get; }

    /// <summary>Width in pixels (= <see cref="Cols"/>).</summary>
    public int Width => Cols;

    /// <summary>Height in pixels (= <see cref="Rows"/>).</summary>
    public int Height => Rows;

    public ref float At(int row, int col, int channel = 0) => ref Data[(row * Cols + col) * Channels + channel];

    public Span<float> Row(int row) => Data.AsSpan(row * Cols * Channels, Cols * Channels);

    public Image Clone() => new((float[])Data.Clone(), Rows, Cols, Channels);

    public override string ToString() => $"Image({Rows}×{Cols}×{Channels})";

    static int CheckedLength(int rows, int cols, int channels)
    {
        if (rows <= 0 || cols <= 0 || channels <= 0)
            throw new ArgumentException($"image size {rows}×{cols}×{channels} must be positive");
        return checked(rows * cols * channels);
    }
}
