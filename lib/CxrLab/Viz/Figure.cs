using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using CxrLab.Data;
using CxrLab.Imaging;

namespace CxrLab.Viz;

/// <summary>How a scatter trace draws its points.</summary>
public enum ScatterMode { Markers, Lines, LinesAndMarkers }

/// <summary>A Plotly figure built in C#: traces (<c>data</c>), <c>layout</c> and <c>config</c>, the same
/// JSON plotly.js and Plotly.NET use. Methods add to the figure and return it, so calls chain.
/// Subplots are a grid (<see cref="Subplots"/>); every trace method takes the 1-based
/// <c>row</c>/<c>col</c> of its cell. Renders to a notebook MIME bundle
/// (<see cref="MimeTypes.Plotly"/> with an offline text/html fallback) or a standalone HTML page.
/// NaN and infinities become JSON null (a gap in the plot).</summary>
public sealed class Figure
{
    readonly List<JsonObject> traces = [];
    int rows = 1, cols = 1;

    public Figure(string? title = null)
    {
        if (title is not null) Title(title);
    }

    public IReadOnlyList<JsonObject> Traces => traces;
    public JsonObject Layout { get; } = new() { ["margin"] = new JsonObject { ["t"] = 50, ["l"] = 60, ["r"] = 20, ["b"] = 50 } };
    public JsonObject Config { get; } = new() { ["responsive"] = true, ["displaylogo"] = false };
    public int Rows => rows;
    public int Cols => cols;

    /// <summary>A grid of <paramref name="rows"/> × <paramref name="cols"/> plots with optional titles
    /// (row by row). Spacing is a fraction of the figure (plotly.py's defaults: 0.2/cols; 0.3/rows, or
    /// 0.5/rows with titles).</summary>
    public static Figure Subplots(int rows, int cols, IReadOnlyList<string>? titles = null, string? title = null,
        double? horizontalSpacing = null, double? verticalSpacing = null)
    {
        if (rows < 1 || cols < 1) throw new ArgumentException($"a subplot grid needs at least 1×1 cells, not {rows}×{cols}");
        var figure = new Figure(title) { rows = rows, cols = cols };
        var hs = horizontalSpacing ?? 0.2 / cols;
        var vs = verticalSpacing ?? (titles is null ? 0.3 : 0.5) / rows;
        var width = (1 - hs * (cols - 1)) / cols;
        var height = (1 - vs * (rows - 1)) / rows;
        var annotations = new JsonArray();
        for (var r = 1; r <= rows; r++)
        for (var c = 1; c <= cols; c++)
        {
            var n = Index(r, c, cols);
            var x0 = (c - 1) * (width + hs);
            var y1 = 1 - (r - 1) * (height + vs);
            figure.Axis('x', r, c)["domain"] = new JsonArray(Round(x0), Round(x0 + width));
            figure.Axis('x', r, c)["anchor"] = "y" + Suffix(n);
            figure.Axis('y', r, c)["domain"] = new JsonArray(Round(y1 - height), Round(y1));
            figure.Axis('y', r, c)["anchor"] = "x" + Suffix(n);
            if (titles is not null && n - 1 < titles.Count && titles[n - 1].Length > 0)
                annotations.Add(new JsonObject
                {
                    ["text"] = titles[n - 1], ["showarrow"] = false, ["xref"] = "paper", ["yref"] = "paper",
                    ["x"] = Round(x0 + width / 2), ["y"] = Round(y1), ["xanchor"] = "center", ["yanchor"] = "bottom",
                    ["font"] = new JsonObject { ["size"] = 14 },
                });
        }
        if (annotations.Count > 0) figure.Layout["annotations"] = annotations;
        return figure;
    }

    // ---- traces ----

    /// <summary>Adds a raw Plotly trace (any type plotly.js knows) to the cell at row/col.</summary>
    public Figure Add(JsonObject trace, int row = 1, int col = 1)
    {
        var n = Index(row, col, cols, rows);
        if (n > 1)
        {
            trace["xaxis"] = "x" + Suffix(n);
            trace["yaxis"] = "y" + Suffix(n);
        }
        traces.Add(trace);
        return this;
    }

    /// <summary>Bars with category labels <paramref name="x"/> and heights <paramref name="y"/>
    /// (<paramref name="horizontal"/>: labels on the y axis).</summary>
    public Figure Bar(IEnumerable<string> x, IEnumerable<double> y, string? name = null, string? color = null,
        bool horizontal = false, int row = 1, int col = 1)
    {
        var trace = Trace("bar", name, color);
        trace[horizontal ? "y" : "x"] = Strings(x);
        trace[horizontal ? "x" : "y"] = Numbers(y);
        if (horizontal) trace["orientation"] = "h";
        return Add(trace, row, col);
    }

    /// <summary>A histogram of <paramref name="values"/>; <paramref name="bins"/> is the maximum bin count (plotly's nbinsx).</summary>
    public Figure Histogram(IEnumerable<double> values, string? name = null, int? bins = null, string? color = null,
        double? opacity = null, int row = 1, int col = 1)
    {
        var trace = Trace("histogram", name, color);
        trace["x"] = Numbers(values);
        if (bins is not null) trace["nbinsx"] = bins;
        if (opacity is not null) trace["opacity"] = opacity;
        return Add(trace, row, col);
    }

    /// <summary>A box plot (quartiles, whiskers, outliers) of <paramref name="values"/>.</summary>
    public Figure BoxPlot(IEnumerable<double> values, string? name = null, string? color = null, bool showPoints = false,
        int row = 1, int col = 1)
    {
        var trace = Trace("box", name, color);
        trace["y"] = Numbers(values);
        trace["boxpoints"] = showPoints ? "all" : "outliers";
        return Add(trace, row, col);
    }

    /// <summary>Points or lines through (x, y); <paramref name="text"/> is shown on hover.</summary>
    public Figure Scatter(IEnumerable<double> x, IEnumerable<double> y, string? name = null, ScatterMode mode = ScatterMode.Markers,
        string? color = null, IEnumerable<string>? text = null, double? markerSize = null, int row = 1, int col = 1)
    {
        var trace = Trace("scatter", name, null);
        trace["x"] = Numbers(x);
        trace["y"] = Numbers(y);
        trace["mode"] = mode switch { ScatterMode.Lines => "lines", ScatterMode.LinesAndMarkers => "lines+markers", _ => "markers" };
        if (color is not null)
        {
            if (mode != ScatterMode.Markers) trace["line"] = new JsonObject { ["color"] = color };
            trace["marker"] = new JsonObject { ["color"] = color };
        }
        if (markerSize is not null) (trace["marker"] ??= new JsonObject())["size"] = markerSize;
        if (text is not null) trace["text"] = Strings(text);
        return Add(trace, row, col);
    }

    /// <summary>A line through (x, y); <paramref name="dash"/> is plotly's dash style ("dash", "dot", …).</summary>
    public Figure Line(IEnumerable<double> x, IEnumerable<double> y, string? name = null, string? color = null, string? dash = null,
        int row = 1, int col = 1)
    {
        Scatter(x, y, name, ScatterMode.Lines, color, row: row, col: col);
        if (dash is not null) ((JsonObject)(traces[^1]["line"] ??= new JsonObject()))["dash"] = dash;
        return this;
    }

    /// <summary>A heatmap of <paramref name="z"/>[row, col]; row 0 is drawn at the top. <paramref name="showValues"/>
    /// prints each cell's value (<paramref name="valueFormat"/> is a d3 format, e.g. ".2f").</summary>
    public Figure Heatmap(double[,] z, IEnumerable<string>? x = null, IEnumerable<string>? y = null, string colorscale = "Viridis",
        bool showValues = false, string valueFormat = ".3~g", string? name = null, int row = 1, int col = 1)
    {
        var trace = Trace("heatmap", name, null);
        var matrix = new JsonArray();
        for (var r = 0; r < z.GetLength(0); r++)
            matrix.Add(Numbers(Enumerable.Range(0, z.GetLength(1)).Select(c => z[r, c])));
        trace["z"] = matrix;
        if (x is not null) trace["x"] = Strings(x);
        if (y is not null) trace["y"] = Strings(y);
        trace["colorscale"] = colorscale == "Blues"
            ? new JsonArray(new JsonArray(0, "#f7fbff"), new JsonArray(0.5, "#6baed6"), new JsonArray(1, "#08306b")) // white → dark blue
            : colorscale;
        if (showValues) trace["texttemplate"] = "%{z:" + valueFormat + "}";
        Add(trace, row, col);
        Axis('y', row, col)["autorange"] = "reversed";
        return this;
    }

    /// <summary>Shows a picture (pixel coordinates: x right, y down) in the cell; boxes added with
    /// <see cref="Rectangle"/> in the same cell line up with its pixels.</summary>
    public Figure Picture(PngImage png, string? name = null, int row = 1, int col = 1)
    {
        var trace = Trace("image", name, null);
        trace["source"] = png.ToDataUri();
        Add(trace, row, col);
        Axis('y', row, col)["autorange"] = "reversed";
        Axis('y', row, col)["scaleanchor"] = "x" + Suffix(Index(row, col, cols, rows));
        Axis('x', row, col)["showgrid"] = false;
        Axis('y', row, col)["showgrid"] = false;
        return this;
    }

    /// <summary>Shows a float [0, 1] image (see <see cref="Picture(PngImage, string?, int, int)"/>).</summary>
    public Figure Picture(Image image, string? name = null, int row = 1, int col = 1) => Picture(PngImage.FromImage(image), name, row, col);

    /// <summary>Draws a box (xyxy in the cell's data coordinates) with an optional label tag at its top-left.</summary>
    public Figure Rectangle(Box box, string color = "#e6194b", string? label = null, bool dashed = false, double width = 2,
        int row = 1, int col = 1)
    {
        var n = Index(row, col, cols, rows);
        var shapes = (JsonArray)(Layout["shapes"] ??= new JsonArray());
        shapes.Add(new JsonObject
        {
            ["type"] = "rect", ["xref"] = "x" + Suffix(n), ["yref"] = "y" + Suffix(n),
            ["x0"] = box.X1, ["y0"] = box.Y1, ["x1"] = box.X2, ["y1"] = box.Y2,
            ["line"] = new JsonObject { ["color"] = color, ["width"] = width, ["dash"] = dashed ? "dash" : "solid" },
        });
        if (!string.IsNullOrEmpty(label))
        {
            var annotations = (JsonArray)(Layout["annotations"] ??= new JsonArray());
            annotations.Add(new JsonObject
            {
                ["text"] = label, ["xref"] = "x" + Suffix(n), ["yref"] = "y" + Suffix(n), ["x"] = box.X1, ["y"] = box.Y1,
                ["xanchor"] = "left", ["yanchor"] = "bottom", ["showarrow"] = false, ["bgcolor"] = color,
                ["font"] = new JsonObject { ["color"] = "white", ["size"] = 10 },
            });
        }
        return this;
    }

    // ---- layout ----

    public Figure Title(string title)
    {
        Layout["title"] = new JsonObject { ["text"] = title };
        return this;
    }

    /// <summary>Sets the size in pixels (null keeps plotly's default / the container's width).</summary>
    public Figure Size(int? width, int? height)
    {
        if (width is not null) Layout["width"] = width;
        if (height is not null) Layout["height"] = height;
        return this;
    }

    /// <summary>Sets the x axis of a cell: title, range, logarithmic scale.</summary>
    public Figure XAxis(string? title = null, double? min = null, double? max = null, bool log = false, int row = 1, int col = 1) =>
        SetAxis('x', title, min, max, log, row, col);

    /// <summary>Sets the y axis of a cell: title, range, logarithmic scale.</summary>
    public Figure YAxis(string? title = null, double? min = null, double? max = null, bool log = false, int row = 1, int col = 1) =>
        SetAxis('y', title, min, max, log, row, col);

    /// <summary>Bar mode for several bar traces: "group", "stack", "overlay", "relative".</summary>
    public Figure BarMode(string mode)
    {
        Layout["barmode"] = mode;
        return this;
    }

    public Figure ShowLegend(bool show = true)
    {
        Layout["showlegend"] = show;
        return this;
    }

    /// <summary>The layout object of a cell's x or y axis (created on first use), for any other plotly setting.</summary>
    public JsonObject Axis(char axis, int row = 1, int col = 1)
    {
        if (axis is not ('x' or 'y')) throw new ArgumentException($"axis must be 'x' or 'y', not '{axis}'", nameof(axis));
        var key = $"{axis}axis{Suffix(Index(row, col, cols, rows))}";
        return (JsonObject)(Layout[key] ??= new JsonObject());
    }

    Figure SetAxis(char axis, string? title, double? min, double? max, bool log, int row, int col)
    {
        var a = Axis(axis, row, col);
        if (title is not null) a["title"] = new JsonObject { ["text"] = title };
        if (log) a["type"] = "log";
        if (min is not null && max is not null) a["range"] = log ? new JsonArray(Math.Log10(min.Value), Math.Log10(max.Value)) : new JsonArray(min, max);
        return this;
    }

    // ---- output ----

    /// <summary>The figure as plotly.js takes it: <c>{data, layout, config}</c>.</summary>
    public JsonObject ToJson()
    {
        var layout = (JsonObject)Layout.DeepClone();
        // Unnamed traces would get "trace 0, trace 1" legend entries: no legend unless something is named.
        if (!layout.ContainsKey("showlegend") && traces.All(t => t["name"] is null)) layout["showlegend"] = false;
        return new JsonObject
        {
            ["data"] = new JsonArray(traces.Select(t => (JsonNode)t.DeepClone()).ToArray()),
            ["layout"] = layout,
            ["config"] = Config.DeepClone(),
        };
    }

    public string ToJsonString() => ToJson().ToJsonString(JsonOptions);

    /// <summary>Plotly JSON for front ends that render it (VS Code, JupyterLab with plotly), text/html
    /// drawing it with the offline plotly.js for the others (classic Jupyter, nbconvert HTML), and text/plain.</summary>
    public MimeBundle ToMimeBundle()
    {
        var json = ToJson();
        return new MimeBundle(ToString())
            .With(MimeTypes.Plotly, json)
            .With(MimeTypes.Html, PlotlyJs.DivHtml(json.ToJsonString(JsonOptions), Width, Height));
    }

    /// <summary>A standalone HTML page with plotly.js embedded (opens offline).</summary>
    public string ToHtml() => PlotlyJs.Page(ToJsonString(), TitleText ?? "CXR Lab figure", Width, Height);

    /// <summary>Writes <see cref="ToHtml"/> atomically.</summary>
    public void SaveHtml(string path) => ImageCodecs.WriteAtomically(path, System.Text.Encoding.UTF8.GetBytes(ToHtml()));

    public override string ToString()
    {
        var types = string.Join(", ", traces.Select(t => (string?)t["type"]).Distinct());
        var title = TitleText is { } t ? $" \"{t}\"" : "";
        return $"Figure{title}: {traces.Count} trace{(traces.Count == 1 ? "" : "s")} ({types}){(rows * cols > 1 ? $", {rows}×{cols} subplots" : "")}";
    }

    string? TitleText => Layout["title"]?["text"]?.GetValue<string>();
    int? Width => Layout["width"]?.GetValue<int>();
    int? Height => Layout["height"]?.GetValue<int>();

    static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = false };

    static JsonObject Trace(string type, string? name, string? color)
    {
        var trace = new JsonObject { ["type"] = type };
        if (name is not null) trace["name"] = name;
        if (color is not null) trace["marker"] = new JsonObject { ["color"] = color };
        return trace;
    }

    internal static JsonArray Numbers(IEnumerable<double> values) =>
        new(values.Select(v => double.IsFinite(v) ? JsonValue.Create(v) : null).Cast<JsonNode?>().ToArray());

    static JsonArray Strings(IEnumerable<string> values) => new(values.Select(v => (JsonNode?)JsonValue.Create(v)).ToArray());

    static double Round(double v) => Math.Round(v, 6);

    static string Suffix(int n) => n == 1 ? "" : n.ToString(CultureInfo.InvariantCulture);

    static int Index(int row, int col, int cols, int rows = int.MaxValue)
    {
        if (row < 1 || col < 1 || row > rows || col > cols)
            throw new ArgumentOutOfRangeException(nameof(row), $"cell ({row}, {col}) is outside the {rows}×{cols} subplot grid (rows and columns count from 1)");
        return (row - 1) * cols + col;
    }
}
