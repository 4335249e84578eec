using CxrLab.Torch;

namespace CxrLab.Models.EfficientDet;

/// <summary>The cost side of compound scaling: parameters and multiply-adds (what the EfficientDet paper calls FLOPs)
/// of a variant, counted on our network.</summary>
public static class EfficientDetComplexity
{
    /// <summary>Multiply-adds of one forward pass (backbone, BiFPN, both heads) at <paramref name="o"/>'s input size,
    /// counted by <see cref="FlopCounterMode"/>.</summary>
    public static long MultiplyAdds(EfficientDetOptions o)
    {
        using var scope = torch.NewDisposeScope();
        using var net = new EfficientDetNet(o);
        net.eval();
        using var _ = torch.inference_mode();
        using var flops = new FlopCounterMode();
        net.forward(torch.zeros([1, 3, o.ImageSize, o.ImageSize]));
        return flops.MultiplyAdds;
    }

    /// <summary>Multiply-adds at <paramref name="o"/>'s input size from two small forward passes (128 and 256 px), so
    /// D7's 1536 px costs seconds: with the side a multiple of 128 every feature map is the input over its stride, so the
    /// count is a·S² + c, where c is the squeeze-excitation convolutions after global pooling (the same at any size).
    /// Equal to <see cref="MultiplyAdds"/> at the full size (tested).</summary>
    public static long MultiplyAddsExtrapolated(EfficientDetOptions o)
    {
        if (o.ImageSize % 128 != 0) throw new ArgumentException($"input size {o.ImageSize} is not a multiple of 128");
        var small = MultiplyAdds(o with { ImageSize = 128 });
        var large = MultiplyAdds(o with { ImageSize = 256 });
        // count(S) = A·(S/128)² + c: A per 128×128 block of input, exact integers.
        var perBlock = (large - small) / 3;
        var constant = small - perBlock;
        var blocks = (long)(o.ImageSize / 128) * (o.ImageSize / 128);
        return perBlock * blocks + constant;
    }
}
