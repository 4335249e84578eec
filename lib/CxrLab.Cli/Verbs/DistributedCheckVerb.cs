using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using CxrLab.Models.Detection;
using CxrLab.Torch;
using CxrLab.Torch.Distributed;
using CxrLab.Torch.Serialization;
using CxrLab.Training;
using FrcnnModel = CxrLab.Models.FasterRcnn.FasterRcnn;
using TwoStageOptions = CxrLab.Models.Detection.TwoStage.TwoStageOptions;

namespace CxrLab.Cli.Verbs;

/// <summary>Hidden `cxr distributed-check SCENARIO --out DIR`: one worker of the multi-process checks in
/// tests/CxrLab.Tests/Torch/Distributed (the tests start the ranks and compare what they write). Scenarios:
/// <c>collectives</c> (every collective on rank-dependent inputs → rank{r}.json), <c>train</c> (a few trainer steps of a
/// small Faster R-CNN as one replica, or as a single process when no launcher started it → rank{r}.safetensors,
/// the run folder under DIR/run), <c>unused</c> (a two-branch model whose second branch is used only on odd steps),
/// <c>wait</c> (all-reduces until a peer dies, then fails with the message).</summary>
public static class DistributedCheckVerb
{
    public static Command Create()
    {
        var scenario = new Argument<string>("scenario") { Description = "collectives | train | wait" };
        var outDir = new Option<string>("--out") { Description = "Folder for the results", Required = true };
        var batch = new Option<int>("--batch") { Description = "train: images per rank per step", DefaultValueFactory = _ => 1 };
        var syncBn = new Option<bool>("--sync-bn") { Description = "train: BatchNorm2d + SyncBatchNorm instead of FrozenBatchNorm2d" };
        var findUnused = new Option<bool>("--find-unused") { Description = "unused: DdpOptions.FindUnusedParameters" };
        var timeout = new Option<double>("--timeout") { Description = "Process-group timeout in seconds", DefaultValueFactory = _ => 60 };
        var command = new Command("distributed-check", "Multi-process checks of torch.distributed (used by the tests)") { scenario, outDir, batch, syncBn, findUnused, timeout };
        command.Hidden = true;
        var launch = new DistributedLauncher.Options();
        launch.AddTo(command);
        command.SetAction(parse =>
        {
            if (launch.From(parse) is { } workers)
                return DistributedLauncher.Run(workers, DistributedLauncher.WorkerArguments(Environment.GetCommandLineArgs().Skip(1)));
            var dir = Directory.CreateDirectory(parse.GetValue(outDir)!).FullName;
            var t = TimeSpan.FromSeconds(parse.GetValue(timeout));
            try
            {
                switch (parse.GetValue(scenario))
                {
                    case "collectives": Collectives(dir, t); break;
                    case "train": Train(dir, parse.GetValue(batch), parse.GetValue(syncBn), t); break;
                    case "wait": Wait(t); break;
                    case "unused": Unused(dir, parse.GetValue(findUnused), t); break;
                    default: Console.Error.WriteLine("unknown scenario"); return 2;
                }
            }
            catch (DistributedException e)
            {
                Console.Error.WriteLine($"distributed-check: {e.Message}");
                return 3;
            }
            finally { dist.destroy_process_group(); }
            return 0;
        });
        return command;
    }

    static float[] Values(Tensor t) => t.to(ScalarType.Float32).contiguous().ToArray<float>();

    static void Collectives(string dir, TimeSpan timeout)
    {
        var pg = dist.init_process_group("gloo", timeout);
        var r = pg.Rank;
        var results = new Dictionary<string, object> { ["rank"] = r, ["world_size"] = pg.WorldSize };
        using var scope = torch.NewDisposeScope();
        Tensor Input() => torch.tensor(new[] { 1f + r, 10f - 3 * r, 0.5f * (r + 1) }, 3);
        foreach (var op in new[] { ReduceOp.SUM, ReduceOp.MAX, ReduceOp.MIN, ReduceOp.PRODUCT })
        {
            var x = Input();
            dist.all_reduce(x, op);
            results[$"all_reduce_{op}"] = Values(x);
        }
        var b = Input();
        dist.broadcast(b, src: pg.WorldSize - 1);
        results["broadcast_from_last"] = Values(b);
        results["all_gather"] = dist.all_gather(Input()).Select(Values).ToArray();
        results["all_gather_bytes"] = dist.all_gather_bytes(System.Text.Encoding.UTF8.GetBytes(new string('x', r + 1) + $"rank{r}"))
            .Select(System.Text.Encoding.UTF8.GetString).ToArray();
        dist.barrier();
        // d/dx_r of sum(c_r · Σ_k w·x_k) = w · Σ_k c_k: the gradient flows back through the other ranks.
        var xr = Input();
        xr.requires_grad = true;
        var y = dist.all_reduce_sum_autograd(xr * 2f);
        var c = torch.tensor(new[] { 1f, 2f, 3f }, 3) * (r + 1);
        (y * c).sum().backward();
        results["autograd_sum"] = Values(y);
        results["autograd_grad"] = Values(xr.grad!);
        File.WriteAllText(Path.Combine(dir, $"rank{r}.json"), JsonSerializer.Serialize(results));
    }

    /// <summary>Options under which batch B·R in one process and R ranks of batch B compute the same gradient: every
    /// anchor and proposal is labelled positive or negative (equal fg/bg thresholds) and every one is sampled (large
    /// per-image sample sizes), RPN NMS keeps every box so each image yields exactly PostNmsTopNTrain proposals, and
    /// the images are the same size with the same number of boxes, so each loss — a mean over all sampled anchors or
    /// proposals of the batch — is the mean of equally weighted per-image means.</summary>
    internal static TwoStageOptions ExactOptions(NormLayer norm) => new()
    {
        NumClasses = 2, MinSize = 64, MaxSize = 64, FpnChannels = 16, RepresentationSize = 32, NormLayer = norm,
        AnchorSizes = [8, 16, 32, 64, 128],
        Rpn = new RpnOptions { PreNmsTopNTrain = 40, PostNmsTopNTrain = 24, PreNmsTopNTest = 40, PostNmsTopNTest = 24, NmsThresh = 1.0,
                               FgIouThresh = 0.5, BgIouThresh = 0.5, BatchSizePerImage = 1_000_000 },
        RoIHeads = new RoIHeadsOptions { BatchSizePerImage = 100_000, PositiveFraction = 0.5 },
    };

    static void Train(string dir, int batch, bool syncBn, TimeSpan timeout)
    {
        var cfg = ExperimentConfigLoader.Load($"""
            name: ddp-check
            seed: 7
            optimizer: {"{"}name: sgd, lr: 0.02, momentum: 0.9, weight_decay: 0.0001{"}"}
            schedule: {"{"}name: constant, warmup: none{"}"}
            train: {"{"}epochs: 2, batch_size: {batch}, val_every: 2{"}"}
            distributed: {"{"}timeout_s: {timeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)}, sync_batchnorm: {(syncBn ? "true" : "false")}, bucket_cap_mb: 0.05{"}"}
            output: {"{"}runs_dir: {Path.Combine(dir, "runs")}{"}"}
            """, "ddp-check.yaml");
        using var replica = DistributedReplica.JoinIfLaunched(cfg);
        var run = replica is null ? RunDirectory.Create(cfg) : replica.ShareRun(() => RunDirectory.Create(cfg));
        torch.manual_seed(3);
        using var model = FrcnnModel.ResNet18Fpn(ExactOptions(syncBn ? NormLayer.BatchNorm : NormLayer.Frozen));
        using var training = replica?.Wrap(model);
        var items = ShapesDataset.Generate(4, 21, 64);
        var val = ShapesDataset.Generate(3, 22, 64);
        var metric = new MeanAveragePrecision(0.4);
        using var trainer = new Trainer(cfg, model, new InMemoryDetectionDataset(items), new InMemoryDetectionDataset(val), metric, run, distributed: training);
        var losses = new List<double>();
        trainer.Progress += p => { if (p.Phase == "train") losses.Add(p.Losses.Values.Sum()); };
        trainer.Fit();
        var rank = replica?.Group.Rank ?? 0;
        model.save_safetensors(Path.Combine(dir, $"rank{rank}.safetensors"));
        var summary = new Dictionary<string, object>
        {
            ["rank"] = rank, ["steps"] = trainer.State.Step, ["run"] = run.Path,
            ["log_rows"] = trainer.Log.Rows.Count,
            ["losses"] = losses,
            ["validate"] = trainer.Validate(),
        };
        File.WriteAllText(Path.Combine(dir, $"rank{rank}.json"), JsonSerializer.Serialize(summary));
    }

    /// <summary>A head that skips a branch: <c>b</c> takes part only on odd steps.</summary>
    sealed class TwoBranch : CxrLab.Torch.Nn.Module<(Tensor X, bool UseB), Tensor>
    {
        readonly CxrLab.Torch.Nn.Linear a, b;

        public TwoBranch()
        {
            a = register_module("a", new CxrLab.Torch.Nn.Linear(4, 2));
            b = register_module("b", new CxrLab.Torch.Nn.Linear(4, 2));
        }

        public override Tensor forward((Tensor X, bool UseB) input) => input.UseB ? a.call(input.X) + b.call(input.X) : a.call(input.X);
    }

    static void Unused(string dir, bool findUnused, TimeSpan timeout)
    {
        var pg = dist.init_process_group("gloo", timeout);
        torch.manual_seed((ulong)(pg.Rank + 1));  // different initial weights: DDP must copy rank 0's
        using var model = new TwoBranch();
        using var ddp = new DistributedDataParallel(model, new DdpOptions { FindUnusedParameters = findUnused });
        using var opt = new CxrLab.Torch.Optim.SGD(model.parameters().ToList(), 0.1);
        for (var step = 0; step < 4; step++)
        {
            using var scope = torch.NewDisposeScope();
            var x = torch.tensor(Enumerable.Range(0, 8).Select(i => (float)Math.Sin(i + 10 * pg.Rank + step)).ToArray(), 2, 4);
            ddp.prepare_for_forward();
            var loss = model.call((x, step % 2 == 1)).square().mean();
            opt.zero_grad();
            ddp.prepare_for_backward(loss);
            loss.backward();
            opt.step();
        }
        model.save_safetensors(Path.Combine(dir, $"rank{pg.Rank}.safetensors"));
    }

    static void Wait(TimeSpan timeout)
    {
        var pg = dist.init_process_group("gloo", timeout);
        using var x = torch.ones(4);
        for (var i = 0; ; i++)
        {
            dist.all_reduce(x);
            x.fill_(1);
            if (i == 0) Console.WriteLine($"rank {pg.Rank} ready");
            Thread.Sleep(50);
        }
    }
}
