using CxrLab.Data;
using CxrLab.Models.Detection;
using CxrLab.Torch;
using CxrLab.Torch.Vision;

namespace CxrLab.Tests.Models;

/// <summary>The pieces notebooks use to show a detector's insides: RoIAlign spelled out (held to the native
/// torchvision kernel), anchors per level, and tensors read back as boxes.</summary>
public class DetectionInspectionTests
{
    static double[,] RandomMap(Random rng, int rows, int cols)
    {
        var map = new double[rows, cols];
        for (var r = 0; r < rows; r++)
        for (var c = 0; c < cols; c++)
            map[r, c] = Math.Round(rng.NextDouble() * 4 - 2, 3);
        return map;
    }

    [Theory]
    [InlineData(2, 2, 1.0, false)]
    [InlineData(7, 2, 1.0, false)]
    [InlineData(3, -1, 1.0, false)]   // adaptive sampling: ⌈bin size⌉ points per side
    [InlineData(2, 2, 0.5, false)]
    [InlineData(3, 2, 1.0, true)]
    [InlineData(2, -1, 0.25, true)]
    public void RoIAlign_step_by_step_equals_the_native_roi_align(int output, int samplingRatio, double scale, bool aligned)
    {
        using var scope = torch.NewDisposeScope();
        var rng = new Random(output * 31 + samplingRatio + (aligned ? 7 : 0));
        var (rows, cols) = (8, 10);
        var map = RandomMap(rng, rows, cols);
        var input = Tensor.From(map.Cast<double>().Select(v => (float)v).ToArray(), 1, 1, rows, cols);
        var limit = 12 / scale;
        // Boxes inside, across the border, beyond it, and thinner than a cell (aligned = false widens those to one cell).
        var boxes = Enumerable.Range(0, 24).Select(_ =>
        {
            var x = (float)(rng.NextDouble() * limit - 2 / scale);
            var y = (float)(rng.NextDouble() * limit - 2 / scale);
            return new Box(x, y, x + (float)(rng.NextDouble() * 8 / scale + 0.1), y + (float)(rng.NextDouble() * 8 / scale + 0.1));
        }).ToList();
        var rois = Tensor.From(boxes.SelectMany(b => new[] { b.X1, b.Y1, b.X2, b.Y2 }).ToArray(), boxes.Count, 4);
        var native = VisionOps.roi_align(input, [rois], [output, output], scale, samplingRatio, aligned).ToArray<float>();
        for (var k = 0; k < boxes.Count; k++)
        {
            var pooled = RoIAlignSampling.Pool(map, boxes[k], output, samplingRatio, scale, aligned);
            for (var r = 0; r < output; r++)
            for (var c = 0; c < output; c++)
            {
                var expected = native[(k * output + r) * output + c];
                Assert.True(Math.Abs(expected - pooled[r, c]) <= 1e-5, $"box {boxes[k]} bin ({r}, {c}): native {expected}, step by step {pooled[r, c]}");
            }
        }
    }

    [Fact]
    public void RoIAlign_bins_tile_the_box_with_a_regular_grid_of_points_in_each()
    {
        var box = new Box(1.6f, 0.8f, 6.7f, 5.4f);
        var bins = RoIAlignSampling.Bins(box, outputSize: 2, samplingRatio: 2);
        Assert.Equal(4, bins.Count);
        Assert.Equal([(0, 0), (0, 1), (1, 0), (1, 1)], bins.Select(b => (b.Row, b.Col)));
        Assert.All(bins, b => Assert.Equal(4, b.Points.Count));
        Assert.Equal(box.X1, bins[0].Extent.X1, 4);
        Assert.Equal(box.Y2, bins[3].Extent.Y2, 4);
        Assert.Equal(bins[0].Extent.X2, bins[1].Extent.X1, 4);
        // Points sit at the quarter and three-quarter marks of each bin.
        var binWidth = (box.X2 - box.X1) / 2;
        Assert.Equal(box.X1 + binWidth / 4, bins[0].Points[0].X, 4);
        Assert.Equal(box.X1 + 3 * binWidth / 4, bins[0].Points[1].X, 4);
        Assert.All(bins.SelectMany(b => b.Points), p => Assert.True(p.X > box.X1 && p.X < box.X2 && p.Y > box.Y1 && p.Y < box.Y2));
        // Bilinear interpolation reproduces the grid values at integer points and is linear between them.
        var map = new double[,] { { 0, 1 }, { 2, 3 } };
        Assert.Equal(3, RoIAlignSampling.Bilinear(map, 1, 1));
        Assert.Equal(1.5, RoIAlignSampling.Bilinear(map, 0.5, 0.5), 10);
        Assert.Equal(0, RoIAlignSampling.Bilinear(map, -1.5, 0));
    }

    [Fact]
    public void Anchor_levels_concatenate_to_the_rpn_anchors_and_index_by_location()
    {
        using var scope = torch.NewDisposeScope();
        var generator = AnchorGenerator.FpnDefault();
        (long, long)[] shapes = [(32, 40), (16, 20), (8, 10), (4, 5), (2, 3)];
        var all = generator.AnchorsForImage(128, 160, shapes, ScalarType.Float32, Device.CPU);
        var levels = generator.AnchorsPerLevel(128, 160, shapes, ScalarType.Float32, Device.CPU);
        Assert.Equal(all.ToArray<float>(), torch.cat(levels.Select(l => l.Anchors).ToArray(), 0).ToArray<float>());
        Assert.Equal(shapes.Select(s => s.Item1 * s.Item2 * 3), levels.Select(l => l.Count));
        var level = levels[1];
        Assert.Equal((8L, 8L), level.Stride);
        var at = BoxTensors.ToBoxes(level.At(5, 7));
        Assert.Equal(3, at.Count);
        Assert.All(at, b => Assert.Equal((7 * 8.0, 5 * 8.0), ((b.X1 + b.X2) / 2.0, (b.Y1 + b.Y2) / 2.0)));
        // Ratio order 0.5, 1, 2 (height / width): the middle anchor is the 64-px square.
        Assert.Equal((64f, 64f), (at[1].Width, at[1].Height));
        Assert.True(at[0].Height < at[0].Width && at[2].Height > at[2].Width);
        Assert.Throws<ArgumentOutOfRangeException>(() => level.At(16, 0));
    }

    [Fact]
    public void Tensor_rows_read_back_as_boxes()
    {
        using var scope = torch.NewDisposeScope();
        var boxes = BoxTensors.ToBoxes(Tensor.From([1f, 2, 3, 4, 5, 6, 7, 8], 2, 4));
        Assert.Equal([new Box(1, 2, 3, 4), new Box(5, 6, 7, 8)], boxes);
        Assert.Empty(BoxTensors.ToBoxes(torch.zeros(0, 4)));
        Assert.Throws<ArgumentException>(() => BoxTensors.ToBoxes(torch.zeros(3)));
    }
}
