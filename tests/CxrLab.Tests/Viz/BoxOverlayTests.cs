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
}
