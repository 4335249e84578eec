using System.Globalization;
using CxrLab.Data;
using CxrLab.Imaging;

namespace CxrLab.Viz;

/// <summary>One precision–recall curve to plot (named so it does not clash with CxrLab.Evaluation.PrCurve): points in order of decreasing confidence threshold, and the
/// average precision reported in its legend entry (null: not shown).</summary>
public sealed record PrCurveSeries(string Name, IReadOnlyList<double> Recall, IReadOnlyList<double> Precision, double? AveragePrecision = null);

/// <summary>One value of one learning-curve series at a step (epoch or iteration).</summary>
public sealed record LearningPoint(double Step, string Series, double Value);

/// <summary>Ready-made figures for detection work: PR curves, confusion matrices, learning curves,
/// images with boxes, class distributions.</summary>
public static class Charts
{
    /// <summary>Precision against recall, one line per curve, axes fixed to [0, 1].</summary>
    public static Figure PrCurves(IEnumerable<PrCurveSeries> curves, string title = "Precision–recall")
    {
        var figure = new Figure(title);
        var i = 0;
        foreach (var c in curves)
        {
            if (c.Recall.Count != c.Precision.Count)
                throw new ArgumentException($"PR curve '{c.Name}': {c.Recall.Count} recall values but {c.Precision.Count} precision values");
            var name = c.AveragePrecision is { } ap ? $"{c.Name} (AP {ap.ToString("0.000", CultureInfo.InvariantCulture)})" : c.Name;
            figure.Line(c.Recall, c.Precision, name, ClassColors.Of(i++).Hex);
        }
        return figure.XAxis("recall", 0, 1.0).YAxis("precision", 0, 1.05);
    }

    /// <summary>A confusion matrix heatmap: rows are truth classes, columns predicted classes, row 0 on
    /// top. <paramref name="normalize"/> divides each row by its total (recall per class on the diagonal).</summary>
    public static Figure ConfusionMatrix(int[,] counts, IReadOnlyList<string> labels, bool normalize = false, string title = "Confusion matrix")
    {
        var n = counts.GetLength(0);
        if (counts.GetLength(1) != n || labels.Count != n)
            throw new ArgumentException($"a confusion matrix must be square with one label per class: got {counts.GetLength(0)}×{counts.GetLength(1)} and {labels.Count} labels");
        var z = new double[n, n];
        for (var r = 0; r < n; r++)
        {
            double total = 0;
            for (var c = 0; c < n; c++) total += counts[r, c];
            for (var c = 0; c < n; c++) z[r, c] = normalize ? (total > 0 ? counts[r, c] / total : 0) : counts[r, c];
        }
        var size = Math.Clamp(120 + 45 * n, 300, 900);
        return new Figure(title)
            .Heatmap(z, labels, labels, "Blues", showValues: true, valueFormat: normalize ? ".2f" : "d")
            .XAxis("predicted").YAxis("truth")
            .Size(size + 100, size);
    }

    /// <summary>Learning curves: one line per series over steps (e.g. each loss per epoch, validation mAP).</summary>
    public static Figure LearningCurves(IEnumerable<LearningPoint> points, string stepTitle = "epoch", string title = "Learning curves", bool logY = false)
    {
        var figure = new Figure(title);
        var i = 0;
        foreach (var series in points.GroupBy(p => p.Series))
        {
            var ordered = series.OrderBy(p => p.Step).ToList();
            figure.Scatter(ordered.Select(p => p.Step), ordered.Select(p => p.Value), series.Key, ScatterMode.LinesAndMarkers, ClassColors.Of(i++).Hex);
        }
        return figure.XAxis(stepTitle).YAxis(log: logY);
    }

    /// <summary>Learning curves from series of values per step 1, 2, ….</summary>
    public static Figure LearningCurves(IReadOnlyDictionary<string, IReadOnlyList<double>> series, string stepTitle = "epoch", string title = "Learning curves") =>
        LearningCurves(series.SelectMany(s => s.Value.Select((v, i) => new LearningPoint(i + 1, s.Key, v))), stepTitle, title);

    /// <summary>Counts per category as bars (e.g. boxes per class), largest first when <paramref name="sort"/>.</summary>
    public static Figure Counts(IEnumerable<KeyValuePair<string, int>> counts, string title = "Counts", bool sort = true, bool horizontal = true)
    {
        var items = sort ? counts.OrderByDescending(c => c.Value).ToList() : counts.ToList();
        if (horizontal) items.Reverse(); // plotly draws the first horizontal bar at the bottom
        return new Figure(title)
            .Bar(items.Select(c => c.Key), items.Select(c => (double)c.Value), horizontal: horizontal)
            .Size(null, Math.Clamp(80 + 28 * items.Count, 300, 900));
    }

    /// <summary>An interactive image with boxes (zoom, hover): truth solid, predictions dashed with scores.</summary>
    public static Figure ImageWithBoxes(Image image, Target? truth = null, IReadOnlyList<Box>? predicted = null,
        IReadOnlyList<int>? predictedLabels = null, IReadOnlyList<float>? scores = null, IReadOnlyList<string>? classNames = null, string? title = null)
    {
        classNames ??= ClassColors.VinBigData;
        string Name(int label) => label >= 0 && label < classNames.Count ? classNames[label] : label.ToString(CultureInfo.InvariantCulture);
        var figure = new Figure(title).Picture(image);
        if (truth is not null)
            for (var i = 0; i < truth.Count; i++)
                figure.Rectangle(truth.Boxes[i], ClassColors.Of(truth.Labels[i]).Hex, Name(truth.Labels[i]), width: 3);
        if (predicted is not null)
        {
            if (predictedLabels is null || predictedLabels.Count != predicted.Count)
                throw new ArgumentException("predicted boxes need one label each");
            for (var i = 0; i < predicted.Count; i++)
            {
                var score = scores is null ? "" : " " + scores[i].ToString("0.00", CultureInfo.InvariantCulture);
                figure.Rectangle(predicted[i], ClassColors.Of(predictedLabels[i]).Hex, Name(predictedLabels[i]) + score, dashed: true, width: 1.5);
            }
        }
        var aspect = (double)image.Rows / image.Cols;
        return figure.Size(700, (int)Math.Round(650 * aspect) + 60);
    }
}
