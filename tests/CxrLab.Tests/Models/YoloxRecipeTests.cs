using System.Text.Json;
using CxrLab.Models.Yolox;
using CxrLab.Torch;
using CxrLab.Torch.Nn;
using CxrLab.Training;

namespace CxrLab.Tests.Models;

/// <summary>YOLOX's training recipe pieces in the shared trainer code against Megvii's own functions (values in
/// tests/CxrLab.Tests/Fixtures/yolox/reference.json from tests/fixtures/make_yolox_fixtures.py).</summary>
public class YoloxRecipeTests
{
    static readonly JsonElement Ref = JsonDocument.Parse(File.ReadAllText(FixtureFile.PathOf(Path.Combine("yolox", "reference.json")))).RootElement;

    [Fact]
    public void Yoloxwarmcos_schedule_equals_megvii_lr_scheduler_at_every_iteration()
    {
        var s = Ref.GetProperty("yoloxwarmcos");
        var config = new ScheduleConfig
        {
            Name = ScheduleKind.YoloxWarmCos, WarmupFactor = 0, WarmupEpochs = s.GetProperty("warmup_epochs").GetDouble(),
            FinalConstantEpochs = s.GetProperty("no_aug_epochs").GetInt32(), FinalLrRatio = s.GetProperty("min_lr_ratio").GetDouble(),
        };
        var schedule = new LearningRateSchedule(config, s.GetProperty("iters_per_epoch").GetInt64(), s.GetProperty("total_epochs").GetInt32());
        var lr = s.GetProperty("lr").GetDouble();
        var expected = s.GetProperty("lrs").EnumerateArray().Select(x => x.GetDouble()).ToArray();
        for (var i = 0; i < expected.Length; i++) Assert.Equal(expected[i], lr * schedule.Factor(i), 12);
        // Warmup is quadratic, the last no-aug epochs are flat at the minimum.
        Assert.Equal(0.0, schedule.Factor(0));
        Assert.Equal(config.FinalLrRatio, schedule.Factor(expected.Length - 1 - 7), 12);
    }

    sealed class One : Module
    {
        public One() => register_parameter("w", torch.zeros(1));
    }

    [Fact]
    public void Ema_ramp_equals_megvii_model_ema_decay()
    {
        var decays = Ref.GetProperty("ema_decay");
        using var model = new One();
        using var ema = new ModelEma(model, 0.9999);
        long updates = 0;
        foreach (var row in decays.EnumerateObject().Select(r => (Updates: long.Parse(r.Name), Decay: r.Value.GetDouble())))
        {
            // Reach row.Updates - 1 updates without changing the weights, then one update from 0 to 1: ema = 1 − d.
            using (torch.no_grad()) model.param("w").fill_(0);
            ema.Load(new Dictionary<string, Tensor> { ["w"] = model.param("w") }, row.Updates - 1);
            using (torch.no_grad()) model.param("w").fill_(1);
            ema.Update(model);
            Assert.Equal(row.Updates, ema.Updates);
            Assert.Equal(1 - row.Decay, ema.State["w"].item<float>(), 6);
            updates = row.Updates;
        }
        Assert.True(updates > 0);
    }

    [Theory]
    [InlineData("yolox_nano", 0.33, 0.25, true, 416)]
    [InlineData("yolox_tiny", 0.33, 0.375, false, 416)]
    [InlineData("yolox_s", 0.33, 0.5, false, 640)]
    [InlineData("yolox_m", 0.67, 0.75, false, 640)]
    [InlineData("yolox_l", 1.0, 1.0, false, 640)]
    [InlineData("yolox_x", 1.33, 1.25, false, 640)]
    public void Config_defaults_are_megvii_exps_per_variant(string arch, double depth, double width, bool depthwise, int size)
    {
        var c = new YoloxConfig().For(arch);
        Assert.Equal((depth, width, depthwise), (c.Depth!.Value, c.Width!.Value, c.Depthwise!.Value));
        Assert.Equal(size, YoloxConfig.DefaultInputSize(arch));
        var small = arch is "yolox_nano" or "yolox_tiny";
        Assert.Equal(small ? [0.5, 1.5] : [0.1, 2.0], c.MosaicScale);
        Assert.Equal(!small, c.EnableMixup);
        Assert.Equal(arch == "yolox_nano" ? 0.5 : 1.0, c.MosaicProb);
        Assert.Equal(small ? Enumerable.Range(10, 11).Select(k => k * 32) : Enumerable.Range(15, 11).Select(k => k * 32), c.MultiscaleSizes(size));
        Assert.Equal((15, 5.0, 0.05, 0.01 / 64, 5e-4, 0.9, 0.01, 0.65), (c.NoAugEpochs!.Value, c.WarmupEpochs!.Value, c.MinLrRatio!.Value,
            c.BasicLrPerImg!.Value, c.WeightDecay!.Value, c.Momentum!.Value, c.TestConf!.Value, c.Nmsthre!.Value));
        // A YAML value overrides the variant's default.
        Assert.Equal(0.7, new YoloxConfig { MosaicProb = 0.7 }.For(arch).MosaicProb);
    }
}
