using CxrLab.Training;
using Spectre.Console;

namespace CxrLab.Cli;

/// <summary>The terminal's view of a training run, written once for <c>train</c>, <c>demo</c> and every detector: a bar
/// with epoch, losses, learning rate and speed; after each validation the metric and the AP of every class by name.</summary>
public static class TrainingConsole
{
    /// <summary>Runs <paramref name="trainer"/> to its end (or cancellation) under the display.</summary>
    /// <param name="trainer">The trainer, possibly resumed.</param>
    /// <param name="classNames">Task class names by id, for the per-class AP line.</param>
    /// <param name="cancellation">Stops after the current step, saving the state.</param>
    /// <param name="autoClear">Remove the bar when done (the demo keeps it).</param>
    public static TrainingOutcome Fit(Trainer trainer, IReadOnlyList<string> classNames, CancellationToken cancellation = default, bool autoClear = false)
    {
        var config = trainer.Config;
        var batches = trainer.BatchesPerEpoch;
        var outcome = TrainingOutcome.Completed;
        AnsiConsole.Progress().AutoClear(autoClear)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask("training", maxValue: (double)config.Train.Epochs * batches);
                task.Value = trainer.State.Epoch * (double)batches + trainer.State.BatchInEpoch;
                void OnProgress(TrainingProgress p)
                {
                    if (p.Phase == "train")
                    {
                        task.Value = p.Epoch * (double)batches + p.Batch;
                        var losses = string.Join(" ", p.Losses.Select(kv => $"{kv.Key.Replace("loss_", "")}={kv.Value:0.000}"));
                        task.Description = Markup.Escape($"epoch {p.Epoch + 1}/{p.Epochs} {losses} lr={p.Lr:0.#####} {p.ImagesPerSecond:0.0} img/s");
                        return;
                    }
                    AnsiConsole.MarkupLine(Markup.Escape($"epoch {p.Epoch + 1}: {string.Join(" ", p.Losses.Select(kv => $"{kv.Key}={kv.Value:0.0000}"))}"));
                    if (trainer.Metric.Last is { } last)
                        AnsiConsole.MarkupLine(Markup.Escape("  AP " + PerClassAp(last, classNames)));
                }
                trainer.Progress += OnProgress;
                try { outcome = trainer.Fit(cancellation); }
                finally { trainer.Progress -= OnProgress; }
                if (outcome == TrainingOutcome.Completed) task.Value = task.MaxValue;
            });
        return outcome;
    }

    /// <summary>"Aortic enlargement 0.83 (n12), Atelectasis 0.10 (n3), …": AP and truth count per class, by name.</summary>
    public static string PerClassAp(Evaluation.MapResult result, IReadOnlyList<string> classNames) =>
        string.Join(", ", result.PerClass.OrderBy(c => c.Label).Select(c =>
            $"{(c.Label >= 0 && c.Label < classNames.Count ? classNames[c.Label] : c.Label.ToString(System.Globalization.CultureInfo.InvariantCulture))} {c.Ap:0.00} (n{c.TruthCount})"));
}
