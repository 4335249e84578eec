using CxrLab.Imaging;
using CxrLab.Interop;

namespace CxrLab.Tests.Imaging;

/// <summary>OpenCV through the native shim against python3-opencv's cv2.resize on the same inputs.</summary>
public class OpenCvResizeTests
{
    [Fact]
    public void ResizeMatchesPythonOpenCv()
    {
        using var doc = FixtureFile.Json("opencv_resize.json");
        var cases = doc.RootElement.GetProperty("cases").EnumerateArray().ToList();
        Assert.NotEmpty(cases);
        foreach (var c in cases)
        {
            int rows = c.GetProperty("rows").GetInt32(), cols = c.GetProperty("cols").GetInt32();
            int dstRows = c.GetProperty("dst_rows").GetInt32(), dstCols = c.GetProperty("dst_cols").GetInt32();
            var interpolation = (Interpolation)c.GetProperty("interpolation").GetInt32();
            var expected = c.GetProperty("dst").EnumerateArray().Select(e => e.GetDouble()).ToArray();
            double[] actual;
            if (c.GetProperty("dtype").GetString() == "uint16")
            {
                var src = c.GetProperty("src").EnumerateArray().Select(e => (ushort)e.GetInt32()).ToArray();
                actual = OpenCv.Resize<ushort>(src, rows, cols, 1, dstRows, dstCols, interpolation).Select(v => (double)v).ToArray();
                Assert.Equal(expected, actual);
            }
            else
            {
                var src = c.GetProperty("src").EnumerateArray().Select(e => e.GetSingle()).ToArray();
                actual = OpenCv.Resize<float>(src, rows, cols, 1, dstRows, dstCols, interpolation).Select(v => (double)v).ToArray();
                Assert.Equal(expected.Length, actual.Length);
                for (var i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 1e-6);
            }
        }
    }

    [Fact]
    public void NearestUpscaleRepeatsPixels()
    {
        byte[] src = [1, 2, 3, 4];
        var dst = OpenCv.Resize<byte>(src, 2, 2, 1, 4, 4, Interpolation.Nearest);
        Assert.Equal(new byte[] { 1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4 }, dst);
    }

    [Fact]
    public void MultiChannelBuffersKeepChannelsApart()
    {
        // 2×2 image with 3 channels, each channel constant: every channel stays constant after resize.
        float[] src = [1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3];
        var dst = OpenCv.Resize<float>(src, 2, 2, 3, 3, 5);
        for (var i = 0; i < dst.Length; i++) Assert.Equal(i % 3 + 1, dst[i], 1e-6);
    }

    [Fact]
    public void BufferSizeMismatchIsAClearArgumentError()
    {
        var error = Assert.Throws<ArgumentException>(() => OpenCv.Resize<float>(new float[5], 2, 3, 1, 4, 4));
        Assert.Contains("buffer holds 5 values", error.Message);
    }

    [Fact]
    public void OpenCvErrorSurfacesAsOpenCvException()
    {
        // An interpolation code OpenCV does not know: OpenCV itself raises, the shim must carry it over.
        var error = Assert.Throws<OpenCvException>(() =>
            OpenCv.Resize<float>(new float[4], 2, 2, 1, 3, 3, (Interpolation)42));
        Assert.Equal("opencv", error.Component);
        Assert.Contains("interpolation", error.Message, StringComparison.OrdinalIgnoreCase);
    }
}
