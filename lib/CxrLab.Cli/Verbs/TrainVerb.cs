using System.CommandLine;
using System.Runtime.InteropServices;
using CxrLab.Training;
using Spectre.Console;

namespace CxrLab.Cli.Verbs;

/// <summary>`cxr train CONFIG [--resume [RUN_DIR]] [--set key=value ...]`: runs an experiment into
/// experiments/runs/&lt;name&gt;/&lt;timestamp&gt;/; Ctrl+C or SIGTERM saves the state so --resume continues exactly.
/// With --nproc-per-node N it starts N data-parallel workers (<see cref="DistributedLauncher"/>); a process that a
/// launcher started as a worker (RANK/WORLD_SIZE in its environment) joins the run (<see cref="DistributedReplica"/>).</summary>
public static class TrainVerb
{
    public static Command Create()
    {
        var config = new Argument<string>("config") { Description = "Experiment YAML, e.g. experiments/vinbig_frcnn_A.yaml" };
        var resume = new Option<string?>("--resume")
        {
            Description = "Continue a run: its folder, or nothing for the newest run of this config's name",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var set = new Option<string[]>("--set") { Description = "Override a config value: --set optimizer.lr=0.005 (repeatable)", AllowMultipleArgumentsPerToken = false };
        var command = new Command("train", "Train a detector from an experiment config (resumable)") { config, resume, set };
        var launch = new DistributedLauncher.Options();
        launch.AddTo(command);
        command.SetAction(parse =>
        {
            if (launch.From(parse) is { } workers)
                return DistributedLauncher.Run(workers, DistributedLauncher.WorkerArguments(Environment.GetCommandLineArgs().Skip(1)));
            ExperimentConfig cfg;
            try { cfg = ExperimentConfigLoader.LoadFile(parse.GetValue(config)!, parse.GetValue(set) ?? []); }
            catch (ConfigException e) { AnsiConsole.MarkupLine($"[red]config error:[/] {Markup.Escape(e.Message)}"); return 2; }

            using var replica = DistributedReplica.JoinIfLaunched(cfg);
            var resuming = parse.GetResult(resume) is not null;
            RunDirectory? OpenRun()
            {
                if (!resuming) return RunDirectory.Create(cfg);
                var path = parse.GetValue(resume);
                var found = string.IsNullOrEmpty(path) ? RunDirectory.Latest(cfg) : RunDirectory.Open(path);
                if (found is null) AnsiConsole.MarkupLine($"[red]no run of '{Markup.Escape(cfg.Name)}' with a checkpoint under {Markup.Escape(cfg.Output.RunsDir)}[/]; start without --resume");
                return found;
            }
            var run = replica is null ? OpenRun() : replica.ShareRun(OpenRun);
            if (run is null) return 2;
            var quiet = replica is { IsWriter: false };  // rank 0 reports for the run

            if (!quiet) AnsiConsole.MarkupLine($"[bold]{Markup.Escape(cfg.Name)}[/] → {Markup.Escape(run.Path)}" +
                                               (replica is null ? "" : $" ({replica.Group.WorldSize} data-parallel ranks, {replica.Group.Backend})"));
            using var model = ExperimentRunner.BuildModel(cfg, msg => AnsiConsole.MarkupLine(Markup.Escape(msg)));
            using var replicaTraining = replica?.Wrap(model);
            ExperimentRunner.Log = msg => AnsiConsole.MarkupLine(Markup.Escape(msg));
            var (trainSet, valSet) = ExperimentRunner.Datasets(cfg);
            var metric = ExperimentRunner.Metric(valSet);
            using var trainer = new Trainer(cfg, model, trainSet, valSet, metric, run, distributed: replicaTraining);
            if (trainer.PrecisionNote is { } precision && !quiet) AnsiConsole.MarkupLine(Markup.Escape(precision));
            if (resuming)
            {
                trainer.Resume(run.LastCheckpoint);
                if (!quiet) AnsiConsole.MarkupLine($"resuming at epoch {trainer.State.Epoch}, batch {trainer.State.BatchInEpoch}, step {trainer.State.Step}");
                if (trainer.ResumeNote is { } note && !quiet) AnsiConsole.MarkupLine($"[yellow]{Markup.Escape(note)}[/]");
            }
            using var cts = new CancellationTokenSource();
            ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cts.Cancel(); };
            Console.CancelKeyPress += onCancel;
            // `kill`, `docker stop` and batch schedulers send SIGTERM before killing: stop as for Ctrl+C, saving the state.
            using var onTerminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context => { context.Cancel = true; cts.Cancel(); });
            TrainingOutcome outcome = TrainingOutcome.Completed;
            var batches = ((replicaTraining?.SamplesPerRank(trainSet.Count) ?? trainSet.Count) + cfg.Train.BatchSize - 1) / cfg.Train.BatchSize;
            try
            {
                if (quiet) outcome = trainer.Fit(cts.Token);
                else AnsiConsole.Progress()
                    .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
                    .Start(ctx =>
                    {
                        var task = ctx.AddTask("training", maxValue: (double)cfg.Train.Epochs * batches);
                        task.Value = trainer.State.Epoch * (double)batches + trainer.State.BatchInEpoch;
                        trainer.Progress += p =>
                        {
                            if (p.Phase == "train")
                            {
                                task.Value = p.Epoch * (double)batches + p.Batch;
                                var losses = string.Join(" ", p.Losses.Select(kv => $"{kv.Key.Replace("loss_", "")}={kv.Value:0.000}"));
                                task.Description = Markup.Escape($"epoch {p.Epoch + 1}/{p.Epochs} {losses} lr={p.Lr:0.#####} {p.ImagesPerSecond:0.0} img/s");
                            }
                            else
                            {
                                AnsiConsole.MarkupLine(Markup.Escape($"epoch {p.Epoch + 1}: {string.Join(" ", p.Losses.Select(kv => $"{kv.Key}={kv.Value:0.0000}"))}"));
                                // Which classes carry the mean: AP per class with its truth count.
                                if (metric is VinBigValidationMetric { Last: { } last })
                                    AnsiConsole.MarkupLine(Markup.Escape("  AP " + string.Join(" ", last.PerClass.OrderBy(c => c.Label)
                                        .Select(c => $"{c.Label}:{c.Ap:0.00}(n{c.TruthCount})"))));
                            }
                        };
                        outcome = trainer.Fit(cts.Token);
                    });
            }
            finally { Console.CancelKeyPress -= onCancel; }
            if (quiet) return outcome == TrainingOutcome.Cancelled ? 130 : 0;
            switch (outcome)
            {
                case TrainingOutcome.Cancelled:
                    AnsiConsole.MarkupLine($"[yellow]interrupted[/]; state saved. Continue with: ./cxr train {Markup.Escape(parse.GetValue(config)!)} --resume {Markup.Escape(run.Path)}");
                    return 130;
                case TrainingOutcome.EarlyStopped:
                    AnsiConsole.MarkupLine($"stopped early: no gain for {cfg.Train.EarlyStoppingPatience} validations (best {trainer.State.EarlyStopping.Best:0.0000} at epoch {trainer.State.EarlyStopping.BestEpoch + 1})");
                    break;
            }
            var plots = RunReport.WritePlots(run.PlotsDir, trainer.Log.Rows, (metric as VinBigValidationMetric)?.Last, CxrLab.Data.VinBigClasses.Names);
            AnsiConsole.MarkupLine($"done: metrics {Markup.Escape(run.MetricsCsv)}, checkpoints {Markup.Escape(run.CheckpointDir)}" +
                                   (plots.Count > 0 ? $", plots {Markup.Escape(string.Join(", ", plots.Select(Path.GetFileName)))}" : ""));
            return 0;
        });
        return command;
    }
}
