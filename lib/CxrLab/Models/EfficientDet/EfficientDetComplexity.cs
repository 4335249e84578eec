using CxrLab.Torch;

namespace CxrLab.Models.EfficientDet;

/// <summary>The cost side of compound scaling: parameters and multiply-adds (what the EfficientDet paper calls FLOPs)
/// of a variant, counted on our network.</summary>
public static class EfficientDetComplexity
{
    /// <summary>Parameters (every one, as <c>sum(p.numel() for p in model.parameters())</c>) and multiply-adds of one
    /// forward pass (backbone, BiFPN, both heads) at <paramref name="o"/>'s input size, counted by <see cref="FlopCounterMode"/>.</summary>
    public static (long Parameters, long MultiplyAdds) Count(EfficientDetOptions o)
    {
        using var scope = torch.NewDisposeScope();
        using var net = new EfficientDetNet(o);
        net.eval();
        using var _ = torch.inference_mode();
        using var flops = new FlopCounterMode();
        net.forward(torch.zeros([1, 3, o.ImageSize, o.ImageSize]));
        return (net.parameters().Sum(p => p.numel()), flops.MultiplyAdds);
    }

    /// <summary><see cref="Count"/> at <paramref name="o"/>'s input size from one small forward pass (128 px), so D7's
    /// 1536 px costs seconds: with the side a multiple of 128 every feature map is the input over its stride, so every
    /// convolution's count grows with (S/128)², except the squeeze-excitation convolutions, which run on the globally
    /// pooled 1×1 map (one multiply-add per weight at any size). Equal to <see cref="Count"/> at the full size (tested);
    /// parameters do not depend on the size.</summary>
    public static (long Parameters, long MultiplyAdds) CountExtrapolated(EfficientDetOptions o)
    {
        if (o.ImageSize % 128 != 0) throw new ArgumentException($"input size {o.ImageSize} is not a multiple of 128");
        var small = o with { ImageSize = 128 };
        using var scope = torch.NewDisposeScope();
        using var net = new EfficientDetNet(small);
        net.eval();
        long perImage;
        using (var flops = new FlopCounterMode())
        using (torch.inference_mode())
        {
            net.forward(torch.zeros([1, 3, 128, 128]));
            perImage = flops.MultiplyAdds;
        }
        var squeezeExcite = net.named_parameters()
            .Where(p => p.name.EndsWith(".se.conv_reduce.weight", StringComparison.Ordinal) || p.name.EndsWith(".se.conv_expand.weight", StringComparison.Ordinal))
            .Sum(p => p.parameter.numel());
        var blocks = (long)(o.ImageSize / 128) * (o.ImageSize / 128);
        return (net.parameters().Sum(p => p.numel()), (perImage - squeezeExcite) * blocks + squeezeExcite);
    }
}
