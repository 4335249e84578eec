namespace CxrLab.Cli.Verbs;

/// <summary>The EfficientDet reference of <c>cxr bench train</c> (<see cref="BenchTrainVerb.References"/>): effdet's own
/// PyTorch code (<c>DetBenchTrain</c> with its anchor labeler and loss; <c>DetBenchPredict</c> on a letterboxed,
/// normalised image) with its init saved for ours to load, the bench's images and targets, SGD at learning rate 0. effdet
/// and timm are not Debian packages: point <c>EFFDET_SRC</c> and <c>TIMM_SRC</c> at checkouts of
/// rwightman/efficientdet-pytorch and huggingface/pytorch-image-models (v0.9.16), and install python3-omegaconf.</summary>
public static class BenchTrainEffdet
{
    public const string Script = """
        import json, os, sys, time, types
        for v in ('EFFDET_SRC', 'TIMM_SRC'):
            if not os.environ.get(v):
                sys.exit(f"{v} is not set: the EfficientDet reference is rwightman's effdet with timm's EfficientNet, not Debian packages; "
                         "set EFFDET_SRC to a checkout of github.com/rwightman/efficientdet-pytorch and TIMM_SRC to one of "
                         "github.com/huggingface/pytorch-image-models (tag v0.9.16), and apt-get install python3-omegaconf")
        sys.path[:0] = [os.environ['TIMM_SRC'], os.environ['EFFDET_SRC']]
        for n in ['pycocotools', 'pycocotools.coco', 'pycocotools.cocoeval']: sys.modules[n] = types.ModuleType(n)
        sys.modules['pycocotools.coco'].COCO = object; sys.modules['pycocotools.cocoeval'].COCOeval = object
        import torch
        from effdet import create_model_from_config, get_efficientdet_config
        from effdet.bench import DetBenchTrain, DetBenchPredict
        arch, threads, size, reps, weights, classes, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], int(sys.argv[6]), int(sys.argv[7])
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        cfg = get_efficientdet_config(arch); cfg.image_size = (size, size); cfg.num_classes = classes
        model = create_model_from_config(cfg, pretrained_backbone=False)
        torch.save(model.state_dict(), weights)  # ours starts from these exact weights
        y = torch.linspace(0, 1, size)[:, None]; x = torch.linspace(0, 1, size)[None, :]
        img = (0.3 + 0.4 * torch.exp(-((x - 0.4) ** 2 + (y - 0.5) ** 2) / 0.02)).expand(3, size, size).contiguous()
        mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1); std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
        imgs = [img, img.flip(2).contiguous()] * (batch // 2) + [img] * (batch % 2)
        xb = torch.stack([(i - mean) / std for i in imgs])
        s = size / 512.0
        # BenchTrainVerb.BenchImages' targets in effdet's terms: y1, x1, y2, x2 and 1-based classes, padded with -1.
        boxes = [torch.tensor([[120., 100., 260., 220.], [80., 300., 200., 420.]]) * s, torch.tensor([[300., 60., 420., 200.], [-1., -1., -1., -1.]]) * s]
        cls = [torch.tensor([1., 5.]), torch.tensor([3., -1.])]
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
}
