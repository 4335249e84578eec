using System.Globalization;
using CxrLab.Augment;
using CxrLab.Models.Detection;

namespace CxrLab.Models.Yolox;

/// <summary>Megvii's YOLOX training recipe (yolox/exp/yolox_base.py, yolox/core/trainer.py) over a resolved
/// <c>yolox:</c> section: SGD Nesterov with weight decay on conv/linear weights only, lr = basic_lr_per_img × images per
/// step, yoloxwarmcos (warmup_epochs from warmup_lr, cosine to min_lr_ratio, flat for the last no_aug_epochs), EMA 0.9999
/// with Megvii's ramp; Mosaic → affine → MixUp → HSV → flip (<see cref="YoloxAugment"/>) until the switch, then HSV + flip
/// only with the L1 loss on. The switch epoch is Megvii's: its trainer closes the mosaic when
/// <c>epoch + 1 == max_epoch − no_aug_epochs</c> (0-based epoch), so no_aug_epochs + 1 epochs run without it, one more
/// than the schedule's flat tail.</summary>
public sealed class YoloxRecipe(YOLOX model, YoloxConfig config) : TrainingRecipe
{
    readonly ITransform mosaicPipeline = YoloxAugment.Pipeline(config);
    readonly ITransform noAugPipeline = YoloxAugment.NoAug(config);

    /// <summary>The resolved <c>yolox:</c> section.</summary>
    public YoloxConfig Config { get; } = config;

    public override string Name => "Megvii YOLOX (yolox/exp/yolox_base.py)";

    /// <summary>The first epoch (0-based) without Mosaic/MixUp and with the L1 loss: max_epoch − no_aug_epochs − 1, as
    /// Megvii's trainer (at least 0).</summary>
    public int NoAugStart(int epochs) => Math.Max(0, epochs - Config.NoAugEpochs!.Value - 1);

    public override RecipeHyperparameters Hyperparameters(int imagesPerStep)
    {
        var lr = Config.BasicLrPerImg!.Value * imagesPerStep;
        return new RecipeHyperparameters("sgd", lr, Config.Momentum!.Value, Nesterov: true, Config.WeightDecay!.Value,
            "yoloxwarmcos", Config.WarmupEpochs!.Value, lr > 0 ? Config.WarmupLr!.Value / lr : 0, Config.MinLrRatio!.Value, Config.NoAugEpochs!.Value,
            Config.Ema!.Value, EmaDecay: 0.9999);
    }

    /// <summary>Megvii's pipeline before the switch, HSV + flip after it; null when every probability involved is 0 (the
    /// category experiments turn Megvii's augmentation off so every family trains on the same images).</summary>
    public override ITransform? Augmentation(int epoch, int epochs)
    {
        var closed = epoch >= NoAugStart(epochs);
        var active = Config.HsvProb > 0 || Config.FlipProb > 0 || (!closed && Config.MosaicProb > 0);
        return !active ? null : closed ? noAugPipeline : mosaicPipeline;
    }

    public override void BeforeEpochBatch(int epoch, int epochs) => model.UseL1Loss = epoch >= NoAugStart(epochs);

    public override string? EpochNote(int epoch, int epochs) =>
        epoch == NoAugStart(epochs) && epochs > 1
            ? string.Create(CultureInfo.InvariantCulture, $"epoch {epoch + 1}/{epochs}: the no-augmentation phase starts (Megvii's close_mosaic): Mosaic/MixUp/affine off, L1 loss on, for the last {epochs - epoch} epochs")
            : null;
}
