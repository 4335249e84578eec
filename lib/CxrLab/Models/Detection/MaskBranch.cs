using CxrLab.Torch;
using CxrLab.Torch.Nn;
using CxrLab.Torch.Vision;

namespace CxrLab.Models.Detection;

/// <summary>The mask head's fully convolutional trunk (torchvision's <c>MaskRCNNHeads</c>): four 3×3 conv + ReLU blocks
/// of 256 channels over the 14×14 pooled features, keys <c>{i}.0.weight</c>/<c>{i}.0.bias</c> (torchvision ≥ 0.13's
/// <c>Conv2dNormActivation</c> layout; the older <c>mask_fcn1..4</c> keys are upgraded by <see cref="UpgradeLegacyKey"/>).</summary>
public sealed class MaskRcnnHeads : Module
{
    readonly List<Conv2d> convs = [];

    /// <param name="inChannels">FPN channels (256).</param>
    /// <param name="layers">Channels of each block (torchvision: 256, 256, 256, 256).</param>
    /// <param name="dilation">Dilation (and padding) of the 3×3 convolutions (torchvision: 1).</param>
    public MaskRcnnHeads(long inChannels, IReadOnlyList<long> layers, long dilation = 1)
    {
        var next = inChannels;
        for (var i = 0; i < layers.Count; i++)
        {
            var conv = new Conv2d(next, layers[i], 3, 1, dilation, dilation);
            // torchvision: kaiming_normal_(fan_out, relu) weights and zero biases.
            Init.kaiming_normal_(conv.weight, mode: "fan_out", nonlinearity: "relu");
            Init.zeros_(conv.bias!);
            register_module(i.ToString(System.Globalization.CultureInfo.InvariantCulture), new Sequential(conv, new ReLU()));
            convs.Add(conv);
            next = layers[i];
        }
        OutChannels = next;
    }

    public long OutChannels { get; }

    public Tensor Forward(Tensor x)
    {
        var h = x;
        foreach (var conv in convs)
        {
            var next = conv.forward(h).relu();
            if (!ReferenceEquals(h, x)) h.Dispose();
            h = next;
        }
        return h;
    }

    /// <summary>torchvision &lt; 0.13's <c>…mask_head.mask_fcn{i}.weight</c> → <c>…mask_head.{i−1}.0.weight</c> (what
    /// <c>MaskRCNNHeads._load_from_state_dict</c> does for version-1 checkpoints such as the COCO v1 weights).</summary>
    public static string UpgradeLegacyKey(string key)
    {
        const string prefix = "roi_heads.mask_head.mask_fcn";
        if (!key.StartsWith(prefix, StringComparison.Ordinal)) return key;
        var rest = key[prefix.Length..];
        var dot = rest.IndexOf('.');
        return dot > 0 && int.TryParse(rest[..dot], out var n) && n >= 1 ? $"roi_heads.mask_head.{n - 1}.0{rest[dot..]}" : key;
    }
}

/// <summary>Upsamples the mask features ×2 and predicts one mask logit map per class (torchvision's
/// <c>MaskRCNNPredictor</c>: <c>conv5_mask</c> ConvTranspose2d 2×2 stride 2, ReLU, <c>mask_fcn_logits</c> 1×1 conv).
/// 14×14 features become 28×28 logits.</summary>
public sealed class MaskRcnnPredictor : Module
{
    readonly ConvTranspose2d conv5Mask;
    readonly Conv2d maskFcnLogits;

    /// <param name="inChannels">Mask-head channels (256).</param>
    /// <param name="dimReduced">Channels after the transposed convolution (256).</param>
    /// <param name="numClasses">Classes including background.</param>
    public MaskRcnnPredictor(long inChannels, long dimReduced, long numClasses)
    {
        conv5Mask = register_module("conv5_mask", new ConvTranspose2d(inChannels, dimReduced, 2, 2, 0));
        maskFcnLogits = register_module("mask_fcn_logits", new Conv2d(dimReduced, numClasses, 1, 1, 0));
        // torchvision: kaiming_normal_(fan_out, relu) on the weights; biases keep PyTorch's default init.
        Init.kaiming_normal_(conv5Mask.weight, mode: "fan_out", nonlinearity: "relu");
        Init.kaiming_normal_(maskFcnLogits.weight, mode: "fan_out", nonlinearity: "relu");
        (InChannels, DimReduced, NumClasses) = (inChannels, dimReduced, numClasses);
    }

    public long InChannels { get; }
    public long DimReduced { get; }
    /// <summary>Classes including background.</summary>
    public long NumClasses { get; }

    public Tensor Forward(Tensor x)
    {
        using var up = conv5Mask.forward(x);
        using var relu = up.relu();
        return maskFcnLogits.forward(relu);
    }
}

/// <summary>The mask branch's arithmetic as torchvision's <c>roi_heads.py</c> writes it: training targets (the GT mask
/// RoIAligned into each positive proposal), the loss, the class channel picked at inference, and pasting a 28×28 mask
/// back into the image.</summary>
public static class MaskOps
{
    /// <summary><c>project_masks_on_boxes</c>: each proposal's matched GT mask cut out and resampled to M×M by RoIAlign
    /// (spatial scale 1, adaptive sampling, aligned = false), values in [0, 1].</summary>
    /// <param name="gtMasks"><c>[K, H, W]</c> masks of one image (any dtype; 0/1).</param>
    /// <param name="boxes"><c>[P, 4]</c> positive proposals.</param>
    /// <param name="matchedIdxs"><c>[P]</c> index of each proposal's GT in <paramref name="gtMasks"/>.</param>
    /// <param name="m">Output side (28).</param>
    public static Tensor ProjectMasksOnBoxes(Tensor gtMasks, Tensor boxes, Tensor matchedIdxs, int m)
    {
        using var scope = torch.NewDisposeScope();
        var rois = torch.cat([matchedIdxs.to(boxes.DType).unsqueeze(1), boxes], 1);
        var masks = gtMasks.unsqueeze(1).to(rois.DType);
        return scope.MoveToOuter(VisionOps.roi_align(masks, rois, [m, m], 1.0)[.., 0]);
    }

    /// <summary><c>maskrcnn_loss</c>: binary cross-entropy with logits between each positive's mask logits of its GT class
    /// and its projected GT mask, averaged over all pixels; 0 (with a graph) when the batch has no positives.</summary>
    /// <param name="maskLogits"><c>[ΣP, C, M, M]</c>.</param>
    /// <param name="proposals">Per image, the positive proposals <c>[P_i, 4]</c>.</param>
    /// <param name="gtMasks">Per image <c>[K_i, H, W]</c>.</param>
    /// <param name="gtLabels">Per image <c>[K_i]</c> model labels.</param>
    /// <param name="matchedIdxs">Per image <c>[P_i]</c> GT index of each positive.</param>
    public static Tensor MaskRcnnLoss(Tensor maskLogits, IReadOnlyList<Tensor> proposals, IReadOnlyList<Tensor> gtMasks, IReadOnlyList<Tensor> gtLabels, IReadOnlyList<Tensor> matchedIdxs)
    {
        using var scope = torch.NewDisposeScope();
        var m = (int)maskLogits.size(-1);
        var labels = new List<Tensor>();
        var targets = new List<Tensor>();
        for (var i = 0; i < proposals.Count; i++)
        {
            if (proposals[i].size(0) == 0) continue;
            labels.Add(gtLabels[i].to(ScalarType.Int64).index_select(0, matchedIdxs[i]));
            targets.Add(ProjectMasksOnBoxes(gtMasks[i], proposals[i], matchedIdxs[i], m));
        }
        if (targets.Count == 0) return scope.MoveToOuter(maskLogits.sum() * 0.0);
        var allLabels = torch.cat(labels, 0);
        var allTargets = torch.cat(targets, 0);
        var rows = torch.arange(0, allLabels.size(0), 1, ScalarType.Int64, allLabels.device);
        return scope.MoveToOuter(Losses.binary_cross_entropy_with_logits(maskLogits.index(rows, allLabels), allTargets));
    }

    /// <summary><c>maskrcnn_inference</c>: sigmoid of each detection's mask logits of its predicted class, split per image
    /// as <c>[D_i, 1, M, M]</c> probabilities.</summary>
    public static Tensor[] MaskRcnnInference(Tensor maskLogits, IReadOnlyList<Tensor> labels)
    {
        using var scope = torch.NewDisposeScope();
        var all = torch.cat(labels.ToArray(), 0).to(ScalarType.Int64);
        var rows = torch.arange(0, maskLogits.size(0), 1, ScalarType.Int64, maskLogits.device);
        var prob = maskLogits.sigmoid().index(rows, all).unsqueeze(1);
        var parts = prob.split(labels.Select(l => l.size(0)).ToArray(), 0);
        return parts.Select(p => scope.MoveToOuter(p.contiguous())).ToArray();
    }

    /// <summary><c>expand_boxes</c>: each box's half sizes scaled by <paramref name="scale"/> about its centre (float32 arithmetic as torchvision).</summary>
    public static Tensor ExpandBoxes(Tensor boxes, double scale)
    {
        using var scope = torch.NewDisposeScope();
        var wHalf = (boxes[.., 2] - boxes[.., 0]) * 0.5 * scale;
        var hHalf = (boxes[.., 3] - boxes[.., 1]) * 0.5 * scale;
        var xc = (boxes[.., 2] + boxes[.., 0]) * 0.5;
        var yc = (boxes[.., 3] + boxes[.., 1]) * 0.5;
        return scope.MoveToOuter(torch.stack([xc - wHalf, yc - hHalf, xc + wHalf, yc + hHalf], 1));
    }

    /// <summary><c>paste_masks_in_image</c>, thresholded: each <c>M×M</c> probability map is padded by one pixel (so its
    /// box is expanded by (M+2)/M about the centre), the expanded box truncated to integers, the padded map resized
    /// bilinearly (align_corners = false) to the box's (y1−y0+1) × (x1−x0+1) pixels and pasted into an
    /// <paramref name="height"/> × <paramref name="width"/> canvas with clipping. Returns probabilities <c>[D, H, W]</c>
    /// float (<see cref="PasteMasks"/> gives the thresholded bool masks).</summary>
    /// <param name="masks"><c>[D, 1, M, M]</c> probabilities.</param>
    /// <param name="boxes"><c>[D, 4]</c> boxes in the canvas' pixels.</param>
    /// <param name="height">Canvas height.</param>
    /// <param name="width">Canvas width.</param>
    /// <param name="padding">Pixels of padding (torchvision: 1).</param>
    public static Tensor PasteMaskProbabilities(Tensor masks, Tensor boxes, long height, long width, int padding = 1)
    {
        using var scope = torch.NewDisposeScope();
        var d = masks.size(0);
        var canvas = torch.zeros([d, height, width], masks.DType, masks.device);
        if (d == 0) return scope.MoveToOuter(canvas);
        var m = masks.size(-1);
        var padded = torch.pad(masks, [padding, padding, padding, padding]);
        var scale = (double)(m + 2 * padding) / m;
        var intBoxes = ExpandBoxes(boxes.to(ScalarType.Float32), scale).to(ScalarType.Int64).cpu().ToArray<long>();
        for (var i = 0; i < d; i++)
        {
            var (x0, y0, x1, y1) = (intBoxes[i * 4], intBoxes[i * 4 + 1], intBoxes[i * 4 + 2], intBoxes[i * 4 + 3]);
            var w = Math.Max(x1 - x0 + 1, 1);
            var h = Math.Max(y1 - y0 + 1, 1);
            var cx0 = Math.Max(x0, 0);
            var cx1 = Math.Min(x1 + 1, width);
            var cy0 = Math.Max(y0, 0);
            var cy1 = Math.Min(y1 + 1, height);
            if (cx1 <= cx0 || cy1 <= cy0) continue;
            var resized = torch.interpolate(padded[TensorIndex.Slice(i, i + 1)], size: [h, w], mode: "bilinear", align_corners: false)[0, 0];
            canvas[i, TensorIndex.Slice(cy0, cy1), TensorIndex.Slice(cx0, cx1)] = resized[TensorIndex.Slice(cy0 - y0, cy1 - y0), TensorIndex.Slice(cx0 - x0, cx1 - x0)];
        }
        return scope.MoveToOuter(canvas);
    }

    /// <summary><see cref="PasteMaskProbabilities"/> thresholded at &gt; <paramref name="threshold"/> (0.5): <c>[D, H, W]</c> bool.</summary>
    /// <param name="masks"><c>[D, 1, M, M]</c> probabilities.</param>
    /// <param name="boxes"><c>[D, 4]</c> boxes in the canvas' pixels.</param>
    /// <param name="height">Canvas height.</param>
    /// <param name="width">Canvas width.</param>
    /// <param name="threshold">Probability above which a pixel belongs to the instance.</param>
    public static Tensor PasteMasks(Tensor masks, Tensor boxes, long height, long width, double threshold = 0.5)
    {
        using var probabilities = PasteMaskProbabilities(masks, boxes, height, width);
        return probabilities > threshold;
    }
}

/// <summary>The three parts of a mask branch handed to <see cref="RoIHeads"/>: the 14×14 pooler, the conv trunk and the predictor.</summary>
public sealed record MaskBranchParts(MultiScaleRoIAlign RoiPool, MaskRcnnHeads Head, MaskRcnnPredictor Predictor);
