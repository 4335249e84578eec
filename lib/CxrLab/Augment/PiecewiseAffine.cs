using CxrLab.Data;
using CxrLab.Imaging;

namespace CxrLab.Augment;

/// <summary>imgaug's PiecewiseAffine, as a smooth local warp: the nodes of a <see cref="Rows"/> × <see cref="Cols"/>
/// grid are moved by N(0, scale) × image height/width (scale drawn from <see cref="Scale"/>; the RSNA seed used
/// 0.002–0.03), the node displacements are interpolated bilinearly to every pixel (cv::resize) and the image is
/// resampled with cv::remap. imgaug interpolates per triangle instead; the displacement field has the same size.
/// Boxes: points along each box edge are mapped forward by inverting the field (fixed-point iteration) and
/// the enclosing box is taken, so a box follows its pixels to within the rasterisation.</summary>
public sealed record PiecewiseAffine : ITransform
{
    public Interval Scale { get; init; } = (0.002, 0.03);
    public int Rows { get; init; } = 4;
    public int Cols { get; init; } = 4;
    public Interpolation Interpolation { get; init; } = Interpolation.Linear;
    public double Fill { get; init; }

    /// <summary>Points sampled along each box edge for the forward mapping.</summary>
    const int EdgeSamples = 24;

    public Sample Apply(Sample sample, AugmentContext context)
    {
        if (Rows < 2 || Cols < 2) throw new InvalidOperationException($"PiecewiseAffine needs a grid of at least 2×2 nodes, got {Rows}×{Cols}");
        int w = sample.Image.Width, h = sample.Image.Height;
        var scale = Scale.Sample(context.Random);
        // Backward displacement u(dst): the pixel at dst comes from src = dst + u(dst).
        var nodesX = new float[Rows * Cols];
        var nodesY = new float[Rows * Cols];
        for (var i = 0; i < nodesX.Length; i++)
        {
            nodesX[i] = (float)(Gaussian(context.Random) * scale * w);
            nodesY[i] = (float)(Gaussian(context.Random) * scale * h);
        }
        var ux = OpenCv.Resize<float>(nodesX, Rows, Cols, 1, h, w, Interpolation.Linear);
        var uy = OpenCv.Resize<float>(nodesY, Rows, Cols, 1, h, w, Interpolation.Linear);
        var mapX = new float[w * h];
        var mapY = new float[w * h];
        for (var r = 0; r < h; r++)
            for (var c = 0; c < w; c++)
            {
                var i = r * w + c;
                mapX[i] = c + ux[i];
                mapY[i] = r + uy[i];
            }
        var image = OpenCv.Remap(sample.Image, mapX, mapY, h, w, Interpolation, BorderMode.Constant, Fill);
        var mapped = sample.Target.Boxes.Select(b => MapBox(b, ux, uy, w, h)).ToList();
        var (indices, boxes) = context.Policy.Select(mapped, w, h, context.Stats);
        List<Image>? masks = null;
        if (sample.Target.Masks is { } sourceMasks)
            masks = indices.Select(i => OpenCv.Remap(sourceMasks[i], mapX, mapY, h, w, Interpolation.Nearest)).ToList();
        return sample.Rebuild(image, indices, boxes, masks);
    }

    static Box MapBox(Box box, float[] ux, float[] uy, int w, int h)
    {
        if (!box.IsValid) return default;
        double x1 = double.MaxValue, y1 = double.MaxValue, x2 = double.MinValue, y2 = double.MinValue;
        for (var edge = 0; edge < 4; edge++)
            for (var k = 0; k <= EdgeSamples; k++)
            {
                var t = (double)k / EdgeSamples;
                var (sx, sy) = edge switch
                {
                    0 => (box.X1 + t * box.Width, (double)box.Y1),
                    1 => (box.X1 + t * box.Width, (double)box.Y2),
                    2 => ((double)box.X1, box.Y1 + t * box.Height),
                    _ => ((double)box.X2, box.Y1 + t * box.Height),
                };
                // Solve dst + u(dst) = src in pixel-centre coordinates.
                double px = sx - 0.5, py = sy - 0.5, dx = px, dy = py;
                for (var it = 0; it < 8; it++)
                {
                    dx = px - Sample(ux, w, h, dx, dy);
                    dy = py - Sample(uy, w, h, dx, dy);
                }
                x1 = Math.Min(x1, dx + 0.5); x2 = Math.Max(x2, dx + 0.5);
                y1 = Math.Min(y1, dy + 0.5); y2 = Math.Max(y2, dy + 0.5);
            }
        return new Box((float)x1, (float)y1, (float)x2, (float)y2);
    }

    /// <summary>Bilinear lookup of a field at a pixel-centre position, clamped at the borders.</summary>
    static double Sample(float[] field, int w, int h, double x, double y)
    {
        x = Math.Clamp(x, 0, w - 1);
        y = Math.Clamp(y, 0, h - 1);
        int x0 = (int)x, y0 = (int)y;
        int x1 = Math.Min(x0 + 1, w - 1), y1 = Math.Min(y0 + 1, h - 1);
        double fx = x - x0, fy = y - y0;
        var top = field[y0 * w + x0] * (1 - fx) + field[y0 * w + x1] * fx;
        var bottom = field[y1 * w + x0] * (1 - fx) + field[y1 * w + x1] * fx;
        return top * (1 - fy) + bottom * fy;
    }

    /// <summary>Standard normal by Box–Muller from the context's stream.</summary>
    internal static double Gaussian(Random random)
    {
        var u1 = 1.0 - random.NextDouble();
        var u2 = random.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
