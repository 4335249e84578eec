using System.Text;

namespace CxrLab.Viz;

/// <summary>How a figure's text/html fallback gets plotly.js.</summary>
public enum PlotlyEmbedding
{
    /// <summary>The first figure shown in this process embeds plotly.js; later ones reuse the page's
    /// <c>window.Plotly</c> (like plotly.py's notebook mode). Keeps a notebook small.</summary>
    OncePerSession,

    /// <summary>Every figure embeds plotly.js (~4.8 MB each); each output stands alone.</summary>
    EveryFigure,
}

/// <summary>Finds the offline plotly.js bundle (npm package <c>plotly.js-dist-min</c>, installed by
/// <c>./cxr</c> into <c>build/node_modules</c>) and writes the HTML that draws a figure with it.
/// Nothing is fetched from the network: without the bundle the HTML says how to install it.</summary>
public static class PlotlyJs
{
    /// <summary>The pinned npm version <c>./cxr</c> installs.</summary>
    public const string PinnedVersion = "4.1.2";

    const string RelativePath = "build/node_modules/plotly.js-dist-min/plotly.min.js";

    /// <summary>Marks HTML that carries the library, so an in-place update of it keeps carrying it.</summary>
    internal const string EmbedMarker = "<!-- cxr:plotly.js -->";
    static readonly Lazy<string?> script = new(() => Locate() is { } path ? File.ReadAllText(path) : null);
    static int embedded;

    public static PlotlyEmbedding Embedding { get; set; } = PlotlyEmbedding.OncePerSession;

    /// <summary>Path of plotly.min.js: <c>$CXR_PLOTLY_JS</c>, else <c>build/node_modules/…</c> under
    /// <c>$CXR_ROOT</c> or any folder above this assembly; null when not installed.</summary>
    public static string? Locate()
    {
        var env = Environment.GetEnvironmentVariable("CXR_PLOTLY_JS");
        if (!string.IsNullOrEmpty(env)) return File.Exists(env) ? env : null;
        var roots = new List<string>();
        if (Environment.GetEnvironmentVariable("CXR_ROOT") is { Length: > 0 } root) roots.Add(root);
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent) roots.Add(dir.FullName);
        return roots.Select(r => Path.Combine(r, RelativePath)).FirstOrDefault(File.Exists);
    }

    /// <summary>The library's source, or null when it is not installed.</summary>
    public static string? Script => script.Value;

    /// <summary>Forgets that plotly.js was embedded (the next figure embeds it again), e.g. after a kernel restart.</summary>
    public static void ResetSession() => Interlocked.Exchange(ref embedded, 0);

    /// <summary>A &lt;script&gt; that defines <c>window.Plotly</c>. The library is wrapped so that
    /// CommonJS/AMD loaders on the page (require.js in classic Jupyter) cannot capture it.</summary>
    public static string ScriptTag()
    {
        var source = Script ?? throw new FileNotFoundException(
            $"plotly.js is not installed ({RelativePath}); run ./cxr once, or set CXR_PLOTLY_JS to a plotly.min.js");
        return new StringBuilder(source.Length + 200)
            .Append(EmbedMarker)
            .Append("<script type=\"text/javascript\">(function(module, exports, define){\n")
            .Append(source)
            .Append("\n}).call(window);</script>")
            .ToString();
    }

    /// <summary>HTML (a div and a script) drawing <paramref name="figureJson"/>; embeds the library
    /// according to <see cref="Embedding"/>, or <paramref name="forceEmbed"/>.</summary>
    public static string DivHtml(string figureJson, int? width, int? height, bool forceEmbed = false)
    {
        var id = "cxr-plot-" + Guid.NewGuid().ToString("N");
        var html = new StringBuilder();
        var embed = forceEmbed || Embedding == PlotlyEmbedding.EveryFigure || Interlocked.Exchange(ref embedded, 1) == 0;
        if (embed)
        {
            if (Script is null)
                html.Append("<div style=\"color:#a00\">plotly.js is not installed (build/node_modules/plotly.js-dist-min): run ./cxr once to install it.</div>");
            else
                html.Append(ScriptTag());
        }
        var style = $"width:{(width is null ? "100%" : width + "px")};height:{height ?? 450}px";
        html.Append($"<div id=\"{id}\" class=\"cxr-plotly\" style=\"{style}\"></div>\n");
        // Waits for window.Plotly (the embedding output may render after this one), then draws.
        html.Append("<script type=\"text/javascript\">(function(){var fig=").Append(figureJson.Replace("</", "<\\/"))
            .Append($";var tries=0;function draw(){{var el=document.getElementById('{id}');")
            .Append("if(window.Plotly&&el){window.Plotly.newPlot(el,fig.data,fig.layout,fig.config||{});}")
            .Append("else if(++tries<200){setTimeout(draw,50);}")
            .Append("else if(el){el.innerText='plotly.js was not loaded on this page: run the notebook\\'s first plot cell again.';}}draw();})();</script>");
        return html.ToString();
    }

    /// <summary>Makes <paramref name="bundle"/> carry plotly.js in its HTML (for an update replacing the
    /// output that embedded it: later figures on the page rely on it).</summary>
    internal static void EnsureEmbedded(MimeBundle bundle)
    {
        if (bundle.Data.TryGetValue(MimeTypes.Html, out var html) && html is string h && h.Contains(EmbedMarker, StringComparison.Ordinal)) return;
        if (Script is null) return;
        if (bundle.Data.TryGetValue(MimeTypes.Plotly, out var json) && json is System.Text.Json.Nodes.JsonNode figure)
        {
            var layout = figure["layout"];
            bundle.With(MimeTypes.Html, DivHtml(figure.ToJsonString(), (int?)layout?["width"], (int?)layout?["height"], forceEmbed: true));
        }
        else
        {
            var body = bundle.Data.TryGetValue(MimeTypes.Html, out var existing) && existing is string e
                ? e
                : "<pre>" + System.Net.WebUtility.HtmlEncode(bundle.PlainText ?? "") + "</pre>";
            bundle.With(MimeTypes.Html, ScriptTag() + body);
        }
    }

    /// <summary>A standalone HTML page with the library embedded (opens offline in any browser).</summary>
    public static string Page(string figureJson, string title, int? width, int? height) =>
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" + System.Net.WebUtility.HtmlEncode(title) + "</title></head><body>\n"
        + DivHtml(figureJson, width, height, forceEmbed: true) + "\n</body></html>\n";
}
