using CxrLab.Data;

namespace CxrLab.Models.Detection;

/// <summary>One output cell of RoIAlign: its extent on the feature map and the points sampled inside it
/// (feature-map coordinates: the value <c>map[r, c]</c> sits at x = c, y = r).</summary>
public sealed record RoIAlignBin(int Row, int Col, Box Extent, IReadOnlyList<(double X, double Y)> Points);

/// <summary>RoIAlign for one box on one single-channel map, spelled out step by step in managed code so a
/// notebook can draw it: the box is scaled to the map (<c>spatial_scale</c>), split into out × out bins, each
/// bin is sampled at a regular grid of <c>sampling_ratio</c>² points (adaptive ⌈bin size⌉ when ≤ 0), every
/// point is read by bilinear interpolation, and a bin's output is the mean of its points. The arithmetic is
/// torchvision's CPU kernel (<c>roi_align_kernel.cpp</c>), including <c>aligned</c> (a half-pixel shift) and
/// the border rules; the model itself pools with the native op (<see cref="Torch.Vision.VisionOps.roi_align(Torch.Tensor, Torch.Tensor, long[], double, long, bool)"/>),
/// and the tests hold this class to it.</summary>
public static class RoIAlignSampling
{
    /// <summary>The bins of <paramref name="box"/> (xyxy in image pixels; × <paramref name="spatialScale"/> gives map
    /// coordinates), row-major, with their sampling points.</summary>
    public static IReadOnlyList<RoIAlignBin> Bins(Box box, int outputSize, int samplingRatio, double spatialScale = 1, bool aligned = false)
    {
        if (outputSize < 1) throw new ArgumentOutOfRangeException(nameof(outputSize), "the output needs at least one bin");
        var offset = aligned ? 0.5 : 0.0;
        var startX = box.X1 * spatialScale - offset;
        var startY = box.Y1 * spatialScale - offset;
        var width = box.X2 * spatialScale - offset - startX;
        var height = box.Y2 * spatialScale - offset - startY;
        // Legacy (aligned = false) RoIAlign forces boxes to be at least one cell wide and high.
        if (!aligned)
        {
            width = Math.Max(width, 1.0);
            height = Math.Max(height, 1.0);
        }
        var binW = width / outputSize;
        var binH = height / outputSize;
        var gridH = samplingRatio > 0 ? samplingRatio : (int)Math.Ceiling(height / outputSize);
        var gridW = samplingRatio > 0 ? samplingRatio : (int)Math.Ceiling(width / outputSize);
        var bins = new List<RoIAlignBin>(outputSize * outputSize);
        for (var ph = 0; ph < outputSize; ph++)
        for (var pw = 0; pw < outputSize; pw++)
        {
            var points = new List<(double X, double Y)>(gridH * gridW);
            for (var iy = 0; iy < gridH; iy++)
            {
                var y = startY + ph * binH + (iy + 0.5) * binH / gridH;
                for (var ix = 0; ix < gridW; ix++)
                    points.Add((startX + pw * binW + (ix + 0.5) * binW / gridW, y));
            }
            var extent = new Box((float)(startX + pw * binW), (float)(startY + ph * binH), (float)(startX + (pw + 1) * binW), (float)(startY + (ph + 1) * binH));
            bins.Add(new RoIAlignBin(ph, pw, extent, points));
        }
        return bins;
    }

    /// <summary>The map read at (<paramref name="x"/>, <paramref name="y"/>) by bilinear interpolation of the four
    /// nearest cells; 0 beyond one cell outside the map, the border value between the border and that limit.</summary>
    public static double Bilinear(double[,] map, double x, double y)
    {
        var (height, width) = (map.GetLength(0), map.GetLength(1));
        if (y < -1.0 || y > height || x < -1.0 || x > width) return 0;
        y = Math.Max(y, 0);
        x = Math.Max(x, 0);
        var yLow = (int)y;
        var xLow = (int)x;
        int yHigh, xHigh;
        if (yLow >= height - 1) { yHigh = yLow = height - 1; y = yLow; } else yHigh = yLow + 1;
        if (xLow >= width - 1) { xHigh = xLow = width - 1; x = xLow; } else xHigh = xLow + 1;
        var ly = y - yLow;
        var lx = x - xLow;
        var (hy, hx) = (1 - ly, 1 - lx);
        return hy * hx * map[yLow, xLow] + hy * lx * map[yLow, xHigh] + ly * hx * map[yHigh, xLow] + ly * lx * map[yHigh, xHigh];
    }

    /// <summary>The pooled <c>[out, out]</c> output: each bin's mean over its sampling points.</summary>
    public static double[,] Pool(double[,] map, Box box, int outputSize, int samplingRatio, double spatialScale = 1, bool aligned = false) =>
        Pool(map, Bins(box, outputSize, samplingRatio, spatialScale, aligned), outputSize);

    /// <summary>The pooled output of precomputed <paramref name="bins"/> (as <see cref="Bins"/> returns them).</summary>
    public static double[,] Pool(double[,] map, IReadOnlyList<RoIAlignBin> bins, int outputSize)
    {
        var pooled = new double[outputSize, outputSize];
        foreach (var bin in bins)
            pooled[bin.Row, bin.Col] = bin.Points.Count == 0 ? 0 : bin.Points.Average(p => Bilinear(map, p.X, p.Y));
        return pooled;
    }
}
