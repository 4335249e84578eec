using CxrLab.Data;
using CxrLab.Imaging;

namespace CxrLab.Training;

/// <summary>A tiny synthetic detection set for smoke runs and tests (<c>data.dataset: shapes</c>):
/// grey images with a bright square (class 0) and a dim vertical bar (class 1) at random places
/// on a noisy dark background. Deterministic for a seed.</summary>
public static class ShapesDataset
{
    public static List<(string Id, Image Image, Target Target)> Generate(int count, int seed, int size = 96)
    {
        var random = new Random(seed);
        var items = new List<(string, Image, Target)>();
        var side = Math.Max(8, size / 4);
        for (var n = 0; n < count; n++)
        {
            var image = new Image(size, size);
            for (var i = 0; i < image.Data.Length; i++) image.Data[i] = 0.1f + 0.05f * (float)random.NextDouble();
            var boxes = new List<Box>();
            var labels = new List<int>();
            for (var k = 0; k < 2; k++)
            {
                var square = k == 0;
                var (w, h) = square ? (side, side) : (side / 2, side * 3 / 2);
                var x = random.Next(2, size - w - 2);
                var y = random.Next(2, size - h - 2);
                for (var r = y; r < y + h; r++)
                for (var c = x; c < x + w; c++)
                    image.At(r, c) = square ? 0.9f : 0.55f;
                boxes.Add(new Box(x, y, x + w, y + h));
                labels.Add(square ? 0 : 1);
            }
            items.Add(($"shape{seed}_{n}", image, new Target(size, size, boxes, labels)));
        }
        return items;
    }
}
