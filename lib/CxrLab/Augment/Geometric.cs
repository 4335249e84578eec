using CxrLab.Data;
using CxrLab.Imaging;

namespace CxrLab.Augment;

/// <summary>The warp a geometric transform chose for one image: the matrix (pixel-edge coordinates,
/// source → destination) and the output size.</summary>
public readonly record struct Warp(Homography Matrix, int Width, int Height);

/// <summary>A transform defined by one matrix: the image is warped with it (linear), masks with the same
/// matrix (nearest), and boxes by mapping their four corners; boxes are then clipped and filtered by the
/// context's <see cref="BoxPolicy"/>. Subclasses only choose the matrix (<see cref="Plan"/>).</summary>
public abstract record GeometricTransform : ITransform
{
    /// <summary>Image interpolation (masks always use nearest).</summary>
    public Interpolation Interpolation { get; init; } = Interpolation.Linear;
    /// <summary>Fill of pixels that come from outside the source.</summary>
    public BorderMode Border { get; init; } = BorderMode.Constant;
    /// <summary>Grey value of <see cref="BorderMode.Constant"/> fill, in image units (0 = black).</summary>
    public double Fill { get; init; }

    /// <summary>The warp for an image of <paramref name="width"/> × <paramref name="height"/>, drawing any random parameters.</summary>
    public abstract Warp Plan(int width, int height, Random random);

    public Sample Apply(Sample sample, AugmentContext context)
    {
        var warp = Plan(sample.Image.Width, sample.Image.Height, context.Random);
        return ApplyWarp(sample, warp, context);
    }

    /// <summary>Applies a chosen warp to image, masks and boxes.</summary>
    public Sample ApplyWarp(Sample sample, Warp warp, AugmentContext context)
    {
        var image = WarpImage(sample.Image, warp, Interpolation, Fill);
        var mapped = sample.Target.Boxes.Select(warp.Matrix.MapBox).ToList();
        var (indices, boxes) = context.Policy.Select(mapped, warp.Width, warp.Height, context.Stats);
        List<Image>? masks = null;
        if (sample.Target.Masks is { } sourceMasks)
            masks = indices.Select(i => WarpImage(sourceMasks[i], warp, Interpolation.Nearest, 0)).ToList();
        return sample.Rebuild(image, indices, boxes, masks);
    }

    /// <summary>Warps one image; overridden where OpenCV has an exact, faster op (flips, quarter turns).</summary>
    protected virtual Image WarpImage(Image image, Warp warp, Interpolation interpolation, double fill)
    {
        var m = warp.Matrix.ToOpenCv();
        return m.Length == 6
            ? OpenCv.WarpAffine(image, m, warp.Height, warp.Width, interpolation, Border, fill)
            : OpenCv.WarpPerspective(image, m, warp.Height, warp.Width, interpolation, Border, fill);
    }

    /// <summary>A matrix that applies <paramref name="inner"/> about the centre of a <paramref name="width"/> × <paramref name="height"/> image.</summary>
    protected static Homography AboutCentre(Homography inner, int width, int height) =>
        Homography.Translation(-width / 2.0, -height / 2.0).Then(inner).Then(Homography.Translation(width / 2.0, height / 2.0));
}

/// <summary>Mirror: <see cref="Horizontal"/> swaps left and right (x → W − x), <see cref="Vertical"/> top and bottom.</summary>
public sealed record Flip(bool Horizontal = true, bool Vertical = false) : GeometricTransform
{
    public override Warp Plan(int width, int height, Random random)
    {
        var m = Homography.Scale(Horizontal ? -1 : 1, Vertical ? -1 : 1).Then(Homography.Translation(Horizontal ? width : 0, Vertical ? height : 0));
        return new Warp(m, width, height);
    }

    protected override Image WarpImage(Image image, Warp warp, Interpolation interpolation, double fill) => OpenCv.Flip(image, Horizontal, Vertical);
}

/// <summary>Rotation by a multiple of 90° counter-clockwise (numpy's rot90 direction), chosen uniformly from
/// <see cref="QuarterTurns"/> (e.g. [1] = always 90°, [1, 2, 3] = any). Width and height swap for odd turns.</summary>
public sealed record Rotate90(IReadOnlyList<int> QuarterTurns) : GeometricTransform
{
    public Rotate90() : this([1]) { }
    public Rotate90(int quarterTurns) : this([quarterTurns]) { }

    public override Warp Plan(int width, int height, Random random)
    {
        if (QuarterTurns.Count == 0) throw new InvalidOperationException("Rotate90 needs at least one quarter-turn count");
        var k = ((QuarterTurns[random.Next(QuarterTurns.Count)] % 4) + 4) % 4;
        return k switch
        {
            0 => new Warp(Homography.Identity, width, height),
            1 => new Warp(new Homography(0, 1, 0, -1, 0, width, 0, 0, 1), height, width),      // (x, y) → (y, W − x)
            2 => new Warp(new Homography(-1, 0, width, 0, -1, height, 0, 0, 1), width, height), // (x, y) → (W − x, H − y)
            _ => new Warp(new Homography(0, -1, height, 1, 0, 0, 0, 0, 1), height, width),     // (x, y) → (H − y, x)
        };
    }

    protected override Image WarpImage(Image image, Warp warp, Interpolation interpolation, double fill)
    {
        var m = warp.Matrix;
        var k = m.M00 == 1 ? 0 : m.M01 == 1 ? 1 : m.M00 == -1 ? 2 : 3;
        return OpenCv.Rotate90(image, k);
    }
}

/// <summary>Rotation by an angle drawn from <see cref="Degrees"/> about the image centre, keeping the size
/// (corners are filled). Positive = counter-clockwise on screen.</summary>
public sealed record Rotate(Interval Degrees) : GeometricTransform
{
    public override Warp Plan(int width, int height, Random random) =>
        new(AboutCentre(Homography.Rotation(Degrees.Sample(random)), width, height), width, height);
}

/// <summary>Zoom about the centre by a factor drawn from <see cref="Factor"/>, keeping the size: &gt; 1
/// enlarges the content (edges are cropped, boxes clipped), &lt; 1 shrinks it (borders filled).
/// The seed's "Zoom 10%" (Keras zoom_range 0.1) is Factor [0.9, 1.1].</summary>
public sealed record Zoom(Interval Factor) : GeometricTransform
{
    public override Warp Plan(int width, int height, Random random)
    {
        var f = Factor.Sample(random);
        return new(AboutCentre(Homography.Scale(f, f), width, height), width, height);
    }
}

/// <summary>imgaug's Affine about the image centre: scale (per axis), translation (fraction of width/height),
/// rotation and shear (degrees), applied in that order (scale, shear, rotate, translate). Keeps the size.
/// Defaults are the RSNA seed's ranges.</summary>
public sealed record Affine : GeometricTransform
{
    public Interval ScaleX { get; init; } = (0.98, 1.04);
    public Interval ScaleY { get; init; } = (0.98, 1.04);
    public Interval TranslateX { get; init; } = (-0.03, 0.03);
    public Interval TranslateY { get; init; } = (-0.05, 0.05);
    public Interval Rotate { get; init; } = (-2, 2);
    public Interval Shear { get; init; } = (-1, 1);

    public override Warp Plan(int width, int height, Random random)
    {
        double sx = ScaleX.Sample(random), sy = ScaleY.Sample(random);
        double tx = TranslateX.Sample(random) * width, ty = TranslateY.Sample(random) * height;
        double rotate = Rotate.Sample(random), shear = Shear.Sample(random);
        var inner = Homography.Scale(sx, sy).Then(Homography.ShearX(shear)).Then(Homography.Rotation(rotate)).Then(Homography.Translation(tx, ty));
        return new(AboutCentre(inner, width, height), width, height);
    }
}

/// <summary>torchvision's RandomResizedCrop: a crop covering a fraction <see cref="Scale"/> of the area with
/// aspect ratio (w/h) in <see cref="Ratio"/> (log-uniform), resized to <see cref="Width"/> × <see cref="Height"/>.
/// After 10 failed draws it falls back to the centred crop of the clamped ratio.</summary>
public sealed record RandomResizedCrop(int Width, int Height) : GeometricTransform
{
    public Interval Scale { get; init; } = (0.5, 1.0);
    public Interval Ratio { get; init; } = (3.0 / 4, 4.0 / 3);

    public override Warp Plan(int width, int height, Random random)
    {
        double area = (double)width * height;
        for (var attempt = 0; attempt < 10; attempt++)
        {
            var target = area * Scale.Sample(random);
            var ratio = Math.Exp(new Interval(Math.Log(Ratio.Min), Math.Log(Ratio.Max)).Sample(random));
            var w = Math.Round(Math.Sqrt(target * ratio));
            var h = Math.Round(Math.Sqrt(target / ratio));
            if (w > 0 && h > 0 && w <= width && h <= height)
            {
                var x = random.Next((int)(width - w) + 1);
                var y = random.Next((int)(height - h) + 1);
                return CropTo(x, y, w, h);
            }
        }
        var inRatio = (double)width / height;
        double cw = width, ch = height;
        if (inRatio < Ratio.Min) ch = Math.Round(cw / Ratio.Min);
        else if (inRatio > Ratio.Max) cw = Math.Round(ch * Ratio.Max);
        return CropTo((width - cw) / 2, (height - ch) / 2, cw, ch);
    }

    Warp CropTo(double x, double y, double w, double h) =>
        new(Homography.Translation(-x, -y).Then(Homography.Scale(Width / w, Height / h)), Width, Height);
}

/// <summary>Resize keeping the aspect ratio so the image fits <see cref="Width"/> × <see cref="Height"/>, then pad
/// with <see cref="GeometricTransform.Fill"/>: at the bottom/right (YOLOX, EfficientDet) or evenly (<see cref="Centre"/>).
/// The resized size is rounded to whole pixels and the matrix uses exactly that scale, so boxes match the pixels.
/// Pixels go through cv::resize (area averaging when shrinking, no aliasing), not a warp.</summary>
public sealed record Letterbox(int Width, int Height, bool Centre = false) : GeometricTransform
{
    public override Warp Plan(int width, int height, Random random)
    {
        var s = Math.Min((double)Width / width, (double)Height / height);
        int nw = Math.Clamp((int)Math.Round(width * s), 1, Width), nh = Math.Clamp((int)Math.Round(height * s), 1, Height);
        int ox = Centre ? (Width - nw) / 2 : 0, oy = Centre ? (Height - nh) / 2 : 0;
        return new(Homography.Scale((double)nw / width, (double)nh / height).Then(Homography.Translation(ox, oy)), Width, Height);
    }

    protected override Image WarpImage(Image image, Warp warp, Interpolation interpolation, double fill)
    {
        var m = warp.Matrix;
        int nw = (int)Math.Round(m.M00 * image.Width), nh = (int)Math.Round(m.M11 * image.Height);
        var resized = Resize.ScaleImage(image, nw, nh, interpolation);
        var canvas = new Image(warp.Height, warp.Width, image.Channels);
        if (fill != 0) Array.Fill(canvas.Data, (float)fill);
        OpenCv.CopyRect(resized, 0, 0, nw, nh, canvas, (int)Math.Round(m.M02), (int)Math.Round(m.M12));
        return canvas;
    }
}

/// <summary>Plain resize to <see cref="Width"/> × <see cref="Height"/> (aspect ratio not kept), through cv::resize.</summary>
public sealed record Resize(int Width, int Height) : GeometricTransform
{
    public override Warp Plan(int width, int height, Random random) =>
        new(Homography.Scale((double)Width / width, (double)Height / height), Width, Height);

    protected override Image WarpImage(Image image, Warp warp, Interpolation interpolation, double fill) =>
        ScaleImage(image, warp.Width, warp.Height, interpolation);

    /// <summary>cv::resize; linear becomes area averaging when shrinking both axes (no aliasing). Nearest stays nearest (masks).</summary>
    internal static Image ScaleImage(Image image, int width, int height, Interpolation interpolation)
    {
        if (interpolation == Interpolation.Linear && width <= image.Width && height <= image.Height) interpolation = Interpolation.Area;
        return new Image(OpenCv.Resize<float>(image.Data, image.Rows, image.Cols, image.Channels, height, width, interpolation), height, width, image.Channels);
    }
}
