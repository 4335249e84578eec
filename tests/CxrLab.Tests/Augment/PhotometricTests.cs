using System.Text.Json;
using CxrLab.Augment;
using CxrLab.Imaging;

namespace CxrLab.Tests.Augment;

/// <summary>CLAHE, equalisation, blur and sharpen against python3-opencv on the same pixels (test-time reference).</summary>
public class PhotometricTests
{
    const int Width = 83, Height = 67;

    static readonly Lazy<(byte[] Pixels, Dictionary<string, double[]> Reference)> Shared = new(() =>
    {
        // An 8-bit test image with structure and noise, written as PNG for Python to read.
        var image = Synthetic.Texture(Width, Height, 11);
        var u8 = new byte[image.Data.Length];
        for (var i = 0; i < u8.Length; i++) u8[i] = (byte)Math.Round(image.Data[i] * 255);
        var path = Path.Combine(Path.GetTempPath(), $"cxr-photometric-{Guid.NewGuid():N}.png");
        ImageCodecs.Write<byte>(path, u8, Height, Width);
        try
        {
            var output = PythonReference.Run($$"""
                import cv2, json, numpy as np
                u8 = cv2.imread('{{path}}', cv2.IMREAD_UNCHANGED)
                u16 = (u8.astype(np.float32) / 255.0 * 65535.0 + 0.5).astype(np.uint16)
                f = u8.astype(np.float32) / np.float32(255.0)
                k = np.full((3, 3), -0.3, np.float32); k[1, 1] = (1 - 0.3) + 0.3 * (8 + 1.0)
                out = {
                  'clahe8': cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(u8),
                  'clahe8_clip4_tiles4': cv2.createCLAHE(clipLimit=4.0, tileGridSize=(4, 4)).apply(u8),
                  'clahe16': cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(u16),
                  'equalize': cv2.equalizeHist(u8),
                  'blur': cv2.GaussianBlur(f, (0, 0), 1.3) * 255.0,
                  'sharpen': np.clip(cv2.filter2D(f, -1, k), 0, 1) * 255.0,
                }
                print(json.dumps({key: np.asarray(v, np.float64).ravel().tolist() for key, v in out.items()}))
                """);
            var reference = JsonSerializer.Deserialize<Dictionary<string, double[]>>(output.Trim().Split('\n')[^1])!;
            return (u8, reference);
        }
        finally { File.Delete(path); }
    });

    static Image Input()
    {
        var image = new Image(Height, Width);
        var u8 = Shared.Value.Pixels;
        for (var i = 0; i < u8.Length; i++) image.Data[i] = u8[i] / 255f;
        return image;
    }

    static void AssertWithinOneGreyLevel(string key, Image actual, double scale = 255)
    {
        var expected = Shared.Value.Reference[key];
        Assert.Equal(expected.Length, actual.Data.Length);
        var worst = 0.0;
        for (var i = 0; i < expected.Length; i++) worst = Math.Max(worst, Math.Abs(expected[i] - actual.Data[i] * scale));
        Assert.True(worst <= 1.0, $"{key}: max difference {worst:0.###} grey levels");
        // The operation did something (the comparison would be vacuous on an unchanged image).
        var changed = expected.Where((e, i) => Math.Abs(e - Input().Data[i] * scale) > 1.5).Count();
        Assert.True(changed > expected.Length / 20, $"{key}: the reference barely differs from the input");
    }

    static Image Run(ITransform transform) =>
        new Pipeline(transform).Run(CxrLab.Augment.Sample.Of(Input(), [], []), 1).Sample.Image;

    [Fact] public void ClaheMatchesPythonOpenCv() => AssertWithinOneGreyLevel("clahe8", Run(new Clahe()));
    [Fact] public void ClaheOptionsMatchPythonOpenCv() => AssertWithinOneGreyLevel("clahe8_clip4_tiles4", Run(new Clahe(4.0, 4)));
    [Fact] public void SixteenBitClaheMatchesPythonOpenCv() => AssertWithinOneGreyLevel("clahe16", Run(new Clahe(Bits: 16)), 65535);
    [Fact] public void EqualizeHistMatchesPythonOpenCv() => AssertWithinOneGreyLevel("equalize", Run(new EqualizeHist()));
    [Fact] public void GaussianBlurMatchesPythonOpenCv() => AssertWithinOneGreyLevel("blur", Run(new GaussianBlur(1.3)));
    [Fact] public void SharpenMatchesPythonOpenCv() => AssertWithinOneGreyLevel("sharpen", Run(new Sharpen(0.3)));

    [Fact]
    public void IntensityMapsFollowTheirFormulas()
    {
        var input = Input();
        var mul = Run(new Multiply(1.1));
        var con = Run(new ContrastNormalization(0.8));
        var gam = Run(new GammaContrast(2.0));
        for (var i = 0; i < input.Data.Length; i += 37)
        {
            var v = input.Data[i];
            Assert.Equal(Math.Min(1, v * 1.1), mul.Data[i], 1e-5);
            Assert.Equal(0.8 * (v - 0.5) + 0.5, con.Data[i], 1e-5);
            Assert.Equal(v * v, gam.Data[i], 1e-5);
        }
    }

    [Fact]
    public void NoiseIsSeededAndHasTheRequestedSpread()
    {
        var flat = new Image(Enumerable.Repeat(0.5f, 200 * 200).ToArray(), 200, 200);
        var sample = CxrLab.Augment.Sample.Of(flat, [], []);
        var a = new Pipeline(new GaussianNoise(0.05)).Run(sample, 3).Sample.Image;
        var b = new Pipeline(new GaussianNoise(0.05)).Run(sample, 3).Sample.Image;
        var c = new Pipeline(new GaussianNoise(0.05)).Run(sample, 4).Sample.Image;
        Assert.Equal(a.Data, b.Data);
        Assert.NotEqual(a.Data, c.Data);
        var mean = a.Data.Average(v => (double)v);
        var sd = Math.Sqrt(a.Data.Average(v => (v - mean) * (v - mean)));
        Assert.InRange(mean, 0.495, 0.505);
        Assert.InRange(sd, 0.048, 0.052);
    }
}
