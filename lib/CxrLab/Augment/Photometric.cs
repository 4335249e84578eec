using CxrLab.Imaging;

namespace CxrLab.Augment;

/// <summary>A transform of pixel values only: boxes, labels and masks pass through unchanged. Images are
/// float in [0, 1]; every photometric transform clamps its result back into [0, 1].</summary>
public abstract record PhotometricTransform : ITransform
{
    public Sample Apply(Sample sample, AugmentContext context) => sample.WithImage(Transform(sample.Image, context));

    /// <summary>Returns a new image (the input is not modified).</summary>
    public abstract Image Transform(Image image, AugmentContext context);

    /// <summary>dst = clamp(src × alpha + beta, 0, 1) through cv::Mat::convertTo.</summary>
    protected static Image Linear(Image image, double alpha, double beta)
    {
        var dst = new Image(image.Rows, image.Cols, image.Channels);
        OpenCv.Convert<float, float>(image.Data, image.Rows, image.Cols, image.Channels, dst.Data, alpha, beta);
        OpenCv.ClampPow(dst);
        return dst;
    }

    /// <summary>Float [0, 1] → 8- or 16-bit (rounded, saturated) for OpenCV ops that need integers.</summary>
    protected static Array ToInteger(Image image, int bits)
    {
        if (bits == 8)
        {
            var u8 = new byte[image.Data.Length];
            OpenCv.Convert<float, byte>(image.Data, image.Rows, image.Cols, image.Channels, u8, 255);
            return u8;
        }
        if (bits == 16)
        {
            var u16 = new ushort[image.Data.Length];
            OpenCv.Convert<float, ushort>(image.Data, image.Rows, image.Cols, image.Channels, u16, 65535);
            return u16;
        }
        throw new ArgumentOutOfRangeException(nameof(bits), bits, "bits must be 8 or 16");
    }

    protected static Image FromInteger(Array pixels, int rows, int cols, int channels)
    {
        var dst = new Image(rows, cols, channels);
        switch (pixels)
        {
            case byte[] u8: OpenCv.Convert<byte, float>(u8, rows, cols, channels, dst.Data, 1.0 / 255); break;
            case ushort[] u16: OpenCv.Convert<ushort, float>(u16, rows, cols, channels, dst.Data, 1.0 / 65535); break;
            default: throw new ArgumentException($"unexpected pixel array {pixels.GetType().Name}");
        }
        return dst;
    }

    protected static void RequireGrey(Image image, string transform)
    {
        if (image.Channels != 1) throw new NotSupportedException($"{transform} works on one-channel (grey) images, got {image.Channels} channels");
    }
}

/// <summary>Brightness: multiplies every pixel by a factor from <see cref="Factor"/> (imgaug Multiply; RSNA seed 0.85–1.15).</summary>
public sealed record Multiply(Interval Factor) : PhotometricTransform
{
    public override Image Transform(Image image, AugmentContext context) => Linear(image, Factor.Sample(context.Random), 0);
}

/// <summary>imgaug ContrastNormalization: v' = alpha·(v − ½) + ½ with alpha from <see cref="Alpha"/> (RSNA seed 0.85–1.15).</summary>
public sealed record ContrastNormalization(Interval Alpha) : PhotometricTransform
{
    public override Image Transform(Image image, AugmentContext context)
    {
        var a = Alpha.Sample(context.Random);
        return Linear(image, a, 0.5 * (1 - a));
    }
}

/// <summary>Gamma: v' = v^gamma with gamma from <see cref="Gamma"/> (&lt; 1 brightens).</summary>
public sealed record GammaContrast(Interval Gamma) : PhotometricTransform
{
    public override Image Transform(Image image, AugmentContext context)
    {
        var g = Gamma.Sample(context.Random);
        var dst = image.Clone();
        OpenCv.ClampPow(dst, 0, 1, g);
        return dst;
    }
}

/// <summary>cv::GaussianBlur with sigma (pixels) from <see cref="Sigma"/>; kernel size derived from sigma by
/// OpenCV. Sigmas below 0.01 leave the image unchanged (imgaug's rule; RSNA seed 0–0.12).</summary>
public sealed record GaussianBlur(Interval Sigma) : PhotometricTransform
{
    public override Image Transform(Image image, AugmentContext context)
    {
        var s = Sigma.Sample(context.Random);
        var dst = new Image(image.Rows, image.Cols, image.Channels);
        if (s < 0.01) { image.Data.CopyTo(dst.Data, 0); return dst; }
        OpenCv.GaussianBlur<float>(image.Data, image.Rows, image.Cols, image.Channels, dst.Data, s);
        return dst;
    }
}

/// <summary>imgaug Sharpen: blends the image with a 3×3 sharpened copy, kernel
/// (1 − alpha)·identity + alpha·[[−1,−1,−1],[−1,8+L,−1],[−1,−1,−1]] via cv::filter2D; alpha from
/// <see cref="Alpha"/> (RSNA seed 0–0.12), lightness L from <see cref="Lightness"/>.</summary>
public sealed record Sharpen(Interval Alpha) : PhotometricTransform
{
    public Interval Lightness { get; init; } = 1.0;

    public override Image Transform(Image image, AugmentContext context)
    {
        var a = (float)Alpha.Sample(context.Random);
        var l = (float)Lightness.Sample(context.Random);
        var kernel = new float[9];
        for (var i = 0; i < 9; i++) kernel[i] = -a;
        kernel[4] = (1 - a) + a * (8 + l);
        var dst = new Image(image.Rows, image.Cols, image.Channels);
        OpenCv.Filter2D<float>(image.Data, image.Rows, image.Cols, image.Channels, dst.Data, kernel, 3, 3);
        OpenCv.ClampPow(dst);
        return dst;
    }
}

/// <summary>CLAHE (cv::createCLAHE) with clip limit <see cref="ClipLimit"/> and a <see cref="Tiles"/>² grid,
/// computed on an 8- or 16-bit copy (<see cref="Bits"/>) of a grey image.</summary>
public sealed record Clahe(double ClipLimit = 2.0, int Tiles = 8, int Bits = 8) : PhotometricTransform
{
    public override Image Transform(Image image, AugmentContext context)
    {
        RequireGrey(image, nameof(Clahe));
        var pixels = ToInteger(image, Bits);
        if (pixels is byte[] u8) { var d = new byte[u8.Length]; OpenCv.Clahe<byte>(u8, image.Rows, image.Cols, d, ClipLimit, Tiles, Tiles); pixels = d; }
        else { var u16 = (ushort[])pixels; var d = new ushort[u16.Length]; OpenCv.Clahe<ushort>(u16, image.Rows, image.Cols, d, ClipLimit, Tiles, Tiles); pixels = d; }
        return FromInteger(pixels, image.Rows, image.Cols, 1);
    }
}

/// <summary>Global histogram equalisation (cv::equalizeHist) on an 8-bit copy of a grey image.</summary>
public sealed record EqualizeHist : PhotometricTransform
{
    public override Image Transform(Image image, AugmentContext context)
    {
        RequireGrey(image, nameof(EqualizeHist));
        var u8 = (byte[])ToInteger(image, 8);
        var d = new byte[u8.Length];
        OpenCv.EqualizeHist(u8, image.Rows, image.Cols, d);
        return FromInteger(d, image.Rows, image.Cols, 1);
    }
}

/// <summary>Additive Gaussian noise with standard deviation from <see cref="Sigma"/> (image units), drawn by
/// OpenCV's RNG seeded from the context.</summary>
public sealed record GaussianNoise(Interval Sigma) : PhotometricTransform
{
    public override Image Transform(Image image, AugmentContext context)
    {
        var s = Sigma.Sample(context.Random);
        var seed = context.NextSeed();
        var dst = image.Clone();
        if (s <= 0) return dst;
        OpenCv.AddGaussianNoise(dst, seed, s);
        OpenCv.ClampPow(dst);
        return dst;
    }
}
