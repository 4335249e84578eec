namespace CxrLab.Torch.Optim;

/// <summary>Learning-rate factor as a function of the step count (0 = before the first step). Compose
/// them with <see cref="Schedules"/>; an <see cref="LrScheduler"/> applies one to an optimizer.</summary>
public delegate double LrSchedule(long step);

/// <summary>Schedules as PyTorch and YOLOX define them, as factors of each group's base lr.</summary>
public static class Schedules
{
    public static LrSchedule Constant() => _ => 1;

    /// <summary>MultiStepLR: ×<paramref name="gamma"/> at each milestone reached.</summary>
    public static LrSchedule MultiStep(long[] milestones, double gamma = 0.1) => s => Math.Pow(gamma, milestones.Count(m => m <= s));

    /// <summary>CosineAnnealingLR's closed form: from 1 to <paramref name="minFactor"/> over <paramref name="totalSteps"/>.</summary>
    public static LrSchedule Cosine(long totalSteps, double minFactor = 0) =>
        s => minFactor + (1 - minFactor) * (1 + Math.Cos(Math.PI * Math.Min(s, totalSteps) / totalSteps)) / 2;

    /// <summary>Warm-up over <paramref name="warmupSteps"/> from <paramref name="startFactor"/> to the inner
    /// schedule, linearly or quadratically (<paramref name="power"/> 1 or 2); the inner schedule then runs from its step 0.</summary>
    public static LrSchedule Warmup(LrSchedule inner, long warmupSteps, double startFactor = 0, double power = 1) =>
        s => s >= warmupSteps ? inner(s - warmupSteps) : startFactor + (1 - startFactor) * Math.Pow((double)s / warmupSteps, power) * inner(0);

    public static LrSchedule LinearWarmup(LrSchedule inner, long warmupSteps, double startFactor = 0) => Warmup(inner, warmupSteps, startFactor, 1);
    public static LrSchedule QuadraticWarmup(LrSchedule inner, long warmupSteps, double startFactor = 0) => Warmup(inner, warmupSteps, startFactor, 2);

    /// <summary>YOLOX "yoloxwarmcos": quadratic warm-up from <paramref name="warmupLrStartFactor"/>, cosine to
    /// <paramref name="minLrRatio"/>, then flat at the minimum for the last <paramref name="noAugSteps"/> (YOLOX's defaults:
    /// min_lr_ratio 0.05, warm-up 5 epochs from 0, no-aug 15 epochs; steps are iterations).</summary>
    public static LrSchedule YoloxWarmCos(long totalSteps, long warmupSteps, long noAugSteps, double minLrRatio = 0.05, double warmupLrStartFactor = 0) => s =>
    {
        if (s <= warmupSteps) return (1 - warmupLrStartFactor) * Math.Pow((double)s / warmupSteps, 2) + warmupLrStartFactor;
        if (s >= totalSteps - noAugSteps) return minLrRatio;
        return minLrRatio + 0.5 * (1 - minLrRatio) * (1 + Math.Cos(Math.PI * (s - warmupSteps) / (totalSteps - warmupSteps - noAugSteps)));
    };
}

/// <summary>Sets every group's lr to base_lr × schedule(step) (PyTorch's LambdaLR). Call <see cref="step"/>
/// after each optimizer step (or epoch, if the schedule counts epochs).</summary>
public sealed class LrScheduler
{
    readonly Optimizer optimizer;
    readonly LrSchedule schedule;

    public LrScheduler(Optimizer optimizer, LrSchedule schedule)
    {
        (this.optimizer, this.schedule) = (optimizer, schedule);
        BaseLrs = optimizer.param_groups.Select(g => g.Options.TryGetValue("initial_lr", out var v) ? v : g.lr).ToArray();
        for (var k = 0; k < BaseLrs.Length; k++) optimizer.param_groups[k]["initial_lr"] = BaseLrs[k];
        Apply();
    }

    public double[] BaseLrs { get; private set; }
    /// <summary>Steps taken (PyTorch's last_epoch).</summary>
    public long LastStep { get; private set; }

    public void step() { LastStep++; Apply(); }

    public double[] get_last_lr() => optimizer.param_groups.Select(g => g.lr).ToArray();

    void Apply()
    {
        var factor = schedule(LastStep);
        for (var k = 0; k < BaseLrs.Length; k++) optimizer.param_groups[k].lr = BaseLrs[k] * factor;
    }

    /// <summary>Everything needed to resume exactly.</summary>
    public Dictionary<string, double> state_dict()
    {
        var d = new Dictionary<string, double> { ["last_step"] = LastStep };
        for (var k = 0; k < BaseLrs.Length; k++) d[$"base_lr.{k}"] = BaseLrs[k];
        return d;
    }

    public void load_state_dict(IReadOnlyDictionary<string, double> state)
    {
        LastStep = (long)state["last_step"];
        BaseLrs = BaseLrs.Select((_, k) => state[$"base_lr.{k}"]).ToArray();
        Apply();
    }
}
