namespace CxrLab.Training;

/// <summary>The learning-rate multiplier as a pure function of the optimizer step, so resuming
/// needs only the step count: warmup (linear or quadratic from <c>warmup_factor</c> to 1 over
/// <c>warmup_iters</c> steps) times the main schedule (cosine from 1 to <c>final_lr_ratio</c> over
/// the steps after warmup, multistep ×gamma at each milestone epoch, or constant).</summary>
public sealed class LearningRateSchedule
{
    readonly ScheduleConfig config;
    readonly long totalSteps;
    readonly long stepsPerEpoch;

    /// <param name="config">The schedule section of the experiment.</param>
    /// <param name="stepsPerEpoch">Optimizer steps per epoch (batches ÷ accumulation, rounded up).</param>
    /// <param name="epochs">Training length in epochs.</param>
    public LearningRateSchedule(ScheduleConfig config, long stepsPerEpoch, int epochs)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(stepsPerEpoch, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(epochs, 1);
        this.config = config;
        this.stepsPerEpoch = stepsPerEpoch;
        totalSteps = stepsPerEpoch * epochs;
    }

    /// <summary>Warmup length in steps (from warmup_epochs when set, else warmup_iters), capped at the run's length.</summary>
    public long WarmupSteps => config.Warmup == WarmupKind.None && config.Name != ScheduleKind.YoloxWarmCos ? 0
        : Math.Min(config.WarmupEpochs > 0 ? (long)(config.WarmupEpochs * stepsPerEpoch) : config.WarmupIters, totalSteps);

    /// <summary>Multiplier of the base rate used for optimizer step <paramref name="step"/> (0-based).</summary>
    public double Factor(long step)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        // YOLOX's LRScheduler(name="yoloxwarmcos") as a whole (its warmup is part of the formula); Megvii's trainer
        // uses update_lr(i) for iteration i (set after step i − 1; the first step runs at warmup_lr, which is update_lr(0)).
        if (config.Name == ScheduleKind.YoloxWarmCos)
            return WarmupSteps == 0 && step == 0 ? 1.0 : CxrLab.Torch.Optim.Schedules.YoloxWarmCos(totalSteps, WarmupSteps, (long)config.FinalConstantEpochs * stepsPerEpoch, config.FinalLrRatio, config.WarmupFactor)(step);
        return WarmupFactor(step) * MainFactor(step);
    }

    double WarmupFactor(long step)
    {
        var warm = WarmupSteps;
        if (warm == 0 || step >= warm) return 1.0;
        var alpha = (double)step / warm;
        var ramp = config.Warmup == WarmupKind.Quadratic ? alpha * alpha : alpha;
        return config.WarmupFactor + (1 - config.WarmupFactor) * ramp;
    }

    double MainFactor(long step)
    {
        switch (config.Name)
        {
            case ScheduleKind.Constant:
                return 1.0;
            case ScheduleKind.MultiStep:
                var epoch = step / stepsPerEpoch;
                var passed = config.Milestones.Count(m => epoch >= m);
                return Math.Pow(config.Gamma, passed);
            case ScheduleKind.Cosine:
                var start = WarmupSteps;
                var span = Math.Max(1, totalSteps - start);
                var t = Math.Clamp((double)(step - start) / span, 0, 1);
                var final = config.FinalLrRatio;
                return final + (1 - final) * 0.5 * (1 + Math.Cos(Math.PI * t));
            default:
                throw new InvalidOperationException($"unknown schedule {config.Name}");
        }
    }
}
