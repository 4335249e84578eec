using CxrLab.Torch.Optim;

namespace CxrLab.Torch.Amp;

/// <summary>What <see cref="GradScaler.state_dict"/> returns (torch.cuda.amp.GradScaler's keys:
/// <c>scale</c>, <c>growth_factor</c>, <c>backoff_factor</c>, <c>growth_interval</c>,
/// <c>_growth_tracker</c>).</summary>
public sealed record GradScalerState(double scale, double growth_factor, double backoff_factor, int growth_interval, int _growth_tracker);

/// <summary>Dynamic loss scaling for float16 training (torch.cuda.amp.GradScaler, same defaults and
/// rules). Per iteration: <c>scale(loss).backward()</c> (once per micro-batch when accumulating),
/// optionally <c>unscale_(optimizer)</c> before gradient clipping, then <c>step(optimizer)</c> — which
/// skips the update when any gradient is inf/NaN — and <c>update()</c>: the scale is multiplied by
/// <c>backoff_factor</c> after an overflow, and by <c>growth_factor</c> after
/// <c>growth_interval</c> consecutive clean steps.
/// On CUDA the work is done by libtorch's own kernels (<c>_amp_foreach_non_finite_check_and_unscale_</c>,
/// <c>_amp_update_scale_</c>), so nothing leaves the GPU until step's skip decision. libtorch 1.13 has
/// no CPU kernels for them; for CPU tensors the same arithmetic runs as ordinary tensor ops (that path
/// is what the tests exercise — bfloat16 autocast on CPU needs no scaler).</summary>
public sealed class GradScaler : IDisposable
{
    enum Stage { Ready, Unscaled, Stepped }

    sealed class PerOptimizer
    {
        public Stage Stage = Stage.Ready;
        public readonly List<Tensor> FoundInfPerDevice = [];
    }

    static readonly Op UnscaleOp = new("_amp_foreach_non_finite_check_and_unscale_");
    static readonly Op UpdateScaleOp = new("_amp_update_scale_");

    double initScale;
    int initGrowthTracker;
    Tensor? scaleTensor;          // float32 [1]
    Tensor? growthTracker;        // int32 [1]
    readonly Dictionary<Optimizer, PerOptimizer> perOptimizer = new(ReferenceEqualityComparer.Instance);

    /// <param name="init_scale">First scale factor (PyTorch: 2^16).</param>
    /// <param name="growth_factor">Scale multiplier after <paramref name="growth_interval"/> clean steps (2).</param>
    /// <param name="backoff_factor">Scale multiplier after a step with inf/NaN gradients (0.5).</param>
    /// <param name="growth_interval">Consecutive clean steps before growing (2000).</param>
    /// <param name="enabled">False makes every method a pass-through (scale returns the loss, step just steps).</param>
    public GradScaler(double init_scale = 65536.0, double growth_factor = 2.0, double backoff_factor = 0.5, int growth_interval = 2000, bool enabled = true)
    {
        if (!(growth_factor > 1.0)) throw new ArgumentOutOfRangeException(nameof(growth_factor), growth_factor, "growth_factor must be > 1.0");
        if (!(backoff_factor < 1.0)) throw new ArgumentOutOfRangeException(nameof(backoff_factor), backoff_factor, "backoff_factor must be < 1.0");
        if (growth_interval <= 0) throw new ArgumentOutOfRangeException(nameof(growth_interval), growth_interval, "growth_interval must be a positive integer");
        initScale = init_scale;
        this.growth_factor = growth_factor;
        this.backoff_factor = backoff_factor;
        this.growth_interval = growth_interval;
        is_enabled = enabled;
    }

    public bool is_enabled { get; }
    public double growth_factor { get; private set; }
    public double backoff_factor { get; private set; }
    public int growth_interval { get; private set; }

    /// <summary>The current scale (the initial one until the first <see cref="scale"/>; 1 when disabled).</summary>
    public double get_scale() => !is_enabled ? 1.0 : scaleTensor is null ? initScale : scaleTensor.item<float>();

    /// <summary>Consecutive clean steps counted towards the next growth.</summary>
    public int get_growth_tracker() => !is_enabled ? 0 : growthTracker is null ? initGrowthTracker : growthTracker.item<int>();

    void LazyInit(Device device)
    {
        // Held outside any dispose scope: the scaler owns them across iterations.
        scaleTensor = torch.full([1], initScale, ScalarType.Float32, device).DetachFromDisposeScope();
        growthTracker = torch.full([1], initGrowthTracker, ScalarType.Int32, device).DetachFromDisposeScope();
    }

    (Tensor scale, Tensor tracker) Initialized(string method) =>
        scaleTensor is null || growthTracker is null
            ? throw new InvalidOperationException($"GradScaler.{method}: no scale yet; call scale(loss) (and backward) first in this iteration")
            : (scaleTensor, growthTracker);

    /// <summary><paramref name="outputs"/> × the current scale (a new tensor; the input is returned
    /// unchanged when disabled).</summary>
    public Tensor scale(Tensor outputs)
    {
        if (!is_enabled) return outputs;
        if (scaleTensor is null) LazyInit(outputs.device);
        using var s = scaleTensor!.to(outputs.device);
        return outputs * s;
    }

    /// <summary>Divides the optimizer's gradients by the scale in place and records whether any is
    /// inf/NaN. At most once per optimizer between <see cref="update"/> calls; call it before gradient
    /// clipping so the clip threshold applies to true gradients.</summary>
    public void unscale_(Optimizer optimizer)
    {
        if (!is_enabled) return;
        var (scale, _) = Initialized("unscale_");
        var state = StateOf(optimizer);
        if (state.Stage == Stage.Unscaled) throw new InvalidOperationException("unscale_() has already been called on this optimizer since the last update().");
        if (state.Stage == Stage.Stepped) throw new InvalidOperationException("unscale_() is being called after step().");
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();  // gradient handles and temporaries
        // As PyTorch: the reciprocal in double, then float32 (it matters for scales that are not powers of two).
        var inv = scale.to(ScalarType.Float64).reciprocal().to(ScalarType.Float32);
        var grads = new List<Tensor>();
        foreach (var group in optimizer.param_groups)
            foreach (var p in group.Params)
            {
                if (p.grad is not { } g) continue;
                if (g.DType == ScalarType.Float16)
                    throw new InvalidOperationException("Attempting to unscale FP16 gradients: keep the parameters in float32 and let autocast cast them.");
                grads.Add(g);
            }
        foreach (var byDevice in grads.GroupBy(g => g.device))
        {
            var foundInf = torch.full([1], 0.0, ScalarType.Float32, byDevice.Key).DetachFromDisposeScope();
            state.FoundInfPerDevice.Add(foundInf);
            var invHere = inv.to(byDevice.Key);
            foreach (var byType in byDevice.GroupBy(g => g.DType))
                NonFiniteCheckAndUnscale(byType.ToArray(), foundInf, invHere);
        }
        state.Stage = Stage.Unscaled;
    }

    /// <summary>Unscales (unless <see cref="unscale_"/> already did) and steps the optimizer unless a
    /// gradient was inf/NaN. Returns whether the step was taken.</summary>
    public bool step(Optimizer optimizer)
    {
        if (!is_enabled) { optimizer.step(); return true; }
        Initialized("step");
        var state = StateOf(optimizer);
        if (state.Stage == Stage.Stepped) throw new InvalidOperationException("step() has already been called since the last update().");
        if (state.Stage == Stage.Ready) unscale_(optimizer);
        if (state.FoundInfPerDevice.Count == 0) throw new InvalidOperationException("No inf checks were recorded for this optimizer (no parameter has a gradient).");
        var found = state.FoundInfPerDevice.Sum(f => (double)f.item<float>());
        var taken = found == 0;
        if (taken) optimizer.step();
        state.Stage = Stage.Stepped;
        return taken;
    }

    /// <summary>Adjusts the scale from this iteration's inf checks (all optimizers) and resets the
    /// per-optimizer stages. <paramref name="new_scale"/> sets the scale directly instead.</summary>
    public void update(double? new_scale = null)
    {
        if (!is_enabled) return;
        var (scale, tracker) = Initialized("update");
        using var _ = torch.no_grad();
        if (new_scale is { } fixedScale) scale.fill_(fixedScale);
        else
        {
            var found = perOptimizer.Values.SelectMany(s => s.FoundInfPerDevice).ToList();
            if (found.Count == 0) throw new InvalidOperationException("No inf checks were recorded prior to update().");
            using var combined = found[0].to(scale.device, copy: true);
            foreach (var f in found.Skip(1))
            {
                using var here = f.to(scale.device);
                combined.add_(here);
            }
            UpdateScale(scale, tracker, combined, growth_factor, backoff_factor, growth_interval);
        }
        ResetStages();
    }

    /// <summary>The scale, factors and growth tracker, for checkpoints.</summary>
    public GradScalerState state_dict() => new(get_scale(), growth_factor, backoff_factor, growth_interval, get_growth_tracker());

    public void load_state_dict(GradScalerState state)
    {
        if (!is_enabled) return;
        initScale = state.scale;
        scaleTensor?.fill_(state.scale);
        growth_factor = state.growth_factor;
        backoff_factor = state.backoff_factor;
        growth_interval = state.growth_interval;
        initGrowthTracker = state._growth_tracker;
        growthTracker?.fill_(state._growth_tracker);
    }

    PerOptimizer StateOf(Optimizer optimizer)
    {
        if (!perOptimizer.TryGetValue(optimizer, out var s)) perOptimizer[optimizer] = s = new PerOptimizer();
        return s;
    }

    void ResetStages()
    {
        foreach (var s in perOptimizer.Values) foreach (var f in s.FoundInfPerDevice) f.Dispose();
        perOptimizer.Clear();
    }

    // ------------------------------------------------------------ the two kernels

    /// <summary>aten::_amp_foreach_non_finite_check_and_unscale_: sets <paramref name="foundInf"/> to 1
    /// if any element of <paramref name="grads"/> is inf/NaN, and multiplies every gradient by
    /// <paramref name="invScale"/> in place (a no-op multiply when it is exactly 1).</summary>
    internal static void NonFiniteCheckAndUnscale(Tensor[] grads, Tensor foundInf, Tensor invScale)
    {
        if (foundInf.device.Type == DeviceType.CUDA) { UnscaleOp.CallInPlace(grads, foundInf, invScale); return; }
        using var scope = torch.NewDisposeScope();
        var inv = invScale.item<float>();
        foreach (var g in grads)
        {
            if (!g.isfinite().all().item<bool>()) foundInf.fill_(1.0);
            // The CUDA kernel computes in float32 (its opmath type) and skips the multiply at exactly 1.
            if (inv != 1.0f) g.mul_(invScale.to(g.DType));
        }
    }

    /// <summary>aten::_amp_update_scale_: after an overflow the scale is multiplied by the backoff factor
    /// and the tracker reset; otherwise the tracker counts up and at <paramref name="growthInterval"/> the
    /// scale grows (only if the grown scale is finite in float32) and the tracker resets.</summary>
    internal static void UpdateScale(Tensor scale, Tensor growthTracker, Tensor foundInf, double growthFactor, double backoffFactor, int growthInterval)
    {
        if (scale.device.Type == DeviceType.CUDA)
        {
            UpdateScaleOp.CallInPlace(scale, growthTracker, foundInf, growthFactor, backoffFactor, (long)growthInterval);
            return;
        }
        var current = scale.item<float>();
        if (foundInf.item<float>() != 0)
        {
            scale.fill_((double)(float)(current * backoffFactor));
            growthTracker.fill_(0);
            return;
        }
        var successful = growthTracker.item<int>() + 1;
        if (successful == growthInterval)
        {
            var grown = (float)(current * growthFactor);
            if (float.IsFinite(grown)) scale.fill_((double)grown);
            growthTracker.fill_(0);
        }
        else growthTracker.fill_(successful);
    }

    public void Dispose()
    {
        ResetStages();
        scaleTensor?.Dispose();
        growthTracker?.Dispose();
        scaleTensor = growthTracker = null;
    }
}
