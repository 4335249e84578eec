using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using CxrLab.Models.Detection;
using CxrLab.Models;
using CxrLab.Torch;
using CxrLab.Torch.Distributed;
using CxrLab.Torch.Optim;
using Spectre.Console;

namespace CxrLab.Cli.Verbs;

/// <summary>`cxr bench train --arch A --nproc-per-node N [--json]`: data-parallel training throughput of any zoo arch
/// against one process using the same cores. The distributed side is N worker processes × 1 intra-op thread, batch 1 each,
/// gradients all-reduced over Gloo (<see cref="DistributedDataParallel"/>); the single side is 1 process × N threads,
/// batch N. Both train the same Faster R-CNN on the same images with SGD at learning rate 0 (every timed step does
/// the same arithmetic, see <see cref="BenchTrainVerb"/>), in fresh processes, alternating single and distributed
/// rounds back to back so a shared machine's load hits both alike. Reports <c>images_per_s</c> (distributed),
/// <c>single_images_per_s</c> and their ratio; with --json the last line is one JSON object.</summary>
public static class BenchTrainDistributedVerb
{
    /// <summary>Runs the comparison (called by <c>bench train</c> when --nproc-per-node is given).</summary>
    public static int Run(string arch, int size, int reps, int rounds, LaunchOptions launch, bool json)
    {
        var n = launch.NprocPerNode;
        var single = new List<double>();
        var distributed = new List<double>();
        var result = Path.Combine(Path.GetTempPath(), $"cxr-bench-ddp-{Environment.ProcessId}.json");
        string[] Worker(int batch) => ["bench", "train-worker", "--arch", arch, "--size", $"{size}", "--reps", $"{reps}", "--batch", $"{batch}", "--result", result];
        try
        {
            for (var round = 0; round < rounds; round++)
            {
                single.Add(RunSingle(Worker(n), n, result));
                var previous = Environment.GetEnvironmentVariable("CXR_THREADS");
                Environment.SetEnvironmentVariable("CXR_THREADS", "1");
                try
                {
                    var code = DistributedLauncher.Run(launch with { Nnodes = 1, NodeRank = 0, MasterAddr = "127.0.0.1" }, Worker(1), json ? _ => { } : null);
                    if (code != 0) throw new InvalidOperationException($"the distributed workers failed (exit {code})");
                }
                finally { Environment.SetEnvironmentVariable("CXR_THREADS", previous); }
                distributed.Add(ReadImagesPerSecond(result));
            }
        }
        finally { File.Delete(result); }
        var summary = new Dictionary<string, object>
        {
            ["arch"] = arch, ["size"] = size, ["reps"] = reps, ["nproc_per_node"] = n, ["backend"] = "gloo",
            ["images_per_s"] = Math.Round(distributed.Average(), 3),
            ["single_images_per_s"] = Math.Round(single.Average(), 3),
            ["ratio"] = Math.Round(distributed.Average() / single.Average(), 3),
            ["rounds"] = single.Zip(distributed, (s, d) => new Dictionary<string, double> { ["single"] = Math.Round(s, 3), ["distributed"] = Math.Round(d, 3) }).ToList(),
            ["layout"] = $"distributed: {n} processes x 1 thread, batch 1 each; single: 1 process x {n} threads, batch {n}",
        };
        if (json) Console.WriteLine(JsonSerializer.Serialize(summary));
        else foreach (var (k, v) in summary) AnsiConsole.MarkupLine($"{k,-22} {Markup.Escape(v is string s ? s : JsonSerializer.Serialize(v))}");
        return 0;
    }

    static double RunSingle(string[] args, int threads, string result)
    {
        var command = DistributedLauncher.SelfCommand();
        var start = new ProcessStartInfo(command[0]) { UseShellExecute = false, RedirectStandardOutput = true };
        foreach (var a in command.Skip(1).Concat(args)) start.ArgumentList.Add(a);
        start.Environment["CXR_THREADS"] = threads.ToString(CultureInfo.InvariantCulture);
        foreach (var k in new[] { "RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT" }) start.Environment.Remove(k);
        using var p = Process.Start(start) ?? throw new InvalidOperationException("cannot start the single-process bench worker");
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"the single-process bench worker failed (exit {p.ExitCode})");
        return ReadImagesPerSecond(result);
    }

    static double ReadImagesPerSecond(string path) => JsonDocument.Parse(File.ReadAllText(path)).RootElement.GetProperty("images_per_s").GetDouble();

    /// <summary>Hidden `bench train-worker`: times training steps of one process (or one rank when a launcher started it).</summary>
    public static Command CreateWorker()
    {
        var arch = new Option<string>("--arch") { DefaultValueFactory = _ => "fasterrcnn_resnet18_fpn" };
        var size = new Option<int>("--size") { DefaultValueFactory = _ => 512 };
        var reps = new Option<int>("--reps") { DefaultValueFactory = _ => 5 };
        var batch = new Option<int>("--batch") { DefaultValueFactory = _ => 1 };
        var result = new Option<string>("--result") { Required = true };
        var command = new Command("train-worker", "One process of bench train --nproc-per-node") { arch, size, reps, batch, result };
        command.Hidden = true;
        command.SetAction(parse =>
        {
            var env = DistributedEnvironment.FromEnvironment();
            var group = env is { WorldSize: > 1 } ? dist.init_process_group("gloo", env, TimeSpan.FromMinutes(10)) : null;
            try
            {
                var stepMs = TimeSteps(parse.GetValue(arch)!, parse.GetValue(size), Math.Max(1, parse.GetValue(reps)), parse.GetValue(batch), group);
                var world = group?.WorldSize ?? 1;
                if ((group?.Rank ?? 0) == 0)
                    File.WriteAllText(parse.GetValue(result)!, JsonSerializer.Serialize(new Dictionary<string, double>
                    {
                        ["step_ms"] = stepMs, ["images_per_s"] = world * parse.GetValue(batch) / (stepMs / 1000), ["threads"] = TorchRuntime.Threads, ["world_size"] = world,
                    }));
            }
            finally { dist.destroy_process_group(); }
            return 0;
        });
        return command;
    }

    static double TimeSteps(string arch, int size, int reps, int batch, ProcessGroup? group)
    {
        torch.manual_seed(0);
        using var model = DetectorZoo.Create(new DetectorSpec(arch, 14) { InputSize = size, MaxSize = size, NormLayer = NormLayer.Frozen });
        // The same two images and targets as bench train; rank r of a batch-1 run takes the r-th.
        var (images, targets) = BenchTrainVerb.BenchImages(size);
        var first = (group?.Rank ?? 0) * batch;
        var mine = Enumerable.Range(first, batch).Select(i => i % images.Length).ToArray();
        using var ddp = group is null ? null : new DistributedDataParallel(model.Module, null, group);
        using var opt = new SGD(model.Module.parameters().Where(p => p.requires_grad).ToList(), 0.0, momentum: 0.9, weight_decay: 1e-4);
        model.train();
        void Step()
        {
            using var scope = torch.NewDisposeScope();
            ddp?.prepare_for_forward();
            var losses = model.ForwardTrain(mine.Select(i => images[i]).ToList(), mine.Select(i => targets[i]).ToList());
            var loss = losses.Values.Aggregate((p, q) => p + q);
            opt.zero_grad();
            ddp?.prepare_for_backward(loss);
            loss.backward();
            opt.step();
        }
        Step();
        Step();  // DDP regroups its buckets after the first iteration
        var times = new List<double>();
        for (var i = 0; i < reps; i++)
        {
            if (group is not null) dist.barrier(group);
            var sw = Stopwatch.StartNew();
            Step();
            times.Add(sw.Elapsed.TotalMilliseconds);
        }
        foreach (var t in images) t.Dispose();
        foreach (var t in targets) { t.Boxes.Dispose(); t.Labels.Dispose(); }
        times.Sort();
        return times[times.Count / 2];
    }
}
