using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using CxrLab.Models.Detection;
using CxrLab.Models.FasterRcnn;
using CxrLab.Torch;
using CxrLab.Torch.Optim;
using CxrLab.Torch.Serialization;
using Spectre.Console;

namespace CxrLab.Cli.Verbs;

/// <summary>`cxr bench train --arch fasterrcnn_resnet50_fpn [--json]`: one training step (batch 2,
/// 512 px, fixed targets, SGD) and inference per image, ours and torchvision's on the same libtorch,
/// images, sizes and thread count, in one run. Both start from the same weights (torchvision's
/// initialisation, loaded into ours) and SGD runs with learning rate 0, so every timed step does the
/// same work (the whole forward, backward and optimizer arithmetic) on the same weights: a randomly
/// initialised detector that trains on two fixed images soon has gradients underflowing into
/// denormal floats, which make convolution backward 5-10x slower and would time the trajectory, not
/// the step. The last line of --json is one JSON object.</summary>
public static class BenchTrainVerb
{
    const string TorchvisionScript = """
        import json, sys, time, torch, torchvision
        from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
        from torchvision.models.detection import FasterRCNN
        arch, threads, size, reps, weights = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        depth = arch.replace('fasterrcnn_resnet', '').replace('_fpn', '')
        model = FasterRCNN(resnet_fpn_backbone(backbone_name='resnet' + depth, weights=None, trainable_layers=3), num_classes=15, min_size=size, max_size=size)
        torch.save(model.state_dict(), weights)  # ours starts from these exact weights
        y = torch.linspace(0, 1, size)[:, None]; x = torch.linspace(0, 1, size)[None, :]
        img = (0.3 + 0.4 * torch.exp(-((x - 0.4) ** 2 + (y - 0.5) ** 2) / 0.02)).expand(3, size, size).contiguous()
        images = [img, img.flip(2).contiguous()]
        s = size / 512.0
        targets = [{'boxes': torch.tensor([[100., 120., 220., 260.], [300., 80., 420., 200.]]) * s, 'labels': torch.tensor([1, 5])},
                   {'boxes': torch.tensor([[60., 300., 200., 420.]]) * s, 'labels': torch.tensor([3])}]
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
        print(json.dumps({'train_step_ms': 1000 * sorted(t)[len(t) // 2], 'infer_ms': 1000 * sorted(u)[len(u) // 2]}))
        """;

    public static Command Create()
    {
        var arch = new Option<string>("--arch") { Description = "fasterrcnn_resnet{18,34,50,101}_fpn", DefaultValueFactory = _ => "fasterrcnn_resnet50_fpn" };
        var size = new Option<int>("--size") { Description = "Image side in pixels", DefaultValueFactory = _ => 512 };
        var reps = new Option<int>("--reps") { Description = "Timed repetitions (median reported)", DefaultValueFactory = _ => 3 };
        var json = new Option<bool>("--json") { Description = "End with one JSON object" };
        var command = new Command("train", "Faster R-CNN training step and inference vs torchvision on the same libtorch; " +
                                           "with --nproc-per-node N: N data-parallel processes vs one process of N threads") { arch, size, reps, json };
        var rounds = new Option<int>("--rounds") { Description = "With --nproc-per-node: alternating single/distributed rounds", DefaultValueFactory = _ => 2 };
        command.Options.Add(rounds);
        var launch = new DistributedLauncher.Options();
        launch.AddTo(command);
        command.SetAction(parse =>
        {
            if (launch.From(parse) is { } workers)
                return BenchTrainDistributedVerb.Run(parse.GetValue(arch)!, parse.GetValue(size), Math.Max(1, parse.GetValue(reps)), Math.Max(1, parse.GetValue(rounds)), workers, parse.GetValue(json));
            var a = parse.GetValue(arch)!;
            var n = parse.GetValue(size);
            var r = Math.Max(1, parse.GetValue(reps));
            var threads = TorchRuntime.Threads;
            var weights = Path.Combine(Path.GetTempPath(), $"cxr-bench-train-{Environment.ProcessId}.pth");
            JsonElement reference;
            double trainMs, inferMs;
            try
            {
                reference = JsonDocument.Parse(PythonLastLine(TorchvisionScript, a, threads, n, r, weights)).RootElement;
                (trainMs, inferMs) = MeasureOurs(a, n, r, weights);
            }
            finally { File.Delete(weights); }
            var tvTrain = reference.GetProperty("train_step_ms").GetDouble();
            var tvInfer = reference.GetProperty("infer_ms").GetDouble();
            var result = new Dictionary<string, object>
            {
                ["arch"] = a, ["size"] = n, ["threads"] = threads,
                ["train_step_ms"] = Math.Round(trainMs, 1), ["torchvision_train_step_ms"] = Math.Round(tvTrain, 1),
                ["train_ratio"] = Math.Round(trainMs / tvTrain, 3),
                ["infer_ms"] = Math.Round(inferMs, 1), ["torchvision_infer_ms"] = Math.Round(tvInfer, 1),
                ["infer_ratio"] = Math.Round(inferMs / tvInfer, 3),
            };
            if (parse.GetValue(json)) Console.WriteLine(JsonSerializer.Serialize(result));
            else foreach (var (k, v) in result) AnsiConsole.MarkupLine($"{k,-28} {Markup.Escape(Convert.ToString(v, CultureInfo.InvariantCulture)!)}");
            return 0;
        });
        return command;
    }

    static (double TrainMs, double InferMs) MeasureOurs(string arch, int size, int reps, string weights)
    {
        torch.manual_seed(0);
        using var model = FasterRcnn.Create(arch, new FasterRcnnOptions { NumClasses = 15, MinSize = size, MaxSize = size });
        model.load_checkpoint(weights);
        using var y = torch.linspace(0, 1, size).reshape(size, 1);
        using var x = torch.linspace(0, 1, size).reshape(1, size);
        using var blob = ((x - 0.4).square() + (y - 0.5).square()) / -0.02;
        using var img = (blob.exp() * 0.4 + 0.3).expand(3, size, size).contiguous();
        using var img2 = img.flip(2).contiguous();
        var s = size / 512f;
        var targets = new[]
        {
            DetectionTarget.From([100 * s, 120 * s, 220 * s, 260 * s, 300 * s, 80 * s, 420 * s, 200 * s], [1, 5]),
            DetectionTarget.From([60 * s, 300 * s, 200 * s, 420 * s], [3]),
        };
        using var opt = new SGD(model.parameters().Where(p => p.requires_grad).ToList(), 0.0, momentum: 0.9, weight_decay: 1e-4);
        model.train();
        void Step()
        {
            using var scope = torch.NewDisposeScope();
            var losses = model.ForwardTrain([img, img2], targets);
            var loss = losses.Values.Aggregate((p, q) => p + q);
            opt.zero_grad();
            loss.backward();
            opt.step();
        }
        Step();
        var train = Median(reps, Step);
        model.eval();
        void Infer()
        {
            using var scope = torch.NewDisposeScope();
            model.Predict([img]);
        }
        Infer();
        return (train, Median(reps, Infer));
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
        times.Sort();
        return times[times.Count / 2];
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
        if (p.ExitCode != 0) throw new InvalidOperationException($"torchvision reference failed: {stderr.Result}");
        return stdout.Trim().Split('\n')[^1];
    }
}
