using CxrLab.Data;
using CxrLab.Interop;

namespace CxrLab.Imaging;

/// <summary>An 8-bit RGB colour.</summary>
public readonly record struct Rgb(byte R, byte G, byte B)
{
    public string Hex => $"#{R:x2}{G:x2}{B:x2}";
}

/// <summary>Draws boxes and labels into interleaved 8-bit buffers through OpenCV (anti-aliased).
/// Three-channel buffers are taken as RGB; colours are passed in that order.</summary>
public static class Drawing
{
    /// <summary>Draws a box outline (or a filled box with <paramref name="thickness"/> &lt; 0) in place.</summary>
    public static unsafe void Rectangle(Span<byte> pixels, int rows, int cols, int channels, Box box, Rgb color, int thickness = 2)
    {
        CheckLength(pixels.Length, rows, cols, channels);
        double* c = stackalloc double[4] { color.R, color.G, color.B, 255 };
        if (channels == 1) c[0] = (color.R + color.G + color.B) / 3.0;
        fixed (byte* p = pixels)
            Shim.Check(Shim.cxr_cv_rectangle(p, rows, cols, 0, channels,
                (int)MathF.Round(box.X1), (int)MathF.Round(box.Y1), (int)MathF.Round(box.X2), (int)MathF.Round(box.Y2), c, thickness));
    }

    /// <summary>Draws text with its baseline-left corner at (x, y) in place.</summary>
    public static unsafe void Text(Span<byte> pixels, int rows, int cols, int channels, string text, int x, int y, Rgb color, double scale = 0.5, int thickness = 1)
    {
        CheckLength(pixels.Length, rows, cols, channels);
        double* c = stackalloc double[4] { color.R, color.G, color.B, 255 };
        if (channels == 1) c[0] = (color.R + color.G + color.B) / 3.0;
        fixed (byte* p = pixels)
            Shim.Check(Shim.cxr_cv_put_text(p, rows, cols, 0, channels, text, x, y, scale, c, thickness));
    }

    /// <summary>Width and height (above the baseline) of text drawn by <see cref="Text"/>, and the baseline depth.</summary>
    public static (int Width, int Height, int Baseline) TextSize(string text, double scale = 0.5, int thickness = 1)
    {
        Shim.Check(Shim.cxr_cv_text_size(text, scale, thickness, out var w, out var h, out var b));
        return (w, h, b);
    }

    /// <summary>Draws a labelled box: outline plus a filled tag holding the label above the box.</summary>
    public static void LabelledBox(Span<byte> rgb, int rows, int cols, Box box, string label, Rgb color, int thickness = 2, double scale = 0.5)
    {
        Rectangle(rgb, rows, cols, 3, box, color, thickness);
        if (label.Length == 0) return;
        var (w, h, baseline) = TextSize(label, scale);
        var x = (int)MathF.Round(box.X1);
        var top = Math.Max(0, (int)MathF.Round(box.Y1) - h - baseline - 2);
        Rectangle(rgb, rows, cols, 3, new Box(x, top, x + w + 4, top + h + baseline + 2), color, -1);
        var luminance = 0.299 * color.R + 0.587 * color.G + 0.114 * color.B;
        Text(rgb, rows, cols, 3, label, x + 2, top + h + 1, luminance > 140 ? new Rgb(0, 0, 0) : new Rgb(255, 255, 255), scale);
    }

    static void CheckLength(int length, int rows, int cols, int channels)
    {
        if ((long)rows * cols * channels != length)
            throw new ArgumentException($"buffer holds {length} values, {rows}×{cols}×{channels} needs {(long)rows * cols * channels}");
    }
}
