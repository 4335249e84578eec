using CxrLab.Viz;

namespace CxrLab.Tests.Viz;

[CollectionDefinition("display", DisableParallelization = true)]
public sealed class DisplayCollection;

/// <summary>display() and in-place updates through a sink that records what a kernel would publish.</summary>
[Collection("display")]
public sealed class DisplayTests
{
    sealed class RecordingSink : IDisplaySink
    {
        public List<(string Kind, MimeBundle Bundle, string? Id)> Outputs { get; } = [];
        public void Show(MimeBundle bundle, string? displayId) => Outputs.Add(("display", bundle, displayId));
        public void Update(MimeBundle bundle, string displayId) => Outputs.Add(("update", bundle, displayId));
    }

    [Fact]
    public void The_first_figure_carries_plotly_js_and_keeps_it_when_updated()
    {
        var sink = new RecordingSink();
        var previous = Display.Sink;
        Display.Sink = sink;
        PlotlyJs.ResetSession();
        try
        {
            var live = Display.Show(new Figure("live").Line([1, 2], [3, 4]));
            Display.Show(new Figure("second").Bar(["a"], [1]));
            live.Update(new Figure("live").Line([1, 2, 3], [3, 4, 5]));
            live.Update("replaced by text");

            string Html(int i) => (string)sink.Outputs[i].Bundle.Data["text/html"];
            Assert.Equal(["display", "display", "update", "update"], sink.Outputs.Select(o => o.Kind));
            Assert.Contains("plotly.js v", Html(0));
            Assert.DoesNotContain("plotly.js v", Html(1));   // reuses the page's plotly.js
            Assert.Contains("plotly.js v", Html(2));          // the update keeps the library on the page
            Assert.Contains("[1,2,3]", Html(2));
            Assert.Contains("plotly.js v", Html(3));
            Assert.Contains("replaced by text", Html(3));
            Assert.Equal(sink.Outputs[0].Id, sink.Outputs[2].Id);
        }
        finally
        {
            Display.Sink = previous;
            PlotlyJs.ResetSession();
        }
    }

    [Fact]
    public void Progress_updates_one_output_in_place_and_ends_complete()
    {
        var sink = new RecordingSink();
        var previous = Display.Sink;
        Display.Sink = sink;
        try
        {
            foreach (var _ in Progress.Track(Enumerable.Range(0, 5), "steps")) { }
            Assert.Equal("display", sink.Outputs[0].Kind);
            Assert.All(sink.Outputs.Skip(1), o => Assert.Equal(("update", sink.Outputs[0].Id), (o.Kind, o.Id)));
            Assert.Contains("5/5", sink.Outputs[^1].Bundle.PlainText);
        }
        finally { Display.Sink = previous; }
    }
}
