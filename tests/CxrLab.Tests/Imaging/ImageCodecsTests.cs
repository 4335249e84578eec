using CxrLab.Data;
using CxrLab.Imaging;

namespace CxrLab.Tests.Imaging;

public class ImageCodecsTests
{
    [Fact]
    public void SixteenBitPngRoundTripsExactly()
    {
        var pixels = new ushort[7 * 5];
        for (var i = 0; i < pixels.Length; i++) pixels[i] = (ushort)(i * 1871 % 65536);
        var decoded = ImageCodecs.Decode(ImageCodecs.Encode<ushort>(pixels, 7, 5, 1));
        Assert.Equal(PixelDepth.UInt16, decoded.Depth);
        Assert.Equal((7, 5, 1), (decoded.Rows, decoded.Cols, decoded.Channels));
        Assert.Equal(pixels, (ushort[])decoded.Pixels);
    }

    [Fact]
    public void ColourChannelsStayInRgbOrderThroughAFile()
    {
        var path = Path.Combine(Path.GetTempPath(), $"cxr-rgb-{Guid.NewGuid():N}.png");
        try
        {
            byte[] rgb = [255, 0, 0, 0, 255, 0]; // one red, one green pixel
            var copy = (byte[])rgb.Clone();
            ImageCodecs.Write<byte>(path, rgb, 1, 2, 3);
            Assert.Equal(copy, rgb); // the caller's buffer is not converted in place
            var read = ImageCodecs.Read(path);
            Assert.Equal(rgb, (byte[])read.Pixels);
            // python3-opencv reads the same file as BGR: red pixel = (0, 0, 255).
            var bgr = PythonReference.Run($"import cv2; im = cv2.imread('{path}'); print(list(im[0, 0]))");
            Assert.Equal("[0, 0, 255]", bgr.Trim().Replace("np.uint8(", "").Replace(")", ""));
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void GarbageBytesGiveAClearError()
    {
        var error = Assert.Throws<InvalidDataException>(() => ImageCodecs.Decode(new byte[] { 1, 2, 3, 4 }, "bad.png"));
        Assert.Contains("bad.png", error.Message);
        Assert.Contains("decode", error.Message);
    }

    [Fact]
    public void ToImageScalesByDepth()
    {
        var decoded = new DecodedImage(new ushort[] { 0, 65535 }, PixelDepth.UInt16, 1, 2, 1);
        Assert.Equal(new[] { 0f, 1f }, decoded.ToImage().Data);
    }

    [Fact]
    public void RectangleOutlineIsDrawnWhereTheBoxIs()
    {
        var pixels = new byte[20 * 20 * 3];
        Drawing.Rectangle(pixels, 20, 20, 3, new Box(5, 5, 14, 14), new Rgb(0, 255, 0), thickness: 1);
        // inside stays black, the edge is green, far corner untouched
        Assert.Equal(0, pixels[(10 * 20 + 10) * 3 + 1]);
        Assert.True(pixels[(5 * 20 + 10) * 3 + 1] > 100);
        Assert.Equal(0, pixels[(5 * 20 + 10) * 3 + 0]);
        Assert.Equal(0, pixels[(19 * 20 + 19) * 3 + 1]);
    }
}
