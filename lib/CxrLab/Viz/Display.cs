namespace CxrLab.Viz;

/// <summary>Where displayed values go: a notebook kernel installs one (display_data /
/// update_display_data on its iopub channel). Implementations must be thread-safe.</summary>
public interface IDisplaySink
{
    /// <summary>Shows a bundle; <paramref name="displayId"/> names it for later updates (null: not updatable).</summary>
    void Show(MimeBundle bundle, string? displayId);

    /// <summary>Replaces a bundle shown earlier with the same <paramref name="displayId"/>.</summary>
    void Update(MimeBundle bundle, string displayId);
}

/// <summary>A value shown with an id, so it can be replaced in place (live plots, progress bars).</summary>
public sealed class DisplayHandle(string displayId)
{
    public string DisplayId { get; } = displayId;

    /// <summary>True when this output carries plotly.js for the page (the session's first figure).</summary>
    internal bool CarriesPlotlyJs { get; set; }

    /// <summary>Replaces what this handle shows with <paramref name="value"/>, formatted by <see cref="Formatters"/>.</summary>
    public void Update(object? value)
    {
        var sink = Display.Sink;
        if (sink is null) return;
        var bundle = Formatters.Format(value);
        // Later figures on the page use the plotly.js this output brought: the update must keep it.
        if (CarriesPlotlyJs) PlotlyJs.EnsureEmbedded(bundle);
        sink.Update(bundle, DisplayId);
    }

    public override string ToString() => $"DisplayHandle({DisplayId})";
}

/// <summary><c>display(x)</c>: renders any value through <see cref="Formatters"/> into the current
/// <see cref="Sink"/> (the notebook). Outside a notebook (no sink) the plain-text form goes to the console.</summary>
public static class Display
{
    static volatile IDisplaySink? sink;

    /// <summary>The notebook kernel's sink, or null outside a notebook.</summary>
    public static IDisplaySink? Sink
    {
        get => sink;
        set => sink = value;
    }

    /// <summary>Shows <paramref name="value"/> and returns a handle that can update it in place.</summary>
    public static DisplayHandle Show(object? value, string? displayId = null)
    {
        var handle = new DisplayHandle(displayId ?? Guid.NewGuid().ToString("N"));
        var bundle = Formatters.Format(value);
        handle.CarriesPlotlyJs = bundle.Data.TryGetValue(MimeTypes.Html, out var html) && html is string h && h.Contains(PlotlyJs.EmbedMarker, StringComparison.Ordinal);
        var target = sink;
        if (target is not null) target.Show(bundle, handle.DisplayId);
        else Console.WriteLine(bundle.PlainText);
        return handle;
    }
}
