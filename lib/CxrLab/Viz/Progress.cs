using System.Diagnostics;
using System.Net;
using CxrLab.Diagnostics;

namespace CxrLab.Viz;

/// <summary>A progress bar shown in a notebook cell and updated in place (update_display_data).
/// Updates are throttled (at most one per <see cref="MinimumInterval"/>) so a fast loop does not
/// flood the front end. Outside a notebook it stays silent (the CLI has its own progress display).
/// <see cref="Track{T}"/> also observes <see cref="Cancellation.Current"/>, so a loop over it stops
/// when the notebook's interrupt button is pressed.</summary>
public sealed class Progress : IDisposable
{
    /// <summary>Shortest time between two in-place updates.</summary>
    public static TimeSpan MinimumInterval { get; set; } = TimeSpan.FromMilliseconds(200);

    readonly Stopwatch clock = Stopwatch.StartNew();
    readonly DisplayHandle? handle;
    TimeSpan lastShown = TimeSpan.MinValue;
    bool finished;

    Progress(long total, string label)
    {
        Total = total;
        Label = label;
        if (Display.Sink is not null) handle = Display.Show(this);
        lastShown = clock.Elapsed;
    }

    public long Total { get; }
    public string Label { get; }
    public long Done { get; private set; }
    public string Status { get; private set; } = "";
    public TimeSpan Elapsed => clock.Elapsed;

    /// <summary>Shows a bar for <paramref name="total"/> steps.</summary>
    public static Progress Start(long total, string label = "") => new(Math.Max(0, total), label);

    /// <summary>Yields every item while advancing a bar; throws <see cref="OperationCanceledException"/>
    /// between items once <see cref="Cancellation.Current"/> is cancelled.</summary>
    public static IEnumerable<T> Track<T>(IEnumerable<T> items, string label = "", long? total = null)
    {
        var count = total ?? (items.TryGetNonEnumeratedCount(out var n) ? n : 0);
        using var progress = Start(count, label);
        foreach (var item in items)
        {
            Cancellation.ThrowIfRequested();
            yield return item;
            progress.Advance();
        }
        progress.Complete();
    }

    /// <summary>Moves forward by <paramref name="steps"/>; <paramref name="status"/> is shown beside the bar (e.g. the loss).</summary>
    public void Advance(long steps = 1, string? status = null)
    {
        Done += steps;
        if (status is not null) Status = status;
        if (clock.Elapsed - lastShown >= MinimumInterval || (Total > 0 && Done >= Total)) Refresh();
    }

    /// <summary>Sets the status text and redraws (throttled).</summary>
    public void Report(long done, string? status = null) => Advance(done - Done, status);

    /// <summary>Marks the bar finished and draws its final state.</summary>
    public void Complete()
    {
        finished = true;
        Refresh();
    }

    void Refresh()
    {
        lastShown = clock.Elapsed;
        handle?.Update(this);
    }

    public void Dispose()
    {
        if (!finished) Refresh();
    }

    double Fraction => Total > 0 ? Math.Clamp((double)Done / Total, 0, 1) : 0;

    /// <summary>Plain-text form: <c>label [#####.....] 50/100 (3.2 s) status</c>.</summary>
    public override string ToString()
    {
        const int width = 30;
        var filled = (int)Math.Round(Fraction * width);
        var count = Total > 0 ? $"{Done}/{Total}" : $"{Done}";
        var text = $"{Label} [{new string('#', filled)}{new string('.', width - filled)}] {count} ({Elapsed.TotalSeconds:F1} s)";
        return Status.Length > 0 ? $"{text} {Status}" : text;
    }

    /// <summary>HTML form: a native &lt;progress&gt; element with the counts beside it.</summary>
    public string ToHtml()
    {
        var count = Total > 0 ? $"{Done}/{Total}" : $"{Done}";
        var max = Total > 0 ? Total : Math.Max(1, Done);
        return $"<div style=\"font-family:monospace\">{WebUtility.HtmlEncode(Label)} " +
               $"<progress value=\"{Done}\" max=\"{max}\" style=\"width:300px\"></progress> " +
               $"{count} ({Elapsed.TotalSeconds:F1} s) {WebUtility.HtmlEncode(Status)}</div>";
    }
}
