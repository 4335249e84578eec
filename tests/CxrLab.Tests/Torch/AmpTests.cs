using System.Text.Json;
using CxrLab.Torch;
using CxrLab.Torch.Amp;
using CxrLab.Torch.Nn;
using CxrLab.Torch.Optim;

namespace CxrLab.Tests.Torch;

/// <summary>Autocast and GradScaler against PyTorch 1.13 (tests/fixtures/amp_*_reference.py, run at test
/// time with Debian's Python).</summary>
public sealed class AmpTests
{
    static JsonElement RunScript(string name)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            var p = Path.Combine(dir.FullName, "tests", "fixtures", name);
            if (File.Exists(p)) return JsonDocument.Parse(PythonReference.Run($"import runpy; runpy.run_path('{p}', run_name='__main__')")).RootElement.Clone();
        }
        throw new FileNotFoundException($"tests/fixtures/{name} not found above the test binaries");
    }

    static string DtypeName(ScalarType t) => t switch
    {
        ScalarType.BFloat16 => "bfloat16", ScalarType.Float16 => "float16", ScalarType.Float32 => "float32",
        _ => t.ToString(),
    };

    [Fact]
    public void Cpu_autocast_gives_pytorchs_dtypes_per_op_and_values_within_bfloat16_tolerance()
    {
        var r = RunScript("amp_autocast_reference.py");
        using var scope = torch.NewDisposeScope();
        var w1 = Reference.Read(r, "w1"); var b1 = Reference.Read(r, "b1");
        var w2 = Reference.Read(r, "w2"); var b2 = Reference.Read(r, "b2");
        var x = Reference.Read(r, "x"); var t = Reference.Read(r, "t");
        Tensor conv, relu, linear, mse, cat;
        using (torch.autocast(DeviceType.CPU))
        {
            Assert.True(torch.is_autocast_enabled(DeviceType.CPU));
            conv = torch.conv2d(x, w1, b1, padding: [1, 1]);
            relu = torch.relu(conv);
            linear = torch.linear(relu.flatten(1), w2, b2);
            mse = Losses.mse_loss(linear, t);
            cat = torch.cat([linear, t]);
        }
        foreach (var (name, actual) in new[] { ("conv", conv), ("relu", relu), ("linear", linear), ("mse", mse), ("cat", cat) })
        {
            var expected = r.GetProperty(name);
            Assert.Equal(expected.GetProperty("dtype").GetString(), DtypeName(actual.DType));
            // bfloat16 keeps 8 significant bits: relative error ≤ 2^-8 per rounding, a few roundings deep.
            var shape = expected.GetProperty("shape").EnumerateArray().Select(v => v.GetInt64()).ToArray();
            Reference.Close(Vector(expected.GetProperty("data")).reshape(shape), actual.to(ScalarType.Float32), atol: 2e-2, rtol: 2e-2, what: name);
        }
        // Outside the region the same ops run in float32 again.
        Assert.False(torch.is_autocast_enabled(DeviceType.CPU));
        Assert.Equal(ScalarType.Float32, torch.conv2d(x, w1, b1, padding: [1, 1]).DType);
    }

    [Fact]
    public void Autocast_scopes_nest_and_restore_the_previous_state()
    {
        using var scope = torch.NewDisposeScope();
        var x = torch.randn([2, 3]);
        var w = torch.randn([4, 3]);
        var cacheBefore = torch.is_autocast_cache_enabled();
        var cudaDtypeBefore = torch.get_autocast_dtype(DeviceType.CUDA);
        using (torch.autocast(DeviceType.CPU))
        {
            Assert.Equal(ScalarType.BFloat16, torch.linear(x, w).DType);
            using (torch.autocast(DeviceType.CPU, enabled: false, cache_enabled: false))
            {
                Assert.False(torch.is_autocast_enabled(DeviceType.CPU));
                Assert.False(torch.is_autocast_cache_enabled());
                Assert.Equal(ScalarType.Float32, torch.linear(x, w).DType);
            }
            Assert.True(torch.is_autocast_enabled(DeviceType.CPU));
            Assert.Equal(cacheBefore, torch.is_autocast_cache_enabled());
            Assert.Equal(ScalarType.BFloat16, torch.linear(x, w).DType);
            // The CUDA switch is separate state: turning it on leaves CPU autocast as it was.
            using (torch.autocast(DeviceType.CUDA, ScalarType.BFloat16))
            {
                Assert.True(torch.is_autocast_enabled(DeviceType.CUDA));
                Assert.Equal(ScalarType.BFloat16, torch.get_autocast_dtype(DeviceType.CUDA));
                Assert.Equal(ScalarType.BFloat16, torch.linear(x, w).DType);
            }
            Assert.False(torch.is_autocast_enabled(DeviceType.CUDA));
            Assert.Equal(cudaDtypeBefore, torch.get_autocast_dtype(DeviceType.CUDA));
        }
        Assert.False(torch.is_autocast_enabled(DeviceType.CPU));
        Assert.Equal(ScalarType.Float32, torch.linear(x, w).DType);
        Assert.Equal(ScalarType.Float16, torch.get_autocast_dtype(DeviceType.CUDA));  // PyTorch's default
        Assert.Throws<ArgumentException>(() => torch.autocast(DeviceType.CPU, ScalarType.Float16));
    }

    [Fact]
    public void Autocast_gradients_flow_back_to_float32_parameters()
    {
        using var scope = torch.NewDisposeScope();
        var w = torch.randn([4, 3]).requires_grad_();
        var x = torch.randn([2, 3]);
        Tensor loss;
        using (torch.autocast(DeviceType.CPU)) loss = torch.linear(x, w).sum();
        loss.backward();  // outside the region, as the recipe says
        Assert.Equal(ScalarType.Float32, w.grad!.DType);
        // d(sum(x·wᵀ))/dw = column sums of x, per output row (computed in bfloat16 → loose tolerance).
        var expected = x.sum(new long[] { 0 }).unsqueeze(0).expand([4, 3]);
        Reference.Close(expected, w.grad!, atol: 3e-2, rtol: 2e-2);
    }

    [Fact]
    public void GradScaler_follows_torch_cuda_amp_GradScaler_step_for_step()
    {
        var r = RunScript("amp_grad_scaler_reference.py");
        using var scope = torch.NewDisposeScope();
        var w0 = r.GetProperty("w0");
        using var lin = new Linear(3, 2);
        using (torch.no_grad())
        {
            lin.weight.copy_(Tensor.From(w0.GetProperty("w").EnumerateArray().Select(v => v.GetSingle()).ToArray(), 2, 3));
            lin.bias!.copy_(Tensor.From(w0.GetProperty("b").EnumerateArray().Select(v => v.GetSingle()).ToArray(), 2));
        }
        var xs = Tensor.From(r.GetProperty("xs").EnumerateArray().Select(v => v.GetSingle()).ToArray(), 6, 4, 3);
        var ys = Tensor.From(r.GetProperty("ys").EnumerateArray().Select(v => v.GetSingle()).ToArray(), 6, 4, 2);
        using var opt = new SGD(lin.parameters(), 0.1, 0.9);
        using var scaler = new GradScaler(init_scale: 1024, growth_interval: 2);
        Assert.Equal(1024, scaler.get_scale());
        var steps = r.GetProperty("steps").EnumerateArray().ToList();
        // Hand-worked from the rules: clean, clean (2 clean → ×2), inf (skip, ×0.5), clean, NaN (skip, ×0.5), clean.
        double[] expectedScales = [1024, 2048, 1024, 1024, 512, 512];
        int[] expectedTrackers = [1, 0, 0, 1, 0, 1];
        bool[] expectedTaken = [true, true, false, true, false, true];
        for (var k = 0; k < steps.Count; k++)
        {
            var s = steps[k];
            opt.zero_grad();
            var loss = Losses.mse_loss(lin.forward(xs[k]), ys[k]);
            scaler.scale(loss).backward();
            using (torch.no_grad())
            {
                if (k == 2) lin.weight.grad![0, 1].fill_(double.PositiveInfinity);
                if (k == 4) lin.bias!.grad![1].fill_(double.NaN);
            }
            if (k is 1 or 3)
            {
                scaler.unscale_(opt);
                Assert.Throws<InvalidOperationException>(() => scaler.unscale_(opt));  // once per step
                Reference.Close(Vector(s.GetProperty("unscaled")), lin.weight.grad!.flatten(), atol: 1e-6, rtol: 1e-5, what: $"step {k} unscaled grad");
                GradClip.clip_grad_norm_(lin.parameters(), 0.5);
            }
            var weightsBefore = lin.weight.detach().clone();
            Assert.Equal(expectedTaken[k], scaler.step(opt));
            scaler.update();
            Assert.Equal(s.GetProperty("loss").GetDouble(), loss.item<float>(), 5);
            Assert.Equal(expectedScales[k], scaler.get_scale());
            Assert.Equal(s.GetProperty("scale").GetDouble(), scaler.get_scale());
            Assert.Equal(expectedTrackers[k], scaler.get_growth_tracker());
            Assert.Equal(s.GetProperty("tracker").GetInt32(), scaler.get_growth_tracker());
            Reference.Close(Vector(s.GetProperty("w")), lin.weight.flatten(), atol: 1e-6, rtol: 1e-5, what: $"step {k} weight");
            Reference.Close(Vector(s.GetProperty("b")), lin.bias!, atol: 1e-6, rtol: 1e-5, what: $"step {k} bias");
            if (!expectedTaken[k]) Assert.Equal(weightsBefore.ToArray<float>(), lin.weight.detach().ToArray<float>());
        }
    }

    static Tensor Vector(JsonElement e) => Tensor.From(e.EnumerateArray().Select(v => v.GetSingle()).ToArray());

    [Fact]
    public void GradScaler_state_dict_round_trips_and_the_restored_scaler_continues_identically()
    {
        using var scope = torch.NewDisposeScope();
        var w = torch.ones([3]).requires_grad_();
        using var opt = new SGD([w], 0.1);
        using var a = new GradScaler(init_scale: 8, growth_factor: 3, backoff_factor: 0.25, growth_interval: 3);
        void Iterate(GradScaler s, bool overflow)
        {
            opt.zero_grad();
            s.scale(w.sum()).backward();
            if (overflow) using (torch.no_grad()) w.grad![0].fill_(double.PositiveInfinity);
            s.step(opt);
            s.update();
        }
        Iterate(a, false); Iterate(a, false);
        var saved = a.state_dict();
        Assert.Equal(new GradScalerState(8, 3, 0.25, 3, 2), saved);
        var json = JsonSerializer.Serialize(saved);
        using var b = new GradScaler();
        b.load_state_dict(JsonSerializer.Deserialize<GradScalerState>(json)!);
        Assert.Equal(saved, b.state_dict());
        // Both continue: the third clean step grows ×3 → 24, then an overflow backs off ×0.25 → 6.
        foreach (var s in new[] { a, b }) { Iterate(s, false); Assert.Equal(24, s.get_scale()); Iterate(s, true); Assert.Equal(6, s.get_scale()); }
        Assert.Equal(a.state_dict(), b.state_dict());
        // Disabled: a pass-through with an empty-like state.
        using var off = new GradScaler(enabled: false);
        var loss = w.sum();
        Assert.Same(loss, off.scale(loss));
        Assert.Equal(1.0, off.get_scale());
    }

    [Fact]
    public void The_CUDA_kernels_GradScaler_calls_exist_in_this_libtorch_with_the_arguments_it_passes()
    {
        // The CUDA path cannot run here (no GPU); check the operators resolve and accept GradScaler's
        // argument list, reaching libtorch's "no CPU kernel" error rather than a schema mismatch.
        using var scope = torch.NewDisposeScope();
        var unscale = new Op("_amp_foreach_non_finite_check_and_unscale_");
        var update = new Op("_amp_update_scale_");
        Assert.Contains("Tensor(b!) found_inf, Tensor inv_scale", unscale.Schema);
        Assert.Contains("float scale_growth_factor, float scale_backoff_factor, int growth_interval", update.Schema);
        var grads = new[] { torch.ones([2]) };
        var foundInf = torch.zeros([1]);
        var inv = torch.ones([1]);
        var e1 = Assert.Throws<CxrLab.Interop.TorchException>(() => unscale.CallInPlace(grads, foundInf, inv));
        Assert.Contains("'CPU' backend", e1.Message);
        var tracker = torch.zeros([1], ScalarType.Int32);
        var e2 = Assert.Throws<CxrLab.Interop.TorchException>(() => update.CallInPlace(inv, tracker, foundInf, 2.0, 0.5, 2000L));
        Assert.Contains("'CPU' backend", e2.Message);
    }
}
