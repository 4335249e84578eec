using CxrLab.Data;
using CxrLab.Imaging;

namespace CxrLab.Augment;

/// <summary>An 8-bit RGB contact sheet of samples with their labelled boxes (for `cxr augment preview` and notebooks).</summary>
public static class PreviewGrid
{
    static readonly Rgb[] Palette =
    [
        new(230, 25, 75), new(60, 180, 75), new(255, 225, 25), new(0, 130, 200), new(245, 130, 48), new(145, 30, 180),
        new(70, 240, 240), new(240, 50, 230), new(210, 245, 60), new(250, 190, 212), new(0, 128, 128), new(220, 190, 255),
        new(170, 110, 40), new(255, 250, 200), new(128, 128, 128),
    ];

    public static Rgb ColourOf(int label) => Palette[((label % Palette.Length) + Palette.Length) % Palette.Length];

    /// <summary>Draws each sample letterboxed into a <paramref name="tile"/>² cell (grid of <paramref name="columns"/>,
    /// default ⌈√n⌉), boxes outlined in a per-class colour with the class name, and a caption.
    /// Returns interleaved RGB bytes of <c>Rows × Cols × 3</c>.</summary>
    public static (byte[] Rgb, int Rows, int Cols) Render(IReadOnlyList<Sample> samples, int tile = 256, Func<int, string>? className = null,
        IReadOnlyList<string>? captions = null, int columns = 0)
    {
        if (samples.Count == 0) throw new ArgumentException("nothing to draw", nameof(samples));
        className ??= l => l.ToString();
        var cols = columns > 0 ? columns : (int)Math.Ceiling(Math.Sqrt(samples.Count));
        var rows = (samples.Count + cols - 1) / cols;
        const int gap = 4;
        int width = cols * tile + (cols + 1) * gap, height = rows * tile + (rows + 1) * gap;
        var rgb = new byte[width * height * 3];
        Array.Fill(rgb, (byte)32);
        for (var k = 0; k < samples.Count; k++)
        {
            var s = samples[k];
            var scale = Math.Min((double)tile / s.Image.Width, (double)tile / s.Image.Height);
            int w = Math.Max(1, (int)Math.Round(s.Image.Width * scale)), h = Math.Max(1, (int)Math.Round(s.Image.Height * scale));
            var grey = s.Image.Channels == 1 ? s.Image : throw new NotSupportedException("preview draws grey images");
            var small = OpenCv.Resize<float>(grey.Data, grey.Rows, grey.Cols, 1, h, w, scale < 1 ? Interpolation.Area : Interpolation.Linear);
            var u8 = new byte[small.Length];
            OpenCv.Convert<float, byte>(small, h, w, 1, u8, 255);
            var cell = new byte[w * h * 3];
            OpenCv.GreyToRgb(u8, h, w, cell);
            for (var b = 0; b < s.Target.Count; b++)
            {
                var label = s.Target.Labels[b];
                Drawing.LabelledBox(cell, h, w, s.Target.Boxes[b].Scale((float)scale, (float)scale), className(label), ColourOf(label), thickness: 1, scale: 0.35);
            }
            if (captions is not null && k < captions.Count)
                Drawing.Text(cell, h, w, 3, captions[k], 3, h - 5, new Rgb(255, 255, 0), 0.4);
            int ox = gap + (k % cols) * (tile + gap), oy = gap + (k / cols) * (tile + gap);
            for (var r = 0; r < h; r++)
                cell.AsSpan(r * w * 3, w * 3).CopyTo(rgb.AsSpan(((oy + r) * width + ox) * 3));
        }
        return (rgb, height, width);
    }
}
