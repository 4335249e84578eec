using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using CxrLab.Models.Backbones;
using CxrLab.Torch;
using CxrLab.Torch.Nn;
using CxrLab.Torch.Optim;

namespace CxrLab.Cli.Verbs;

/// <summary>`cxr bench engine`: the tensor engine against PyTorch on the same libtorch and thread count —
/// per-op call overhead, a ResNet-50 training step at 2×3×512×512, and native memory growth over
/// a training loop (RSS from /proc/self/statm between step 50 and the last step; with fewer than 500
/// steps the mark is step/10). Slow: on 2 cores a 512² ResNet-50 step takes seconds.</summary>
public static class BenchEngineVerb
{
    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "last line: one JSON object with the measured keys" };
        var steps = new Option<int>("--steps") { Description = "training steps for the memory check (PyTorch measures a few for timing); default 500", DefaultValueFactory = _ => 500 };
        var timedSteps = new Option<int>("--timed-steps") { Description = "training steps averaged for the step time (after 2 warm-up steps); default 5", DefaultValueFactory = _ => 5 };
        var size = new Option<int>("--size") { Description = "input height and width; default 512", DefaultValueFactory = _ => 512 };
        var memSize = new Option<int?>("--mem-size") { Description = "input size for the memory-growth loop (default: --size); smaller makes 500 steps affordable on a small CPU" };
        var command = new Command("engine", "Tensor engine vs PyTorch: op overhead, ResNet-50 train step, native memory growth") { json, steps, timedSteps, size, memSize };
        command.SetAction(parse =>
        {
            var quiet = parse.GetValue(json);
            var result = Run(parse.GetValue(steps), parse.GetValue(timedSteps), parse.GetValue(size), parse.GetValue(memSize) ?? parse.GetValue(size),
                line => { if (quiet) Console.Error.WriteLine(line); else Console.WriteLine(line); });
            if (parse.GetValue(json)) Console.WriteLine(JsonSerializer.Serialize(result));
            else foreach (var (k, v) in result) Console.WriteLine($"{k,-36} {Convert.ToString(v, CultureInfo.InvariantCulture)}");
            return 0;
        });
        return command;
    }

    const int OpIterations = 20000;

    public static Dictionary<string, object> Run(int steps, int timedSteps, int size, int memSize, Action<string> progress)
    {
        var threads = TorchRuntime.Threads;
        progress($"threads: {threads}");
        // Op overhead: best of two windows on each side (before and after the ResNet steps), since a
        // shared 2-core VM's speed drifts over a minute more than the difference being measured.
        var ours = OpOverheadMicroseconds(boxed: false);
        var boxed = OpOverheadMicroseconds(boxed: true);
        progress($"op overhead (C#): {ours:F2} us (boxed dispatcher path: {boxed:F2} us)");
        var reference = PythonReference(threads, timedSteps, size);
        progress($"op overhead (PyTorch): {reference.OpUs:F2} us, ResNet-50 step (PyTorch): {reference.StepMs:F0} ms");
        // The memory loop runs first, on a heap with nothing retained: freed memory kept for reuse
        // (HeapPolicy.Retain) would otherwise absorb a leak without RSS growing.
        var (growth, rss50, rssEnd, heapGrowth) = MemoryGrowth(steps, memSize, progress);
        var stepMs = TimeSteps(timedSteps, size, progress);
        ours = Math.Min(ours, OpOverheadMicroseconds(boxed: false));
        boxed = Math.Min(boxed, OpOverheadMicroseconds(boxed: true));
        return new Dictionary<string, object>
        {
            ["threads"] = threads,
            ["op_overhead_us"] = Math.Round(ours, 3),
            ["torch_op_overhead_us"] = Math.Round(reference.OpUs, 3),
            ["op_overhead_ratio"] = Math.Round(ours / reference.OpUs, 3),
            ["op_overhead_boxed_us"] = Math.Round(boxed, 3),
            ["resnet50_train_step_ms"] = Math.Round(stepMs, 1),
            ["torch_resnet50_train_step_ms"] = Math.Round(reference.StepMs, 1),
            ["train_step_ratio"] = Math.Round(stepMs / reference.StepMs, 3),
            ["native_mem_growth_pct"] = Math.Round(growth, 2),
            ["native_heap_in_use_growth_pct"] = Math.Round(heapGrowth, 2),
            ["rss_mb_step50"] = Math.Round(rss50 / 1048576.0, 1),
            ["rss_mb_last"] = Math.Round(rssEnd / 1048576.0, 1),
            ["steps"] = steps,
            ["input"] = $"2x3x{size}x{size}",
            ["mem_input"] = $"2x3x{memSize}x{memSize}",
        };
    }

    /// <summary>Best-of-5 mean time of <c>c = a + b</c> on 10-element tensors, including releasing c,
    /// after a one-second warm-up: the .NET JIT promotes hot methods to optimised code in the
    /// background (tiered compilation), and the steady state is what a training loop sees.</summary>
    static double OpOverheadMicroseconds(bool boxed)
    {
        using var a = torch.ones(10);
        using var b = torch.ones(10);
        var warmUp = Stopwatch.StartNew();
        while (warmUp.ElapsedMilliseconds < 1000)
        {
            if (boxed) for (var i = 0; i < 1000; i++) { using var c = a.add(b); }
            else for (var i = 0; i < 1000; i++) { using var c = a + b; }
        }
        var best = double.MaxValue;
        for (var rep = 0; rep < 6; rep++)
        {
            var sw = Stopwatch.StartNew();
            if (boxed) for (var i = 0; i < OpIterations; i++) { using var c = a.add(b); }
            else for (var i = 0; i < OpIterations; i++) { using var c = a + b; }
            sw.Stop();
            if (rep > 0) best = Math.Min(best, sw.Elapsed.TotalMicroseconds / OpIterations);
        }
        return best;
    }

    sealed class Trainer : IDisposable
    {
        readonly ResNet model;
        readonly SGD optimizer;
        readonly Tensor x, target;

        public Trainer(int size)
        {
            torch.manual_seed(0);
            model = ResNet.ResNet50();
            model.train();
            optimizer = new SGD(model.parameters(), lr: 0.01, momentum: 0.9, weight_decay: 1e-4);
            x = torch.randn(2, 3, size, size);
            target = torch.tensor(new long[] { 1, 2 });
        }

        /// <summary>zero_grad, forward, cross entropy, backward, SGD step; temporaries freed by the scope.</summary>
        public void Step()
        {
            using var scope = torch.NewDisposeScope();
            optimizer.zero_grad();
            var loss = Losses.cross_entropy(model.forward(x), target);
            loss.backward();
            optimizer.step();
        }

        public void Dispose() { optimizer.Dispose(); model.Dispose(); x.Dispose(); target.Dispose(); }
    }

    static double TimeSteps(int timedSteps, int size, Action<string> progress)
    {
        using var trainer = new Trainer(size);
        trainer.Step(); trainer.Step(); // warm-up: oneDNN primitives, allocator
        var sw = Stopwatch.StartNew();
        for (var i = 0; i < timedSteps; i++) trainer.Step();
        var stepMs = sw.Elapsed.TotalMilliseconds / timedSteps;
        progress($"ResNet-50 step (C#): {stepMs:F0} ms");
        return stepMs;
    }

    /// <summary>RSS growth, and growth of the bytes glibc's heap has handed out (allocated, not yet
    /// freed: a leak shows here even while retained free memory keeps RSS flat), from the mark to the end.</summary>
    static (double GrowthPct, long Rss50, long RssEnd, double HeapGrowthPct) MemoryGrowth(int steps, int size, Action<string> progress)
    {
        TorchRuntime.ReleaseFreeMemory();
        using var trainer = new Trainer(size);
        var mark = Math.Min(50, Math.Max(1, steps / 10));
        long rssMark = 0, heapMark = 0;
        for (var i = 1; i <= steps; i++)
        {
            trainer.Step();
            if (i == mark) (rssMark, heapMark) = (Rss(), HeapInUse());
            if (i % 50 == 0) progress($"memory loop step {i}/{steps}: rss {Rss() / 1048576.0:F0} MB, heap in use {HeapInUse() / 1048576.0:F0} MB");
        }
        var (rssEnd, heapEnd) = (Rss(), HeapInUse());
        return (100.0 * (rssEnd - rssMark) / rssMark, rssMark, rssEnd, 100.0 * (heapEnd - heapMark) / heapMark);
    }

    /// <summary>Bytes the native heap has handed out and not got back (heap plus mapped blocks).</summary>
    static long HeapInUse() => TorchRuntime.NativeHeapStats().InUse;

    static long Rss()
    {
        var fields = File.ReadAllText("/proc/self/statm").Split(' ');
        return long.Parse(fields[1], CultureInfo.InvariantCulture) * Environment.SystemPageSize;
    }

    record Reference(double OpUs, double StepMs);

    static Reference PythonReference(int threads, int timedSteps, int size)
    {
        var code = $$"""
import json, time, torch, torchvision
torch.set_num_threads({{threads}})
a = torch.ones(10); b = torch.ones(10)
best = 1e9
def op_overhead():
    global best
    for rep in range(6):
        t0 = time.perf_counter()
        for i in range({{OpIterations}}):
            c = a + b
        dt = (time.perf_counter() - t0) / {{OpIterations}} * 1e6
        if rep > 0: best = min(best, dt)
op_overhead()
torch.manual_seed(0)
m = torchvision.models.resnet50()
m.train()
opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
x = torch.randn(2, 3, {{size}}, {{size}}); y = torch.tensor([1, 2])
def step():
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(m(x), y)
    loss.backward()
    opt.step()
step(); step()
t0 = time.perf_counter()
for i in range({{timedSteps}}): step()
step_ms = (time.perf_counter() - t0) / {{timedSteps}} * 1000
op_overhead()  # again after the steps, as ours: best of both windows
print(json.dumps({"op_us": best, "step_ms": step_ms}))
""";
        var start = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(code);
        start.Environment["OMP_NUM_THREADS"] = threads.ToString(CultureInfo.InvariantCulture);
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start /usr/bin/python3");
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
            throw new InvalidOperationException("the PyTorch reference failed (is python3-torchvision installed? ./cxr bench installs it):\n" + stderr.Result);
        using var doc = JsonDocument.Parse(stdout.Trim().Split('\n').Last());
        return new Reference(doc.RootElement.GetProperty("op_us").GetDouble(), doc.RootElement.GetProperty("step_ms").GetDouble());
    }
}
