using System.Text.Json.Nodes;
using CxrLab.Data;
using CxrLab.Viz;

namespace CxrLab.Tests.Viz;

public sealed class FigureTests
{
    [Fact]
    public void Subplot_axes_and_titles_match_plotly_make_subplots()
    {
        var ours = Figure.Subplots(2, 3, ["a", "b", "c", "d", "e", "f"]).ToJson()["layout"]!.AsObject();
        var untitled = Figure.Subplots(3, 1).ToJson()["layout"]!.AsObject();
        var reference = JsonNode.Parse(PythonReference.Run("""
            import json
            from plotly.subplots import make_subplots
            layout = make_subplots(rows=2, cols=3, subplot_titles=list("abcdef")).to_plotly_json()["layout"]
            print(json.dumps(layout))
            """))!.AsObject();
        var axes = reference.Where(p => p.Key.Contains("axis")).ToList();
        Assert.Equal(12, axes.Count);
        foreach (var (key, axis) in axes)
        {
            Assert.Equal((string?)axis!["anchor"], (string?)ours[key]!["anchor"]);
            for (var i = 0; i < 2; i++) Assert.Equal((double)axis["domain"]![i]!, (double)ours[key]!["domain"]![i]!, 6);
        }
        var refUntitled = JsonNode.Parse(PythonReference.Run("""
            import json
            from plotly.subplots import make_subplots
            print(json.dumps(make_subplots(rows=3, cols=1).to_plotly_json()["layout"]))
            """))!.AsObject();
        foreach (var key in new[] { "yaxis", "yaxis2", "yaxis3" })
            for (var i = 0; i < 2; i++) Assert.Equal((double)refUntitled[key]!["domain"]![i]!, (double)untitled[key]!["domain"]![i]!, 6);
        var refTitles = reference["annotations"]!.AsArray();
        var ourTitles = ours["annotations"]!.AsArray();
        Assert.Equal(refTitles.Count, ourTitles.Count);
        for (var i = 0; i < refTitles.Count; i++)
        {
            Assert.Equal((string?)refTitles[i]!["text"], (string?)ourTitles[i]!["text"]);
            Assert.Equal((double)refTitles[i]!["x"]!, (double)ourTitles[i]!["x"]!, 6);
            Assert.Equal((double)refTitles[i]!["y"]!, (double)ourTitles[i]!["y"]!, 6);
        }
    }

    [Fact]
    public void Traces_land_on_their_cell_axes_and_boxes_become_shapes()
    {
        var figure = Figure.Subplots(2, 2)
            .Histogram([1, 2, 2, 3], row: 2, col: 1)
            .Rectangle(new Box(1, 2, 30, 40), label: "Nodule", row: 2, col: 2);
        var json = figure.ToJson();
        Assert.Equal("x3", (string?)json["data"]![0]!["xaxis"]);
        Assert.Equal("y3", (string?)json["data"]![0]!["yaxis"]);
        var shape = json["layout"]!["shapes"]![0]!;
        Assert.Equal(("x4", "y4"), ((string?)shape["xref"], (string?)shape["yref"]));
        Assert.Equal(new[] { 1f, 2, 30, 40 }, new[] { "x0", "y0", "x1", "y1" }.Select(k => shape[k]!.GetValue<float>()));
        Assert.Throws<ArgumentOutOfRangeException>(() => figure.Histogram([1], row: 3, col: 1));
    }

    [Fact]
    public void Standalone_html_embeds_plotly_js_offline()
    {
        Assert.True(PlotlyJs.Locate() is not null, "plotly.js-dist-min is missing from build/node_modules: run ./cxr once");
        var html = new Figure("offline").Bar(["a"], [1]).ToHtml();
        Assert.StartsWith("<!DOCTYPE html>", html);
        Assert.Contains("plotly.js v" + PlotlyJs.PinnedVersion, html);
        Assert.DoesNotContain("<script src=", html);
    }

    [Fact]
    public void Confusion_matrix_rows_are_normalised_and_pr_curves_check_lengths()
    {
        var figure = Charts.ConfusionMatrix(new[,] { { 3, 1 }, { 0, 0 } }, ["a", "b"], normalize: true);
        var z = figure.ToJson()["data"]![0]!["z"]!.AsArray();
        Assert.Equal(new[] { 0.75, 0.25 }, z[0]!.AsArray().Select(v => (double)v!));
        Assert.Equal(new[] { 0.0, 0.0 }, z[1]!.AsArray().Select(v => (double)v!));
        Assert.Throws<ArgumentException>(() => Charts.PrCurves([new PrCurveSeries("bad", [0, 1], [1])]));
        var curves = Charts.LearningCurves([new LearningPoint(2, "loss", 0.5), new LearningPoint(1, "loss", 1.0), new LearningPoint(1, "mAP", 0.1)]).ToJson();
        Assert.Equal(2, curves["data"]!.AsArray().Count);
        Assert.Equal(new[] { 1.0, 0.5 }, curves["data"]![0]!["y"]!.AsArray().Select(v => (double)v!));
    }
}
