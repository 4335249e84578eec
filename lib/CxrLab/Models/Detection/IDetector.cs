using CxrLab.Torch;
using CxrLab.Torch.Nn;

namespace CxrLab.Models.Detection;

/// <summary>The detector contract every family implements (Faster R-CNN, Mask R-CNN, YOLOX, EfficientDet).
/// Verbs, the trainer, experiments, benches and notebooks see only this.
/// <para>Images are <c>[3, H, W]</c> float in [0, 1] of any size (grey replicated to 3 channels); the model
/// does its own preprocessing (<see cref="Preprocessing"/>). Labels in and out are the task's class ids
/// 0..<see cref="NumClasses"/>−1 (VinBigData's ids; RSNA's single class 0); a model with a background class
/// shifts them inside (<see cref="LabelSpace"/>). Boxes are xyxy in the input image's pixels.</para></summary>
public interface IDetector : IDisposable
{
    /// <summary>The zoo name it was built as, e.g. <c>fasterrcnn_resnet50_fpn</c>, <c>yolox_s</c>.</summary>
    string Arch { get; }

    /// <summary>Task classes (14 for VinBigData, 1 for RSNA): labels are 0..NumClasses−1.</summary>
    int NumClasses { get; }

    /// <summary>How the model numbers classes inside (background class or not).</summary>
    LabelSpace LabelSpace { get; }

    /// <summary>What the model does to an image before the network (size, normalisation, resize mode).</summary>
    Preprocessing Preprocessing { get; }

    /// <summary>Score threshold, NMS IoU, detections kept, class-aware or agnostic NMS; used by <see cref="Predict"/>.</summary>
    PostprocessOptions Postprocess { get; set; }

    /// <summary>The network as a module (parameters, state_dict, train/eval, device).</summary>
    Module Module { get; }

    /// <summary>Training: named scalar losses with autograd. Targets carry task labels and boxes in the input
    /// images' pixels; an empty target trains the background only (box losses 0). Call <c>Module.train()</c> first.</summary>
    Dictionary<string, Tensor> ForwardTrain(IReadOnlyList<Tensor> images, IReadOnlyList<DetectionTarget> targets);

    /// <summary>Inference with <see cref="Postprocess"/>: per image, detections in the input pixels with task labels.
    /// Call <c>Module.eval()</c> first. The caller disposes the results.</summary>
    List<Detections> Predict(IReadOnlyList<Tensor> images);

    /// <summary>The network run once up to post-processing, so thresholds can be swept cheaply with
    /// <see cref="SelectDetections"/>. The caller disposes the result.</summary>
    DetectionCandidates PredictCandidates(IReadOnlyList<Tensor> images);

    /// <summary>Post-processes <paramref name="candidates"/> with <paramref name="options"/> (default
    /// <see cref="Postprocess"/>): exactly what <see cref="Predict"/> returns for those options.</summary>
    List<Detections> SelectDetections(DetectionCandidates candidates, PostprocessOptions? options = null);

    /// <summary>Loads weights in the reference implementation's key layout (our training checkpoint, safetensors,
    /// or a PyTorch <c>.pth</c>, bare or nested under "model"/"state_dict"). A checkpoint with another class count
    /// is refused with a message naming both counts, unless <see cref="WeightsLoadOptions.ReinitClassifier"/>.</summary>
    LoadStateDictResult LoadWeights(string path, WeightsLoadOptions? options = null);

    /// <summary>The family's reference training recipe (optimizer numbers, epoch-dependent augmentation and loss
    /// switches), applied by the trainer with <c>train.recipe: reference</c>; null when the config's keys say it all.</summary>
    TrainingRecipe? TrainingRecipe => null;
}

/// <summary>How a model numbers its classes inside. <see cref="HasBackground"/>: label 0 is background and task
/// class c is model label c+1 (two-stage torchvision models); otherwise model labels are the task ids (YOLOX,
/// EfficientDet). Only models call <see cref="ToModel"/>/<see cref="ToTask"/>; callers never shift labels.</summary>
public sealed record LabelSpace(int NumClasses, bool HasBackground)
{
    /// <summary>Outputs of the classifier: NumClasses (+1 with background).</summary>
    public int ModelClasses => NumClasses + (HasBackground ? 1 : 0);

    public Tensor ToModel(Tensor taskLabels) => HasBackground ? taskLabels + 1L : taskLabels.alias();
    public Tensor ToTask(Tensor modelLabels) => HasBackground ? modelLabels - 1L : modelLabels.alias();

    public override string ToString() => HasBackground ? $"{NumClasses} classes + background" : $"{NumClasses} classes";
}

/// <summary>How input images are brought to the network's size.</summary>
public enum ResizeMode
{
    /// <summary>Short side to MinSize, long side capped at MaxSize, padded to a multiple (torchvision R-CNN).</summary>
    ShortSide,
    /// <summary>Scaled to fit InputSize keeping the aspect, padded bottom/right with PadValue (YOLOX, effdet).</summary>
    Letterbox,
}

/// <summary>Preprocessing facts of a model. <see cref="PixelScale"/> multiplies the [0, 1] input first (255 for
/// YOLOX's 0–255 inputs), then <c>(x − Mean) / Std</c> per channel.</summary>
public sealed record Preprocessing(ResizeMode Mode, int InputSize, int MaxSize, double[] Mean, double[] Std,
    double PixelScale = 1.0, double PadValue = 0.0, int SizeDivisible = 32)
{
    public override string ToString() => Mode == ResizeMode.ShortSide
        ? $"short side {InputSize} (long ≤ {MaxSize}), mean [{string.Join(", ", Mean)}] std [{string.Join(", ", Std)}]"
        : $"letterbox {InputSize}×{InputSize} (pad {PadValue}), ×{PixelScale}, mean [{string.Join(", ", Mean)}] std [{string.Join(", ", Std)}]";
}

/// <summary>Post-processing options; each family's builder sets its reference's defaults.</summary>
public sealed record PostprocessOptions
{
    /// <summary>Minimum score of a kept detection (<c>--conf</c>).</summary>
    public double ScoreThresh { get; init; } = 0.05;
    /// <summary>NMS IoU (<c>--nms</c>).</summary>
    public double NmsThresh { get; init; } = 0.5;
    /// <summary>Detections kept per image (<c>--max-det</c>).</summary>
    public int MaxDetections { get; init; } = 100;
    /// <summary>One NMS over all classes instead of one per class.</summary>
    public bool ClassAgnostic { get; init; }
}

/// <summary>Options for <see cref="IDetector.LoadWeights"/>.</summary>
public sealed record WeightsLoadOptions
{
    /// <summary>Refuse missing or unexpected keys (true) or report them (false).</summary>
    public bool Strict { get; init; } = true;
    /// <summary>When the checkpoint has another class count, keep everything else and re-initialise only the
    /// classifier output (with the family's prior), reporting it through <see cref="Log"/>.</summary>
    public bool ReinitClassifier { get; init; }
    /// <summary>Where notes go (e.g. "re-initialised cls_preds for 14 classes (checkpoint has 80)").</summary>
    public Action<string>? Log { get; init; }
}

/// <summary>A batch's network outputs before post-processing. <see cref="PerImage"/> holds each image's candidate
/// boxes/scores/labels in the family's own terms; <see cref="State"/> anything else the family needs to finish
/// (features for a mask head); the sizes map boxes back to the inputs. Disposes everything it holds.</summary>
public sealed record DetectionCandidates(IReadOnlyList<Detections> PerImage, IReadOnlyList<(long H, long W)> ImageSizes,
    IReadOnlyList<(long H, long W)> OriginalSizes, IDisposable? State = null) : IDisposable
{
    public void Dispose()
    {
        foreach (var d in PerImage) d.Dispose();
        State?.Dispose();
    }
}

/// <summary>PyTorch-style mode switches on the contract, so callers need not reach for <see cref="IDetector.Module"/>.</summary>
public static class DetectorModes
{
    /// <summary>Evaluation mode (fixed normalisation statistics, no dropout); returns the detector.</summary>
    public static T eval<T>(this T detector) where T : IDetector
    {
        detector.Module.eval();
        return detector;
    }

    /// <summary>Training mode; returns the detector.</summary>
    public static T train<T>(this T detector) where T : IDetector
    {
        detector.Module.train();
        return detector;
    }
}
