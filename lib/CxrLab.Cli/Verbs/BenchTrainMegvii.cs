namespace CxrLab.Cli.Verbs;

/// <summary>The YOLOX family's reference side of <c>cxr bench train</c>: Megvii's own PyTorch code (the variant's Exp,
/// the task's classes, its get_optimizer groups at learning rate 0, its postprocess at test_conf/nmsthre) on the bench's
/// images (<see cref="BenchTrainVerb.BenchImages"/>: ×255 as Megvii's 0–255 input; grey, so BGR = RGB) and targets
/// (Megvii's [class, cx, cy, w, h] rows). Megvii's code is imported from the checkout named by <c>YOLOX_REF</c>; its
/// training-only dependencies (loguru, tqdm, thop, …) are stubbed as nothing timed uses them.</summary>
public static class BenchTrainMegvii
{
    public const string Script = """
        import json, os, sys, tempfile, time
        arch, threads, size, reps, weights, classes, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], int(sys.argv[6]), int(sys.argv[7])
        ref = os.environ.get("YOLOX_REF", "")
        if not os.path.exists(os.path.join(ref, "yolox", "models", "yolo_head.py")):
            sys.exit("the YOLOX bench times Megvii's own code: set YOLOX_REF to a checkout of github.com/Megvii-BaseDetection/YOLOX")
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
        exp.num_classes = classes
        model = exp.get_model()
        torch.save(model.state_dict(), weights)  # ours starts from these exact weights
        y = torch.linspace(0, 1, size)[:, None]; x = torch.linspace(0, 1, size)[None, :]
        img = (0.3 + 0.4 * torch.exp(-((x - 0.4) ** 2 + (y - 0.5) ** 2) / 0.02)).expand(3, size, size) * 255
        pair = [img.contiguous(), img.flip(2).contiguous()]
        s = size / 512.0
        def rows(boxes, labels):
            b = torch.tensor(boxes) * s
            return torch.cat([torch.tensor(labels, dtype=torch.float32)[:, None], (b[:, :2] + b[:, 2:]) / 2, b[:, 2:] - b[:, :2]], 1)
        pair_targets = [rows([[100., 120., 220., 260.], [300., 80., 420., 200.]], [0, 4]), rows([[60., 300., 200., 420.]], [2])]
        batch_x = torch.stack([pair[i % 2] for i in range(batch)])
        labels = torch.zeros(batch, 120, 5)
        for i in range(batch):
            t = pair_targets[i % 2]; labels[i, :len(t)] = t
        exp.warmup_epochs = 5  # the optimizer starts at warmup_lr = 0
        opt = exp.get_optimizer(batch)
        model.train()
        def step():
            loss = model(batch_x, labels)["total_loss"]
            opt.zero_grad(); loss.backward(); opt.step()
        step()
        t = []
        for _ in range(reps):
            a = time.perf_counter(); step(); t.append(time.perf_counter() - a)
        model.eval()
        one = pair[0][None]
        with torch.inference_mode():
            postprocess(model(one), classes, exp.test_conf, exp.nmsthre)
            u = []
            for _ in range(reps):
                a = time.perf_counter(); postprocess(model(one), classes, exp.test_conf, exp.nmsthre); u.append(time.perf_counter() - a)
        print(json.dumps({'train_step_ms': 1000 * sorted(t)[len(t) // 2], 'infer_ms': 1000 * sorted(u)[len(u) // 2]}))
        """;
}
