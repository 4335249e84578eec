using CxrLab.Data;
using CxrLab.Diagnostics;
using CxrLab.Imaging;
using CxrLab.Viz;

namespace CxrLab.Tests.Viz;

public sealed class BoxOverlayTests
{
    static Image Gray(int rows, int cols, float value) => new(Enumerable.Repeat(value, rows * cols).ToArray(), rows, cols);

    static Rgb At(byte[] rgb, int cols, int row, int col) => new(rgb[(row * cols + col) * 3], rgb[(row * cols + col) * 3 + 1], rgb[(row * cols + col) * 3 + 2]);

    [Fact]
    public void Truth_boxes_are_solid_in_the_class_colour_and_the_rest_keeps_the_xray()
    {
        var rgb = new BoxOverlay(Gray(200, 200, 0.5f)).Truth([new Box(50, 60, 150, 160)], [3]).RenderRgb();
        Assert.Equal(ClassColors.Of(3), At(rgb, 200, 110, 50));   // left edge, mid height
        Assert.Equal(ClassColors.Of(3), At(rgb, 200, 160, 100));  // bottom edge
        Assert.Equal(new Rgb(128, 128, 128), At(rgb, 200, 110, 100)); // inside the box: the image
        Assert.Equal(new Rgb(128, 128, 128), At(rgb, 200, 190, 10));  // outside
    }

    [Fact]
    public void Masks_tint_their_pixels_in_the_class_colour_and_leave_the_rest()
    {
        var mask = new float[20 * 30];
        for (var r = 5; r < 10; r++) for (var c = 10; c < 20; c++) mask[r * 30 + c] = 1;
        var rgb = new BoxOverlay(Gray(20, 30, 0.0f)).Mask(mask, 2, alpha: 0.5).RenderRgb();
        var colour = ClassColors.Of(2);
        Assert.Equal(new Rgb((byte)Math.Round(colour.R * 0.5), (byte)Math.Round(colour.G * 0.5), (byte)Math.Round(colour.B * 0.5)), At(rgb, 30, 7, 15));
        Assert.Equal(new Rgb(0, 0, 0), At(rgb, 30, 4, 15));
        Assert.Equal(new Rgb(0, 0, 0), At(rgb, 30, 7, 20));
        Assert.Throws<ArgumentException>(() => new BoxOverlay(Gray(20, 30, 0.0f)).Mask(new float[10], 0));
    }

    [Fact]
    public void Predictions_are_dashed_and_below_threshold_skipped()
    {
        var overlay = new BoxOverlay(Gray(200, 200, 0.0f))
            .Predictions([new Box(20, 100, 180, 180), new Box(10, 10, 40, 40)], [0, 1], [0.9f, 0.1f], minScore: 0.5f);
        var rgb = overlay.RenderRgb();
        var colour = ClassColors.Of(0);
        var topEdge = Enumerable.Range(30, 140).Select(x => At(rgb, 200, 100, x)).ToList();
        Assert.Contains(colour, topEdge);
        Assert.Contains(new Rgb(0, 0, 0), topEdge); // gaps between dashes
        Assert.DoesNotContain(ClassColors.Of(1), Enumerable.Range(10, 30).Select(x => At(rgb, 200, 25, x)));
        var png = overlay.ToPng();
        Assert.Equal((200, 200), (png.Width, png.Height));
        Assert.Equal(3, ImageCodecs.Decode(png.Bytes).Channels);
    }

    [Fact]
    public void Progress_track_stops_when_the_ambient_token_is_cancelled()
    {
        using var source = new CancellationTokenSource();
        var seen = new List<int>();
        using (Cancellation.Use(source.Token))
        {
            Assert.Throws<OperationCanceledException>(() =>
            {
                foreach (var i in Progress.Track(Enumerable.Range(0, 100)))
                {
                    seen.Add(i);
                    if (i == 4) source.Cancel();
                }
            });
        }
        Assert.Equal([0, 1, 2, 3, 4], seen);
        Assert.False(Cancellation.IsRequested); // the previous (none) token is back
    }

    [Fact]
    public void Tile_places_rendered_panels_in_a_grid_with_white_gaps()
    {
        var a = new BoxOverlay(Gray(40, 50, 0.0f)).Truth([new Box(5, 5, 30, 30)], [1]);
        var b = new BoxOverlay(Gray(30, 60, 0.5f));
        var c = new BoxOverlay(Gray(20, 20, 0.0f));
        var png = BoxOverlay.Tile([a, b, c], columns: 2, gap: 4);
        // Columns as wide as their widest panel (50 | 60), rows as high as their highest (40 | 20).
        Assert.Equal((50 + 4 + 60, 40 + 4 + 20), (png.Width, png.Height));
        var tiled = ImageCodecs.Decode(png.Bytes);
        var pixels = (byte[])tiled.Pixels;
        Rgb Pixel(int row, int col) => At(pixels, png.Width, row, col);
        var first = a.RenderRgb();
        for (var row = 0; row < 40; row++)
        for (var col = 0; col < 50; col++)
            Assert.Equal(At(first, 50, row, col), Pixel(row, col));
        Assert.Equal(new Rgb(128, 128, 128), Pixel(10, 54 + 30));     // panel b, top right
        Assert.Equal(new Rgb(255, 255, 255), Pixel(10, 51));          // the gap between a and b
        Assert.Equal(new Rgb(255, 255, 255), Pixel(35, 54 + 30));     // below b (shorter than a): background
        Assert.Equal(new Rgb(0, 0, 0), Pixel(44 + 10, 10));           // panel c starts the second row ...
        Assert.Equal(new Rgb(255, 255, 255), Pixel(44 + 10, 30));     // ... narrower than its column
        Assert.Equal(new Rgb(255, 255, 255), Pixel(44 + 10, 54 + 10)); // and nothing is drawn right of it
        Assert.Equal((3 * 50 + 2 * 8, 40), (BoxOverlay.Tile([a, a, a]).Width, BoxOverlay.Tile([a, a, a]).Height));
        Assert.Throws<ArgumentException>(() => BoxOverlay.Tile([]));
    }
}
