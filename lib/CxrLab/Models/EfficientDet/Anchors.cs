using CxrLab.Torch;

namespace CxrLab.Models.EfficientDet;

/// <summary>effdet's <c>Anchors</c>: for each level P3…P7, each cell (row-major, y then x) and each
/// (octave scale · #aspects + aspect) a box centred on the cell of side anchor_scale · stride · 2^(octave/3), stretched by
/// the aspect's (x, y) multipliers. Ordered level → y → x → (scale·3 + aspect), as the heads' channels are.
/// <see cref="Generate"/> returns float32 <c>[A, 4]</c> in effdet's <b>y1, x1, y2, x2</b> order, network-input pixels
/// (computed in double, then rounded once, as effdet does with numpy).</summary>
public static class Anchors
{
    public static Tensor Generate(EfficientDetOptions o)
    {
        var featSizes = BiFpnGraph.FeatSizes(o.ImageSize, o.MaxLevel);
        var (imageH, imageW) = featSizes[0];
        var values = new List<float>();
        for (var level = o.MinLevel; level <= o.MaxLevel; level++)
        {
            var strideY = imageH / (double)featSizes[level].H;
            var strideX = imageW / (double)featSizes[level].W;
            var configs = new List<(double HalfX, double HalfY)>();
            for (var octave = 0; octave < o.NumScales; octave++)
                foreach (var (ax, ay) in o.AspectRatios)
                {
                    var scale = Math.Pow(2, octave / (double)o.NumScales);
                    configs.Add((o.AnchorScale * strideX * scale * ax / 2.0, o.AnchorScale * strideY * scale * ay / 2.0));
                }
            // numpy.arange(stride / 2, size, stride): count = ceil((size − stride/2) / stride).
            var ys = Arange(strideY / 2, imageH, strideY);
            var xs = Arange(strideX / 2, imageW, strideX);
            foreach (var y in ys)
                foreach (var x in xs)
                    foreach (var (hx, hy) in configs)
                    {
                        values.Add((float)(y - hy));
                        values.Add((float)(x - hx));
                        values.Add((float)(y + hy));
                        values.Add((float)(x + hx));
                    }
        }
        return Tensor.From(values.ToArray(), values.Count / 4, 4);
    }

    static double[] Arange(double start, double stop, double step)
    {
        var n = (long)Math.Ceiling((stop - start) / step);
        return Enumerable.Range(0, (int)Math.Max(n, 0)).Select(i => start + i * step).ToArray();
    }

    /// <summary>Anchors per level (H·W·anchors per location), in order P3…P7.</summary>
    public static long[] PerLevel(EfficientDetOptions o)
    {
        var featSizes = BiFpnGraph.FeatSizes(o.ImageSize, o.MaxLevel);
        return Enumerable.Range(o.MinLevel, o.NumLevels).Select(l => (long)featSizes[l].H * featSizes[l].W * o.AnchorsPerLocation).ToArray();
    }
}
