using CxrLab.Data;
using CxrLab.Imaging;

namespace CxrLab.Tasks.Rsna;

/// <summary>How an RSNA box becomes the instance mask Mask R-CNN trains on (the set has boxes only).</summary>
public enum RsnaMaskShape
{
    /// <summary>The filled box — what the seed's <c>load_mask</c> drew.</summary>
    Box,
    /// <summary>The ellipse inscribed in the box: opacities are rounded, so the mask head learns a rounder shape.</summary>
    Ellipse,
}

/// <summary>Instance masks from RSNA boxes, in the image's pixels (a pixel belongs when its centre is inside).</summary>
public static class RsnaMasks
{
    /// <summary>Parses <c>box</c>/<c>ellipse</c> (config value <c>rsna.mask_shape</c>).</summary>
    public static RsnaMaskShape Parse(string name) => name.ToLowerInvariant() switch
    {
        "box" => RsnaMaskShape.Box,
        "ellipse" => RsnaMaskShape.Ellipse,
        _ => throw new ArgumentException($"mask shape '{name}' is not known; use box (filled box, the seed's) or ellipse"),
    };

    /// <summary>One <paramref name="width"/> × <paramref name="height"/> single-channel mask (0/1) for <paramref name="box"/>.</summary>
    public static Image Of(Box box, int width, int height, RsnaMaskShape shape)
    {
        var mask = new Image(height, width);
        var (cx, cy) = ((box.X1 + box.X2) / 2.0, (box.Y1 + box.Y2) / 2.0);
        var (rx, ry) = (Math.Max(box.Width / 2.0, 1e-6), Math.Max(box.Height / 2.0, 1e-6));
        var (r0, r1) = (Math.Max(0, (int)Math.Floor(box.Y1)), Math.Min(height, (int)Math.Ceiling(box.Y2)));
        var (c0, c1) = (Math.Max(0, (int)Math.Floor(box.X1)), Math.Min(width, (int)Math.Ceiling(box.X2)));
        for (var r = r0; r < r1; r++)
        {
            var y = r + 0.5;
            if (y < box.Y1 || y > box.Y2) continue;
            for (var c = c0; c < c1; c++)
            {
                var x = c + 0.5;
                if (x < box.X1 || x > box.X2) continue;
                if (shape == RsnaMaskShape.Ellipse && Math.Pow((x - cx) / rx, 2) + Math.Pow((y - cy) / ry, 2) > 1) continue;
                mask.At(r, c) = 1;
            }
        }
        return mask;
    }

    /// <summary><paramref name="target"/> with one mask per box (replacing any it had).</summary>
    public static Target WithMasks(Target target, RsnaMaskShape shape) =>
        new(target.Width, target.Height, target.Boxes, target.Labels, target.Boxes.Select(b => Of(b, target.Width, target.Height, shape)).ToList());
}
