using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using CxrLab.Models.Detection;
using CxrLab.Models;
using CxrLab.Torch;
using CxrLab.Torch.Optim;
using CxrLab.Torch.Serialization;
using Spectre.Console;

namespace CxrLab.Cli.Verbs;

/// <summary>`cxr bench train --arch ARCH [--size PX --batch N] [--json]`: one training step (fixed targets, SGD) and
/// inference per image of any zoo arch, ours and the reference implementation's (torchvision for the R-CNNs; each
/// family's reference script in <see cref="References"/>) on the same libtorch, images, sizes and thread count, in one run. Both start from the same weights (torchvision's
/// initialisation, loaded into ours) and SGD runs with learning rate 0, so every timed step does the
/// same work (the whole forward, backward and optimizer arithmetic) on the same weights: a randomly
/// initialised detector that trains on two fixed images soon has gradients underflowing into
/// denormal floats, which make convolution backward 5-10x slower and would time the trajectory, not
/// the step. The two sides run in alternating rounds (reference then ours, ours then reference, …; <c>--rounds</c>), so a
/// change of the machine's load lands on both; the reported times are medians over rounds and the ratios are of those
/// medians, with each round's ratio beside them. The last line of --json is one JSON object.</summary>
public static class BenchTrainVerb
{
    /// <summary>A family's reference side: its name in the JSON keys (<c>{Name}_train_step_ms</c>) and a Python script.
    /// The script gets argv arch, threads, size, reps, weights path, task classes, batch; builds the reference model
    /// randomly initialised, saves its state_dict to the weights path (ours loads exactly those weights), trains on the
    /// bench's images and targets (<see cref="BenchImages"/>) with SGD at learning rate 0, and prints one JSON line
    /// <c>{"train_step_ms", "infer_ms"}</c> (medians).</summary>
    public sealed record Reference(string Name, string Script);

    /// <summary>The reference of each family (one table; a family without one is timed on our side only).</summary>
    public static IReadOnlyDictionary<string, Reference> References { get; } = new Dictionary<string, Reference>
    {
        ["faster_rcnn"] = new("torchvision", TorchvisionScript("FasterRCNN", "fasterrcnn", masks: false)),
        ["efficientdet"] = new("effdet", BenchTrainEffdet.Script),
        ["yolox"] = new("megvii", BenchTrainMegvii.Script),
        ["mask_rcnn"] = new("torchvision", TorchvisionScript("MaskRCNN", "maskrcnn", masks: true)),
    };

    /// <summary>torchvision's two-stage detectors share one script: <paramref name="modelClass"/> (FasterRCNN, MaskRCNN) on a
    /// ResNet-FPN backbone named by the arch; with <paramref name="masks"/> the targets get filled-box masks (pixel centres
    /// inside the box), what our Mask R-CNN trains on when a target has no masks.</summary>
    static string TorchvisionScript(string modelClass, string archPrefix, bool masks) => string.Format(CultureInfo.InvariantCulture, """
            import json, sys, time, torch, torchvision
            from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
            from torchvision.models.detection import {0}
            arch, threads, size, reps, weights, classes, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], int(sys.argv[6]), int(sys.argv[7])
            torch.set_num_threads(threads)
            torch.manual_seed(0)
            depth = arch.replace('{1}_resnet', '').replace('_fpn', '')
            model = {0}(resnet_fpn_backbone(backbone_name='resnet' + depth, weights=None, trainable_layers=3), num_classes=classes + 1, min_size=size, max_size=size)
            torch.save(model.state_dict(), weights)  # ours starts from these exact weights
            y = torch.linspace(0, 1, size)[:, None]; x = torch.linspace(0, 1, size)[None, :]
            img = (0.3 + 0.4 * torch.exp(-((x - 0.4) ** 2 + (y - 0.5) ** 2) / 0.02)).expand(3, size, size).contiguous()
            pair = [img, img.flip(2).contiguous()]
            s = size / 512.0
            pair_targets = [{{'boxes': torch.tensor([[100., 120., 220., 260.], [300., 80., 420., 200.]]) * s, 'labels': torch.tensor([0, 4]) + 1}},
                            {{'boxes': torch.tensor([[60., 300., 200., 420.]]) * s, 'labels': torch.tensor([2]) + 1}}]
            {2}images = [pair[i % 2] for i in range(batch)]; targets = [pair_targets[i % 2] for i in range(batch)]
            opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.0, momentum=0.9, weight_decay=1e-4)
            model.train()
            def step():
                losses = model(images, targets); loss = sum(losses.values())
                opt.zero_grad(); loss.backward(); opt.step()
            step()
            t = []
            for _ in range(reps):
                a = time.perf_counter(); step(); t.append(time.perf_counter() - a)
            model.eval()
            with torch.inference_mode():
                model([img])
                u = []
                for _ in range(reps):
                    a = time.perf_counter(); model([img]); u.append(time.perf_counter() - a)
            print(json.dumps({{'train_step_ms': 1000 * sorted(t)[len(t) // 2], 'infer_ms': 1000 * sorted(u)[len(u) // 2]}}))
            """, modelClass, archPrefix, masks ? MaskTargets + "\n" : "");

    const string MaskTargets = """
            c = torch.arange(size, dtype=torch.float32) + 0.5
            for t in pair_targets:
                b = t['boxes'][:, :, None, None]
                t['masks'] = ((c[:, None] >= b[:, 1]) & (c[:, None] <= b[:, 3]) & (c[None, :] >= b[:, 0]) & (c[None, :] <= b[:, 2])).to(torch.uint8)
            """;

    public static Command Create()
    {
        var arch = new Option<string>("--arch") { Description = "Zoo arch (./cxr models lists them)", DefaultValueFactory = _ => "fasterrcnn_resnet50_fpn" };
        var size = new Option<int>("--size") { Description = "Image side in pixels", DefaultValueFactory = _ => 512 };
        var batch = new Option<int>("--batch") { Description = "Images per training step", DefaultValueFactory = _ => 2 };
        var reps = new Option<int>("--reps") { Description = "Timed repetitions (median reported)", DefaultValueFactory = _ => 3 };
        var json = new Option<bool>("--json") { Description = "End with one JSON object" };
        var command = new Command("train", "Training step and inference of any zoo arch vs its reference implementation on the same libtorch; " +
                                           "with --nproc-per-node N: N data-parallel processes vs one process of N threads") { arch, size, batch, reps, json };
        var rounds = new Option<int>("--rounds") { Description = "Alternating rounds: reference/ours (with --nproc-per-node: single/distributed)", DefaultValueFactory = _ => 3 };
        command.Options.Add(rounds);
        var launch = new DistributedLauncher.Options();
        launch.AddTo(command);
        command.SetAction(parse =>
        {
            if (launch.From(parse) is { } workers)
                return BenchTrainDistributedVerb.Run(parse.GetValue(arch)!, parse.GetValue(size), Math.Max(1, parse.GetValue(reps)), Math.Max(1, parse.GetValue(rounds)), workers, parse.GetValue(json));
            var a = parse.GetValue(arch)!;
            var entry = DetectorZoo.Find(a);
            var n = parse.GetValue(size);
            var b = parse.GetValue(batch);
            if (n < 64) throw new UsageException("--size must be at least 64");
            if (b < 1) throw new UsageException("--batch must be at least 1");
            var r = Math.Max(1, parse.GetValue(reps));
            var threads = TorchRuntime.Threads;
            const int classes = 14;
            var weights = Path.Combine(Path.GetTempPath(), $"cxr-bench-train-{Environment.ProcessId}.pth");
            References.TryGetValue(entry.Family, out var reference);
            var roundCount = Math.Max(1, parse.GetValue(rounds));
            List<(double Train, double Infer)> ours = [], theirs = [];
            try
            {
                for (var round = 0; round < roundCount; round++)
                {
                    // Round 0 starts with the reference: it writes the weights both sides start from.
                    var order = reference is null ? [false] : round % 2 == 0 ? new[] { true, false } : [false, true];
                    foreach (var referenceSide in order)
                    {
                        if (referenceSide)
                        {
                            var t = JsonDocument.Parse(PythonLastLine(reference!.Script, a, threads, n, r, weights, classes, b)).RootElement;
                            theirs.Add((t.GetProperty("train_step_ms").GetDouble(), t.GetProperty("infer_ms").GetDouble()));
                        }
                        else ours.Add(MeasureOurs(a, n, b, r, classes, reference is null ? null : weights));
                    }
                    if (!parse.GetValue(json))
                        Console.Error.WriteLine($"round {round + 1}/{roundCount}: ours {ours[^1].Train:0} / {ours[^1].Infer:0} ms" +
                                                (reference is null ? "" : $", {reference.Name} {theirs[^1].Train:0} / {theirs[^1].Infer:0} ms") + " (train step / inference)");
                }
            }
            finally { File.Delete(weights); }
            var trainMs = MedianOf(ours.Select(x => x.Train));
            var inferMs = MedianOf(ours.Select(x => x.Infer));
            var result = new Dictionary<string, object>
            {
                ["arch"] = a, ["size"] = n, ["batch"] = b, ["threads"] = threads, ["rounds"] = roundCount,
                ["train_step_ms"] = Math.Round(trainMs, 1), ["infer_ms"] = Math.Round(inferMs, 1),
            };
            if (reference is not null)
            {
                var refTrain = MedianOf(theirs.Select(x => x.Train));
                var refInfer = MedianOf(theirs.Select(x => x.Infer));
                result[$"{reference.Name}_train_step_ms"] = Math.Round(refTrain, 1);
                result[$"{reference.Name}_infer_ms"] = Math.Round(refInfer, 1);
                result["train_ratio"] = Math.Round(trainMs / refTrain, 3);
                result["infer_ratio"] = Math.Round(inferMs / refInfer, 3);
                result["train_ratio_rounds"] = ours.Zip(theirs, (o, t) => Math.Round(o.Train / t.Train, 3)).ToArray();
                result["infer_ratio_rounds"] = ours.Zip(theirs, (o, t) => Math.Round(o.Infer / t.Infer, 3)).ToArray();
                result["reference"] = reference.Name;
            }
            else result["reference"] = $"none for family {entry.Family} (ours only)";
            if (parse.GetValue(json)) Console.WriteLine(JsonSerializer.Serialize(result));
            else foreach (var (k, v) in result)
                AnsiConsole.MarkupLine($"{k,-28} {Markup.Escape(v is double[] list ? string.Join(", ", list.Select(x => x.ToString(CultureInfo.InvariantCulture))) : Convert.ToString(v, CultureInfo.InvariantCulture)!)}");
            return 0;
        });
        return command;
    }

    /// <summary>Our side: the arch from the zoo (frozen normalisation, as the references' defaults), the reference's
    /// weights when given, the same images and targets, SGD at learning rate 0.</summary>
    static (double TrainMs, double InferMs) MeasureOurs(string arch, int size, int batch, int reps, int classes, string? weights)
    {
        torch.manual_seed(0);
        using var model = DetectorZoo.Create(new DetectorSpec(arch, classes) { InputSize = size, MaxSize = size, NormLayer = NormLayer.Frozen });
        if (weights is not null) model.LoadWeights(weights);
        var (pair, pairTargets) = BenchImages(size);
        var images = Enumerable.Range(0, batch).Select(i => pair[i % 2]).ToList();
        var targets = Enumerable.Range(0, batch).Select(i => pairTargets[i % 2]).ToList();
        using var opt = new SGD(model.Module.parameters().Where(p => p.requires_grad).ToList(), 0.0, momentum: 0.9, weight_decay: 1e-4);
        model.train();
        void Step()
        {
            using var scope = torch.NewDisposeScope();
            var losses = model.ForwardTrain(images, targets);
            var loss = losses.Values.Aggregate((p, q) => p + q);
            opt.zero_grad();
            loss.backward();
            opt.step();
        }
        try
        {
            Step();
            var train = Median(reps, Step);
            model.eval();
            void Infer()
            {
                using var scope = torch.NewDisposeScope();
                model.Predict([pair[0]]);
            }
            Infer();
            return (train, Median(reps, Infer));
        }
        finally
        {
            foreach (var t in pair) t.Dispose();
            foreach (var t in pairTargets) { t.Boxes.Dispose(); t.Labels.Dispose(); }
        }
    }

    /// <summary>The bench's two images (a soft blob and its mirror, <c>[3, S, S]</c>) and their targets with task labels
    /// (boxes given for 512 px and scaled): what every reference script builds too.</summary>
    public static (Tensor[] Images, DetectionTarget[] Targets) BenchImages(int size)
    {
        Tensor img, img2;
        using (var scope = torch.NewDisposeScope())
        {
            var y = torch.linspace(0, 1, size).reshape(size, 1);
            var x = torch.linspace(0, 1, size).reshape(1, size);
            var blob = ((x - 0.4).square() + (y - 0.5).square()) / -0.02;
            img = (blob.exp() * 0.4 + 0.3).expand(3, size, size).contiguous();
            img2 = img.flip(2).contiguous();
            scope.MoveToOuter(img, img2);
        }
        var s = size / 512f;
        var targets = new[]
        {
            DetectionTarget.From([100 * s, 120 * s, 220 * s, 260 * s, 300 * s, 80 * s, 420 * s, 200 * s], [0, 4]),
            DetectionTarget.From([60 * s, 300 * s, 200 * s, 420 * s], [2]),
        };
        return ([img, img2], targets);
    }

    /// <summary>The median as the reference scripts take it (<c>sorted(t)[len(t) // 2]</c>: the upper one of an even count).</summary>
    static double MedianOf(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted[sorted.Count / 2];
    }

    static double Median(int reps, Action action)
    {
        var times = new List<double>();
        for (var i = 0; i < reps; i++)
        {
            var sw = Stopwatch.StartNew();
            action();
            times.Add(sw.Elapsed.TotalMilliseconds);
        }
        return MedianOf(times);
    }

    static string PythonLastLine(string code, params object[] args)
    {
        var start = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(code);
        foreach (var a in args) start.ArgumentList.Add(Convert.ToString(a, CultureInfo.InvariantCulture)!);
        using var p = Process.Start(start) ?? throw new InvalidOperationException("cannot start /usr/bin/python3 (Debian python3-torchvision is the reference)");
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"the reference implementation failed: {stderr.Result}");
        return stdout.Trim().Split('\n')[^1];
    }
}
