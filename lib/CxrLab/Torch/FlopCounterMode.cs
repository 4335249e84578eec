namespace CxrLab.Torch;

/// <summary>Counts the multiply-adds of the convolutions and linear layers run on this thread while it is open, as
/// PyTorch's <c>torch.utils.flop_counter.FlopCounterMode</c> does for its conv/matmul family:
/// <code>using (var flops = new FlopCounterMode()) model.forward(x); flops.MultiplyAdds</code>
/// A convolution counts N·H_out·W_out·weight.numel() (depthwise and grouped convolutions included), a transposed one
/// N·H_in·W_in·weight.numel(), a linear layer rows·weight.numel(). <see cref="TotalFlops"/> is 2 per multiply-add
/// (PyTorch's convention); papers such as EfficientDet's call the multiply-add count "FLOPs". Normalisation,
/// activations, pooling and element-wise ops are not counted. Counters nest: an inner one's work counts in the outer.</summary>
public sealed class FlopCounterMode : IDisposable
{
    [ThreadStatic] static FlopCounterMode? current;
    readonly FlopCounterMode? outer;
    bool disposed;

    public FlopCounterMode()
    {
        outer = current;
        current = this;
    }

    /// <summary>Multiply-adds counted so far.</summary>
    public long MultiplyAdds { get; private set; }

    /// <summary>2 × <see cref="MultiplyAdds"/>, as PyTorch's <c>get_total_flops()</c>.</summary>
    public long TotalFlops => 2 * MultiplyAdds;

    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        if (current == this) current = outer;
    }

    static void Add(long multiplyAdds)
    {
        for (var c = current; c is not null; c = c.outer) c.MultiplyAdds += multiplyAdds;
    }

    /// <summary>Records a convolution whose output is <paramref name="output"/> [N, C_out, H, W] (or unbatched).</summary>
    internal static Tensor Conv(Tensor output, Tensor weight)
    {
        if (current is not null) Add(output.numel() / output.size(-3) * weight.numel());
        return output;
    }

    /// <summary>Records a transposed convolution of <paramref name="input"/> [N, C_in, H, W]: every input pixel meets the whole kernel.</summary>
    internal static Tensor ConvTranspose(Tensor output, Tensor input, Tensor weight)
    {
        if (current is not null) Add(input.numel() / input.size(-3) * weight.numel());
        return output;
    }

    /// <summary>Records a linear layer over <paramref name="input"/> [..., in_features].</summary>
    internal static Tensor Linear(Tensor output, Tensor input, Tensor weight)
    {
        if (current is not null) Add(input.numel() / input.size(-1) * weight.numel());
        return output;
    }
}
