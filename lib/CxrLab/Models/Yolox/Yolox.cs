using CxrLab.Models.Detection;
using CxrLab.Torch;
using CxrLab.Torch.Nn;
using CxrLab.Torch.Optim;
using CxrLab.Torch.Vision;

namespace CxrLab.Models.Yolox;

/// <summary>Megvii's YOLOX (yolox/models/yolox.py): <c>backbone</c> (YOLOPAFPN over CSPDarknet, or YOLOFPN over
/// Darknet-53) and <c>head</c> (the decoupled YOLOXHead), with Megvii's state_dict keys
/// (<c>backbone.backbone.stem.conv.conv.weight</c>, <c>backbone.lateral_conv0.bn.running_mean</c>,
/// <c>head.stems.0.conv.weight</c>, <c>head.cls_preds.2.bias</c>, …) so its checkpoints load directly.
/// <para>As a detector: images are letterboxed to <see cref="InputSize"/> as Megvii's <c>ValTransform(legacy=False)</c>
/// (scaled to fit keeping the aspect, top-left, padded with 114, pixel values 0–255, BGR channel order, no
/// normalisation); outputs are grid-decoded, score = objectness × best class probability, class-aware NMS (agnostic
/// as an option), boxes mapped back to the input image's pixels. Unlike Megvii, boxes are clipped to the image.</para></summary>
public sealed class YOLOX : Module, IDetector, ITrainingForwardCounter
{
    readonly Module backboneModule;
    readonly IYoloxNeck neck;
    readonly YOLOXHead head;

    public string Arch { get; }
    public int NumClasses { get; }
    public LabelSpace LabelSpace { get; }
    public Preprocessing Preprocessing { get; }
    public PostprocessOptions Postprocess { get; set; }
    public Module Module => this;

    /// <summary>Square network input in pixels (a multiple of 32).</summary>
    public int InputSize { get; }

    /// <summary>The neck (YOLOPAFPN or YOLOFPN) and the head.</summary>
    public Module Backbone => backboneModule;
    public YOLOXHead Head => head;

    /// <summary>Megvii's <c>head.use_l1</c>: adds the L1 loss on raw box outputs; Megvii turns it on with the
    /// no-augmentation epochs (<see cref="YoloxRecipe"/> does, with <c>train.recipe: reference</c>).</summary>
    public bool UseL1Loss { get; set; }

    /// <summary>Fixed training input size (a multiple of 32); null = <see cref="InputSize"/>, or multi-scale when
    /// <see cref="MultiscaleSizes"/> is set.</summary>
    public int? TrainInputSize { get; set; }

    /// <summary>Megvii's multi-scale training: a new size from these (multiples of 32) every 10 training forwards, the
    /// first 10 at <see cref="InputSize"/> (Megvii's random_resize at (iter + 1) % 10 == 0). The draw is a pure function
    /// of <see cref="TrainForwards"/> (SplitMix64), so restoring that count restores the sizes.</summary>
    public int[]? MultiscaleSizes { get; set; }

    /// <summary>Megvii's training recipe over the <c>yolox:</c> section (set by the zoo builder; <c>train.recipe: reference</c>).</summary>
    public TrainingRecipe? TrainingRecipe { get; set; }

    /// <summary>Training forwards so far (<see cref="ForwardTrain"/> counts them; the trainer sets the count before each
    /// forward, so a resumed run continues the multi-scale sequence).</summary>
    public long TrainForwards { get; set; }

    /// <summary>The input size of the next training forward.</summary>
    public int CurrentTrainSize()
    {
        if (TrainInputSize is { } fixedSize) return fixedSize;
        if (MultiscaleSizes is not { Length: > 0 } sizes || TrainForwards < 10) return InputSize;
        var z = (ulong)(TrainForwards / 10) * 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return sizes[(int)((z ^ (z >> 31)) % (ulong)sizes.Length)];
    }

    /// <summary>Megvii's TrainTransform drops boxes whose shorter side is not above this many pixels after resizing.</summary>
    public const double MinBoxSide = 1.0;

    /// <summary>Megvii's letterbox pad value.</summary>
    public const double PadValue = 114.0;

    /// <param name="arch">Zoo name.</param>
    /// <param name="numClasses">Task classes (no background).</param>
    /// <param name="depth">Depth multiplier.</param>
    /// <param name="width">Width multiplier.</param>
    /// <param name="depthwise">Depthwise-separable convs (nano).</param>
    /// <param name="act">Activation.</param>
    /// <param name="inputSize">Letterbox size (a multiple of 32).</param>
    /// <param name="darknet53">Darknet-53 + YOLOFPN (yolox_darknet53 / Megvii's yolov3 exp) instead of CSPDarknet + PAFPN.</param>
    public YOLOX(string arch, int numClasses, double depth, double width, bool depthwise = false, string act = "silu", int inputSize = 640, bool darknet53 = false)
    {
        if (numClasses < 1) throw new ArgumentException($"{arch}: num_classes {numClasses} must be at least 1");
        if (inputSize <= 0 || inputSize % 32 != 0) throw new ArgumentException($"{arch}: input size {inputSize} must be a positive multiple of 32 (the largest stride)");
        (Arch, NumClasses, InputSize) = (arch, numClasses, inputSize);
        if (darknet53)
        {
            var fpn = new YOLOFPN();
            (backboneModule, neck) = (register_module("backbone", fpn), fpn);
            head = register_module("head", new YOLOXHead(numClasses, width, [128, 256, 512], act: "lrelu"));
        }
        else
        {
            var pafpn = new YOLOPAFPN(depth, width, depthwise, act);
            (backboneModule, neck) = (register_module("backbone", pafpn), pafpn);
            head = register_module("head", new YOLOXHead(numClasses, width, [.. YOLOPAFPN.InChannels], act, depthwise));
        }
        LabelSpace = new LabelSpace(numClasses, HasBackground: false);
        Preprocessing = new Preprocessing(ResizeMode.Letterbox, inputSize, inputSize, [0, 0, 0], [1, 1, 1], PixelScale: 255.0, PadValue: PadValue);
        Postprocess = DefaultPostprocess;
    }

    /// <summary>Megvii's evaluation defaults: test_conf 0.01, nmsthre 0.65, class-aware NMS. Megvii keeps every
    /// detection after NMS; we cap at 1000 per image.</summary>
    public static PostprocessOptions DefaultPostprocess { get; } = new() { ScoreThresh = 0.01, NmsThresh = 0.65, MaxDetections = 1000, ClassAgnostic = false };

    /// <summary>A zoo variant with Megvii's depth/width/input size, overridden by <paramref name="config"/>.</summary>
    public static YOLOX Create(string arch, int numClasses, int inputSize = 0, YoloxConfig? config = null)
    {
        var c = (config ?? new YoloxConfig()).For(arch);
        return new YOLOX(arch, numClasses, c.Depth!.Value, c.Width!.Value, c.Depthwise!.Value, c.Act!, inputSize > 0 ? inputSize : YoloxConfig.DefaultInputSize(arch), arch == "yolox_darknet53");
    }

    /// <summary>The zoo builder: <see cref="DetectorSpec.Yolox"/>, input size and post-processing overrides.</summary>
    public static IDetector Build(DetectorSpec spec)
    {
        var c = spec.Yolox.For(spec.Arch);
        var model = Create(spec.Arch, spec.NumClasses, spec.InputSize, spec.Yolox);
        model.Postprocess = spec.Postprocess(DefaultPostprocess with { ScoreThresh = c.TestConf!.Value, NmsThresh = c.Nmsthre!.Value });
        var sizes = c.MultiscaleSizes(model.InputSize, spec.Arch);
        model.MultiscaleSizes = sizes.Length > 1 ? sizes : null;
        model.TrainingRecipe = new YoloxRecipe(model, c);
        return model;
    }

    // ---------------------------------------------------------------- network

    /// <summary>Raw head outputs per level [N, 5 + K, H, W] (reg, obj logit, cls logits) for a preprocessed batch
    /// [N, 3, S, S] (0–255, BGR).</summary>
    public Tensor[] ForwardLevels(Tensor x)
    {
        var feats = neck.forward(x);
        try { return head.ForwardLevels(feats); }
        finally { foreach (var f in feats) f.Dispose(); }
    }

    /// <summary>The neck's three outputs for a preprocessed batch.</summary>
    public Tensor[] ForwardFeatures(Tensor x) => neck.forward(x);

    /// <summary>Megvii's eval output for a preprocessed batch: [N, A, 5 + K] with cxcywh boxes in input pixels,
    /// objectness and class probabilities.</summary>
    public Tensor ForwardDecoded(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var levels = ForwardLevels(x);
        using var anchors = Anchors(levels, x.device);
        return scope.MoveToOuter(YOLOXHead.Decode(YOLOXHead.Flatten(levels), anchors.XShifts, anchors.YShifts, anchors.Strides, sigmoid: true));
    }

    /// <summary>The anchor points of these head outputs.</summary>
    public AnchorPoints Anchors(IReadOnlyList<Tensor> levels, Device? device = null)
    {
        var (xs, ys, ss) = head.Grid(levels.Select(l => (l.size(2), l.size(3))).ToList(), device);
        return new AnchorPoints(xs, ys, ss);
    }

    /// <summary>Megvii's losses for a preprocessed batch and targets (per image cxcywh boxes in input pixels, class ids).</summary>
    public YoloxLosses Losses(Tensor x, IReadOnlyList<Tensor> gtBoxesCxcywh, IReadOnlyList<Tensor> gtClasses)
    {
        using var scope = torch.NewDisposeScope();
        var levels = ForwardLevels(x);
        using var anchors = Anchors(levels, x.device);
        var raw = YOLOXHead.Flatten(levels);
        var losses = YoloxLoss.Compute(raw, anchors, gtBoxesCxcywh, gtClasses, UseL1Loss);
        foreach (var t in new[] { losses.Iou, losses.Obj, losses.Cls, losses.L1 }) scope.Detach(t);
        return losses;
    }

    // ---------------------------------------------------------------- preprocessing

    /// <summary>Letterboxes images [3, H, W] in [0, 1] into a batch [N, 3, S, S] as Megvii's <c>preproc</c>: scale
    /// r = min(S/H, S/W), resize to (⌊H·r⌋, ⌊W·r⌋) bilinearly, top-left, pad 114, values ×255, RGB → BGR.
    /// Returns the batch and each image's r. Megvii resizes 8-bit images with OpenCV and keeps 8 bits; we keep floats.</summary>
    public (Tensor Batch, double[] Ratios) Letterbox(IReadOnlyList<Tensor> images, int size)
    {
        using var scope = torch.NewDisposeScope();
        var batch = torch.full([images.Count, 3, size, size], PadValue, ScalarType.Float32, images.Count > 0 ? images[0].device : (Device?)null);
        var ratios = new double[images.Count];
        for (var i = 0; i < images.Count; i++)
        {
            var img = images[i];
            if (img.Dim != 3 || img.size(0) != 3) throw new ArgumentException($"{Arch}: image {i} has shape [{string.Join(", ", img.shape)}]; expected [3, H, W] in [0, 1]");
            var (h, w) = (img.size(1), img.size(2));
            var r = Math.Min((double)size / h, (double)size / w);
            var (nh, nw) = ((long)(h * r), (long)(w * r));
            var bgr = img.to(ScalarType.Float32).flip(0) * 255.0;
            var resized = nh == h && nw == w ? bgr : torch.interpolate(bgr.unsqueeze(0), [nh, nw], mode: "bilinear", align_corners: false).squeeze(0);
            batch[i, .., 0..(int)nh, 0..(int)nw] = resized;
            ratios[i] = r;
        }
        return (scope.MoveToOuter(batch), ratios);
    }

    // ---------------------------------------------------------------- IDetector

    /// <summary>Megvii's training losses: <c>loss_iou</c> (5 × IoU loss), <c>loss_conf</c> (objectness), <c>loss_cls</c>,
    /// <c>loss_l1</c> (0 unless <see cref="UseL1Loss"/>); Megvii's total_loss is their sum. Images are letterboxed to
    /// the training size (<see cref="CurrentTrainSize"/>) with their boxes; boxes whose shorter side is not above 1 px
    /// after that are dropped, as Megvii's TrainTransform does.</summary>
    public Dictionary<string, Tensor> ForwardTrain(IReadOnlyList<Tensor> images, IReadOnlyList<DetectionTarget> targets)
    {
        if (images.Count != targets.Count) throw new ArgumentException($"{images.Count} images but {targets.Count} targets");
        using var scope = torch.NewDisposeScope();
        var size = CurrentTrainSize();
        TrainForwards++;
        var (batch, ratios) = Letterbox(images, size);
        var boxes = new List<Tensor>();
        var classes = new List<Tensor>();
        for (var i = 0; i < targets.Count; i++)
        {
            var t = targets[i];
            if (t.Labels.size(0) > 0 && (t.Labels.min().item<long>() < 0 || t.Labels.max().item<long>() >= NumClasses))
                throw new ArgumentException($"{Arch}: image {i} has labels outside 0..{NumClasses - 1} (task class ids)");
            var xyxy = t.Boxes.to(ScalarType.Float32) * ratios[i];
            var wh = xyxy.narrow(1, 2, 2) - xyxy.narrow(1, 0, 2);
            var keep = wh.min(1).values.gt(MinBoxSide).nonzero().squeeze(1);
            var cxcy = xyxy.narrow(1, 0, 2) + wh / 2;
            boxes.Add(torch.cat([cxcy, wh], 1).index_select(0, keep));
            classes.Add(t.Labels.to(ScalarType.Int64).index_select(0, keep));
        }
        using var losses = Losses(batch, boxes, classes);
        var named = new Dictionary<string, Tensor>
        {
            ["loss_iou"] = losses.Iou.alias(),
            ["loss_conf"] = losses.Obj.alias(),
            ["loss_cls"] = losses.Cls.alias(),
            ["loss_l1"] = losses.L1.alias(),
        };
        scope.MoveToOuter(named.Values);
        return named;
    }

    public List<Detections> Predict(IReadOnlyList<Tensor> images)
    {
        using var candidates = PredictCandidates(images);
        return SelectDetections(candidates);
    }

    public DetectionCandidates PredictCandidates(IReadOnlyList<Tensor> images)
    {
        // Inference mode, as PyTorch's torch.inference_mode() and the other families: no version counters or views tracked.
        using var _ = torch.inference_mode();
        using var scope = torch.NewDisposeScope();
        var (batch, ratios) = Letterbox(images, InputSize);
        var output = ForwardDecoded(batch);
        var perImage = new List<Detections>();
        for (var i = 0; i < images.Count; i++)
        {
            var o = output.select(0, i);
            var c = o.narrow(1, 0, 2);
            var half = o.narrow(1, 2, 2) / 2;
            var boxes = torch.cat([c - half, c + half], 1) / ratios[i];
            var (classConf, classPred) = o.narrow(1, 5, NumClasses).max(1);
            var scores = o.select(1, 4) * classConf;
            perImage.Add(new Detections(scope.MoveToOuter(boxes), scope.MoveToOuter(scores), scope.MoveToOuter(classPred)));
        }
        var sizes = images.Select(im => (im.size(1), im.size(2))).ToList();
        return new DetectionCandidates(perImage, sizes, sizes);
    }

    /// <summary>Megvii's <c>postprocess</c> on the candidates (score = obj × class conf ≥ threshold, batched NMS by class
    /// or plain NMS when agnostic), capped at MaxDetections, then boxes clipped to the image.</summary>
    public List<Detections> SelectDetections(DetectionCandidates candidates, PostprocessOptions? options = null)
    {
        options ??= Postprocess;
        using var _ = torch.inference_mode();
        var result = new List<Detections>();
        for (var i = 0; i < candidates.PerImage.Count; i++)
        {
            using var scope = torch.NewDisposeScope();
            var c = candidates.PerImage[i];
            var keep = c.Scores.ge(options.ScoreThresh).nonzero().squeeze(1);
            var boxes = c.Boxes.index_select(0, keep);
            var scores = c.Scores.index_select(0, keep);
            var labels = c.Labels.index_select(0, keep);
            var order = options.ClassAgnostic ? VisionOps.nms(boxes, scores, options.NmsThresh) : VisionOps.batched_nms(boxes, scores, labels, options.NmsThresh);
            if (options.MaxDetections > 0 && order.size(0) > options.MaxDetections) order = order.narrow(0, 0, options.MaxDetections);
            var (h, w) = candidates.OriginalSizes[i];
            var kept = boxes.index_select(0, order);
            var clipped = torch.stack([kept.select(1, 0).clamp(0, w), kept.select(1, 1).clamp(0, h), kept.select(1, 2).clamp(0, w), kept.select(1, 3).clamp(0, h)], 1);
            result.Add(new Detections(scope.MoveToOuter(clipped), scope.MoveToOuter(scores.index_select(0, order)), scope.MoveToOuter(labels.index_select(0, order))));
        }
        return result;
    }

    /// <summary>The classifier outputs whose size follows the class count.</summary>
    public static readonly string[] ClassifierKeys =
        [.. Enumerable.Range(0, 3).SelectMany(i => new[] { $"head.cls_preds.{i}.weight", $"head.cls_preds.{i}.bias" })];

    public LoadStateDictResult LoadWeights(string path, WeightsLoadOptions? options = null) =>
        DetectorWeights.Load(this, path, options, Arch, ClassifierKeys.Where(k => state_dict().ContainsKey(k)).ToList(), (_, n) => n, head.ResetClassifier);

    // ---------------------------------------------------------------- optimisation

    /// <summary>Megvii's <c>Exp.get_optimizer</c> parameter groups: BatchNorm weights (no decay), other weights
    /// (<paramref name="weightDecay"/>), biases (no decay). The trainer's rule (no decay for 1-D tensors) forms the
    /// same split.</summary>
    public List<ParamGroup> MegviiParamGroups(double weightDecay)
    {
        List<Tensor> bnWeights = [], weights = [], biases = [];
        foreach (var (name, p) in named_parameters())
        {
            if (name.EndsWith(".bias", StringComparison.Ordinal)) biases.Add(p);
            else if (name.EndsWith(".bn.weight", StringComparison.Ordinal)) bnWeights.Add(p);
            else weights.Add(p);
        }
        return [new ParamGroup(bnWeights), new ParamGroup(weights, new() { ["weight_decay"] = weightDecay }), new ParamGroup(biases)];
    }
}
