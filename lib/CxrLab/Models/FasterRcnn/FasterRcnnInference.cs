using CxrLab.Models.Detection;
using CxrLab.Torch;

namespace CxrLab.Models.FasterRcnn;

/// <summary>Prediction helpers: horizontal-flip test-time augmentation.</summary>
public static class FasterRcnnInference
{
    /// <summary>Detections for one <c>[3, H, W]</c> image; with <paramref name="hflip"/> the image is also
    /// predicted mirrored, boxes mirrored back, and both sets merged by per-class NMS (IoU 0.5).</summary>
    public static Detections Predict(FasterRcnn model, Tensor image, bool hflip = false)
    {
        var plain = model.Predict([image])[0];
        if (!hflip) return plain;
        using var scope = torch.NewDisposeScope();
        var width = image.size(2);
        using var flippedImage = image.flip(2);
        var flipped = model.Predict([flippedImage])[0];
        var b = flipped.Boxes;
        var unflipped = torch.stack([width - b[.., 2], b[.., 1], width - b[.., 0], b[.., 3]], 1);
        var boxes = torch.cat([plain.Boxes, unflipped], 0);
        var scores = torch.cat([plain.Scores, flipped.Scores], 0);
        var labels = torch.cat([plain.Labels, flipped.Labels], 0);
        var keep = CxrLab.Torch.Vision.VisionOps.batched_nms(boxes, scores, labels, model.RoIHeads.Options.NmsThresh);
        keep = keep[..(int)Math.Min(model.RoIHeads.Options.DetectionsPerImage, keep.size(0))];
        var result = new Detections(boxes.index_select(0, keep), scores.index_select(0, keep), labels.index_select(0, keep));
        scope.MoveToOuter(result.Boxes, result.Scores, result.Labels);
        foreach (var t in new[] { plain.Boxes, plain.Scores, plain.Labels, flipped.Boxes, flipped.Scores, flipped.Labels }) t.Dispose();
        return result;
    }
}
