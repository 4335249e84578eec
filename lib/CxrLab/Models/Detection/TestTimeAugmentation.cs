using CxrLab.Torch;

namespace CxrLab.Models.Detection;

/// <summary>Test-time augmentation for any <see cref="IDetector"/>.</summary>
public static class TestTimeAugmentation
{
    /// <summary>Horizontal-flip TTA: each image is also predicted mirrored, the mirrored boxes (and masks) are flipped
    /// back, and both sets are merged by the model's own NMS rule (<see cref="IDetector.Postprocess"/>: IoU, per class or
    /// agnostic) and cut to its detection count. Same output contract as <see cref="IDetector.Predict"/>.</summary>
    public static List<Detections> PredictHflip(IDetector model, IReadOnlyList<Tensor> images)
    {
        var post = model.Postprocess;
        var plain = model.Predict(images);
        var mirrored = images.Select(i => i.flip(2)).ToList();
        var flipped = model.Predict(mirrored);
        foreach (var m in mirrored) m.Dispose();
        var merged = new List<Detections>(images.Count);
        for (var i = 0; i < images.Count; i++)
        {
            using var scope = torch.NewDisposeScope();
            var width = images[i].size(2);
            var b = flipped[i].Boxes;
            var unflipped = torch.stack([width - b[.., 2], b[.., 1], width - b[.., 0], b[.., 3]], 1);
            var all = new Detections(torch.cat([plain[i].Boxes, unflipped], 0), torch.cat([plain[i].Scores, flipped[i].Scores], 0),
                torch.cat([plain[i].Labels, flipped[i].Labels], 0),
                plain[i].Masks is { } m && flipped[i].Masks is { } fm ? torch.cat([m, fm.flip(2)], 0) : null);
            var keep = post.ClassAgnostic
                ? Torch.Vision.VisionOps.nms(all.Boxes, all.Scores, post.NmsThresh)
                : Torch.Vision.VisionOps.batched_nms(all.Boxes, all.Scores, all.Labels, post.NmsThresh);
            keep = keep[..(int)Math.Min(post.MaxDetections, keep.size(0))];
            var result = all.Index(keep);
            scope.MoveToOuter(result.Tensors.ToArray());
            merged.Add(result);
        }
        foreach (var d in plain.Concat(flipped)) d.Dispose();
        return merged;
    }

    /// <summary>Detections with or without hflip TTA.</summary>
    public static List<Detections> Predict(IDetector model, IReadOnlyList<Tensor> images, bool hflip) =>
        hflip ? PredictHflip(model, images) : model.Predict(images);
}
