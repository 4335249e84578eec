using System.CommandLine;
using System.Runtime.InteropServices;
using CxrLab.Experiments;
using CxrLab.Tasks;
using CxrLab.Training;
using Spectre.Console;

namespace CxrLab.Cli.Verbs;

/// <summary>`cxr train CONFIG [--resume [RUN_DIR]] [--set key=value ...]`: runs an experiment into
/// experiments/runs/&lt;name&gt;/&lt;timestamp&gt;/; Ctrl+C or SIGTERM saves the state so --resume continues exactly.</summary>
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
        command.SetAction(parse =>
        {
            var cfg = ExperimentConfigLoader.LoadFile(parse.GetValue(config)!, parse.GetValue(set) ?? []);

            var resuming = parse.GetResult(resume) is not null;
            RunDirectory run;
            if (resuming)
            {
                var path = parse.GetValue(resume);
                var found = string.IsNullOrEmpty(path) ? RunDirectory.Latest(cfg) : RunDirectory.Open(path);
                run = found ?? throw new UsageException($"--resume: no run of '{cfg.Name}' with a checkpoint under {cfg.Output.RunsDir}; start without --resume");
            }
            else run = RunDirectory.Create(cfg);

            AnsiConsole.MarkupLine($"[bold]{Markup.Escape(cfg.Name)}[/] → {Markup.Escape(run.Path)}");
            void Say(string msg) => AnsiConsole.MarkupLine(Markup.Escape(msg));
            var task = DetectionTasks.Find(cfg.Data.Dataset);
            var data = ExperimentRunner.Data(cfg, Say);
            using var model = ExperimentRunner.BuildModel(cfg, Say);
            using var trainer = new Trainer(cfg, model, data.Train, data.Validation, data.Metric, run);
            if (trainer.PrecisionNote is { } precision) Say(precision);
            if (resuming)
            {
                trainer.Resume(run.LastCheckpoint);
                Say($"resuming at epoch {trainer.State.Epoch}, batch {trainer.State.BatchInEpoch}, step {trainer.State.Step}");
            }
            using var cts = new CancellationTokenSource();
            ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cts.Cancel(); };
            Console.CancelKeyPress += onCancel;
            // `kill`, `docker stop` and batch schedulers send SIGTERM before killing: stop as for Ctrl+C, saving the state.
            using var onTerminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context => { context.Cancel = true; cts.Cancel(); });
            TrainingOutcome outcome;
            try { outcome = TrainingConsole.Fit(trainer, task.ClassNames, cts.Token); }
            finally { Console.CancelKeyPress -= onCancel; }
            switch (outcome)
            {
                case TrainingOutcome.Cancelled:
                    AnsiConsole.MarkupLine($"[yellow]interrupted[/]; state saved. Continue with: ./cxr train {Markup.Escape(parse.GetValue(config)!)} --resume {Markup.Escape(run.Path)}");
                    return 130;
                case TrainingOutcome.EarlyStopped:
                    AnsiConsole.MarkupLine($"stopped early: no gain for {cfg.Train.EarlyStoppingPatience} validations (best {trainer.State.EarlyStopping.Best:0.0000} at epoch {trainer.State.EarlyStopping.BestEpoch + 1})");
                    break;
            }
            var plots = RunReport.WritePlots(run.PlotsDir, trainer.Log.Rows, data.Metric.Last, task.ClassNames);
            AnsiConsole.MarkupLine($"done: metrics {Markup.Escape(run.MetricsCsv)}, checkpoints {Markup.Escape(run.CheckpointDir)}" +
                                   (plots.Count > 0 ? $", plots {Markup.Escape(string.Join(", ", plots.Select(Path.GetFileName)))}" : ""));
            return 0;
        });
        return command;
    }
}
