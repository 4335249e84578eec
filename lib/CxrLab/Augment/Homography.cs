using CxrLab.Data;

namespace CxrLab.Augment;

/// <summary>A 3×3 projective matrix mapping source to destination points, row-major. Coordinates are
/// continuous pixel-edge coordinates, the convention of <see cref="Box"/>: pixel (col c, row r) covers
/// [c, c+1) × [r, r+1), so an image of width W spans [0, W]. <see cref="ToOpenCv"/> converts to OpenCV's
/// pixel-centre convention. Composition: <c>a.Then(b)</c> applies a first, then b.</summary>
public readonly record struct Homography(double M00, double M01, double M02, double M10, double M11, double M12, double M20, double M21, double M22)
{
    public static Homography Identity => new(1, 0, 0, 0, 1, 0, 0, 0, 1);

    public static Homography Translation(double tx, double ty) => new(1, 0, tx, 0, 1, ty, 0, 0, 1);

    public static Homography Scale(double sx, double sy) => new(sx, 0, 0, 0, sy, 0, 0, 0, 1);

    /// <summary>Rotation by <paramref name="degrees"/> about the origin; positive turns content
    /// counter-clockwise on screen (y points down), as cv::getRotationMatrix2D.</summary>
    public static Homography Rotation(double degrees)
    {
        var a = degrees * Math.PI / 180;
        double c = Math.Cos(a), s = Math.Sin(a);
        return new(c, s, 0, -s, c, 0, 0, 0, 1);
    }

    /// <summary>Shear along x by <paramref name="degrees"/>: x' = x + tan(shear)·y (imgaug's convention).</summary>
    public static Homography ShearX(double degrees) => new(1, Math.Tan(degrees * Math.PI / 180), 0, 0, 1, 0, 0, 0, 1);

    /// <summary>Matrix product this × other (other is applied first).</summary>
    public Homography Multiply(Homography o) => new(
        M00 * o.M00 + M01 * o.M10 + M02 * o.M20, M00 * o.M01 + M01 * o.M11 + M02 * o.M21, M00 * o.M02 + M01 * o.M12 + M02 * o.M22,
        M10 * o.M00 + M11 * o.M10 + M12 * o.M20, M10 * o.M01 + M11 * o.M11 + M12 * o.M21, M10 * o.M02 + M11 * o.M12 + M12 * o.M22,
        M20 * o.M00 + M21 * o.M10 + M22 * o.M20, M20 * o.M01 + M21 * o.M11 + M22 * o.M21, M20 * o.M02 + M21 * o.M12 + M22 * o.M22);

    /// <summary>This transform followed by <paramref name="next"/>.</summary>
    public Homography Then(Homography next) => next.Multiply(this);

    public bool IsAffine => M20 == 0 && M21 == 0 && M22 == 1;

    /// <summary>The inverse map (destination → source), e.g. to take detections on a letterboxed image back to
    /// the original pixels: <c>warp.Matrix.Inverse().MapBox(box)</c>. Throws for a singular matrix.</summary>
    public Homography Inverse()
    {
        var c00 = M11 * M22 - M12 * M21; var c01 = M02 * M21 - M01 * M22; var c02 = M01 * M12 - M02 * M11;
        var c10 = M12 * M20 - M10 * M22; var c11 = M00 * M22 - M02 * M20; var c12 = M02 * M10 - M00 * M12;
        var c20 = M10 * M21 - M11 * M20; var c21 = M01 * M20 - M00 * M21; var c22 = M00 * M11 - M01 * M10;
        var det = M00 * c00 + M01 * c10 + M02 * c20;
        if (Math.Abs(det) < 1e-12) throw new InvalidOperationException($"the matrix {this} is singular and has no inverse");
        return new(c00 / det, c01 / det, c02 / det, c10 / det, c11 / det, c12 / det, c20 / det, c21 / det, c22 / det);
    }

    public (double X, double Y) Apply(double x, double y)
    {
        var w = M20 * x + M21 * y + M22;
        return ((M00 * x + M01 * y + M02) / w, (M10 * x + M11 * y + M12) / w);
    }

    /// <summary>Maps a box by its four corners and returns their enclosing box. Exact for flips, 90°
    /// rotations and scales; for other rotations and shears it is the box around the mapped rectangle. Invalid boxes map to the empty box.</summary>
    public Box MapBox(Box box)
    {
        // An empty or inverted box stays empty: its corners must not be "repaired" into a valid box.
        if (!box.IsValid) return default;
        double x1 = double.MaxValue, y1 = double.MaxValue, x2 = double.MinValue, y2 = double.MinValue;
        foreach (var (cx, cy) in new[] { (box.X1, box.Y1), (box.X2, box.Y1), (box.X1, box.Y2), (box.X2, box.Y2) })
        {
            var (x, y) = Apply(cx, cy);
            x1 = Math.Min(x1, x); y1 = Math.Min(y1, y); x2 = Math.Max(x2, x); y2 = Math.Max(y2, y);
        }
        return new Box((float)x1, (float)y1, (float)x2, (float)y2);
    }

    /// <summary>The same map in OpenCV's pixel-centre coordinates (centre of pixel c is c, not c + ½):
    /// T(−½) · this · T(+½). Row-major, 6 values when affine (for cv::warpAffine), else 9.</summary>
    public double[] ToOpenCv()
    {
        var m = Translation(-0.5, -0.5).Multiply(this).Multiply(Translation(0.5, 0.5));
        return m.IsAffine ? [m.M00, m.M01, m.M02, m.M10, m.M11, m.M12] : [m.M00, m.M01, m.M02, m.M10, m.M11, m.M12, m.M20, m.M21, m.M22];
    }
}
