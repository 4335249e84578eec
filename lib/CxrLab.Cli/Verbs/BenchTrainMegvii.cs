using CxrLab.Models;
using CxrLab.Models.Detection;
using CxrLab.Models.Yolox;
using CxrLab.Torch;
using CxrLab.Torch.Optim;

namespace CxrLab.Cli.Verbs;

/// <summary>The YOLOX side of <c>cxr bench train --arch yolox_*</c>: Megvii's own PyTorch code (its Exp for the variant,
/// 14 classes, its get_optimizer groups, its postprocess) against ours from the same weights, batch 2, learning rate 0
/// (so every timed step is the same work, as the Faster R-CNN bench does). Megvii's code is imported from the checkout
/// named by the <c>YOLOX_REF</c> environment variable; its training-only dependencies are stubbed.</summary>
public static class BenchTrainMegvii
{
    public const string Script = """
        import json, os, sys, tempfile, time
        arch, threads, size, reps, weights, ref = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
        shim = tempfile.mkdtemp()
        src = "class _Any:\n    def __getattr__(self, n): return _Any()\n    def __call__(self, *a, **k): return _Any()\nlogger = _Any()\ndef __getattr__(name):\n    if name.startswith('__'): raise AttributeError(name)\n    return _Any()\n"
        for m in ["loguru", "tqdm", "thop", "tabulate", "psutil", "pycocotools/__init__", "pycocotools/coco", "pycocotools/cocoeval", "pycocotools/mask"]:
            os.makedirs(os.path.dirname(os.path.join(shim, m)), exist_ok=True)
            open(os.path.join(shim, m + ".py"), "w").write(src)
        sys.path[:0] = [shim, ref]
        import torch
        from yolox.exp import get_exp
        from yolox.utils import postprocess
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        exp = get_exp(os.path.join(ref, "exps", "default", ("yolov3" if arch == "yolox_darknet53" else arch) + ".py"))
        exp.num_classes = 14
        model = exp.get_model()
        torch.save(model.state_dict(), weights)  # ours starts from these exact weights
        y = torch.linspace(0, 1, size)[:, None]; x = torch.linspace(0, 1, size)[None, :]
        img = (0.3 + 0.4 * torch.exp(-((x - 0.4) ** 2 + (y - 0.5) ** 2) / 0.02)).expand(3, size, size) * 255
        batch = torch.stack([img, img.flip(2)]).contiguous()
        s = size / 512.0
        labels = torch.zeros(2, 50, 5)
        labels[0, 0] = torch.tensor([1, 160 * s, 190 * s, 120 * s, 140 * s]); labels[0, 1] = torch.tensor([5, 360 * s, 140 * s, 120 * s, 120 * s])
        labels[1, 0] = torch.tensor([3, 130 * s, 360 * s, 140 * s, 120 * s])
        exp.warmup_epochs = 5  # the optimizer starts at warmup_lr = 0
        opt = exp.get_optimizer(2)
        model.train()
        def step():
            loss = model(batch, labels)["total_loss"]
            opt.zero_grad(); loss.backward(); opt.step()
        step()
        t = []
        for _ in range(reps):
            a = time.perf_counter(); step(); t.append(time.perf_counter() - a)
        model.eval()
        one = batch[:1].contiguous()
        with torch.inference_mode():
            postprocess(model(one), 14, exp.test_conf, exp.nmsthre)
            u = []
            for _ in range(reps):
                a = time.perf_counter(); postprocess(model(one), 14, exp.test_conf, exp.nmsthre); u.append(time.perf_counter() - a)
        print(json.dumps({'train_step_ms': 1000 * sorted(t)[len(t) // 2], 'infer_ms': 1000 * sorted(u)[len(u) // 2]}))
        """;

    /// <summary>The Megvii checkout the reference side imports (YOLOX_REF), checked.</summary>
    public static string ReferencePath()
    {
        var path = Environment.GetEnvironmentVariable("YOLOX_REF");
        if (string.IsNullOrEmpty(path) || !File.Exists(Path.Combine(path, "yolox", "models", "yolo_head.py")))
            throw new InvalidOperationException("the YOLOX bench times Megvii's own code: set YOLOX_REF to a checkout of github.com/Megvii-BaseDetection/YOLOX" +
                (string.IsNullOrEmpty(path) ? "" : $" ({path} has no yolox/models/yolo_head.py)"));
        return path;
    }

    /// <summary>Our training step (batch 2, same images and targets, Megvii's SGD groups at lr 0) and Predict of one image.</summary>
    public static (double TrainMs, double InferMs) MeasureOurs(string arch, int size, int reps, string weights, Func<int, Action, double> median)
    {
        torch.manual_seed(0);
        using var detector = DetectorZoo.Create(new DetectorSpec(arch, 14) { InputSize = size });
        var model = (YOLOX)detector;
        model.LoadWeights(weights);
        using var y = torch.linspace(0, 1, size).reshape(size, 1);
        using var x = torch.linspace(0, 1, size).reshape(1, size);
        using var blob = ((x - 0.4).square() + (y - 0.5).square()) / -0.02;
        using var img = (blob.exp() * 0.4 + 0.3).expand(3, size, size).contiguous();
        using var img2 = img.flip(2).contiguous();
        var s = size / 512f;
        DetectionTarget Box(float cx, float cy, float w, float h, long label) => DetectionTarget.From([(cx - w / 2) * s, (cy - h / 2) * s, (cx + w / 2) * s, (cy + h / 2) * s], [label]);
        var first = Box(160, 190, 120, 140, 1);
        var second = Box(360, 140, 120, 120, 5);
        var targets = new[]
        {
            new DetectionTarget(torch.cat([first.Boxes, second.Boxes]), torch.cat([first.Labels, second.Labels])),
            Box(130, 360, 140, 120, 3),
        };
        var c = new YoloxConfig().For(arch);
        using var opt = new SGD(model.MegviiParamGroups(c.WeightDecay!.Value), 0.0, momentum: c.Momentum!.Value, nesterov: true);
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
        var train = median(reps, Step);
        model.eval();
        void Infer()
        {
            using var scope = torch.NewDisposeScope();
            foreach (var d in model.Predict([img])) d.Dispose();
        }
        Infer();
        return (train, median(reps, Infer));
    }
}
