using System.Globalization;
using CxrLab.Data;
using CxrLab.Imaging;

namespace CxrLab.Viz;

/// <summary>Per-class colours (a 20-colour qualitative palette, cycling; VinBigData's "No finding"
/// class 14 is gray) and the VinBigData class names.</summary>
public static class ClassColors
{
    static readonly Rgb[] palette =
    [
        new(230, 25, 75), new(60, 180, 75), new(255, 225, 25), new(0, 130, 200), new(245, 130, 48),
        new(145, 30, 180), new(70, 240, 240), new(240, 50, 230), new(210, 245, 60), new(250, 190, 212),
        new(0, 128, 128), new(220, 190, 255), new(170, 110, 40), new(255, 250, 200), new(128, 128, 128),
        new(128, 0, 0), new(170, 255, 195), new(128, 128, 0), new(255, 215, 180), new(0, 0, 128),
    ];

    /// <summary>VinBigData class names by class id (0–14).</summary>
    public static IReadOnlyList<string> VinBigData { get; } =
    [
        "Aortic enlargement", "Atelectasis", "Calcification", "Cardiomegaly", "Consolidation", "ILD", "Infiltration",
        "Lung Opacity", "Nodule/Mass", "Other lesion", "Pleural effusion", "Pleural thickening", "Pneumothorax",
        "Pulmonary fibrosis", "No finding",
    ];

    /// <summary>The colour of class <paramref name="classId"/> (negative ids are gray).</summary>
    public static Rgb Of(int classId) => classId < 0 ? new Rgb(128, 128, 128) : palette[classId % palette.Length];
}

/// <summary>An X-ray with boxes drawn on it, rendered to PNG (OpenCV drawing): truth boxes are solid
/// and thick with the class name above; predictions are dashed and thin with "name score" below.
/// Colours follow the class (<see cref="ClassColors"/>). Boxes are xyxy in the image's pixels.</summary>
public sealed class BoxOverlay
{
    readonly Image image;
    readonly List<(Box Box, int Label, float? Score, bool Truth)> boxes = [];
    readonly List<(float[] Pixels, int Label, double Alpha)> masks = [];
    IReadOnlyList<string>? classNames = ClassColors.VinBigData;

    /// <summary>Starts an overlay on a one-channel (gray) or three-channel (RGB) float [0, 1] image.</summary>
    public BoxOverlay(Image image)
    {
        if (image.Channels is not (1 or 3)) throw new ArgumentException($"an overlay needs a 1- or 3-channel image, not {image.Channels} channels", nameof(image));
        this.image = image;
    }

    /// <summary>Class names for labels (default: VinBigData's); null shows class ids.</summary>
    public BoxOverlay ClassNames(IReadOnlyList<string>? names)
    {
        classNames = names;
        return this;
    }

    /// <summary>Adds truth boxes (solid).</summary>
    public BoxOverlay Truth(IReadOnlyList<Box> truthBoxes, IReadOnlyList<int> labels)
    {
        if (truthBoxes.Count != labels.Count) throw new ArgumentException($"{truthBoxes.Count} truth boxes but {labels.Count} labels");
        for (var i = 0; i < truthBoxes.Count; i++) boxes.Add((truthBoxes[i], labels[i], null, true));
        return this;
    }

    /// <summary>Adds a target's boxes as truth.</summary>
    public BoxOverlay Truth(Target target) => Truth(target.Boxes, target.Labels);

    /// <summary>Adds predicted boxes (dashed) with scores; those below <paramref name="minScore"/> are skipped.</summary>
    public BoxOverlay Predictions(IReadOnlyList<Box> predicted, IReadOnlyList<int> labels, IReadOnlyList<float> scores, float minScore = 0)
    {
        if (predicted.Count != labels.Count || predicted.Count != scores.Count)
            throw new ArgumentException($"{predicted.Count} predicted boxes, {labels.Count} labels and {scores.Count} scores: the counts must match");
        for (var i = 0; i < predicted.Count; i++)
            if (scores[i] >= minScore) boxes.Add((predicted[i], labels[i], scores[i], false));
        return this;
    }

    /// <summary>Tints an instance mask (the image's rows × cols, a pixel belongs when &gt; 0.5, e.g. Mask R-CNN's pasted
    /// masks) in its class colour at <paramref name="alpha"/> opacity, under the boxes.</summary>
    public BoxOverlay Mask(float[] pixels, int label, double alpha = 0.35)
    {
        if (pixels.Length != image.Rows * image.Cols) throw new ArgumentException($"a mask for this {image.Rows}×{image.Cols} image needs {image.Rows * image.Cols} pixels, got {pixels.Length}", nameof(pixels));
        if (alpha is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(alpha), "opacity must be in [0, 1]");
        masks.Add((pixels, label, alpha));
        return this;
    }

    /// <summary>Tints a one-channel mask image (<see cref="Mask(float[], int, double)"/>).</summary>
    public BoxOverlay Mask(Image mask, int label, double alpha = 0.35) =>
        mask.Channels == 1 ? Mask(mask.Data, label, alpha) : throw new ArgumentException($"a mask has one channel, not {mask.Channels}", nameof(mask));

    /// <summary>Draws into an 8-bit RGB buffer (rows × cols × 3).</summary>
    public byte[] RenderRgb()
    {
        var rows = image.Rows;
        var cols = image.Cols;
        var gray = PngImage.ToBytes(image);
        var rgb = new byte[rows * cols * 3];
        if (image.Channels == 3) Array.Copy(gray, rgb, rgb.Length);
        else for (var i = 0; i < rows * cols; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = gray[i];
        foreach (var (pixels, label, alpha) in masks)
        {
            var c = ClassColors.Of(label);
            for (var i = 0; i < pixels.Length; i++)
            {
                if (pixels[i] <= 0.5f) continue;
                rgb[3 * i] = (byte)Math.Round(rgb[3 * i] * (1 - alpha) + c.R * alpha);
                rgb[3 * i + 1] = (byte)Math.Round(rgb[3 * i + 1] * (1 - alpha) + c.G * alpha);
                rgb[3 * i + 2] = (byte)Math.Round(rgb[3 * i + 2] * (1 - alpha) + c.B * alpha);
            }
        }

        // Scale line widths and text with the image so 2000-px X-rays stay readable.
        var scale = Math.Max(1, Math.Max(rows, cols) / 512.0);
        var thick = (int)Math.Round(3 * scale);
        var thin = Math.Max(1, (int)Math.Round(1.5 * scale));
        var fontScale = 0.45 * scale;
        foreach (var (box, label, score, truth) in boxes.OrderBy(b => b.Truth))
        {
            var color = ClassColors.Of(label);
            var b = box.Clip(cols - 1, rows - 1);
            if (!b.IsValid) continue;
            if (truth) Drawing.Rectangle(rgb, rows, cols, 3, b, color, thick);
            else DashedRectangle(rgb, rows, cols, b, color, thin, (int)Math.Round(8 * scale));
            var name = classNames is not null && label >= 0 && label < classNames.Count ? classNames[label] : label.ToString(CultureInfo.InvariantCulture);
            var text = score is null ? name : $"{name} {score.Value.ToString("0.00", CultureInfo.InvariantCulture)}";
            Tag(rgb, rows, cols, b, text, color, fontScale, above: truth);
        }
        return rgb;
    }

    /// <summary>Renders to PNG.</summary>
    public PngImage ToPng() => PngImage.Encode(RenderRgb(), image.Rows, image.Cols, 3);

    /// <summary>Renders <paramref name="panels"/> into one PNG, left to right in rows of <paramref name="columns"/>
    /// (0: all in one row), <paramref name="gap"/> white pixels apart; a cell is as large as the largest panel of
    /// its row and column, smaller panels sit at its top-left.</summary>
    public static PngImage Tile(IReadOnlyList<BoxOverlay> panels, int columns = 0, int gap = 8)
    {
        if (panels.Count == 0) throw new ArgumentException("no panels to tile", nameof(panels));
        if (gap < 0) throw new ArgumentOutOfRangeException(nameof(gap), "the gap cannot be negative");
        columns = columns <= 0 ? panels.Count : Math.Min(columns, panels.Count);
        var rowCount = (panels.Count + columns - 1) / columns;
        var rowHeights = new int[rowCount];
        var colWidths = new int[columns];
        for (var i = 0; i < panels.Count; i++)
        {
            rowHeights[i / columns] = Math.Max(rowHeights[i / columns], panels[i].image.Rows);
            colWidths[i % columns] = Math.Max(colWidths[i % columns], panels[i].image.Cols);
        }
        var width = colWidths.Sum() + gap * (columns - 1);
        var height = rowHeights.Sum() + gap * (rowCount - 1);
        var canvas = new byte[width * height * 3];
        Array.Fill(canvas, (byte)255);
        for (var i = 0; i < panels.Count; i++)
        {
            var (r, c) = (i / columns, i % columns);
            var top = rowHeights.Take(r).Sum() + gap * r;
            var left = colWidths.Take(c).Sum() + gap * c;
            var (rows, cols) = (panels[i].image.Rows, panels[i].image.Cols);
            var rgb = panels[i].RenderRgb();
            for (var y = 0; y < rows; y++)
                Array.Copy(rgb, y * cols * 3, canvas, ((top + y) * width + left) * 3, cols * 3);
        }
        return PngImage.Encode(canvas, height, width, 3);
    }

    public override string ToString() => $"BoxOverlay({image.Cols}×{image.Rows}, {boxes.Count(b => b.Truth)} truth, {boxes.Count(b => !b.Truth)} predicted)";

    static void DashedRectangle(byte[] rgb, int rows, int cols, Box b, Rgb color, int thickness, int dash)
    {
        void Segment(float x1, float y1, float x2, float y2) =>
            Drawing.Rectangle(rgb, rows, cols, 3, new Box(x1, y1, x2, y2), color, -1);
        var half = thickness / 2f;
        for (var x = b.X1; x < b.X2; x += 2 * dash)
        {
            var end = MathF.Min(x + dash, b.X2);
            Segment(x, b.Y1 - half, end, b.Y1 + half);
            Segment(x, b.Y2 - half, end, b.Y2 + half);
        }
        for (var y = b.Y1; y < b.Y2; y += 2 * dash)
        {
            var end = MathF.Min(y + dash, b.Y2);
            Segment(b.X1 - half, y, b.X1 + half, end);
            Segment(b.X2 - half, y, b.X2 + half, end);
        }
    }

    static void Tag(byte[] rgb, int rows, int cols, Box b, string text, Rgb color, double fontScale, bool above)
    {
        var thickness = Math.Max(1, (int)Math.Round(fontScale * 2));
        var (w, h, baseline) = Drawing.TextSize(text, fontScale, thickness);
        var tagHeight = h + baseline + 4;
        var x = (int)Math.Clamp(b.X1, 0, Math.Max(0, cols - w - 4));
        var top = above ? (int)b.Y1 - tagHeight : (int)b.Y2;
        if (top < 0) top = (int)b.Y1;
        if (top + tagHeight > rows) top = Math.Max(0, rows - tagHeight);
        Drawing.Rectangle(rgb, rows, cols, 3, new Box(x, top, x + w + 4, top + tagHeight), color, -1);
        var luminance = 0.299 * color.R + 0.587 * color.G + 0.114 * color.B;
        Drawing.Text(rgb, rows, cols, 3, text, x + 2, top + h + 2, luminance > 140 ? new Rgb(0, 0, 0) : new Rgb(255, 255, 255), fontScale, thickness);
    }
}
