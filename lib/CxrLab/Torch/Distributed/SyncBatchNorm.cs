using CxrLab.Torch.Nn;

namespace CxrLab.Torch.Distributed;

/// <summary><c>torch.nn.SyncBatchNorm</c> for this engine's <see cref="BatchNorm2d"/>: in training, the mean and
/// variance come from the whole global batch (every rank's images) instead of each rank's own, so R ranks with
/// batch B normalise exactly as one process with batch B·R. The per-channel sum, sum of squares and count are
/// all-reduced with <see cref="dist.all_reduce_sum_autograd"/>, whose backward all-reduces the gradients of those
/// statistics, so gradients are those of the global-batch computation too. Evaluation uses the running
/// statistics as usual. State-dict keys are BatchNorm2d's: checkpoints load either way.</summary>
public static class SyncBatchNorm
{
    /// <summary>PyTorch's <c>SyncBatchNorm.convert_sync_batchnorm</c>: every <see cref="BatchNorm2d"/> in
    /// <paramref name="module"/> synchronises over <paramref name="process_group"/> (default: the default group)
    /// from now on. Returns how many layers were converted (FrozenBatchNorm2d has nothing to synchronise).</summary>
    public static int convert_sync_batchnorm(Module module, ProcessGroup? process_group = null)
    {
        var group = process_group ?? dist.default_group;
        var count = 0;
        foreach (var bn in module.modules().OfType<BatchNorm2d>())
        {
            bn.process_group = group;
            count++;
        }
        return count;
    }

    /// <summary>Training-mode batch norm of <paramref name="input"/> <c>[N, C, …]</c> with statistics over every rank's batch.</summary>
    /// <param name="input">This rank's batch.</param>
    /// <param name="weight">Affine scale (or null).</param>
    /// <param name="bias">Affine shift (or null).</param>
    /// <param name="running_mean">Updated in place with the global mean (or null).</param>
    /// <param name="running_var">Updated in place with the global unbiased variance (or null).</param>
    /// <param name="momentum">Running-average factor.</param>
    /// <param name="eps">Added to the variance.</param>
    /// <param name="group">Ranks to normalise over.</param>
    public static Tensor forward(Tensor input, Tensor? weight, Tensor? bias, Tensor? running_mean, Tensor? running_var, double momentum, double eps, ProcessGroup group)
    {
        var channels = input.shape[1];
        var reduceDims = Enumerable.Range(0, input.Dim).Where(d => d != 1).Select(d => (long)d).ToArray();
        var count = input.NumberOfElements / Math.Max(1, channels);
        var x = input.to(ScalarType.Float32);
        // [sum over the rank's batch | sum of squares | element count], one all-reduce for all three.
        using var localCount = torch.full([1], count, ScalarType.Float32, input.device);
        var local = torch.cat([x.sum(reduceDims), x.square().sum(reduceDims), localCount]);
        var total = dist.all_reduce_sum_autograd(local, group);
        var n = total.narrow(0, 2 * channels, 1);
        var mean = total.narrow(0, 0, channels) / n;
        var variance = total.narrow(0, channels, channels) / n - mean.square();  // biased, as batch norm normalises
        if (running_mean is not null && running_var is not null)
            using (torch.no_grad())
            {
                var globalCount = n.item<float>();
                running_mean.mul_(1 - momentum).add_(mean.detach() * momentum);
                running_var.mul_(1 - momentum).add_(variance.detach() * (momentum * globalCount / Math.Max(1, globalCount - 1)));
            }
        var shape = Enumerable.Range(0, input.Dim).Select(d => d == 1 ? channels : 1L).ToArray();
        var y = (x - mean.view(shape)) * (variance.view(shape) + eps).rsqrt();
        if (weight is not null) y = y * weight.view(shape);
        if (bias is not null) y = y + bias.view(shape);
        return y.to(input.DType);
    }
}
