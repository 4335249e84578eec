namespace CxrLab.Models.Classification;

/// <summary>The experiment YAML's <c>classifier:</c> section (and an experiment grid's <c>classifier:</c> key): the
/// normal/abnormal image classifier of the VinBigData winners' "2-class filter" — which backbone, at what input size,
/// how it is trained (its own epochs, batch and AdamW rate: the detector's <c>train:</c>/<c>optimizer:</c> sections are
/// tuned for detectors), and the filter's threshold. The data (<c>data:</c>, fold, seed, device) are the experiment's.</summary>
public sealed class ClassifierConfig : IConfigSection
{
    /// <summary>Backbone: resnet18/34/50/101 (torchvision keys) or efficientnet_b0…b3 (timm keys).</summary>
    public string Arch { get; set; } = "resnet18";
    /// <summary>Square network input in pixels; images are resized to it (stretched: chest X-rays are near-square).</summary>
    public int InputSize { get; set; } = 224;
    /// <summary>Training epochs over the fold's training images (normal and abnormal).</summary>
    public int Epochs { get; set; } = 10;
    /// <summary>Images per optimizer step.</summary>
    public int BatchSize { get; set; } = 16;
    /// <summary>AdamW peak learning rate (linear warmup over the first epoch, then cosine to 5%).</summary>
    public double Lr { get; set; } = 1e-3;
    /// <summary>AdamW weight decay on conv/linear weights (norms and biases get none).</summary>
    public double WeightDecay { get; set; } = 1e-4;
    /// <summary>Probability of a horizontal flip of a training image (0 disables).</summary>
    public double FlipProb { get; set; } = 0.5;
    /// <summary>The filter's threshold: an image with P(abnormal) below it is predicted "No finding" only (the public
    /// 2-class filter's low_thr 0.08; winners used 0.05–0.1). See <c>Evaluation.NormalFilter</c>.</summary>
    public double FilterLow { get; set; } = 0.08;

    public IEnumerable<(string Key, string Message)> Problems()
    {
        if (!NormalAbnormalClassifier.Archs.Contains(Arch)) yield return ("arch", $"'{Arch}' is not a classifier backbone; use one of {string.Join(", ", NormalAbnormalClassifier.Archs)}");
        if (InputSize < 32) yield return ("input_size", $"{InputSize} must be ≥ 32 pixels");
        if (Epochs < 1) yield return ("epochs", $"{Epochs} must be ≥ 1");
        if (BatchSize < 1) yield return ("batch_size", $"{BatchSize} must be ≥ 1");
        if (Lr is <= 0 or > 1) yield return ("lr", $"{Lr} must be in (0, 1]");
        if (WeightDecay < 0) yield return ("weight_decay", $"{WeightDecay} must be ≥ 0");
        if (FlipProb is < 0 or > 1) yield return ("flip_prob", $"{FlipProb} must be in [0, 1]");
        if (FilterLow is < 0 or >= 1) yield return ("filter_low", $"{FilterLow} must be in [0, 1)");
    }
}
