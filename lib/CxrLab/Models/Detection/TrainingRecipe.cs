using CxrLab.Augment;

namespace CxrLab.Models.Detection;

/// <summary>The optimizer, schedule and EMA numbers of a family's reference recipe, named as the trainer's config keys
/// (<c>optimizer.*</c>, <c>schedule.*</c>, <c>train.ema*</c>) so the trainer can apply them with
/// <c>train.recipe: reference</c>. <see cref="Optimizer"/> and <see cref="Schedule"/> are config spellings
/// (<c>sgd</c>, <c>yoloxwarmcos</c>).</summary>
public sealed record RecipeHyperparameters(
    string Optimizer, double Lr, double Momentum, bool Nesterov, double WeightDecay,
    string Schedule, double WarmupEpochs, double WarmupFactor, double FinalLrRatio, int FinalConstantEpochs,
    bool Ema, double EmaDecay);

/// <summary>How a family's reference implementation trains, beyond what every detector shares: its optimizer and schedule
/// numbers for a batch size, augmentation that changes with the epoch, and switches of the model's losses (YOLOX: Megvii's
/// Mosaic/MixUp closed and the L1 loss turned on for the last <c>no_aug_epochs</c>, the learning rate from
/// <c>basic_lr_per_img</c>). A detector offers it through <see cref="IDetector.TrainingRecipe"/>; the trainer applies it
/// with <c>train.recipe: reference</c> and knows nothing of the family. Every member is a function of its arguments and
/// the family's config only, so a resumed run applies exactly what an uninterrupted one did.</summary>
public abstract class TrainingRecipe
{
    /// <summary>Whose recipe this is, for logs, e.g. "Megvii YOLOX (yolox/exp/yolox_base.py)".</summary>
    public abstract string Name { get; }

    /// <summary>Optimizer, schedule and EMA for <paramref name="imagesPerStep"/> images per optimizer step (all ranks,
    /// accumulation included): references that scale the learning rate with the batch do it here.</summary>
    public abstract RecipeHyperparameters Hyperparameters(int imagesPerStep);

    /// <summary>The augmentation of training samples in <paramref name="epoch"/> (0-based) of <paramref name="epochs"/>,
    /// run after the data's own (category outputs, <c>augment:</c> steps); null = none that epoch.</summary>
    public virtual ITransform? Augmentation(int epoch, int epochs) => null;

    /// <summary>Called before every training forward of <paramref name="epoch"/> (also after a resume): switches of the
    /// model that depend on the epoch (YOLOX's L1 loss).</summary>
    public virtual void BeforeEpochBatch(int epoch, int epochs) { }

    /// <summary>A log line when <paramref name="epoch"/> starts a new phase of the recipe (null otherwise).</summary>
    public virtual string? EpochNote(int epoch, int epochs) => null;
}

/// <summary>State of a detector that follows the count of training forwards, whatever the recipe (YOLOX's multi-scale
/// size drawn every 10 iterations). The trainer sets the count before every training forward, so a resumed run
/// continues the sequence instead of starting it over.</summary>
public interface ITrainingForwardCounter
{
    /// <summary>Training forwards made before the next one (epoch × batches per epoch + batch).</summary>
    long TrainForwards { get; set; }
}
