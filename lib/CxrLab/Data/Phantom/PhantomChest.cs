using CxrLab.Imaging;

namespace CxrLab.Data.Phantom;

/// <summary>A lesion drawn on a phantom: its class (VinBigData id 0–13) and its true box (xyxy pixels).</summary>
public readonly record struct PhantomLesion(int ClassId, Box Box);

/// <summary>Renders chest-radiograph-like images in plain float arrays: body, lungs, heart, spine, ribs,
/// clavicles, aortic knob, and the 14 VinBigData findings with class-specific appearance, size and
/// location. Values are display intensities in [0, 1] (1 = dense/white). Deterministic for a given
/// <see cref="Random"/> state.</summary>
public sealed class PhantomChest
{
    readonly float[] px;
    readonly Random rng;

    public int Width { get; }
    public int Height { get; }

    // Anatomy in normalised coordinates (fractions of width/height), jittered per image.
    readonly double lungCy, lungRx, lungRy, leftCx, rightCx, heartCx, heartCy, heartRx, heartRy;

    PhantomChest(int width, int height, Random rng)
    {
        Width = width; Height = height; this.rng = rng;
        px = new float[width * height];
        lungCy = 0.45 + J(0.02); lungRx = 0.14 + J(0.01); lungRy = 0.27 + J(0.02);
        leftCx = 0.31 + J(0.015); rightCx = 0.69 + J(0.015);
        heartCx = 0.56 + J(0.015); heartCy = 0.63 + J(0.015); heartRx = 0.13 + J(0.01); heartRy = 0.1 + J(0.01);
    }

    /// <summary>Renders one image with the given finding classes (each drawn once; Nodule/Mass and Pleural
    /// thickening may appear twice). Returns the image and the true lesion boxes. <paramref name="noise"/> is
    /// the standard deviation of the added Gaussian noise.</summary>
    public static (Image Image, List<PhantomLesion> Lesions) Render(int width, int height, IReadOnlyList<int> findingClasses, Random rng, float noise = 0.012f)
    {
        var chest = new PhantomChest(width, height, rng);
        var cardiomegaly = findingClasses.Contains(3);
        chest.DrawAnatomy(cardiomegaly);
        var lesions = new List<PhantomLesion>();
        var drawn = new Dictionary<int, int>();
        foreach (var c in findingClasses)
        {
            var copies = c is 8 or 11 && rng.NextDouble() < 0.3 ? 2 : 1;
            for (var k = 0; k < copies; k++)
            {
                // A repeated class alternates sides (e.g. RSNA's bilateral opacities).
                var copy = drawn[c] = drawn.GetValueOrDefault(c) + 1;
                var box = chest.DrawFinding(c, copy - 1);
                var clipped = box.Clip(width, height);
                if (clipped.Width >= 2 && clipped.Height >= 2) lesions.Add(new PhantomLesion(c, clipped));
            }
        }
        chest.AddNoise(noise);
        for (var i = 0; i < chest.px.Length; i++) chest.px[i] = Math.Clamp(chest.px[i], 0f, 1f);
        return (new Image(chest.px, height, width), lesions);
    }

    double J(double amplitude) => (rng.NextDouble() * 2 - 1) * amplitude;

    // ---- anatomy ----

    void DrawAnatomy(bool cardiomegaly)
    {
        Fill(0.06f);
        Ellipse(0.5, 0.56, 0.47, 0.55, set: 0.5f, soft: 0.02);                      // body
        Ellipse(leftCx, lungCy, lungRx, lungRy, set: 0.16f, soft: 0.015);          // lungs (dark)
        Ellipse(rightCx, lungCy, lungRx, lungRy, set: 0.16f, soft: 0.015);
        VesselTexture();
        Ribs();
        Rect(0.47, 0.05, 0.53, 1.0, add: 0.28f, soft: 0.01);                        // spine
        for (var v = 0.12; v < 0.95; v += 0.055) Rect(0.475, v, 0.525, v + 0.008, add: -0.08f, soft: 0.003); // vertebral gaps
        Rect(0.44, 0.12, 0.56, 0.45, add: 0.12f, soft: 0.02);                       // mediastinum
        var rx = cardiomegaly ? heartRx * 1.55 : heartRx;
        var ry = cardiomegaly ? heartRy * 1.3 : heartRy;
        Ellipse(heartCx, heartCy, rx, ry, set: 0.55f, soft: 0.012);                 // heart
        Ellipse(0.56, 0.29, 0.03, 0.025, set: 0.55f, soft: 0.008);                  // aortic knob (normal)
        Ellipse(leftCx, lungCy + lungRy + 0.02, lungRx * 1.2, 0.06, set: 0.5f, soft: 0.01);  // diaphragm domes
        Ellipse(rightCx, lungCy + lungRy + 0.035, lungRx * 1.2, 0.06, set: 0.5f, soft: 0.01);
        for (var side = -1; side <= 1; side += 2)                                    // clavicles
            Band(0.5 + side * 0.06, 0.17, 0.5 + side * 0.3, 0.12, 0.018, add: 0.2f);
    }

    void VesselTexture()
    {
        // Faint branching markings radiating from the hila, so lungs are not flat.
        for (var side = -1; side <= 1; side += 2)
        {
            var hx = 0.5 + side * 0.09; const double hy = 0.46;
            for (var k = 0; k < 7; k++)
            {
                var angle = Math.PI / 2 + side * (0.3 + 0.35 * k + J(0.1));
                var len = 0.12 + J(0.04);
                Band(hx, hy, hx - Math.Cos(angle) * len * side * -1, hy - Math.Sin(angle) * len * 0.8, 0.004, add: 0.05f);
            }
        }
    }

    void Ribs()
    {
        for (var k = 0; k < 9; k++)
        {
            var y0 = 0.17 + k * 0.058 + J(0.005);
            for (var side = -1; side <= 1; side += 2)
            {
                // posterior rib: an arc from the spine outwards and down
                var xs = 0.5 + side * 0.03; var xe = 0.5 + side * 0.36;
                const int segments = 10;
                for (var s = 0; s < segments; s++)
                {
                    double t0 = (double)s / segments, t1 = (double)(s + 1) / segments;
                    double x0 = xs + (xe - xs) * t0, x1 = xs + (xe - xs) * t1;
                    double ya = y0 - 0.03 * Math.Sin(Math.PI * t0) + 0.05 * t0, yb = y0 - 0.03 * Math.Sin(Math.PI * t1) + 0.05 * t1;
                    Band(x0, ya, x1, yb, 0.009, add: 0.07f);
                }
            }
        }
    }

    // ---- findings ----

    /// <summary>Draws one finding and returns its box (pixels).</summary>
    Box DrawFinding(int classId, int copy)
    {
        var side = rng.Next(2) == 0 ? -1 : 1;
        if (copy % 2 == 1) side = -side;
        var lungCx = side < 0 ? leftCx : rightCx;
        switch (classId)
        {
            case 0: // Aortic enlargement: a bulging aortic knob, left of the upper mediastinum
            {
                double cx = 0.57 + J(0.01), cy = 0.28 + J(0.01), r = 0.05 + rng.NextDouble() * 0.02;
                Ellipse(cx, cy, r, r * 1.1, set: 0.62f, soft: 0.006);
                return BoxOf(cx - r, cy - r * 1.1, cx + r, cy + r * 1.1);
            }
            case 1: // Atelectasis: a thin horizontal plate in a lower lung
            {
                double w = 0.12 + rng.NextDouble() * 0.06, h = 0.022 + rng.NextDouble() * 0.012;
                double cx = lungCx + J(0.03), cy = lungCy + 0.12 + J(0.04);
                Rect(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, add: 0.32f, soft: 0.004);
                return BoxOf(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2);
            }
            case 2: // Calcification: a tight cluster of tiny very bright dots
            {
                double cx = lungCx + J(0.07), cy = lungCy + J(0.15), s = 0.02 + rng.NextDouble() * 0.02;
                for (var k = 0; k < 5; k++) Ellipse(cx + J(s * 0.7), cy + J(s * 0.7), 0.006, 0.006, add: 0.7f, soft: 0.001);
                return BoxOf(cx - s, cy - s, cx + s, cy + s);
            }
            case 3: // Cardiomegaly: the heart itself is enlarged (drawn with the anatomy)
            {
                double rx = heartRx * 1.55, ry = heartRy * 1.3;
                return BoxOf(heartCx - rx, heartCy - ry, heartCx + rx, heartCy + ry);
            }
            case 4: // Consolidation: dense homogeneous lobe-shaped area with dark air bronchograms
            {
                double rx = 0.05 + rng.NextDouble() * 0.03, ry = 0.06 + rng.NextDouble() * 0.03;
                double cx = lungCx + J(0.03), cy = lungCy + 0.08 + J(0.05);
                Ellipse(cx, cy, rx, ry, set: 0.6f, soft: 0.005);
                for (var k = 0; k < 3; k++) Band(cx - rx * 0.6, cy - ry * 0.5 + k * ry * 0.5, cx + rx * 0.5, cy - ry * 0.3 + k * ry * 0.5, 0.004, add: -0.25f);
                return BoxOf(cx - rx, cy - ry, cx + rx, cy + ry);
            }
            case 5: // ILD: a fine reticular net over a lower lung zone
            {
                double w = 0.16 + rng.NextDouble() * 0.06, h = 0.14 + rng.NextDouble() * 0.06;
                double cx = lungCx + J(0.02), cy = lungCy + 0.1 + J(0.03);
                Pattern(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, (u, v) =>
                    Math.Abs(Math.Sin(u * 90)) < 0.25 || Math.Abs(Math.Sin(v * 90)) < 0.25 ? 0.2f : 0f);
                return BoxOf(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2);
            }
            case 6: // Infiltration: patchy fluffy blobs
            {
                double w = 0.1 + rng.NextDouble() * 0.06, h = 0.1 + rng.NextDouble() * 0.06;
                double cx = lungCx + J(0.03), cy = lungCy + J(0.1);
                for (var k = 0; k < 7; k++)
                    Gaussian(cx + J(w * 0.35), cy + J(h * 0.35), w * 0.18, h * 0.18, 0.22f);
                return BoxOf(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2);
            }
            case 7: // Lung Opacity: one soft, large hazy area
            {
                double w = 0.13 + rng.NextDouble() * 0.07, h = 0.14 + rng.NextDouble() * 0.08;
                double cx = lungCx + J(0.03), cy = lungCy + J(0.08);
                Gaussian(cx, cy, w * 0.2, h * 0.2, 0.35f); // box = ±2.5 σ
                return BoxOf(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2);
            }
            case 8: // Nodule/Mass: a sharp round disc
            {
                var r = 0.018 + rng.NextDouble() * 0.035;
                double cx = lungCx + J(lungRx * 0.6), cy = lungCy + J(lungRy * 0.6);
                Ellipse(cx, cy, r, r * Width / Height, add: 0.42f, soft: 0.003);
                return BoxOf(cx - r, cy - r * Width / Height, cx + r, cy + r * Width / Height);
            }
            case 9: // Other lesion: a device-like bright rectangular outline
            {
                double w = 0.04 + rng.NextDouble() * 0.04, h = 0.04 + rng.NextDouble() * 0.04;
                double cx = 0.5 + side * (0.15 + J(0.05)), cy = 0.35 + J(0.1);
                Rect(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, add: 0.55f, soft: 0.002);
                Rect(cx - w / 4, cy - h / 4, cx + w / 4, cy + h / 4, add: -0.45f, soft: 0.002);
                return BoxOf(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2);
            }
            case 10: // Pleural effusion: the costophrenic angle filled up to a meniscus
            {
                var h = 0.08 + rng.NextDouble() * 0.07;
                double x0 = lungCx - lungRx * 1.05, x1 = lungCx + lungRx * 1.05, yb = lungCy + lungRy + 0.03, yt = yb - h;
                Pattern(x0, yt, x1, yb, (u, v) =>
                {
                    var lateral = side < 0 ? 1 - u : u; // meniscus rises towards the chest wall
                    return v > 0.45 * (1 - lateral) ? 0.4f : 0f;
                });
                return BoxOf(x0, yt, x1, yb);
            }
            case 11: // Pleural thickening: a thin band along the lateral upper chest wall
            {
                double h = 0.1 + rng.NextDouble() * 0.08, w = 0.022 + rng.NextDouble() * 0.01;
                var x = lungCx + side * (lungRx * 0.92) - w / 2;
                var cy = lungCy - lungRy * 0.45 + J(0.04);
                Rect(x, cy - h / 2, x + w, cy + h / 2, add: 0.4f, soft: 0.003);
                return BoxOf(x, cy - h / 2, x + w, cy + h / 2);
            }
            case 12: // Pneumothorax: a black apical-lateral region without markings, edged by a bright pleural line
            {
                double w = 0.06 + rng.NextDouble() * 0.04, h = 0.16 + rng.NextDouble() * 0.08;
                var xOuter = lungCx + side * lungRx * 1.02;
                var xInner = xOuter - side * w;
                double x0 = Math.Min(xOuter, xInner), x1 = Math.Max(xOuter, xInner);
                var y0 = lungCy - lungRy * 0.85;
                Pattern(x0, y0, x1, y0 + h, (_, _) => 0f, set: 0.02f);
                var line = side < 0 ? x1 : x0;
                Rect(line - 0.004, y0, line + 0.004, y0 + h, add: 0.35f, soft: 0.001);
                return BoxOf(x0, y0, x1, y0 + h);
            }
            case 13: // Pulmonary fibrosis: coarse diagonal streaks in an upper zone
            {
                double w = 0.12 + rng.NextDouble() * 0.06, h = 0.12 + rng.NextDouble() * 0.06;
                double cx = lungCx + J(0.02), cy = lungCy - 0.12 + J(0.03);
                Pattern(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, (u, v) => Math.Sin((u + v * 0.7) * 40) > 0.6 ? 0.28f : 0f);
                return BoxOf(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2);
            }
            default: throw new ArgumentOutOfRangeException(nameof(classId), classId, "phantom findings are VinBigData classes 0–13");
        }
    }

    // ---- drawing primitives (normalised coordinates) ----

    Box BoxOf(double x0, double y0, double x1, double y1) =>
        new((float)(x0 * Width), (float)(y0 * Height), (float)(x1 * Width), (float)(y1 * Height));

    void Fill(float value) => Array.Fill(px, value);

    (int X0, int Y0, int X1, int Y1) Pixels(double x0, double y0, double x1, double y1) =>
        (Math.Max(0, (int)Math.Floor(x0 * Width)), Math.Max(0, (int)Math.Floor(y0 * Height)),
         Math.Min(Width - 1, (int)Math.Ceiling(x1 * Width)), Math.Min(Height - 1, (int)Math.Ceiling(y1 * Height)));

    /// <summary>Ellipse with a soft edge (width <paramref name="soft"/>): either sets the inside to
    /// <paramref name="set"/> (blended) or adds <paramref name="add"/>.</summary>
    void Ellipse(double cx, double cy, double rx, double ry, float? set = null, float add = 0, double soft = 0.005)
    {
        var (x0, y0, x1, y1) = Pixels(cx - rx - soft, cy - ry - soft, cx + rx + soft, cy + ry + soft);
        var r = Math.Min(rx, ry);
        for (var y = y0; y <= y1; y++)
            for (var x = x0; x <= x1; x++)
            {
                double u = ((x + 0.5) / Width - cx) / rx, v = ((y + 0.5) / Height - cy) / ry;
                var d = (Math.Sqrt(u * u + v * v) - 1) * r; // ≈ signed distance in normalised units
                var w = (float)Math.Clamp(0.5 - d / (2 * soft), 0, 1);
                if (w <= 0) continue;
                ref var p = ref px[y * Width + x];
                p = set is { } s ? p + (s - p) * w : p + add * w;
            }
    }

    void Rect(double x0, double y0, double x1, double y1, float add, double soft)
    {
        var (px0, py0, px1, py1) = Pixels(x0 - soft, y0 - soft, x1 + soft, y1 + soft);
        for (var y = py0; y <= py1; y++)
            for (var x = px0; x <= px1; x++)
            {
                double u = (x + 0.5) / Width, v = (y + 0.5) / Height;
                var d = Math.Max(Math.Max(x0 - u, u - x1), Math.Max(y0 - v, v - y1));
                var w = (float)Math.Clamp(0.5 - d / (2 * soft), 0, 1);
                if (w > 0) px[y * Width + x] += add * w;
            }
    }

    /// <summary>A straight band of half-width <paramref name="halfWidth"/> between two points.</summary>
    void Band(double xa, double ya, double xb, double yb, double halfWidth, float add)
    {
        var (x0, y0, x1, y1) = Pixels(Math.Min(xa, xb) - halfWidth * 2, Math.Min(ya, yb) - halfWidth * 2, Math.Max(xa, xb) + halfWidth * 2, Math.Max(ya, yb) + halfWidth * 2);
        double dx = xb - xa, dy = yb - ya, len2 = dx * dx + dy * dy;
        for (var y = y0; y <= y1; y++)
            for (var x = x0; x <= x1; x++)
            {
                double u = (x + 0.5) / Width, v = (y + 0.5) / Height;
                var t = len2 > 0 ? Math.Clamp(((u - xa) * dx + (v - ya) * dy) / len2, 0, 1) : 0;
                double ex = u - (xa + t * dx), ey = v - (ya + t * dy);
                var d = Math.Sqrt(ex * ex + ey * ey) - halfWidth;
                var w = (float)Math.Clamp(0.5 - d / (2 * 0.002), 0, 1);
                if (w > 0) px[y * Width + x] += add * w;
            }
    }

    void Gaussian(double cx, double cy, double sx, double sy, float amplitude)
    {
        var (x0, y0, x1, y1) = Pixels(cx - 3 * sx, cy - 3 * sy, cx + 3 * sx, cy + 3 * sy);
        for (var y = y0; y <= y1; y++)
            for (var x = x0; x <= x1; x++)
            {
                double u = ((x + 0.5) / Width - cx) / sx, v = ((y + 0.5) / Height - cy) / sy;
                px[y * Width + x] += amplitude * (float)Math.Exp(-0.5 * (u * u + v * v));
            }
    }

    /// <summary>Adds f(u, v) (u, v ∈ [0, 1] across the rectangle), or sets the rectangle to <paramref name="set"/>.</summary>
    void Pattern(double x0, double y0, double x1, double y1, Func<double, double, float> f, float? set = null)
    {
        var (px0, py0, px1, py1) = Pixels(x0, y0, x1, y1);
        for (var y = py0; y <= py1; y++)
            for (var x = px0; x <= px1; x++)
            {
                double u = ((x + 0.5) / Width - x0) / (x1 - x0), v = ((y + 0.5) / Height - y0) / (y1 - y0);
                if (u < 0 || u > 1 || v < 0 || v > 1) continue;
                if (set is { } s) px[y * Width + x] = s;
                else px[y * Width + x] += f(u, v);
            }
    }

    void AddNoise(float sigma)
    {
        for (var i = 0; i < px.Length; i += 2)
        {
            // Box–Muller from the seeded generator: two normals per draw.
            double u1 = 1 - rng.NextDouble(), u2 = rng.NextDouble();
            var m = Math.Sqrt(-2 * Math.Log(u1));
            px[i] += sigma * (float)(m * Math.Cos(2 * Math.PI * u2));
            if (i + 1 < px.Length) px[i + 1] += sigma * (float)(m * Math.Sin(2 * Math.PI * u2));
        }
    }
}
