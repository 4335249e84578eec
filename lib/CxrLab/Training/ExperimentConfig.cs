namespace CxrLab.Training;

/// <summary>One experiment, as written in <c>experiments/*.yaml</c> (keys are snake_case:
/// <c>optimizer.weight_decay</c>). Every default is the reference recipe's number (torchvision's
/// detection reference for Faster R-CNN) so a config only states what it changes.
/// Load with <see cref="ExperimentConfigLoader"/>, which reports bad keys and values with their line.</summary>
public sealed class ExperimentConfig
{
    /// <summary>Run name; outputs go to <c>{output.runs_dir}/{name}/{timestamp}/</c>.</summary>
    public string Name { get; set; } = "experiment";

    /// <summary>Seed for model initialisation, data order and augmentation.</summary>
    public long Seed { get; set; } = 42;

    /// <summary>Free text shown in reports.</summary>
    public string Description { get; set; } = "";

    public ModelConfig Model { get; set; } = new();
    public DataConfig Data { get; set; } = new();

    /// <summary>Augmentation pipeline, applied in order to training images only.</summary>
    public List<AugmentStepConfig> Augment { get; set; } = [];

    public OptimizerConfig Optimizer { get; set; } = new();
    public ScheduleConfig Schedule { get; set; } = new();
    public TrainConfig Train { get; set; } = new();
    public OutputConfig Output { get; set; } = new();

    /// <summary>Data-parallel training over several processes (docs/distributed.md).</summary>
    public Distributed.DistributedConfig Distributed { get; set; } = new();
}

public sealed class ModelConfig
{
    /// <summary>Builder name, e.g. <c>fasterrcnn_resnet50_fpn</c>, <c>fasterrcnn_resnet18_fpn</c>.</summary>
    public string Arch { get; set; } = "fasterrcnn_resnet50_fpn";

    /// <summary>Classes including background (torchvision's convention): 14 abnormal + 1 = 15.</summary>
    public int NumClasses { get; set; } = 15;

    /// <summary>Short side the transform resizes to, in pixels.</summary>
    public int MinSize { get; set; } = 800;

    /// <summary>Cap on the long side after resizing, in pixels.</summary>
    public int MaxSize { get; set; } = 1333;

    /// <summary>Backbone stages left trainable (0–5; torchvision's default 3 freezes conv1 and layer1).</summary>
    public int TrainableBackboneLayers { get; set; } = 3;

    /// <summary>Initial weights: our checkpoint, safetensors or a PyTorch .pth; empty = random init.</summary>
    public string Weights { get; set; } = "";

    /// <summary>Backbone normalisation: <c>frozen</c> (FrozenBatchNorm2d, for pretrained weights) or
    /// <c>batchnorm</c> (BatchNorm2d, for training from a random init); empty = torchvision's rule:
    /// frozen when <see cref="Weights"/> is given, batchnorm otherwise. Same state_dict keys either way.</summary>
    public string NormLayer { get; set; } = "";

    /// <summary>Anchor sizes in pixels of the resized input, one per FPN level (5; torchvision: 32…512 for
    /// ~800 px). Scale with <see cref="MinSize"/>: e.g. 16…256 at 224 px.</summary>
    public List<double> AnchorSizes { get; set; } = [32, 64, 128, 256, 512];

    /// <summary>Anchor aspect ratios (height / width) on every level (torchvision: 0.5, 1, 2).</summary>
    public List<double> AspectRatios { get; set; } = [0.5, 1.0, 2.0];

    /// <summary>Detections kept per image at evaluation.</summary>
    public int DetectionsPerImage { get; set; } = 100;

    /// <summary>Minimum score of a kept detection at evaluation.</summary>
    public double ScoreThresh { get; set; } = 0.05;

    /// <summary>FPN channels (torchvision: 256); smaller makes CPU demos fast.</summary>
    public int FpnChannels { get; set; } = 256;

    /// <summary>Box-head MLP width (torchvision: 1024).</summary>
    public int RepresentationSize { get; set; } = 1024;

    /// <summary>Anchors sampled per image for the RPN loss (torchvision: 256).</summary>
    public int RpnBatchSizePerImage { get; set; } = 256;

    /// <summary>Proposals kept per image after NMS in training (torchvision: 2000) and evaluation (1000).</summary>
    public int RpnPostNmsTopNTrain { get; set; } = 2000;
    public int RpnPostNmsTopNTest { get; set; } = 1000;

    /// <summary>Proposals sampled per image for the box-head loss (torchvision: 512).</summary>
    public int RoiBatchSizePerImage { get; set; } = 512;
}

public sealed class DataConfig
{
    /// <summary><c>vinbigdata</c> or <c>rsna</c>.</summary>
    public string Dataset { get; set; } = "vinbigdata";

    /// <summary>Dataset folder (Kaggle layout or a prepared cache).</summary>
    public string Root { get; set; } = "data/vinbigdata";

    /// <summary><c>kaggle</c> (DICOM + CSV as downloaded) or <c>cache</c> (16-bit PNG cache).</summary>
    public string Layout { get; set; } = "kaggle";

    /// <summary>Long side of cached images, in pixels.</summary>
    public int CacheSize { get; set; } = 1024;

    /// <summary>Where the PNG cache is built (kaggle layout); empty = <c>{root}/cache_png{cache_size}</c>.</summary>
    public string CacheDir { get; set; } = "";

    /// <summary>How the radiologists' boxes are fused: <c>wbf</c>, <c>nms</c> or <c>none</c>.</summary>
    public string Fusion { get; set; } = "wbf";

    /// <summary>IoU at which boxes of one class are fused.</summary>
    public double FusionIou { get; set; } = 0.4;

    /// <summary>Validation fold (0-based) of <see cref="Folds"/>.</summary>
    public int Fold { get; set; }

    public int Folds { get; set; } = 5;

    /// <summary>Train on images without findings too (they teach the background).</summary>
    public bool IncludeNoFinding { get; set; } = true;

    /// <summary>Per-class resampling: <c>none</c>, <c>repeat_factor</c> or <c>class_balanced</c>.</summary>
    public string Resampling { get; set; } = "none";

    /// <summary>Repeat-factor threshold (LVIS style) when <see cref="Resampling"/> is <c>repeat_factor</c>.</summary>
    public double RepeatThreshold { get; set; } = 0.1;

    /// <summary>Cap on training images (0 = all); for smoke runs.</summary>
    public int Limit { get; set; }
}

/// <summary>One augmentation: its name and parameters, passed to the augmentation library as written.</summary>
public sealed class AugmentStepConfig
{
    public string Name { get; set; } = "";

    /// <summary>Probability the step is applied.</summary>
    public double P { get; set; } = 1.0;

    /// <summary>Step-specific parameters (e.g. <c>limit: 10</c> for a rotation), kept as text.</summary>
    public Dictionary<string, string> Params { get; set; } = [];
}

public enum OptimizerKind { Sgd, AdamW }

public sealed class OptimizerConfig
{
    public OptimizerKind Name { get; set; } = OptimizerKind.Sgd;

    /// <summary>Base learning rate (torchvision reference: 0.02 for 16 images; scale linearly).</summary>
    public double Lr { get; set; } = 0.01;

    public double Momentum { get; set; } = 0.9;
    public bool Nesterov { get; set; }
    public double WeightDecay { get; set; } = 1e-4;

    /// <summary>Apply weight decay to norm weights and biases too (off keeps them undecayed).</summary>
    public bool DecayNormAndBias { get; set; }

    /// <summary>AdamW betas.</summary>
    public List<double> Betas { get; set; } = [0.9, 0.999];

    public double Eps { get; set; } = 1e-8;
}

public enum ScheduleKind { Cosine, MultiStep, Constant }
public enum WarmupKind { None, Linear, Quadratic }

public sealed class ScheduleConfig
{
    public ScheduleKind Name { get; set; } = ScheduleKind.MultiStep;
    public WarmupKind Warmup { get; set; } = WarmupKind.Linear;

    /// <summary>Warmup length in optimizer steps (torchvision reference: min(1000, one epoch)).</summary>
    public int WarmupIters { get; set; } = 1000;

    /// <summary>Learning-rate multiplier at the first warmup step.</summary>
    public double WarmupFactor { get; set; } = 0.001;

    /// <summary>Epochs at which multistep multiplies the rate by <see cref="Gamma"/>.</summary>
    public List<int> Milestones { get; set; } = [16, 22];

    public double Gamma { get; set; } = 0.1;

    /// <summary>Cosine ends at this fraction of the base rate.</summary>
    public double FinalLrRatio { get; set; } = 0.05;
}

public sealed class TrainConfig
{
    public int Epochs { get; set; } = 26;

    /// <summary>Images per forward pass.</summary>
    public int BatchSize { get; set; } = 2;

    /// <summary>Forward passes whose gradients are summed before one optimizer step.</summary>
    public int Accumulate { get; set; } = 1;

    /// <summary>Global gradient-norm clip; 0 = off.</summary>
    public double ClipGradNorm { get; set; }

    /// <summary>Keep an exponential moving average of the weights and validate with it.</summary>
    public bool Ema { get; set; }

    public double EmaDecay { get; set; } = 0.9998;

    /// <summary>Mixed precision: forward and losses under autocast. On CUDA float16 with dynamic loss
    /// scaling (GradScaler); on CPU bfloat16 autocast without scaling (libtorch's CPU autocast is
    /// bfloat16 only; a note in the log says so, and on CPUs without native bfloat16 it is usually
    /// slower than float32). Backward, optimizer and validation stay float32.</summary>
    public bool Amp { get; set; }

    /// <summary><c>cpu</c>, <c>cuda</c> or <c>cuda:N</c>.</summary>
    public string Device { get; set; } = "cpu";

    /// <summary>Validate every this many epochs (the last epoch always validates).</summary>
    public int ValEvery { get; set; } = 1;

    /// <summary>Stop after this many validations without improvement; 0 = never.</summary>
    public int EarlyStoppingPatience { get; set; }

    /// <summary>Smallest gain in the validation metric that counts as an improvement.</summary>
    public double EarlyStoppingMinDelta { get; set; }

    /// <summary>Print/log the running losses every this many steps.</summary>
    public int LogEvery { get; set; } = 20;
}

public sealed class OutputConfig
{
    /// <summary>Where runs are written; relative paths are resolved from the working directory.</summary>
    public string RunsDir { get; set; } = "experiments/runs";
}
