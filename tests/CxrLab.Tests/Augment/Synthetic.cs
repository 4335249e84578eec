using CxrLab.Augment;
using CxrLab.Data;
using CxrLab.Imaging;

namespace CxrLab.Tests.Augment;

/// <summary>Small generated samples: a smooth chest-like grey image with integer boxes, each box also drawn
/// as a filled 0/1 mask, so a transform's box can be checked against what happened to its pixels.</summary>
internal static class Synthetic
{
    public static Image FilledMask(int width, int height, Box box)
    {
        var mask = new Image(height, width);
        for (var r = (int)box.Y1; r < (int)box.Y2; r++)
            for (var c = (int)box.X1; c < (int)box.X2; c++)
                mask.At(r, c) = 1;
        return mask;
    }

    /// <summary>Bounding box (pixel-edge coordinates) of the pixels above ½, or null when there are none.</summary>
    public static Box? MaskBox(Image mask)
    {
        int x1 = int.MaxValue, y1 = int.MaxValue, x2 = -1, y2 = -1;
        for (var r = 0; r < mask.Rows; r++)
            for (var c = 0; c < mask.Cols; c++)
                if (mask.At(r, c) > 0.5f)
                {
                    x1 = Math.Min(x1, c); y1 = Math.Min(y1, r); x2 = Math.Max(x2, c + 1); y2 = Math.Max(y2, r + 1);
                }
        return x2 < 0 ? null : new Box(x1, y1, x2, y2);
    }

    public static Image Texture(int width, int height, int seed)
    {
        var random = new Random(seed);
        var image = new Image(height, width);
        double fx = 2 + random.NextDouble() * 3, fy = 1 + random.NextDouble() * 3;
        for (var r = 0; r < height; r++)
            for (var c = 0; c < width; c++)
                image.At(r, c) = (float)Math.Clamp(0.5 + 0.3 * Math.Sin(fx * c / width * Math.PI) * Math.Cos(fy * r / height * Math.PI) + 0.05 * random.NextDouble(), 0, 1);
        return image;
    }

    /// <summary>A sample with <paramref name="count"/> random integer boxes (labels 0–13), optionally with masks.</summary>
    /// <summary><paramref name="central"/> keeps boxes in the middle 40% so rotations cannot push them out of frame.</summary>
    public static Sample WithBoxes(int width, int height, int count, int seed, bool masks = false, string id = "s", bool central = false)
    {
        var random = new Random(seed);
        var boxes = new List<Box>();
        var labels = new List<int>();
        for (var i = 0; i < count; i++)
        {
            int w, h, x, y;
            if (central)
            {
                w = random.Next(width / 10, width / 5); h = random.Next(height / 10, height / 5);
                x = random.Next(width * 3 / 10, width * 7 / 10 - w); y = random.Next(height * 3 / 10, height * 7 / 10 - h);
            }
            else
            {
                w = random.Next(width / 8, width / 3); h = random.Next(height / 8, height / 3);
                x = random.Next(0, width - w); y = random.Next(0, height - h);
            }
            boxes.Add(new Box(x, y, x + w, y + h));
            labels.Add(random.Next(14));
        }
        var image = Texture(width, height, seed);
        var tags = boxes.Select((_, i) => $"R{i}").ToList();
        var target = new Target(width, height, boxes, labels, masks ? boxes.Select(b => FilledMask(width, height, b)).ToList() : null);
        return new Sample(image, target, id, tags);
    }

    public static ListSampleSource Pool(int count, int width, int height, int seed) =>
        new(Enumerable.Range(0, count).Select(i => WithBoxes(width, height, 3, seed + i, id: $"pool{i}")).ToList());
}
