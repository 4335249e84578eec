using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using CxrLab.Models;
using CxrLab.Models.Detection;
using CxrLab.Torch;
using CxrLab.Torch.Optim;

namespace CxrLab.Cli.Verbs;

/// <summary>The EfficientDet side of <c>cxr bench train</c>: effdet's own PyTorch code (<c>DetBenchTrain</c> with its
/// anchor labeler and loss; <c>DetBenchPredict</c>) against ours through the detector contract, on the same libtorch,
/// thread count, weights (effdet's init saved by torch.save and loaded into ours), images and targets, in one run.
/// SGD (effdet's momentum 0.9, weight decay 4e-5) with learning rate 0 so every timed step is the same work. effdet
/// and timm are not Debian packages: point <c>EFFDET_SRC</c> and <c>TIMM_SRC</c> at checkouts of
/// rwightman/efficientdet-pytorch and huggingface/pytorch-image-models (v0.9.16), and install python3-omegaconf.</summary>
public static class BenchTrainEffdet
{
    const string Script = """
        import json, os, sys, time, types
        sys.path[:0] = [os.environ['TIMM_SRC'], os.environ['EFFDET_SRC']]
        for n in ['pycocotools', 'pycocotools.coco', 'pycocotools.cocoeval']: sys.modules[n] = types.ModuleType(n)
        sys.modules['pycocotools.coco'].COCO = object; sys.modules['pycocotools.cocoeval'].COCOeval = object
        import torch
        from effdet import create_model_from_config, get_efficientdet_config
        from effdet.bench import DetBenchTrain, DetBenchPredict
        arch, threads, size, reps, weights, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], int(sys.argv[6])
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        cfg = get_efficientdet_config(arch); cfg.image_size = (size, size); cfg.num_classes = 14
        model = create_model_from_config(cfg, pretrained_backbone=False)
        torch.save(model.state_dict(), weights)  # ours starts from these exact weights
        y = torch.linspace(0, 1, size)[:, None]; x = torch.linspace(0, 1, size)[None, :]
        img = (0.3 + 0.4 * torch.exp(-((x - 0.4) ** 2 + (y - 0.5) ** 2) / 0.02)).expand(3, size, size).contiguous()
        mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1); std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
        imgs = [img, img.flip(2).contiguous()] * (batch // 2) + [img] * (batch % 2)
        xb = torch.stack([(i - mean) / std for i in imgs])
        s = size / 512.0
        # effdet's targets: y1, x1, y2, x2 and 1-based classes, padded with -1 (ours: x1, y1, x2, y2 and task ids).
        boxes = [torch.tensor([[120., 100., 260., 220.], [80., 300., 200., 420.]]) * s, torch.tensor([[300., 60., 420., 200.], [-1., -1., -1., -1.]]) * s]
        cls = [torch.tensor([2., 6.]), torch.tensor([4., -1.])]
        target = {'bbox': torch.stack([boxes[i % 2] for i in range(batch)]), 'cls': torch.stack([cls[i % 2] for i in range(batch)])}
        train = DetBenchTrain(model, create_labeler=True)
        opt = torch.optim.SGD(model.parameters(), lr=0.0, momentum=0.9, weight_decay=4e-5)
        train.train()
        def step():
            out = train(xb, target); opt.zero_grad(); out['loss'].backward(); opt.step()
        step()
        t = []
        for _ in range(reps):
            a = time.perf_counter(); step(); t.append(time.perf_counter() - a)
        pred = DetBenchPredict(model); pred.eval()
        x1 = xb[:1]
        with torch.inference_mode():
            pred(x1)
            u = []
            for _ in range(reps):
                a = time.perf_counter(); pred(x1); u.append(time.perf_counter() - a)
        print(json.dumps({'train_step_ms': 1000 * sorted(t)[len(t) // 2], 'infer_ms': 1000 * sorted(u)[len(u) // 2]}))
        """;

    /// <summary>Both sides' median train step (batch <paramref name="batch"/>) and single-image inference times, ms.</summary>
    public static Dictionary<string, object> Measure(string arch, int size, int reps, int batch, int threads)
    {
        foreach (var v in new[] { "EFFDET_SRC", "TIMM_SRC" })
            if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable(v)))
                throw new InvalidOperationException($"{v} is not set: the EfficientDet reference is rwightman's effdet with timm's EfficientNet, " +
                    "not Debian packages; set EFFDET_SRC to a checkout of github.com/rwightman/efficientdet-pytorch and TIMM_SRC to one of " +
                    "github.com/huggingface/pytorch-image-models (tag v0.9.16), and apt-get install python3-omegaconf");
        var weights = Path.Combine(Path.GetTempPath(), $"cxr-bench-effdet-{Environment.ProcessId}.pth");
        try
        {
            var reference = JsonDocument.Parse(PythonLastLine(Script, arch, threads, size, reps, weights, batch)).RootElement;
            var (trainMs, inferMs) = MeasureOurs(arch, size, reps, batch, weights);
            var refTrain = reference.GetProperty("train_step_ms").GetDouble();
            var refInfer = reference.GetProperty("infer_ms").GetDouble();
            return new Dictionary<string, object>
            {
                ["arch"] = arch, ["size"] = size, ["batch"] = batch, ["threads"] = threads,
                ["train_step_ms"] = Math.Round(trainMs, 1), ["effdet_train_step_ms"] = Math.Round(refTrain, 1),
                ["train_ratio"] = Math.Round(trainMs / refTrain, 3),
                ["infer_ms"] = Math.Round(inferMs, 1), ["effdet_infer_ms"] = Math.Round(refInfer, 1),
                ["infer_ratio"] = Math.Round(inferMs / refInfer, 3),
            };
        }
        finally { File.Delete(weights); }
    }

    static (double TrainMs, double InferMs) MeasureOurs(string arch, int size, int reps, int batch, string weights)
    {
        torch.manual_seed(0);
        using var detector = DetectorZoo.Create(new DetectorSpec(arch, 14) { InputSize = size });
        detector.LoadWeights(weights);
        using var y = torch.linspace(0, 1, size).reshape(size, 1);
        using var x = torch.linspace(0, 1, size).reshape(1, size);
        using var blob = ((x - 0.4).square() + (y - 0.5).square()) / -0.02;
        using var img = (blob.exp() * 0.4 + 0.3).expand(3, size, size).contiguous();
        using var img2 = img.flip(2).contiguous();
        var s = size / 512f;
        DetectionTarget[] pair =
        [
            DetectionTarget.From([100 * s, 120 * s, 220 * s, 260 * s, 300 * s, 80 * s, 420 * s, 200 * s], [1, 5]),
            DetectionTarget.From([60 * s, 300 * s, 200 * s, 420 * s], [3]),
        ];
        var images = Enumerable.Range(0, batch).Select(i => i % 2 == 0 ? img : img2).ToList();
        var targets = Enumerable.Range(0, batch).Select(i => pair[i % 2]).ToList();
        using var opt = new SGD(detector.Module.parameters().ToList(), 0.0, momentum: 0.9, weight_decay: 4e-5);
        detector.Module.train();
        void Step()
        {
            using var scope = torch.NewDisposeScope();
            var losses = detector.ForwardTrain(images, targets);
            var loss = losses.Values.Aggregate((p, q) => p + q);
            opt.zero_grad();
            loss.backward();
            opt.step();
        }
        Step();
        var train = Median(reps, Step);
        detector.Module.eval();
        void Infer()
        {
            using var scope = torch.NewDisposeScope();
            foreach (var d in detector.Predict([img])) d.Dispose();
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
        using var p = Process.Start(start) ?? throw new InvalidOperationException("cannot start /usr/bin/python3 (python3-torch runs the effdet reference)");
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"effdet reference failed: {stderr.Result}");
        return stdout.Trim().Split('\n')[^1];
    }
}
