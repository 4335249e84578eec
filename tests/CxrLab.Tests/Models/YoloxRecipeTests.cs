using System.Text.Json;
using CxrLab.Augment;
using CxrLab.Data;
using CxrLab.Imaging;
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

    static Sample Phantom(int i)
    {
        var (h, w) = (96 + 8 * i, 128 - 4 * i);
        var image = new Image(h, w);
        for (var r = 0; r < h; r++)
            for (var c = 0; c < w; c++)
                image.At(r, c) = (float)(0.3 + 0.4 * Math.Sin(0.1 * (r + 3 * i)) * Math.Cos(0.07 * c) * 0.5 + 0.2 * r / h);
        List<Box> boxes = [new(4 + i, 6, 40 + i, 30 + i), new(w - 30, h - 25, w - 2, h - 3), new(50, 20 + i, 58, 60)];
        return Sample.Of(image, boxes, [i % 14, 3, 13], $"phantom{i}");
    }

    [Theory]
    [InlineData("yolox_nano")]
    [InlineData("yolox_s")]
    public void Augmentation_keeps_every_box_inside_its_image_and_no_aug_only_flips(string arch)
    {
        var samples = Enumerable.Range(0, 6).Select(Phantom).ToList();
        var pool = new ListSampleSource(samples);
        var config = new YoloxConfig().For(arch);
        var full = new Pipeline(YoloxAugment.Pipeline(config));
        long boxesOut = 0, changed = 0;
        for (var seed = 0; seed < 120; seed++)
        {
            var input = samples[seed % samples.Count];
            var result = full.Run(input, (ulong)seed, pool).Sample;
            Assert.Equal((input.Image.Width, input.Image.Height), (result.Image.Width, result.Image.Height));
            var t = result.Target;
            Assert.Equal(t.Boxes.Count, t.Labels.Count);
            Assert.All(t.Boxes, b => Assert.True(b.X1 >= 0 && b.Y1 >= 0 && b.X2 <= t.Width && b.Y2 <= t.Height && b.X2 - b.X1 >= 1 && b.Y2 - b.Y1 >= 1,
                $"{arch} seed {seed}: box {b} in a {t.Width}×{t.Height} image"));
            Assert.All(t.Labels, l => Assert.InRange(l, 0, 13));
            boxesOut += t.Count;
            if (!t.Boxes.SequenceEqual(input.Target.Boxes)) changed++;
        }
        Assert.True(boxesOut > 120, $"{arch}: only {boxesOut} boxes survived 120 augmentations");
        Assert.True(changed > 60, $"{arch}: only {changed} of 120 samples had their boxes moved");

        // The last no_aug_epochs: no mosaic/mixup/affine, so every box keeps its size (only a flip moves it).
        var noAug = new Pipeline(YoloxAugment.NoAug(config));
        for (var seed = 0; seed < 30; seed++)
        {
            var input = samples[seed % samples.Count];
            var t = noAug.Run(input, (ulong)seed).Sample.Target;
            Assert.Equal(input.Target.Labels, t.Labels);
            Assert.Equal(input.Target.Boxes.Select(b => (b.X2 - b.X1, b.Y1, b.Y2)), t.Boxes.Select(b => (b.X2 - b.X1, b.Y1, b.Y2)));
        }
    }
}
