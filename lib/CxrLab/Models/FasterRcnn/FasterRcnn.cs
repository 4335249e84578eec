using CxrLab.Models.Detection;
using CxrLab.Models.Necks;
using CxrLab.Torch;
using CxrLab.Torch.Nn;
using CxrLab.Torch.Serialization;

namespace CxrLab.Models.FasterRcnn;

/// <summary>Faster R-CNN settings; every default is torchvision's <c>fasterrcnn_resnet50_fpn</c> value.</summary>
public sealed record FasterRcnnOptions
{
    /// <summary>Classes including background (COCO 91; VinBigData 15).</summary>
    public int NumClasses { get; init; } = 91;
    /// <summary>Short side after resizing, pixels.</summary>
    public int MinSize { get; init; } = 800;
    /// <summary>Cap on the long side after resizing, pixels.</summary>
    public int MaxSize { get; init; } = 1333;
    /// <summary>Backbone stages that train (0–5).</summary>
    public int TrainableBackboneLayers { get; init; } = 3;
    /// <summary>FrozenBatchNorm eps (0.0 for torchvision's COCO v1 weights).</summary>
    public double FrozenBatchNormEps { get; init; } = 1e-5;
    /// <summary>Backbone normalisation: Frozen (for loaded weights; the default here because loading
    /// torchvision's checkpoints is this class's main use) or BatchNorm (training from a random init, what
    /// torchvision's builder picks without weights). Same state_dict keys either way.</summary>
    public NormLayer NormLayer { get; init; } = NormLayer.Frozen;
    /// <summary>Anchor side lengths in pixels of the resized input, one per FPN level "0".."3","pool"
    /// (torchvision: 32, 64, 128, 256, 512 for ~800 px inputs). Scale them with the input: at 224 px
    /// lesions of 8–100 px want about 16…256.</summary>
    public double[] AnchorSizes { get; init; } = [32, 64, 128, 256, 512];
    /// <summary>Anchor aspect ratios (height / width), the same on every level (torchvision: 0.5, 1, 2).</summary>
    public double[] AspectRatios { get; init; } = [0.5, 1.0, 2.0];
    /// <summary>FPN channels (torchvision: 256). Smaller values make quick experiments and tests cheap.</summary>
    public long FpnChannels { get; init; } = 256;
    /// <summary>TwoMLPHead width (torchvision: 1024).</summary>
    public long RepresentationSize { get; init; } = 1024;
    public RpnOptions Rpn { get; init; } = new();
    public RoIHeadsOptions RoIHeads { get; init; } = new();
}

/// <summary>Faster R-CNN with a ResNet-FPN backbone, module for module and key for key
/// torchvision's <c>FasterRCNN</c> (<c>backbone.body.*</c>, <c>backbone.fpn.*</c>, <c>rpn.head.*</c>,
/// <c>roi_heads.box_head.*</c>, <c>roi_heads.box_predictor.*</c>), so torchvision checkpoints load
/// directly (<see cref="LoadWeights"/>; pre-0.13 FPN/RPN key layouts are upgraded on load).
/// Input: images <c>[3, H, W]</c> float in [0, 1] (grey replicated to 3 channels), any sizes.
/// Training returns loss_objectness, loss_rpn_box_reg, loss_classifier, loss_box_reg; evaluation
/// returns per-image boxes (xyxy, input pixels), scores and labels (1..NumClasses−1).</summary>
public sealed class FasterRcnn : Module, CxrLab.Training.IDetectionModel
{
    readonly BackboneWithFpn backbone;
    readonly RegionProposalNetwork rpn;
    readonly RoIHeads roiHeads;

    public FasterRcnn(BackboneWithFpn backbone, FasterRcnnOptions options)
    {
        Options = options;
        Transform = new GeneralizedRCNNTransform(options.MinSize, options.MaxSize);
        this.backbone = register_module("backbone", backbone);
        if (options.AnchorSizes.Length != 5)
            throw new ArgumentException($"AnchorSizes has {options.AnchorSizes.Length} values; give one per FPN level (5: strides 4, 8, 16, 32, 64), e.g. [32, 64, 128, 256, 512]");
        if (options.AnchorSizes.Any(a => !(a > 0)) || options.AspectRatios.Length == 0 || options.AspectRatios.Any(r => !(r > 0)))
            throw new ArgumentException("anchor sizes and aspect ratios must be positive, with at least one ratio");
        var anchors = new AnchorGenerator(options.AnchorSizes.Select(a => new[] { a }).ToArray(),
            Enumerable.Repeat(options.AspectRatios, options.AnchorSizes.Length).ToArray());
        rpn = register_module("rpn", new RegionProposalNetwork(anchors, new RpnHead(backbone.OutChannels, anchors.NumAnchorsPerLocation[0]), options.Rpn));
        var representation = options.RepresentationSize;
        var pool = new MultiScaleRoIAlign(7, 2);
        roiHeads = register_module("roi_heads", new RoIHeads(pool,
            new TwoMlpHead(backbone.OutChannels * pool.OutputSize * pool.OutputSize, representation),
            new FastRcnnPredictor(representation, options.NumClasses), options.RoIHeads));
    }

    public FasterRcnnOptions Options { get; private set; }
    public GeneralizedRCNNTransform Transform { get; }
    public RegionProposalNetwork Rpn => rpn;
    public RoIHeads RoIHeads => roiHeads;

    /// <summary>Classes including background, as the predictor is built now.</summary>
    public long NumClasses => roiHeads.BoxPredictor.NumClasses;

    // ---------------------------------------------------------------- builders

    /// <summary>torchvision's <c>fasterrcnn_resnet50_fpn</c> (random init; load weights with <see cref="LoadWeights"/>).</summary>
    public static FasterRcnn ResNet50Fpn(FasterRcnnOptions? options = null) => ResNetFpn(50, options);
    public static FasterRcnn ResNet18Fpn(FasterRcnnOptions? options = null) => ResNetFpn(18, options);
    public static FasterRcnn ResNet34Fpn(FasterRcnnOptions? options = null) => ResNetFpn(34, options);
    public static FasterRcnn ResNet101Fpn(FasterRcnnOptions? options = null) => ResNetFpn(101, options);

    public static FasterRcnn ResNetFpn(int depth, FasterRcnnOptions? options = null)
    {
        options ??= new FasterRcnnOptions();
        return new FasterRcnn(BackboneWithFpn.ResNetFpn(depth, options.TrainableBackboneLayers, options.FrozenBatchNormEps, options.FpnChannels, options.NormLayer), options);
    }

    /// <summary>Builds by architecture name: <c>fasterrcnn_resnet{18,34,50,101}_fpn</c>.</summary>
    public static FasterRcnn Create(string arch, FasterRcnnOptions? options = null) => arch switch
    {
        "fasterrcnn_resnet18_fpn" => ResNet18Fpn(options),
        "fasterrcnn_resnet34_fpn" => ResNet34Fpn(options),
        "fasterrcnn_resnet50_fpn" => ResNet50Fpn(options),
        "fasterrcnn_resnet101_fpn" => ResNet101Fpn(options),
        _ => throw new ArgumentException($"unknown architecture '{arch}'; use fasterrcnn_resnet18_fpn, fasterrcnn_resnet34_fpn, fasterrcnn_resnet50_fpn or fasterrcnn_resnet101_fpn"),
    };

    /// <summary>Replaces the box predictor with a fresh one for <paramref name="numClasses"/>
    /// (classes + background), as fine-tuning a COCO model on 14 findings needs (15).</summary>
    public void ReplaceHead(int numClasses)
    {
        if (numClasses < 2) throw new ArgumentOutOfRangeException(nameof(numClasses), "need at least one class plus background");
        var old = roiHeads.BoxPredictor;
        var fresh = new FastRcnnPredictor(old.InChannels, numClasses);
        if (old.state_dict()["cls_score.weight"].device is var d && d.Type != DeviceType.CPU) fresh.to(d);
        roiHeads.ReplacePredictor(fresh);
        Options = Options with { NumClasses = numClasses };
    }

    // ---------------------------------------------------------------- forward

    /// <summary>Training step: the four losses (scalars, with autograd). Targets' boxes are xyxy in each
    /// input image's pixels, labels 1..NumClasses−1; an empty target trains the background only.</summary>
    public Dictionary<string, Tensor> ForwardTrain(IReadOnlyList<Tensor> images, IReadOnlyList<DetectionTarget> targets)
    {
        if (!training) throw new InvalidOperationException("call train() before ForwardTrain");
        if (images.Count != targets.Count) throw new ArgumentException($"{images.Count} images but {targets.Count} targets");
        for (var i = 0; i < targets.Count; i++) ValidateTarget(targets[i], i);
        using var scope = torch.NewDisposeScope();
        var (batch, resizedTargets) = Transform.Forward(images, targets, training: true);
        var features = backbone.Forward(batch.Tensors);
        var featureList = features.Select(f => f.Feature).ToList();
        var (proposals, rpnLosses) = rpn.Forward(batch, featureList, resizedTargets);
        var (_, detLosses) = roiHeads.Forward(featureList.Take(4).ToList(), proposals, batch.ImageSizes, resizedTargets);
        var losses = new Dictionary<string, Tensor>();
        foreach (var (k, v) in rpnLosses.Concat(detLosses)) losses[k] = scope.MoveToOuter(v);
        return losses;
    }

    /// <summary>Inference: detections per image in the input images' pixels (call eval() first).</summary>
    public List<Detections> Predict(IReadOnlyList<Tensor> images)
    {
        using var scope = torch.NewDisposeScope();
        var candidates = PredictCandidates(images);
        var mapped = SelectDetections(candidates);
        foreach (var d in mapped) scope.MoveToOuter(d.Boxes, d.Scores, d.Labels);
        return mapped;
    }

    /// <summary>Inference up to the box head, before post-processing: per image every class's box for every proposal
    /// (resized pixels). <see cref="SelectDetections"/> then applies any score/NMS thresholds without running the
    /// network again — how a threshold sweep stays cheap. The caller disposes the result.</summary>
    public DetectionCandidates PredictCandidates(IReadOnlyList<Tensor> images)
    {
        if (training) throw new InvalidOperationException("call eval() before Predict");
        using var scope = torch.NewDisposeScope();
        using var _ = torch.inference_mode();
        var originalSizes = images.Select(t => (t.size(1), t.size(2))).ToList();
        var (batch, _) = Transform.Forward(images);
        var features = backbone.Forward(batch.Tensors).Select(f => f.Feature).ToList();
        var (proposals, _) = rpn.Forward(batch, features, null);
        var candidates = roiHeads.ForwardCandidates(features.Take(4).ToList(), proposals, batch.ImageSizes);
        foreach (var c in candidates) scope.MoveToOuter(c.Boxes, c.Scores, c.Labels);
        return new DetectionCandidates(candidates, batch.ImageSizes, originalSizes);
    }

    /// <summary>Post-processes <paramref name="candidates"/> with <paramref name="options"/> (default: the model's
    /// <see cref="RoIHeads"/> options) and maps the boxes to the input images' pixels: exactly what <see cref="Predict"/> returns.</summary>
    public List<Detections> SelectDetections(DetectionCandidates candidates, RoIHeadsOptions? options = null)
    {
        options ??= roiHeads.Options;
        using var scope = torch.NewDisposeScope();
        using var _ = torch.inference_mode();
        var selected = candidates.PerImage.Select(c => RoIHeads.SelectDetections(c, options)).ToList();
        var mapped = Transform.Postprocess(selected, candidates.ImageSizes, candidates.OriginalSizes);
        foreach (var d in mapped) scope.MoveToOuter(d.Boxes, d.Scores, d.Labels);
        return mapped;
    }

    /// <summary>The RPN's proposals for a batch (in the resized images' pixels) — for inspection and tests.</summary>
    public (List<Tensor> Proposals, IReadOnlyList<(long H, long W)> ImageSizes) Proposals(IReadOnlyList<Tensor> images)
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var (batch, _) = Transform.Forward(images);
        var features = backbone.Forward(batch.Tensors).Select(f => f.Feature).ToList();
        var (proposals, _) = rpn.Forward(batch, features, null);
        foreach (var p in proposals) scope.MoveToOuter(p);
        return (proposals, batch.ImageSizes);
    }

    /// <summary>The RPN's anchors per FPN level, proposals and objectness for a batch (no gradients) — for drawing
    /// what the first stage does. Call eval() first for the test-time top-n; coordinates as <see cref="RpnInspection"/>
    /// says (resized images; with MinSize = MaxSize = the image's long side, that is the input's pixels).</summary>
    public RpnInspection InspectRpn(IReadOnlyList<Tensor> images)
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var (batch, _) = Transform.Forward(images);
        var features = backbone.Forward(batch.Tensors).Select(f => f.Feature).ToList();
        var inspection = rpn.Inspect(batch, features);
        foreach (var t in inspection.Tensors) scope.MoveToOuter(t);
        return inspection;
    }

    void ValidateTarget(DetectionTarget t, int index)
    {
        if (t.Boxes.dim() != 2 || t.Boxes.size(1) != 4) throw new ArgumentException($"target {index}: boxes must be [K, 4], got [{string.Join(", ", t.Boxes.shape)}]");
        if (t.Labels.size(0) != t.Boxes.size(0)) throw new ArgumentException($"target {index}: {t.Boxes.size(0)} boxes but {t.Labels.size(0)} labels");
        if (t.Boxes.size(0) == 0) return;
        using var scope = torch.NewDisposeScope();
        var degenerate = (t.Boxes[.., 2..] <= t.Boxes[.., ..2]).any(1).nonzero();
        if (degenerate.numel() > 0)
        {
            var row = degenerate[0, 0].item<long>();
            var b = t.Boxes[row].to(ScalarType.Float32).ToArray<float>();
            throw new ArgumentException($"target {index}: box {row} [{string.Join(", ", b)}] has zero or negative width/height; drop degenerate boxes before training");
        }
        var labels = t.Labels.to(ScalarType.Int64);
        var (lo, hi) = (labels.min().item<long>(), labels.max().item<long>());
        if (lo < 1 || hi >= NumClasses)
            throw new ArgumentException($"target {index}: labels must be 1..{NumClasses - 1} (0 is background), got {lo}..{hi}; map dataset class ids to model labels (class_id + 1)");
    }

    // ---------------------------------------------------------------- weights

    /// <summary>Loads weights from our training checkpoint, a safetensors file or a PyTorch
    /// <c>.pth</c> (torchvision's state_dict, or nested under "model"/"state_dict"). Old FPN/RPN key
    /// layouts are upgraded. A class-count mismatch says how to fix it; with
    /// <paramref name="skipClassMismatch"/> the predictor keeps its fresh weights instead (fine-tuning
    /// a COCO model on another class count).</summary>
    public LoadStateDictResult LoadWeights(string path, bool strict = true, bool skipClassMismatch = false)
    {
        var stored = ReadWeights(path);
        var tensors = new Dictionary<string, Tensor>();
        try
        {
            foreach (var (key, value) in stored) tensors[UpgradeLegacyKey(key)] = Tensor.FromBytes(value.Data, value.DType, value.Shape);
            var own = state_dict();
            var mismatch = CheckClassCount(tensors, own, path);
            if (mismatch is not null)
            {
                if (!skipClassMismatch) throw new ArgumentException(mismatch);
                foreach (var k in tensors.Keys.Where(k => k.StartsWith("roi_heads.box_predictor.", StringComparison.Ordinal)).ToList())
                {
                    tensors[k].Dispose();
                    tensors.Remove(k);
                }
                var result = load_state_dict(tensors, strict: false);
                var unexpectedOrBad = result.Unexpected.Count + result.Mismatched.Count + result.Missing.Count(m => !m.StartsWith("roi_heads.box_predictor.", StringComparison.Ordinal));
                if (strict && unexpectedOrBad > 0) throw new StateDictMismatchException(result, nameof(FasterRcnn));
                return result;
            }
            return load_state_dict(tensors, strict);
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    static Dictionary<string, StoredTensor> ReadWeights(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"weights file not found: {path}", path);
        if (CxrLab.Training.TrainingCheckpoint.IsTrainingCheckpoint(path)) return CxrLab.Training.TrainingCheckpoint.LoadModelStateDict(path);
        return TorchCheckpoint.ReadStateDict(path);
    }

    string? CheckClassCount(Dictionary<string, Tensor> checkpoint, Dictionary<string, Tensor> own, string path)
    {
        const string key = "roi_heads.box_predictor.cls_score.weight";
        if (!checkpoint.TryGetValue(key, out var theirs) || !own.TryGetValue(key, out var ours)) return null;
        var (k, m) = (theirs.size(0), ours.size(0));
        if (k == m) return null;
        return $"{path} was trained for {k} classes (including background; {key} is [{k}, {theirs.size(1)}]) " +
               $"but this model has {m} ([{m}, {ours.size(1)}]). Either build the model with {k} classes " +
               $"(--num-classes {k} / model.num_classes: {k}) to use the checkpoint as it is, or load it with " +
               $"skipClassMismatch: true to keep the backbone and RPN and train a fresh {m}-class head (what ReplaceHead({m}) does after loading).";
    }

    /// <summary>torchvision &lt; 0.13 keys → current: <c>backbone.fpn.inner_blocks.0.weight</c> →
    /// <c>…inner_blocks.0.0.weight</c>, <c>rpn.head.conv.weight</c> → <c>rpn.head.conv.0.0.weight</c>.</summary>
    public static string UpgradeLegacyKey(string key)
    {
        if (key.StartsWith("rpn.head.conv.", StringComparison.Ordinal) && key.Split('.').Length == 4)
            return "rpn.head.conv.0.0." + key["rpn.head.conv.".Length..];
        return FeaturePyramidNetwork.UpgradeLegacyKeys(key);
    }
}
