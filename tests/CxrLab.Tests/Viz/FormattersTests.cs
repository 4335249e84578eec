using System.Text.Json.Nodes;
using CxrLab.Imaging;
using CxrLab.Torch;
using CxrLab.Viz;

namespace CxrLab.Tests.Viz;

/// <summary>Every MIME type the formatter registry produces, and its rules (text/plain always,
/// most-derived registration wins, a failing formatter degrades to text).</summary>
public sealed class FormattersTests
{
    sealed record Sample(string Name, int Count, double Score);

    [Fact]
    public void Scalars_and_strings_are_plain_text_in_invariant_culture()
    {
        Assert.Equal(new[] { "text/plain" }, Formatters.Format(1.5).Data.Keys);
        Assert.Equal("1.5", Formatters.Format(1.5).PlainText);
        Assert.Equal("hello", Formatters.Format("hello").PlainText);
        Assert.Equal("null", Formatters.Format(null).PlainText);
        Assert.Equal("[1, 2, 3]", Formatters.Format(new List<int> { 1, 2, 3 }).PlainText);
    }

    [Fact]
    public void A_sequence_of_records_is_an_html_table_with_escaped_cells()
    {
        var rows = new[] { new Sample("a<b>", 3, 0.25), new Sample("c&d", 4, 1.0 / 3) };
        var bundle = Formatters.Format(rows.Where(r => r.Count > 0));
        var html = (string)bundle.Data["text/html"];
        Assert.Equal(3, html.Split("</th>").Length - 1);
        Assert.Equal(2, html.Split("<tr>").Length - 2); // header row + 2 rows
        Assert.Contains("a&lt;b&gt;", html);
        Assert.Contains("c&amp;d", html);
        Assert.Contains("0.333333", html);
        Assert.StartsWith("Name", bundle.PlainText);
    }

    [Fact]
    public void Long_tables_are_cut_with_a_count_of_the_rest()
    {
        var table = HtmlTable.From(Enumerable.Range(0, 120).Select(i => new Sample($"r{i}", i, i)), maxRows: 50);
        Assert.Equal(50, table.Rows.Count);
        Assert.Equal(120, table.TotalRows);
        Assert.Contains("70 more rows", table.ToHtml());
    }

    [Fact]
    public void An_image_becomes_a_png_that_decodes_to_the_same_pixels()
    {
        var image = new Image(new float[] { 0f, 0.5f, 1f, 0.25f, 0.75f, 1f }, 2, 3);
        var bundle = Formatters.Format(image);
        var png = Convert.FromBase64String((string)bundle.Data["image/png"]);
        var decoded = ImageCodecs.Decode(png);
        Assert.Equal((2, 3, 1), (decoded.Rows, decoded.Cols, decoded.Channels));
        Assert.Equal(new byte[] { 0, 128, 255, 64, 191, 255 }, (byte[])decoded.Pixels);
        Assert.Equal(3, (int)bundle.Metadata["image/png"]!["width"]!);
        Assert.NotNull(bundle.PlainText);
    }

    [Fact]
    public void A_figure_carries_plotly_json_an_html_fallback_and_text()
    {
        var bundle = Formatters.Format(new Figure("t").Scatter([1, 2, double.NaN], [3, 4, 5], "s"));
        var json = (JsonObject)bundle.Data["application/vnd.plotly.v1+json"];
        Assert.Equal("scatter", (string?)json["data"]![0]!["type"]);
        Assert.Null(json["data"]![0]!["x"]![2]); // NaN is a gap (null), not invalid JSON
        var html = (string)bundle.Data["text/html"];
        Assert.Contains("Plotly.newPlot", html);
        Assert.Contains("\"type\":\"scatter\"", html);
        Assert.Contains("Figure \"t\"", bundle.PlainText);
    }

    [Fact]
    public void A_tensor_shows_shape_dtype_and_values()
    {
        using var t = Tensor.From(new float[] { 1, 2.5f, 3 }, 3);
        var text = Formatters.Format(t).PlainText!;
        Assert.Contains("shape=[3]", text);
        Assert.Contains("[1, 2.5, 3]", text);
    }

    [Fact]
    public void Overlays_are_png_and_targets_are_tables_of_boxes()
    {
        var target = new CxrLab.Data.Target(64, 48, [new CxrLab.Data.Box(1, 2, 30, 40)], [3]);
        var overlay = Formatters.Format(new BoxOverlay(new Image(48, 64)).Truth(target));
        var decoded = ImageCodecs.Decode(Convert.FromBase64String((string)overlay.Data["image/png"]));
        Assert.Equal((48, 64, 3), (decoded.Rows, decoded.Cols, decoded.Channels));
        var table = Formatters.Format(target);
        Assert.Contains("Cardiomegaly", (string)table.Data["text/html"]);
        Assert.StartsWith("Target(64×48, 1 boxes)", table.PlainText);
    }

    [Fact]
    public void Progress_is_html_with_a_progress_element()
    {
        var bundle = Formatters.Format(Progress.Start(10, "steps"));
        Assert.Contains("<progress value=\"0\" max=\"10\"", (string)bundle.Data["text/html"]);
        Assert.StartsWith("steps [", bundle.PlainText);
    }

    sealed class Animal { public override string ToString() => "animal"; }
    sealed class Raw(string html) { public string Html => html; }

    [Fact]
    public void Registered_formatters_win_and_a_failing_one_degrades_to_text()
    {
        Formatters.Register<Raw>(r => MimeBundle.Html(r.Html, "raw"));
        try
        {
            var bundle = Formatters.Format(new Raw("<i>x</i>"));
            Assert.Equal("<i>x</i>", bundle.Data["text/html"]);
            Assert.Equal("raw", bundle.PlainText);
        }
        finally { Formatters.Unregister<Raw>(); }

        Formatters.Register<Animal>(_ => throw new InvalidOperationException("broken formatter"));
        try
        {
            var bundle = Formatters.Format(new Animal());
            Assert.Contains("animal", bundle.PlainText);
            Assert.Contains("broken formatter", bundle.PlainText);
        }
        finally { Formatters.Unregister<Animal>(); }
    }
}
