using CxrLab.Data;
using CxrLab.Torch;

namespace CxrLab.Models.Detection;

/// <summary>Box tensors read to the host as <see cref="Box"/>es (drawing, metrics). The tensor-side box ops
/// (IoU, NMS, clipping, …) are <see cref="Torch.Vision.VisionOps"/>.</summary>
public static class BoxTensors
{
    /// <summary>A <c>[N, 4]</c> xyxy tensor (any device, any float dtype) as <see cref="Box"/>es.</summary>
    public static List<Box> ToBoxes(Tensor boxes)
    {
        if (boxes.dim() != 2 || boxes.size(1) != 4) throw new ArgumentException($"boxes must be [N, 4], got [{string.Join(", ", boxes.shape)}]", nameof(boxes));
        using var host = boxes.detach().to(ScalarType.Float32).cpu().contiguous();
        var flat = host.ToArray<float>();
        var list = new List<Box>(flat.Length / 4);
        for (var i = 0; i + 3 < flat.Length; i += 4) list.Add(new Box(flat[i], flat[i + 1], flat[i + 2], flat[i + 3]));
        return list;
    }
}
