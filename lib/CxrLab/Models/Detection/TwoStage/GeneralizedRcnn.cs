using CxrLab.Torch;
using CxrLab.Torch.Nn;

namespace CxrLab.Models.Detection.TwoStage;

/// <summary>torchvision's <c>GeneralizedRCNN</c>, written once for every two-stage detector: transform → backbone
/// (with FPN) → region proposal network → RoI heads. Faster R-CNN and Mask R-CNN are builders that choose the
/// parts; the keys are torchvision's (<c>backbone.*</c>, <c>rpn.*</c>, <c>roi_heads.*</c>). Labels outside are task
/// ids 0..K−1; inside, class 0 is background (<see cref="LabelSpace"/>), so targets are shifted on the way in and
/// detections on the way out — here and nowhere else.</summary>
public abstract class GeneralizedRcnn : Module, IDetector
{
    readonly BackboneWithFpn backbone;
    readonly RegionProposalNetwork rpn;
    readonly RoIHeads roiHeads;

    protected GeneralizedRcnn(string arch, int numClasses, GeneralizedRCNNTransform transform, BackboneWithFpn backbone, RegionProposalNetwork rpn, RoIHeads roiHeads)
    {
        if (numClasses < 1) throw new ArgumentOutOfRangeException(nameof(numClasses), $"{numClasses}: need at least one task class");
        Arch = arch;
        NumClasses = numClasses;
        Transform = transform;
        this.backbone = register_module("backbone", backbone);
        this.rpn = register_module("rpn", rpn);
        this.roiHeads = register_module("roi_heads", roiHeads);
    }

    public string Arch { get; }
    public int NumClasses { get; private set; }
    public LabelSpace LabelSpace => new(NumClasses, HasBackground: true);
    public GeneralizedRCNNTransform Transform { get; }
    public BackboneWithFpn Backbone => backbone;
    public RegionProposalNetwork Rpn => rpn;
    public RoIHeads RoIHeads => roiHeads;
    public Module Module => this;

    public Preprocessing Preprocessing => new(ResizeMode.ShortSide, Transform.MinSize, Transform.MaxSize, Transform.ImageMean, Transform.ImageStd, SizeDivisible: Transform.SizeDivisible);

    public PostprocessOptions Postprocess
    {
        get => new()
        {
            ScoreThresh = roiHeads.Options.ScoreThresh,
            NmsThresh = roiHeads.Options.NmsThresh,
            MaxDetections = roiHeads.Options.DetectionsPerImage,
            ClassAgnostic = roiHeads.Options.ClassAgnosticNms,
        };
        set => roiHeads.Options = WithPostprocess(roiHeads.Options, value);
    }

    static RoIHeadsOptions WithPostprocess(RoIHeadsOptions o, PostprocessOptions p) => o with
    {
        ScoreThresh = p.ScoreThresh,
        NmsThresh = p.NmsThresh,
        DetectionsPerImage = p.MaxDetections,
        ClassAgnosticNms = p.ClassAgnostic,
    };

    /// <summary>The FPN levels the RoI heads pool from (torchvision: "0".."3"; the RPN sees every level).</summary>
    protected virtual IReadOnlyList<string> PooledLevels => roiHeads.BoxRoiPool.FeatmapNames;

    List<Tensor> Pooled(List<(string Name, Tensor Feature)> features) =>
        PooledLevels.Select(name => features.FirstOrDefault(f => f.Name == name).Feature
            ?? throw new InvalidOperationException($"the RoI pooler wants FPN level '{name}', the backbone gives {string.Join(", ", features.Select(f => f.Name))}")).ToList();

    /// <summary>Training step: the named losses (scalars with autograd). Targets: boxes xyxy in each input image's
    /// pixels, task labels 0..NumClasses−1; an empty target trains the background only.</summary>
    public virtual Dictionary<string, Tensor> ForwardTrain(IReadOnlyList<Tensor> images, IReadOnlyList<DetectionTarget> targets)
    {
        if (!training) throw new InvalidOperationException("call train() before ForwardTrain");
        if (images.Count != targets.Count) throw new ArgumentException($"{images.Count} images but {targets.Count} targets");
        for (var i = 0; i < targets.Count; i++) TargetChecks.Validate(targets[i], i, NumClasses);
        using var scope = torch.NewDisposeScope();
        var modelTargets = targets.Select(t => t with { Labels = LabelSpace.ToModel(t.Labels.to(ScalarType.Int64)) }).ToList();
        var (batch, resizedTargets) = Transform.Forward(images, modelTargets, training: true);
        var features = backbone.Forward(batch.Tensors);
        var (proposals, rpnLosses) = rpn.Forward(batch, features.Select(f => f.Feature).ToList(), resizedTargets);
        var (_, detLosses) = roiHeads.Forward(Pooled(features), proposals, batch.ImageSizes, resizedTargets);
        var losses = new Dictionary<string, Tensor>();
        foreach (var (k, v) in rpnLosses.Concat(detLosses)) losses[k] = scope.MoveToOuter(v);
        return losses;
    }

    /// <summary>Inference: detections per image in the input images' pixels with task labels (call eval() first).</summary>
    public List<Detections> Predict(IReadOnlyList<Tensor> images)
    {
        using var candidates = PredictCandidates(images);
        return SelectDetections(candidates);
    }

    /// <summary>Inference up to the box head, before post-processing: per image every class's box for every proposal
    /// (resized pixels, model labels). <see cref="SelectDetections"/> then applies any thresholds without running the
    /// network again — how a threshold sweep stays cheap. The caller disposes the result.</summary>
    public virtual DetectionCandidates PredictCandidates(IReadOnlyList<Tensor> images)
    {
        if (training) throw new InvalidOperationException("call eval() before Predict");
        using var scope = torch.NewDisposeScope();
        using var _ = torch.inference_mode();
        var originalSizes = images.Select(t => (t.size(1), t.size(2))).ToList();
        var (batch, _) = Transform.Forward(images);
        var features = backbone.Forward(batch.Tensors);
        var (proposals, _) = rpn.Forward(batch, features.Select(f => f.Feature).ToList(), null);
        var candidates = roiHeads.ForwardCandidates(Pooled(features), proposals, batch.ImageSizes);
        foreach (var c in candidates) scope.MoveToOuter(c.Tensors.ToArray());
        var state = CandidateState(features, batch);
        return new DetectionCandidates(candidates, batch.ImageSizes, originalSizes, state);
    }

    /// <summary>What a family keeps beside the candidates to finish its detections (Mask R-CNN: the pooled features
    /// for the mask head); null for boxes only. Called inside <see cref="PredictCandidates"/>'s dispose scope: move
    /// what you keep out of it.</summary>
    protected virtual IDisposable? CandidateState(List<(string Name, Tensor Feature)> features, ImageList batch) => null;

    /// <summary>Post-processes <paramref name="candidates"/> with <paramref name="options"/> (default: <see cref="Postprocess"/>)
    /// and maps boxes to the input images' pixels and labels to task ids: exactly what <see cref="Predict"/> returns.</summary>
    public List<Detections> SelectDetections(DetectionCandidates candidates, PostprocessOptions? options = null)
    {
        var roiOptions = options is null ? roiHeads.Options : WithPostprocess(roiHeads.Options, options);
        using var scope = torch.NewDisposeScope();
        using var _ = torch.inference_mode();
        var selected = candidates.PerImage.Select(c => RoIHeads.SelectDetections(c, roiOptions)).ToList();
        selected = FinishDetections(selected, candidates);
        var mapped = Transform.Postprocess(selected, candidates.ImageSizes, candidates.OriginalSizes)
            .Select(d => d with { Labels = LabelSpace.ToTask(d.Labels) }).ToList();
        foreach (var d in mapped) scope.MoveToOuter(d.Tensors.ToArray());
        return mapped;
    }

    /// <summary>A family's last step on the selected detections in resized pixels and model labels (Mask R-CNN: masks).</summary>
    protected virtual List<Detections> FinishDetections(List<Detections> selected, DetectionCandidates candidates) => selected;

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

    /// <summary>Replaces the class-dependent outputs with fresh ones for <paramref name="numClasses"/> task classes
    /// (fine-tuning a COCO model on 14 findings).</summary>
    public void ReplaceHead(int numClasses)
    {
        if (numClasses < 1) throw new ArgumentOutOfRangeException(nameof(numClasses), "need at least one task class");
        NumClasses = numClasses;
        ReplaceClassifier(numClasses + 1);
    }

    /// <summary>Rebuilds the class-dependent predictors for <paramref name="modelClasses"/> outputs (background included).</summary>
    protected virtual void ReplaceClassifier(int modelClasses)
    {
        var old = roiHeads.BoxPredictor;
        var fresh = new FastRcnnPredictor(old.InChannels, modelClasses);
        var device = old.state_dict()["cls_score.weight"].device;
        if (device.Type != DeviceType.CPU) fresh.to(device);
        roiHeads.ReplacePredictor(fresh);
    }

    /// <summary>state_dict keys whose first dimension follows the class count.</summary>
    protected virtual IReadOnlyList<string> ClassifierKeys =>
        ["roi_heads.box_predictor.cls_score.weight", "roi_heads.box_predictor.cls_score.bias", "roi_heads.box_predictor.bbox_pred.weight", "roi_heads.box_predictor.bbox_pred.bias"];

    /// <summary>Task classes a classifier tensor of first dimension <paramref name="rows"/> stands for.</summary>
    protected virtual long TaskClassesOf(string key, long rows) => (key.Contains("bbox_pred", StringComparison.Ordinal) ? rows / 4 : rows) - 1;

    /// <summary>Loads torchvision-layout weights (old FPN/RPN key layouts upgraded); see <see cref="IDetector.LoadWeights"/>.</summary>
    public LoadStateDictResult LoadWeights(string path, WeightsLoadOptions? options = null) =>
        DetectorWeights.Load(this, path, options, GetType().Name, ClassifierKeys, TaskClassesOf, () => ReplaceClassifier(NumClasses + 1), UpgradeLegacyKey);

    /// <summary>torchvision &lt; 0.13 keys → current: <c>backbone.fpn.inner_blocks.0.weight</c> →
    /// <c>…inner_blocks.0.0.weight</c>, <c>rpn.head.conv.weight</c> → <c>rpn.head.conv.0.0.weight</c>.</summary>
    public virtual string UpgradeLegacyKey(string key)
    {
        if (key.StartsWith("rpn.head.conv.", StringComparison.Ordinal) && key.Split('.').Length == 4)
            return "rpn.head.conv.0.0." + key["rpn.head.conv.".Length..];
        return Necks.FeaturePyramidNetwork.UpgradeLegacyKeys(key);
    }
}
