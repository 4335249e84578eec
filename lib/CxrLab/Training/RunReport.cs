using System.Globalization;
using System.Net;
using System.Text;
using CxrLab.Data;
using CxrLab.Evaluation;
using CxrLab.Imaging;
using CxrLab.Viz;

namespace CxrLab.Training;

/// <summary>One example for a report: an image (cache pixels) with its truth and the model's detections
/// (cache pixels, dataset classes 0–13).</summary>
public sealed record ReportExample(string ImageId, Image Image, Target Truth, IReadOnlyList<Box> Boxes, IReadOnlyList<int> Labels, IReadOnlyList<float> Scores);

/// <summary>A standalone HTML report of a detection run (opens offline: plotly.js is embedded once):
/// summary table, learning curves from the metrics log, per-class AP with PR curves (Kaggle mAP@0.4),
/// and predictions next to the truth on example images (also saved as PNGs beside the report).</summary>
public static class RunReport
{
    /// <summary>Writes <paramref name="path"/> (atomically) and <c>example_N.png</c> files beside it; returns the PNG paths.</summary>
    public static List<string> Write(string path, string title, IReadOnlyList<(string Key, string Value)> summary,
        IReadOnlyList<IReadOnlyDictionary<string, double>> metrics, MapResult result, IReadOnlyList<string> classNames,
        IReadOnlyList<ReportExample> examples, float minScore = 0.3f)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        var html = new StringBuilder();
        html.Append("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>").Append(E(title)).Append("</title>")
            .Append("<style>body{font-family:sans-serif;margin:24px;max-width:1200px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}" +
                    "figure{display:inline-block;margin:6px;vertical-align:top}figcaption{font-size:12px;max-width:360px}</style></head><body>\n");
        html.Append("<h1>").Append(E(title)).Append("</h1>\n<table>");
        foreach (var (k, v) in summary) html.Append("<tr><th>").Append(E(k)).Append("</th><td>").Append(E(v)).Append("</td></tr>");
        html.Append("</table>\n");
        PlotlyJs.ResetSession();

        html.Append("<h2>Learning curves</h2>\n");
        var (lossFigure, valFigure) = LearningCurves(metrics);
        if (lossFigure is not null) html.Append(Plot(lossFigure, 900, 380));
        if (valFigure is not null) html.Append(Plot(valFigure, 900, 320));

        html.Append("<h2>Per-class AP (IoU 0.4)</h2>\n");
        string Name(int label) => label < classNames.Count ? classNames[label] : label.ToString(CultureInfo.InvariantCulture);
        var perClass = result.PerClass.OrderBy(c => c.Label).ToList();
        html.Append(Plot(PerClassAp(result, classNames), 900, 420));
        html.Append(Plot(Charts.PrCurves(perClass.Where(c => c.Curve.Recall.Length > 0)
            .Select(c => new PrCurveSeries(Name(c.Label), c.Curve.Recall, c.Curve.Precision, c.Ap))), 900, 450));
        html.Append("<table><tr><th>class</th><th>truth boxes</th><th>detections</th><th>true positives</th><th>AP</th></tr>");
        foreach (var c in perClass)
            html.Append(CultureInfo.InvariantCulture, $"<tr><td>{c.Label} {E(Name(c.Label))}</td><td>{c.TruthCount}</td><td>{c.DetectionCount}</td><td>{c.TruePositives}</td><td>{c.Ap:0.000}</td></tr>");
        html.Append("</table>\n");

        html.Append(CultureInfo.InvariantCulture, $"<h2>Predictions vs truth</h2>\n<p>Truth: solid boxes; predictions with score ≥ {minScore:0.##}: labelled with their score.</p>\n");
        var pngs = new List<string>();
        for (var n = 0; n < examples.Count; n++)
        {
            var ex = examples[n];
            var keep = Enumerable.Range(0, ex.Boxes.Count).Where(k => ex.Scores[k] >= minScore).ToList();
            var png = new BoxOverlay(ex.Image).ClassNames(classNames).Truth(ex.Truth)
                .Predictions(keep.Select(k => ex.Boxes[k]).ToList(), keep.Select(k => ex.Labels[k]).ToList(), keep.Select(k => ex.Scores[k]).ToList(), minScore)
                .ToPng();
            var file = Path.Combine(dir, $"example_{n + 1}.png");
            png.Save(file);
            pngs.Add(file);
            var truthText = ex.Truth.Count == 0 ? "No finding" : string.Join(", ", ex.Truth.Labels.Select(Name));
            var predText = keep.Count == 0 ? "none" : string.Join(", ", keep.Select(k => $"{Name(ex.Labels[k])} {ex.Scores[k]:0.00}"));
            html.Append("<figure><img src=\"").Append(png.ToDataUri()).Append("\" style=\"max-width:360px\"><figcaption><b>")
                .Append(E(ex.ImageId[..Math.Min(12, ex.ImageId.Length)])).Append("</b><br>truth: ").Append(E(truthText))
                .Append("<br>predicted: ").Append(E(predText)).Append("</figcaption></figure>\n");
        }
        html.Append("</body></html>\n");
        ImageCodecs.WriteAtomically(path, Encoding.UTF8.GetBytes(html.ToString()));
        return pngs;
    }

    /// <summary>Training-loss and validation-metric curves by epoch from the metrics log (null when a kind is absent).</summary>
    public static (Figure? Losses, Figure? Validation) LearningCurves(IReadOnlyList<IReadOnlyDictionary<string, double>> metrics,
        string validationTitle = "Validation (Kaggle mAP@0.4)")
    {
        var losses = new Dictionary<string, IReadOnlyList<double>>();
        var vals = new Dictionary<string, IReadOnlyList<double>>();
        foreach (var key in metrics.SelectMany(r => r.Keys).Distinct())
        {
            if (key is "epoch" or "lr" or "epoch_seconds") continue;
            var series = metrics.Select(r => r.TryGetValue(key, out var v) ? v : double.NaN).ToList();
            (key.StartsWith("val", StringComparison.Ordinal) ? vals : losses)[key] = series;
        }
        return (losses.Count > 0 ? Charts.LearningCurves(losses, "epoch", "Training losses (epoch means)") : null,
                vals.Count > 0 ? Charts.LearningCurves(vals, "epoch", validationTitle) : null);
    }

    /// <summary>AP per class (bar per class with its truth count), titled with the mean.</summary>
    public static Figure PerClassAp(MapResult result, IReadOnlyList<string> classNames)
    {
        string Name(int label) => label < classNames.Count ? classNames[label] : label.ToString(CultureInfo.InvariantCulture);
        var perClass = result.PerClass.OrderBy(c => c.Label).ToList();
        return new Figure($"AP per class — mAP {result.Map:0.000}")
            .Bar(perClass.Select(c => $"{c.Label} {Name(c.Label)} (n={c.TruthCount})"), perClass.Select(c => c.Ap))
            .YAxis("AP", 0, 1);
    }

    /// <summary>Standalone plots in a folder (a run's <c>plots/</c>; each opens offline): <c>learning_curves.html</c>,
    /// <c>validation_curve.html</c> and, given a result, <c>per_class_ap.html</c>. Returns the files written.</summary>
    public static List<string> WritePlots(string runDir, IReadOnlyList<IReadOnlyDictionary<string, double>> metrics, MapResult? result, IReadOnlyList<string> classNames)
    {
        var written = new List<string>();
        void Save(Figure? figure, string name, int width, int height)
        {
            if (figure is null) return;
            var path = Path.Combine(runDir, name);
            figure.Size(width, height).SaveHtml(path);
            written.Add(path);
        }
        var (losses, validation) = LearningCurves(metrics);
        Save(losses, "learning_curves.html", 900, 420);
        Save(validation, "validation_curve.html", 900, 360);
        if (result is not null) Save(PerClassAp(result, classNames), "per_class_ap.html", 900, 440);
        return written;
    }

    static string Plot(Figure figure, int width, int height) => PlotlyJs.DivHtml(figure.Size(width, height).ToJsonString(), width, height) + "\n";

    static string E(string s) => WebUtility.HtmlEncode(s);
}
