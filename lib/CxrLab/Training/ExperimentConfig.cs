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

    /// <summary>Another experiment file this one starts from (relative to this file); every key here overrides it.
    /// Bases may have bases of their own.</summary>
    public string Base { get; set; } = "";

    public ModelConfig Model { get; set; } = new();

    /// <summary>Faster R-CNN's options (<c>faster_rcnn:</c>): anchors, FPN width, RPN/RoI sampling.</summary>
    public CxrLab.Models.FasterRcnn.FasterRcnnConfig FasterRcnn { get; set; } = new();

    /// <summary>EfficientDet's options (<c>efficientdet:</c>; spelled so the snake_case key is one word): fusion, BiFPN
    /// width/repeats, loss, soft-NMS.</summary>
    public CxrLab.Models.EfficientDet.EfficientDetConfig Efficientdet { get; set; } = new();
    /// <summary>YOLOX's options (<c>yolox:</c>): Megvii's Exp fields; unset values take the variant's defaults.</summary>
    public CxrLab.Models.Yolox.YoloxConfig Yolox { get; set; } = new();
    /// <summary>Mask R-CNN's options (<c>mask_rcnn:</c>): the two-stage settings of <c>faster_rcnn:</c> plus the mask head's.</summary>
    public CxrLab.Models.MaskRcnn.MaskRcnnConfig MaskRcnn { get; set; } = new();

    /// <summary>RSNA Pneumonia's options (<c>rsna:</c>): box → mask shape, boxes kept, the seed's augmentation file.</summary>
    public CxrLab.Tasks.Rsna.RsnaConfig Rsna { get; set; } = new();

    /// <summary>The normal/abnormal image classifier of the winners' "2-class filter" (<c>classifier:</c>;
    /// <c>./cxr classifier train</c>): backbone, input size, its own epochs/batch/lr, the filter's threshold.</summary>
    public CxrLab.Models.Classification.ClassifierConfig Classifier { get; set; } = new();

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

/// <summary>The <c>model:</c> section: which detector, for how many task classes, from which weights, at which input
/// size, with which post-processing. What is specific to a family goes in its own section (<c>faster_rcnn:</c>,
/// <c>mask_rcnn:</c>, <c>yolox:</c>, <c>efficientdet:</c>); unset values keep the arch's reference defaults.</summary>
public sealed class ModelConfig
{
    /// <summary>Zoo name (<c>./cxr models</c> lists them), e.g. <c>fasterrcnn_resnet50_fpn</c>, <c>yolox_s</c>.</summary>
    public string Arch { get; set; } = "fasterrcnn_resnet50_fpn";

    /// <summary>Task classes, background not counted: 14 for VinBigData, 1 for RSNA. A two-stage model adds its
    /// background class inside.</summary>
    public int NumClasses { get; set; } = 14;

    /// <summary>Initial weights: our checkpoint, safetensors or a PyTorch .pth in the reference's key layout; empty =
    /// random init. Another class count keeps everything but the classifier (re-initialised, logged).</summary>
    public string Weights { get; set; } = "";

    /// <summary>Network input size in pixels (R-CNN: the short side; YOLOX/EfficientDet: the square letterbox);
    /// 0 = the arch's default (<c>./cxr models</c>).</summary>
    public int InputSize { get; set; }

    /// <summary>Cap on the long side after resizing, pixels (R-CNN's max_size; letterbox families are square and ignore
    /// it); 0 = the arch's default (torchvision: 1333/800 of the input size).</summary>
    public int MaxSize { get; set; }

    /// <summary>Backbone normalisation: <c>frozen</c> (FrozenBatchNorm2d, for pretrained weights) or
    /// <c>batchnorm</c> (BatchNorm2d, for training from a random init); empty = torchvision's rule:
    /// frozen when <see cref="Weights"/> is given, batchnorm otherwise. Same state_dict keys either way.</summary>
    public string NormLayer { get; set; } = "";

    /// <summary>Minimum score of a kept detection (<c>--conf</c>); unset = the family's default
    /// (torchvision 0.05, YOLOX 0.01, effdet 0.001…).</summary>
    public double? ScoreThresh { get; set; }

    /// <summary>NMS IoU (<c>--nms</c>); unset = the family's default.</summary>
    public double? NmsThresh { get; set; }

    /// <summary>Detections kept per image (<c>--max-det</c>); unset = the family's default (100).</summary>
    public int? MaxDetections { get; set; }

    /// <summary>One NMS over all classes instead of one per class; unset = the family's default (per class).</summary>
    public bool? ClassAgnostic { get; set; }
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

    /// <summary>A second fold kept out of training (-1: none): never trained on and not the validation fold, so
    /// predictions on it can tune what comes after the models (e.g. an ensemble's score calibrations and WBF weights, as the winners tuned them
    /// out of fold) without touching the fold that is reported. The training images are then the other folds.</summary>
    public int HoldoutFold { get; set; } = -1;

    /// <summary>Train on images without findings too (they teach the background).</summary>
    public bool IncludeNoFinding { get; set; } = true;

    /// <summary>Per-class resampling of the training images, drawn once per run and shown in the log as a table
    /// (images and boxes per class before → after): <c>none</c>; <c>repeat_factor</c> (LVIS: an image is repeated
    /// sqrt(<see cref="RepeatThreshold"/> / f) times for its rarest class's image fraction f); <c>per_class</c>
    /// (<see cref="ClassMinImages"/> raises a class to that many images by repeating its images,
    /// <see cref="ClassMaxImages"/> caps one by dropping images that hold only capped classes).</summary>
    public string Resampling { get; set; } = "none";

    /// <summary>Repeat-factor threshold (LVIS style) when <see cref="Resampling"/> is <c>repeat_factor</c>: classes on
    /// fewer than this fraction of the images are repeated.</summary>
    public double RepeatThreshold { get; set; } = 0.1;

    /// <summary><c>per_class</c>: class id → least number of training images holding it, e.g. <c>{1: 200, 12: 200}</c>.</summary>
    public Dictionary<string, string> ClassMinImages { get; set; } = [];

    /// <summary><c>per_class</c>: class id → most training images holding it (images holding only capped classes are dropped).</summary>
    public Dictionary<string, string> ClassMaxImages { get; set; } = [];

    /// <summary>A dataset category file (<c>experiments/datasets/vinbig-A…D.yaml</c>, relative to the working
    /// directory) that defines the training data: which images (abnormal or all), how the radiologists' boxes are
    /// fused for training, and the images each source makes per epoch — the same outputs <c>./cxr dataset build</c>
    /// writes once, here drawn afresh every epoch, mixing donors taken from the training fold only. Validation keeps
    /// <see cref="Fusion"/> and is never augmented. The category's <c>source</c> (abnormal | all) replaces
    /// <see cref="IncludeNoFinding"/>; <c>augment:</c> steps, if any, run after the category's output. Empty = every
    /// training image once, with <c>augment:</c>.</summary>
    public string Category { get; set; } = "";

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

/// <summary>Main schedules; <c>YoloxWarmCos</c> is YOLOX's "yoloxwarmcos" (quadratic warmup over <c>warmup_epochs</c> from
/// <c>warmup_factor</c>, cosine to <c>final_lr_ratio</c>, flat at it for the last <c>final_constant_epochs</c>).</summary>
public enum ScheduleKind { Cosine, MultiStep, Constant, YoloxWarmCos }
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

    /// <summary>Warmup length in epochs; when > 0 it replaces <see cref="WarmupIters"/> (YOLOX counts epochs: 5).</summary>
    public double WarmupEpochs { get; set; }

    /// <summary>yoloxwarmcos: the last epochs held at <see cref="FinalLrRatio"/> (YOLOX's no_aug_epochs: 15).</summary>
    public int FinalConstantEpochs { get; set; }
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

    /// <summary>Where the optimizer, schedule and EMA numbers come from: <c>config</c> (the <c>optimizer:</c>,
    /// <c>schedule:</c> and <c>train:</c> keys) or <c>reference</c>, the family's reference recipe from its own section
    /// (YOLOX: Megvii's from <c>yolox:</c> — lr = basic_lr_per_img × images per step, SGD Nesterov, yoloxwarmcos, EMA,
    /// Mosaic/MixUp/HSV/flip until the last no_aug_epochs, then the L1 loss). <c>reference</c> overrides those keys and
    /// the run's log says with which values.</summary>
    public TrainingRecipeKind Recipe { get; set; } = TrainingRecipeKind.Config;
}

/// <summary><c>train.recipe</c>: the config's own optimizer/schedule keys, or the model family's reference recipe.</summary>
public enum TrainingRecipeKind { Config, Reference }

public sealed class OutputConfig
{
    /// <summary>Where runs are written; relative paths are resolved from the working directory.</summary>
    public string RunsDir { get; set; } = "experiments/runs";
}
