using CxrLab.Augment;
using CxrLab.Data;
using CxrLab.Imaging;

namespace CxrLab.Tests.Augment;

/// <summary>Every geometric transform: boxes drawn as filled masks go through the same warp as the image;
/// the bounding box of each warped mask must equal the transformed box within a pixel.</summary>
public class GeometricTests
{
    public static TheoryData<string> Transforms => new(Cases.Keys);

    static readonly Dictionary<string, ITransform> Cases = new()
    {
        ["hflip"] = new Flip(true, false),
        ["vflip"] = new Flip(false, true),
        ["hvflip"] = new Flip(true, true),
        ["rot90"] = new Rotate90(1),
        ["rot180"] = new Rotate90(2),
        ["rot270"] = new Rotate90(3),
        ["rotate17"] = new Rotate(17),
        ["rotate-33"] = new Rotate(-33),
        ["zoom1.1"] = new Zoom(1.1),
        ["zoom0.9"] = new Zoom(0.9),
        ["affine-rsna"] = new Affine(),
        ["affine-strong"] = new Affine { ScaleX = (0.8, 1.2), ScaleY = (0.8, 1.2), TranslateX = (-0.05, 0.05), TranslateY = (-0.05, 0.05), Rotate = (-30, 30), Shear = (-15, 15) },
        ["random-resized-crop"] = new RandomResizedCrop(70, 50) { Scale = (0.3, 1) },
        ["letterbox"] = new Letterbox(64, 64),
        ["letterbox-centre"] = new Letterbox(50, 90, Centre: true),
        ["resize"] = new Resize(120, 40),
        ["piecewise-affine"] = new PiecewiseAffine { Scale = (0.01, 0.03) },
    };

    /// <summary>Transforms after which an axis-aligned box stays axis-aligned: the clipped box is exactly the
    /// clipped pixels even when the box leaves the frame.</summary>
    static readonly HashSet<string> AxisAligned = ["hflip", "vflip", "hvflip", "rot90", "rot180", "rot270", "zoom1.1", "zoom0.9", "random-resized-crop", "letterbox", "letterbox-centre", "resize"];

    [Theory]
    [MemberData(nameof(Transforms))]
    public void WarpedMaskBoundingBoxEqualsTransformedBox(string name)
    {
        var transform = Cases[name];
        // Keep every box (no visibility drop) so each can be compared; tiny slivers are still dropped by area.
        var policy = new BoxPolicy(MinArea: 4, MinSide: 2, MinVisibility: 0);
        var compared = 0;
        for (var seed = 0; seed < 12; seed++)
        {
            // Even seeds: boxes anywhere (some leave the frame); odd seeds: boxes near the centre.
            var central = seed % 2 == 1;
            var sample = Synthetic.WithBoxes(97, 81, 5, seed, masks: true, central: central);
            // The image itself carries box 0's mask so the image warp is checked too, not only the mask warp.
            sample = sample.WithImage(Synthetic.FilledMask(97, 81, sample.Target.Boxes[0]));
            var output = new Pipeline(transform, policy).Run(sample, (ulong)seed).Sample;
            Assert.Equal(output.Target.Count, output.Target.Masks!.Count);
            var exact = central || AxisAligned.Contains(name);
            for (var i = 0; i < output.Target.Count; i++)
            {
                var box = output.Target.Boxes[i];
                var maskBox = Synthetic.MaskBox(output.Target.Masks[i]);
                Assert.NotNull(maskBox);
                if (exact) AssertWithinPixel(maskBox.Value, box, $"{name} seed {seed} box {i}");
                // A rotated box cut by the frame: the clipped enclosing box of the rotated rectangle still holds all its pixels.
                else AssertContains(box, maskBox.Value, $"{name} seed {seed} box {i}");
                compared++;
            }
            var first = output.BoxTags!.ToList().IndexOf("R0");
            if (exact && first >= 0 && Synthetic.MaskBox(output.Image) is { } imageBox)
                AssertWithinPixel(imageBox, output.Target.Boxes[first], $"{name} seed {seed} image");
        }
        Assert.True(compared >= 20, $"{name}: only {compared} boxes survived to compare");
    }

    static void AssertContains(Box outer, Box inner, string what) =>
        Assert.True(inner.X1 >= outer.X1 - 1 && inner.Y1 >= outer.Y1 - 1 && inner.X2 <= outer.X2 + 1 && inner.Y2 <= outer.Y2 + 1,
            $"{what}: pixels span {inner}, outside the box {outer}");

    static void AssertWithinPixel(Box expected, Box actual, string what)
    {
        const float tolerance = 1.01f;
        Assert.True(Math.Abs(expected.X1 - actual.X1) <= tolerance && Math.Abs(expected.Y1 - actual.Y1) <= tolerance
            && Math.Abs(expected.X2 - actual.X2) <= tolerance && Math.Abs(expected.Y2 - actual.Y2) <= tolerance,
            $"{what}: pixels span {expected}, box is {actual}");
    }

    [Fact]
    public void QuarterTurnsAndFlipsMapBoxesExactly()
    {
        var sample = Synthetic.WithBoxes(40, 30, 1, 3);
        var b = sample.Target.Boxes[0];
        var rot = new Pipeline(new Rotate90(1)).Run(sample, 0).Sample;
        Assert.Equal((30, 40), (rot.Image.Width, rot.Image.Height));
        Assert.Equal(new Box(b.Y1, 40 - b.X2, b.Y2, 40 - b.X1), rot.Target.Boxes[0]);
        // numpy's rot90 direction: the top-right pixel goes to the top-left.
        Assert.Equal(sample.Image.At(0, 39), rot.Image.At(0, 0));
        var flip = new Pipeline(new Flip()).Run(sample, 0).Sample;
        Assert.Equal(new Box(40 - b.X2, b.Y1, 40 - b.X1, b.Y2), flip.Target.Boxes[0]);
        Assert.Equal(sample.Image.At(5, 0), flip.Image.At(5, 39));
    }

    [Fact]
    public void InverseTakesLetterboxedBoxesBackToOriginalPixels()
    {
        var warp = new Letterbox(512, 512).Plan(1000, 800, new Random(0));
        var box = new Box(100, 200, 300, 700);
        var back = warp.Matrix.Inverse().MapBox(warp.Matrix.MapBox(box));
        Assert.Equal(box.X1, back.X1, 1e-3f); Assert.Equal(box.Y1, back.Y1, 1e-3f);
        Assert.Equal(box.X2, back.X2, 1e-3f); Assert.Equal(box.Y2, back.Y2, 1e-3f);
        var m = new Affine().Plan(97, 81, new Random(3)).Matrix;
        var identity = m.Multiply(m.Inverse());
        Assert.Equal(1, identity.M00, 1e-9); Assert.Equal(0, identity.M01, 1e-9); Assert.Equal(0, identity.M02, 1e-9);
        Assert.Equal(1, identity.M11, 1e-9); Assert.Equal(0, identity.M12, 1e-9);
    }

    [Fact]
    public void OpenCvMatrixUsesPixelCentres()
    {
        // A horizontal flip in edge coordinates (x → W − x) is x → W − 1 − x on pixel centres.
        var m = Homography.Scale(-1, 1).Then(Homography.Translation(10, 0)).ToOpenCv();
        Assert.Equal(new double[] { -1, 0, 9, 0, 1, 0 }, m);
        // Going through cv::warpAffine with it reproduces cv::flip exactly.
        var image = Synthetic.Texture(10, 7, 1);
        Assert.Equal(OpenCv.Flip(image, true, false).Data, OpenCv.WarpAffine(image, m, 7, 10, Interpolation.Nearest).Data);
    }
}

/// <summary>The warped pixels against python3-opencv's own recipe for the same geometry
/// (cv2.getRotationMatrix2D about the image centre ((W−1)/2, (H−1)/2), cv2.resize, cv2.rotate).</summary>
public class GeometricPixelTests
{
    [Fact]
    public void RotationZoomAndQuarterTurnMatchPythonOpenCv()
    {
        const int w = 61, h = 47;
        var image = Synthetic.Texture(w, h, 5);
        var path = Path.Combine(Path.GetTempPath(), $"cxr-geometric-{Guid.NewGuid():N}.png");
        var u16 = new ushort[image.Data.Length];
        OpenCv.Convert<float, ushort>(image.Data, h, w, 1, u16, 65535);
        ImageCodecs.Write<ushort>(path, u16, h, w);
        try
        {
            var output = PythonReference.Run($$"""
                import cv2, json, numpy as np
                f = cv2.imread('{{path}}', cv2.IMREAD_UNCHANGED).astype(np.float32) / np.float32(65535)
                H, W = f.shape
                c = ((W - 1) / 2, (H - 1) / 2)
                out = {
                  'rotate17': cv2.warpAffine(f, cv2.getRotationMatrix2D(c, 17, 1.0), (W, H), flags=cv2.INTER_LINEAR),
                  'zoom1.2': cv2.warpAffine(f, cv2.getRotationMatrix2D(c, 0, 1.2), (W, H), flags=cv2.INTER_LINEAR),
                  'rot90': cv2.rotate(f, cv2.ROTATE_90_COUNTERCLOCKWISE),
                  'resize': cv2.resize(f, (30, 20), interpolation=cv2.INTER_AREA),
                }
                print(json.dumps({k: v.ravel().tolist() for k, v in out.items()}))
                """);
            var reference = System.Text.Json.JsonSerializer.Deserialize<Dictionary<string, double[]>>(output.Trim().Split('\n')[^1])!;
            var input = new Image(u16.Select(v => v / 65535f).ToArray(), h, w);
            var sample = CxrLab.Augment.Sample.Of(input, [], []);
            Compare(reference["rotate17"], new Pipeline(new Rotate(17)).Run(sample, 0).Sample.Image);
            Compare(reference["zoom1.2"], new Pipeline(new Zoom(1.2)).Run(sample, 0).Sample.Image);
            Compare(reference["rot90"], new Pipeline(new Rotate90(1)).Run(sample, 0).Sample.Image);
            Compare(reference["resize"], new Pipeline(new Resize(30, 20)).Run(sample, 0).Sample.Image);
        }
        finally { File.Delete(path); }
    }

    static void Compare(double[] expected, Image actual)
    {
        Assert.Equal(expected.Length, actual.Data.Length);
        var worst = expected.Select((e, i) => Math.Abs(e - actual.Data[i])).Max();
        Assert.True(worst < 1e-3, $"max difference {worst}");
    }
}
