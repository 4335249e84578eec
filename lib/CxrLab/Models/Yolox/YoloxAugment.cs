using CxrLab.Augment;
using CxrLab.Imaging;

namespace CxrLab.Models.Yolox;

/// <summary>Megvii's HSV jitter (<c>augment_hsv</c>, hgain 5, sgain 30, vgain 30) as it acts on grey X-rays: hue and
/// saturation do nothing to grey pixels, so only V moves, by an integer offset in [−30, 30] 8-bit levels, applied to
/// each of H/S/V with probability ½ (Megvii's <c>randint(0, 2)</c> per channel).</summary>
public sealed record HsvValueShift(double VGain = 30) : PhotometricTransform
{
    public override Image Transform(Image image, AugmentContext context)
    {
        var offset = (int)((context.Random.NextDouble() * 2 - 1) * VGain); // int16 cast truncates toward zero
        var selected = context.Random.Next(2) == 1;
        return Linear(image, 1.0, selected ? offset / 255.0 : 0.0);
    }
}

/// <summary>YOLOX's training augmentation (Megvii's MosaicDetection + TrainTransform) composed from CXR Lab's
/// transforms, with the <c>yolox:</c> section's probabilities and ranges:
/// <code>
/// Sometimes(mosaic_prob, Mosaic → Affine(±degrees, ±translate, scale = mosaic_scale, ±shear) → Sometimes(mixup_prob, MixUp))
/// → Sometimes(hsv_prob, HsvValueShift) → Sometimes(flip_prob, horizontal Flip)
/// </code>
/// Differences from Megvii, by design of the shared pieces: CXR Lab's Mosaic fills the input-size canvas with four whole
/// images (Megvii places four aspect-kept images on a 2× canvas and crops back with the affine), and MixUp blends
/// 50/50 with a donor resized to the sample (Megvii pastes a jittered, possibly flipped donor). The model letterboxes
/// the result to the training size. <see cref="NoAug"/> is what the final no_aug_epochs use (HSV + flip only, as
/// Megvii's closed mosaic still runs TrainTransform).</summary>
public static class YoloxAugment
{
    public static ITransform Pipeline(YoloxConfig config)
    {
        var c = config;
        var mosaicScale = c.MosaicScale is [var lo, var hi] ? new Interval(lo, hi) : new Interval(0.1, 2.0);
        var affine = new Affine
        {
            Rotate = (-c.Degrees!.Value, c.Degrees.Value),
            TranslateX = (-c.Translate!.Value, c.Translate.Value),
            TranslateY = (-c.Translate.Value, c.Translate.Value),
            ScaleX = mosaicScale,
            ScaleY = mosaicScale,
            Shear = (-c.Shear!.Value, c.Shear.Value),
        };
        List<ITransform> mosaic = [new Mosaic(), affine];
        if (c.EnableMixup == true) mosaic.Add(new Sometimes(c.MixupProb!.Value, new MixUp((0.5, 0.5))));
        return new Sequential([new Sometimes(c.MosaicProb!.Value, new Sequential(mosaic)), .. NoAugSteps(c)]);
    }

    /// <summary>The last no_aug_epochs: no Mosaic/MixUp/affine, HSV and flip only.</summary>
    public static ITransform NoAug(YoloxConfig config) => new Sequential(NoAugSteps(config));

    static List<ITransform> NoAugSteps(YoloxConfig c) =>
        [new Sometimes(c.HsvProb!.Value, new HsvValueShift()), new Sometimes(c.FlipProb!.Value, new Flip())];
}
