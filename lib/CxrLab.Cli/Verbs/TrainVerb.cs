using System.CommandLine;
using System.Runtime.InteropServices;
using CxrLab.Experiments;
using CxrLab.Tasks;
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
            var cfg = ExperimentConfigLoader.LoadFile(parse.GetValue(config)!, parse.GetValue(set) ?? []);
            using var replica = DistributedReplica.JoinIfLaunched(cfg);

            var resuming = parse.GetResult(resume) is not null;
            RunDirectory OpenRun()
            {
                if (!resuming) return RunDirectory.Create(cfg);
                var path = parse.GetValue(resume);
                var found = string.IsNullOrEmpty(path) ? RunDirectory.Latest(cfg) : RunDirectory.Open(path);
                return found ?? throw new UsageException($"--resume: no run of '{cfg.Name}' with a checkpoint under {cfg.Output.RunsDir}; start without --resume");
            }
            var run = replica is null ? OpenRun() : replica.ShareRun(OpenRun);
            var quiet = replica is { IsWriter: false };  // rank 0 reports for the run

            if (!quiet) AnsiConsole.MarkupLine($"[bold]{Markup.Escape(cfg.Name)}[/] → {Markup.Escape(run.Path)}" +
                                               (replica is null ? "" : $" ({replica.Group.WorldSize} data-parallel ranks, {replica.Group.Backend})"));
            void Say(string msg)
            {
                if (quiet) return;
                AnsiConsole.MarkupLine(Markup.Escape(msg));
                File.AppendAllText(run.LogFile, msg + Environment.NewLine);  // data preparation (folds, resampling, category) stays with the run
            }
            var task = DetectionTasks.Find(cfg.Data.Dataset);
            var data = ExperimentRunner.Data(cfg, Say);
            using var model = ExperimentRunner.BuildModel(cfg, Say);
            using var replicaTraining = replica?.Wrap(model.Module);
            using var trainer = new Trainer(cfg, model, data.Train, data.Validation, data.Metric, run, distributed: replicaTraining);
            if (trainer.PrecisionNote is { } precision) Say(precision);
            if (trainer.RecipeNote is { } recipeNote && !quiet) AnsiConsole.MarkupLine(Markup.Escape(recipeNote));  // the trainer wrote it to train.log
            trainer.Note += note => { if (!quiet) AnsiConsole.MarkupLine(Markup.Escape(note)); };
            if (resuming)
            {
                trainer.Resume(run.LastCheckpoint);
                Say($"resuming at epoch {trainer.State.Epoch}, batch {trainer.State.BatchInEpoch}, step {trainer.State.Step}");
                if (trainer.ResumeNote is { } note) Say(note);
            }
            using var cts = new CancellationTokenSource();
            ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cts.Cancel(); };
            Console.CancelKeyPress += onCancel;
            // `kill`, `docker stop` and batch schedulers send SIGTERM before killing: stop as for Ctrl+C, saving the state.
            using var onTerminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context => { context.Cancel = true; cts.Cancel(); });
            TrainingOutcome outcome;
            try { outcome = quiet ? trainer.Fit(cts.Token) : TrainingConsole.Fit(trainer, task.MetricClassNames, cts.Token); }
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
            var plots = RunReport.WritePlots(run.PlotsDir, trainer.Log.Rows, data.Metric.Last, task.MetricClassNames);
            AnsiConsole.MarkupLine($"done: metrics {Markup.Escape(run.MetricsCsv)}, checkpoints {Markup.Escape(run.CheckpointDir)}" +
                                   (plots.Count > 0 ? $", plots {Markup.Escape(string.Join(", ", plots.Select(Path.GetFileName)))}" : ""));
            return 0;
        });
        return command;
    }
}
