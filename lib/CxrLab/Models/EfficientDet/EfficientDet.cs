using CxrLab.Models.Detection;
using CxrLab.Torch;
using CxrLab.Torch.Nn;

namespace CxrLab.Models.EfficientDet;

/// <summary>EfficientDet behind the detector contract: effdet's network (<see cref="EfficientDetNet"/>, its keys), its
/// eval preprocessing, anchor labeler, focal + Huber losses and post-processing. Labels are task ids (no background
/// class). Preprocessing as effdet's <c>ResizePad</c>: scale = min(S/H, S/W), resize to (⌊H·scale⌋, ⌊W·scale⌋),
/// paste top-left on an S×S canvas of the mean colour, ImageNet mean/std. effdet resizes with Pillow's bilinear
/// filter on 8-bit pixels; here the [0, 1] float image goes through libtorch's antialiased bilinear interpolation
/// (<c>_upsample_bilinear2d_aa</c>, the filter built to match Pillow's: a triangle kernel widened by the scale when
/// shrinking) without 8-bit rounding, and the canvas is the exact mean (Pillow's is the mean rounded to 8 bits).</summary>
public sealed class EfficientDet : IDetector
{
    readonly EfficientDetNet net;
    readonly Tensor anchorsCpu;
    Tensor? anchorsOnDevice;

    public EfficientDet(string arch, EfficientDetOptions options, PostprocessOptions? postprocess = null)
    {
        Arch = arch;
        net = new EfficientDetNet(options);
        anchorsCpu = Anchors.Generate(options).DetachFromDisposeScope(); // the model owns it, whatever scope builds the model
        Postprocess = postprocess ?? DefaultPostprocess(options);
    }

    /// <summary>effdet's: no score threshold, per-class NMS 0.5, 100 detections.</summary>
    public static PostprocessOptions DefaultPostprocess(EfficientDetOptions o) =>
        new() { ScoreThresh = 0.0, NmsThresh = 0.5, MaxDetections = o.MaxDetPerImage, ClassAgnostic = false };

    /// <summary>Builds a zoo arch from a spec: the variant's effdet configuration, the spec's <c>efficientdet:</c> overrides,
    /// input size and post-processing overrides.</summary>
    public static EfficientDet Build(DetectorSpec spec)
    {
        var o = spec.EfficientDet.Apply(EfficientDetVariants.Get(spec.Arch, spec.NumClasses));
        if (spec.InputSize > 0) o = o with { ImageSize = spec.InputSize };
        if (o.ImageSize % (1 << o.MaxLevel) != 0)
            throw new ArgumentException($"EfficientDet input size {o.ImageSize} must be a multiple of {1 << o.MaxLevel} (2^max_level), e.g. {Math.Max(1, o.ImageSize / (1 << o.MaxLevel)) * (1 << o.MaxLevel)}");
        return new EfficientDet(spec.Arch, o, spec.Postprocess(DefaultPostprocess(o)));
    }

    public string Arch { get; }
    public EfficientDetNet Net => net;
    public EfficientDetOptions Options => net.Options;
    public int NumClasses => net.Options.NumClasses;
    public LabelSpace LabelSpace => new(NumClasses, HasBackground: false);
    public PostprocessOptions Postprocess { get; set; }
    public Module Module => net;

    public static readonly double[] Mean = [0.485, 0.456, 0.406];
    public static readonly double[] Std = [0.229, 0.224, 0.225];

    public Preprocessing Preprocessing => new(ResizeMode.Letterbox, Options.ImageSize, Options.ImageSize, Mean, Std, PixelScale: 1.0, PadValue: 0.0, SizeDivisible: 1 << Options.MaxLevel);

    /// <summary>The anchors (y1, x1, y2, x2, network pixels) on the model's device.</summary>
    public Tensor AnchorsYxyx
    {
        get
        {
            var device = net.parameters().First().device;
            if (anchorsOnDevice is null || anchorsOnDevice.device.Type != device.Type)
            {
                anchorsOnDevice?.Dispose();
                anchorsOnDevice = anchorsCpu.to(device);
                anchorsOnDevice.DetachFromDisposeScope();
            }
            return anchorsOnDevice;
        }
    }

    // ---------------------------------------------------------------- preprocessing

    /// <summary>The scale effdet applies to an H × W image: min(S/H, S/W).</summary>
    public double ScaleOf(long h, long w) => Math.Min(Options.ImageSize / (double)h, Options.ImageSize / (double)w);

    static readonly Op BilinearAa = new("_upsample_bilinear2d_aa", "vec");

    /// <summary>effdet's eval input: resize (antialiased bilinear), paste top-left on a mean-colour square, normalise.
    /// Returns the batch <c>[B, 3, S, S]</c> and each image's scale.</summary>
    public (Tensor Batch, double[] Scales) PreprocessBatch(IReadOnlyList<Tensor> images)
    {
        if (images.Count == 0) throw new ArgumentException("no images given");
        using var scope = torch.NewDisposeScope();
        var s = Options.ImageSize;
        var device = net.parameters().First().device;
        var mean = Tensor.From(Mean.Select(v => (float)v).ToArray()).reshape(3, 1, 1).to(device);
        var std = Tensor.From(Std.Select(v => (float)v).ToArray()).reshape(3, 1, 1).to(device);
        var scales = new double[images.Count];
        var canvases = new Tensor[images.Count];
        for (var i = 0; i < images.Count; i++)
        {
            var image = images[i];
            if (image.dim() != 3 || image.size(0) is not (1 or 3))
                throw new ArgumentException($"image {i} has shape [{string.Join(", ", image.shape)}]; expected [3, H, W] (or [1, H, W]) float in [0, 1]");
            var x = image.to(device, ScalarType.Float32);
            if (x.size(0) == 1) x = x.expand(3, -1, -1);
            var (h, w) = (x.size(1), x.size(2));
            var scale = scales[i] = ScaleOf(h, w);
            var (sh, sw) = ((long)(h * scale), (long)(w * scale));
            var resized = sh == h && sw == w ? x : BilinearAa.Call(x.unsqueeze(0), new long[] { sh, sw }, false, (double[]?)null).squeeze(0);
            var canvas = mean.expand(3, s, s).clone();
            canvas.narrow(1, 0, sh).narrow(2, 0, sw).copy_(resized);
            canvases[i] = (canvas - mean) / std;
        }
        var batch = torch.stack(canvases);
        return (scope.MoveToOuter(batch), scales);
    }

    // ---------------------------------------------------------------- training

    public Dictionary<string, Tensor> ForwardTrain(IReadOnlyList<Tensor> images, IReadOnlyList<DetectionTarget> targets)
    {
        if (!net.training) throw new InvalidOperationException("call Module.train() before ForwardTrain");
        if (images.Count != targets.Count) throw new ArgumentException($"{images.Count} images but {targets.Count} targets");
        using var scope = torch.NewDisposeScope();
        var (batch, scales) = PreprocessBatch(images);
        var (boxes, labels) = ToNetworkTargets(images, targets, scales);
        using var anchorTargets = new AnchorLabeler(AnchorsYxyx, Options).Label(boxes, labels);
        var (cls, box) = net.forward(batch);
        var (_, classLoss, boxLoss) = DetectionLoss.Compute(cls, box, anchorTargets, Options);
        // The trainer sums the named losses: box_loss carries effdet's box_loss_weight so the sum is effdet's total loss.
        var losses = new Dictionary<string, Tensor> { ["class_loss"] = classLoss, ["box_loss"] = boxLoss * Options.BoxLossWeight };
        foreach (var v in losses.Values) scope.MoveToOuter(v);
        return losses;
    }

    /// <summary>Targets in effdet's terms: boxes scaled to the network input, clipped to the scaled image, degenerate
    /// ones dropped (as effdet's ResizePad), as y1, x1, y2, x2; labels checked to be task ids.</summary>
    public (List<Tensor> BoxesYxyx, List<Tensor> Labels) ToNetworkTargets(IReadOnlyList<Tensor> images, IReadOnlyList<DetectionTarget> targets, double[] scales)
    {
        var device = net.parameters().First().device;
        var boxesOut = new List<Tensor>();
        var labelsOut = new List<Tensor>();
        for (var i = 0; i < targets.Count; i++)
        {
            var t = targets[i];
            if (t.Boxes.dim() != 2 || t.Boxes.size(1) != 4) throw new ArgumentException($"target {i}: boxes must be [K, 4], got [{string.Join(", ", t.Boxes.shape)}]");
            if (t.Labels.size(0) != t.Boxes.size(0)) throw new ArgumentException($"target {i}: {t.Boxes.size(0)} boxes but {t.Labels.size(0)} labels");
            var labels = t.Labels.to(device, ScalarType.Int64);
            if (labels.numel() > 0)
            {
                var (lo, hi) = (labels.min().item<long>(), labels.max().item<long>());
                if (lo < 0 || hi >= NumClasses)
                    throw new ArgumentException($"target {i}: labels must be task class ids 0..{NumClasses - 1}, got {lo}..{hi}");
            }
            var scale = scales[i];
            var (h, w) = (images[i].size(1), images[i].size(2));
            var (sh, sw) = (Math.Min((long)(h * scale), Options.ImageSize), Math.Min((long)(w * scale), Options.ImageSize));
            var b = t.Boxes.to(device, ScalarType.Float32) * scale;
            var x1 = b[.., 0].clamp(0, sw); var y1 = b[.., 1].clamp(0, sh);
            var x2 = b[.., 2].clamp(0, sw); var y2 = b[.., 3].clamp(0, sh);
            var valid = (x1 < x2).logical_and(y1 < y2).nonzero().squeeze(1);
            boxesOut.Add(torch.stack([y1, x1, y2, x2], 1).index_select(0, valid));
            labelsOut.Add(labels.index_select(0, valid));
        }
        return (boxesOut, labelsOut);
    }

    // ---------------------------------------------------------------- inference

    public List<Detections> Predict(IReadOnlyList<Tensor> images)
    {
        using var candidates = PredictCandidates(images);
        return SelectDetections(candidates);
    }

    public DetectionCandidates PredictCandidates(IReadOnlyList<Tensor> images)
    {
        if (net.training) throw new InvalidOperationException("call Module.eval() before Predict");
        using var scope = torch.NewDisposeScope();
        using var _ = torch.inference_mode();
        var (batch, scales) = PreprocessBatch(images);
        var (cls, box) = net.forward(batch);
        var originals = images.Select(t => (t.size(1), t.size(2))).ToList();
        var clip = originals.Select((s, i) => (s.Item1 * scales[i], s.Item2 * scales[i])).ToList();
        var perImage = EfficientDetPostprocess.Candidates(cls, box, AnchorsYxyx, NumClasses, Options.MaxDetectionPoints, clip);
        foreach (var d in perImage) scope.MoveToOuter(d.Tensors);
        var sizes = originals.Select((s, i) => ((long)(s.Item1 * scales[i]), (long)(s.Item2 * scales[i]))).ToList();
        return new DetectionCandidates(perImage, sizes, originals);
    }

    public List<Detections> SelectDetections(DetectionCandidates candidates, PostprocessOptions? options = null)
    {
        options ??= Postprocess;
        using var scope = torch.NewDisposeScope();
        using var _ = torch.inference_mode();
        var result = new List<Detections>();
        for (var i = 0; i < candidates.PerImage.Count; i++)
        {
            var (h, w) = candidates.OriginalSizes[i];
            var back = 1.0 / ScaleOf(h, w);
            var d = EfficientDetPostprocess.Select(candidates.PerImage[i], options.ScoreThresh, options.NmsThresh, options.MaxDetections, options.ClassAgnostic, Options.SoftNms);
            var mapped = d with { Boxes = d.Boxes * back };
            scope.MoveToOuter(mapped.Tensors);
            result.Add(mapped);
        }
        return result;
    }

    // ---------------------------------------------------------------- weights

    public LoadStateDictResult LoadWeights(string path, WeightsLoadOptions? options = null) =>
        DetectorWeights.Load(net, path, options, $"EfficientDet ({Arch})", EfficientDetNet.ClassifierKeys,
            (_, rows) => rows / Options.AnchorsPerLocation, net.ReinitClassPredict);

    public void Dispose()
    {
        net.Dispose();
        anchorsCpu.Dispose();
        anchorsOnDevice?.Dispose();
    }
}
