using System.Diagnostics;
using CxrLab.Diagnostics;
using CxrLab.Viz;

namespace CxrLab.Training;

/// <summary>How a live-plotted run ended: the outcome, steps, wall time and the validation metric per epoch.</summary>
public sealed record LiveTrainingResult(TrainingOutcome Outcome, long Steps, TimeSpan Elapsed, string Metric, IReadOnlyList<(int Epoch, double Value)> Validation)
{
    /// <summary>The last validation value (NaN before the first validation).</summary>
    public double LastMetric => Validation.Count > 0 ? Validation[^1].Value : double.NaN;

    public override string ToString() =>
        $"{Outcome} after {Steps} steps in {Elapsed.TotalSeconds:0} s; last {Metric} = {LastMetric:0.0000}";
}

/// <summary>A training run in a notebook cell, for any detector: learning curves (every loss per optimizer step, the
/// validation metric per epoch) redrawn in place while it trains, a progress bar with the epoch, loss and speed, and the
/// notebook's interrupt button stopping it cleanly (the state is saved; <see cref="Trainer.Resume"/> continues). Outside a
/// notebook it trains silently. One call: <c>LiveTraining.Fit(trainer)</c>.</summary>
public static class LiveTraining
{
    public static LiveTrainingResult Fit(Trainer trainer, string title = "Learning curves")
    {
        var config = trainer.Config;
        var metricName = trainer.Metric.Name;
        var losses = new List<LearningPoint>();
        var validation = new List<(int Epoch, double Value)>();
        Figure Curves()
        {
            var figure = Figure.Subplots(1, 2, ["training losses (per optimizer step)", $"{metricName} (per epoch)"], title: title);
            var colour = 0;
            foreach (var series in losses.GroupBy(p => p.Series))
                figure.Line(series.Select(p => p.Step), series.Select(p => p.Value), series.Key, ClassColors.Of(colour++).Hex);
            figure.Scatter(validation.Select(v => (double)v.Epoch), validation.Select(v => v.Value), metricName, ScatterMode.LinesAndMarkers, "#000075", row: 1, col: 2);
            return figure.XAxis("step").YAxis("loss").XAxis("epoch", row: 1, col: 2).YAxis(metricName, 0, null, row: 1, col: 2).Size(null, 400);
        }
        var live = Display.Sink is null ? null : Display.Show(Curves());
        using var bar = Progress.Start((long)config.Train.Epochs * trainer.BatchesPerEpoch, "training");
        var redraw = Stopwatch.StartNew();
        void OnProgress(TrainingProgress p)
        {
            if (p.Phase == "train")
            {
                foreach (var (name, value) in p.Losses) losses.Add(new LearningPoint(p.Step, name, value));
                bar.Advance(1, $"epoch {p.Epoch + 1}/{p.Epochs}, loss {p.Losses.Values.Sum():0.000}, {p.ImagesPerSecond:0.0} img/s");
            }
            else if (p.Losses.TryGetValue(metricName, out var value)) validation.Add((p.Epoch + 1, value));
            // Redraw at most a few times a second: a figure per step would flood the front end.
            if (live is not null && (p.Phase != "train" || redraw.Elapsed > Progress.MinimumInterval))
            {
                live.Update(Curves());
                redraw.Restart();
            }
        }
        var clock = Stopwatch.StartNew();
        trainer.Progress += OnProgress;
        TrainingOutcome outcome;
        try { outcome = trainer.Fit(Cancellation.Current); }   // the interrupt button cancels Cancellation.Current
        finally { trainer.Progress -= OnProgress; }
        live?.Update(Curves());
        bar.Complete();
        return new LiveTrainingResult(outcome, trainer.State.Step, clock.Elapsed, metricName, validation);
    }
}
