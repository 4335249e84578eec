using System.Text.Json;
using CxrLab.Torch;
using CxrLab.Torch.Optim;

namespace CxrLab.Tests.Torch;

/// <summary>Optimizer steps against torch.optim over 10 steps of a small regression (fixture torch_optim.json).</summary>
public class OptimTests
{
    static readonly JsonElement Fixture = FixtureFile.Json("torch_optim.json").RootElement;

    static Optimizer Make(string name, Tensor w, Tensor b) => name switch
    {
        "sgd_momentum_wd" => new SGD([w, b], lr: 0.1, momentum: 0.9, weight_decay: 0.01),
        "sgd_nesterov" => new SGD([w, b], lr: 0.05, momentum: 0.8, nesterov: true),
        "sgd_plain" => new SGD([w, b], lr: 0.1),
        "adam" => new Adam([w, b], lr: 0.05, beta1: 0.9, beta2: 0.99, weight_decay: 0.01),
        "adamw" => new AdamW([w, b], lr: 0.05, weight_decay: 0.1),
        "sgd_groups" => new SGD([new ParamGroup([w], new() { ["weight_decay"] = 0.1 }), new ParamGroup([b], new() { ["lr"] = 0.01 })], lr: 0.1, momentum: 0.9),
        _ => throw new ArgumentException(name),
    };

    // Runs `steps` steps from the fixture's start (or from `resumeFrom`), returning parameters after each.
    static List<(float[] w, float[] b)> Run(string name, int steps, Action<Optimizer, LrScheduler?, int>? afterStep = null)
    {
        using var scope = torch.NewDisposeScope();
        var x = Reference.Read(Fixture, "x");
        var y = Reference.Read(Fixture, "y");
        var w = Reference.Read(Fixture, "w0").requires_grad_();
        var b = Reference.Read(Fixture, "b0").requires_grad_();
        using var opt = Make(name, w, b);
        var sched = name == "sgd_momentum_wd" ? new LrScheduler(opt, Schedules.MultiStep([4, 7], 0.5)) : null;
        var trace = new List<(float[], float[])>();
        for (var i = 0; i < steps; i++)
        {
            using var stepScope = torch.NewDisposeScope();
            opt.zero_grad();
            var loss = (x.matmul(w.t()) + b - y).pow(2).mean();
            loss.backward();
            if (name == "adamw") GradClip.clip_grad_norm_([w, b], 0.5);
            opt.step();
            sched?.step();
            trace.Add((w.detach().reshape(-1).ToArray<float>(), b.detach().ToArray<float>()));
            afterStep?.Invoke(opt, sched, i);
        }
        return trace;
    }

    [Theory]
    [InlineData("sgd_momentum_wd")]
    [InlineData("sgd_nesterov")]
    [InlineData("sgd_plain")]
    [InlineData("adam")]
    [InlineData("adamw")]
    [InlineData("sgd_groups")]
    public void TenStepsEqualPyTorch(string name)
    {
        var expected = Fixture.GetProperty("runs").GetProperty(name).EnumerateArray().ToList();
        var actual = Run(name, 10);
        for (var i = 0; i < 10; i++)
        {
            var ew = expected[i].GetProperty("w").EnumerateArray().Select(v => v.GetSingle()).ToArray();
            var eb = expected[i].GetProperty("b").EnumerateArray().Select(v => v.GetSingle()).ToArray();
            Assert.Equal(ew, actual[i].w, new FloatTolerance(2e-5f));
            Assert.Equal(eb, actual[i].b, new FloatTolerance(2e-5f));
        }
    }

    [Fact]
    public void OptimizerAndSchedulerStateResumeExactly()
    {
        // Run 10 steps straight; separately run 5, save state, rebuild from the saved parameters and resume.
        var straight = Run("sgd_momentum_wd", 10);
        using var scope = torch.NewDisposeScope();
        var x = Reference.Read(Fixture, "x");
        var y = Reference.Read(Fixture, "y");
        var w = Reference.Read(Fixture, "w0").requires_grad_();
        var b = Reference.Read(Fixture, "b0").requires_grad_();
        OptimizerState saved;
        Dictionary<string, double> savedSched;
        using (var opt = new SGD([w, b], lr: 0.1, momentum: 0.9, weight_decay: 0.01))
        {
            var sched = new LrScheduler(opt, Schedules.MultiStep([4, 7], 0.5));
            for (var i = 0; i < 5; i++) { Step(opt); sched.step(); }
            saved = opt.state_dict();
            savedSched = sched.state_dict();
        }
        using (saved)
        using (var opt = new SGD([w, b], lr: 0.1, momentum: 0.9, weight_decay: 0.01))
        {
            var sched = new LrScheduler(opt, Schedules.MultiStep([4, 7], 0.5));
            opt.load_state_dict(saved);
            sched.load_state_dict(savedSched);
            for (var i = 5; i < 10; i++) { Step(opt); sched.step(); }
        }
        Assert.Equal(straight[9].w, w.detach().reshape(-1).ToArray<float>());
        Assert.Equal(straight[9].b, b.detach().ToArray<float>());

        void Step(Optimizer opt)
        {
            using var s = torch.NewDisposeScope();
            opt.zero_grad();
            (x.matmul(w.t()) + b - y).pow(2).mean().backward();
            opt.step();
        }
    }

    [Fact]
    public void SchedulesFollowTheirDefinitions()
    {
        var multi = Schedules.MultiStep([4, 7], 0.5);
        Assert.Equal([1, 1, 1, 1, 0.5, 0.5, 0.5, 0.25], Enumerable.Range(0, 8).Select(s => multi(s)).ToArray());
        var cos = Schedules.Cosine(10, 0.1);
        Assert.Equal(1.0, cos(0), 12);
        Assert.Equal(0.55, cos(5), 12);
        Assert.Equal(0.1, cos(10), 12);
        var warm = Schedules.LinearWarmup(Schedules.Constant(), 4, 0.2);
        Assert.Equal(0.2, warm(0), 12);
        Assert.Equal(0.6, warm(2), 12);
        Assert.Equal(1.0, warm(4), 12);
        Assert.Equal(0.25, Schedules.QuadraticWarmup(Schedules.Constant(), 4)(2), 12);
        // YOLOX: quadratic warm-up, cosine, flat minimum at the end.
        var yolox = Schedules.YoloxWarmCos(totalSteps: 100, warmupSteps: 10, noAugSteps: 20, minLrRatio: 0.05);
        Assert.Equal(0.25, yolox(5), 12);
        Assert.Equal(1.0, yolox(10), 12);
        Assert.Equal(0.05 + 0.5 * 0.95 * (1 + Math.Cos(Math.PI * 35 / 70)), yolox(45), 12);
        Assert.Equal(0.05, yolox(85), 12);
    }

    [Fact]
    public void ClipGradNormScalesToTheMaximum()
    {
        using var scope = torch.NewDisposeScope();
        var p = torch.zeros(2).requires_grad_();
        (p * torch.tensor(new[] { 3f, 4f })).sum().backward();
        var norm = GradClip.clip_grad_norm_([p], 1.0);
        Assert.Equal(5.0, norm, 5);
        Assert.Equal(new[] { 0.6f, 0.8f }, p.grad!.ToArray<float>(), new FloatTolerance(1e-5f));
    }
}
