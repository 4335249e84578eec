using System.Globalization;
using System.Text;
using CxrLab.Data;

namespace CxrLab.Evaluation;

/// <summary>Kaggle VinBigData submissions: <c>image_id,PredictionString</c>, each prediction
/// <c>class conf x_min y_min x_max y_max</c> in ORIGINAL pixels; an image with nothing: <c>14 1 0 0 1 1</c>.</summary>
public static class VinBigSubmission
{
    public const string EmptyPrediction = "14 1 0 0 1 1";

    /// <summary>Writes one row per image of <paramref name="imageIds"/> (in that order), detections in
    /// descending score. Detections must be in original pixels (use <see cref="ImageInfo.ToOriginal"/>).</summary>
    public static void Write(string path, IEnumerable<string> imageIds, IEnumerable<Detection> detections)
    {
        var byImage = detections.GroupBy(d => d.ImageId, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.ToList(), StringComparer.Ordinal);
        var lines = new List<string> { "image_id,PredictionString" };
        foreach (var id in imageIds)
        {
            var dets = byImage.GetValueOrDefault(id);
            var text = dets is null || dets.Count == 0
                ? EmptyPrediction
                : string.Join(" ", dets.OrderByDescending(d => d.Score).Select(d =>
                    $"{d.Label} {F(d.Score)} {F(d.Box.X1)} {F(d.Box.Y1)} {F(d.Box.X2)} {F(d.Box.Y2)}"));
            lines.Add($"{CsvRows.Escape(id)},{text}");
        }
        CsvRows.WriteAtomically(path, lines);
    }

    /// <summary>Reads a submission; bad rows/predictions are reported with their line and skipped.</summary>
    public static (List<string> ImageIds, List<Detection> Detections) Read(string path, ValidationReport report)
    {
        var ids = new List<string>();
        var dets = new List<Detection>();
        foreach (var row in CsvRows.Read(path, "image_id", "PredictionString"))
        {
            report.RowsRead++;
            var id = row["image_id"];
            if (string.IsNullOrEmpty(id)) { report.Add(path, row.Line, IssueKind.Malformed, "empty image_id"); continue; }
            ids.Add(id);
            var tokens = (row["PredictionString"] ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (tokens.Length % 6 != 0)
            {
                report.Add(path, row.Line, IssueKind.Malformed, $"PredictionString has {tokens.Length} values, not a multiple of 6 (class conf x_min y_min x_max y_max)");
                continue;
            }
            for (var k = 0; k < tokens.Length; k += 6)
            {
                if (!CsvRows.TryInt(tokens[k], out var label) || !TryFloats(tokens, k + 1, 5, out var v))
                {
                    report.Add(path, row.Line, IssueKind.Malformed, $"prediction {k / 6 + 1} '{string.Join(' ', tokens[k..(k + 6)])}' is not numeric");
                    continue;
                }
                if (label < 0 || label >= VinBigClasses.Count)
                {
                    report.Add(path, row.Line, IssueKind.UnknownClass, $"prediction {k / 6 + 1}: class {label} outside 0–14");
                    continue;
                }
                dets.Add(new Detection(id, label, v[0], new Box(v[1], v[2], v[3], v[4])));
                report.BoxesKept++;
            }
        }
        return (ids, dets);
    }

    internal static bool TryFloats(string[] tokens, int start, int count, out float[] values)
    {
        values = new float[count];
        for (var i = 0; i < count; i++) if (!CsvRows.TryFloat(tokens[start + i], out values[i])) return false;
        return true;
    }

    internal static string F(float v) => v.ToString("0.######", CultureInfo.InvariantCulture);
}

/// <summary>Kaggle RSNA submissions: <c>patientId,PredictionString</c> with <c>conf x y width height</c>
/// repeated (x, y = top-left, original pixels); empty when nothing is found.</summary>
public static class RsnaSubmission
{
    public static void Write(string path, IEnumerable<string> patientIds, IEnumerable<Detection> detections)
    {
        var byImage = detections.GroupBy(d => d.ImageId, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.ToList(), StringComparer.Ordinal);
        var lines = new List<string> { "patientId,PredictionString" };
        foreach (var id in patientIds)
        {
            var text = new StringBuilder();
            foreach (var d in byImage.GetValueOrDefault(id)?.OrderByDescending(d => d.Score) ?? Enumerable.Empty<Detection>())
            {
                if (text.Length > 0) text.Append(' ');
                var F = (Func<float, string>)VinBigSubmission.F;
                text.Append($"{F(d.Score)} {F(d.Box.X1)} {F(d.Box.Y1)} {F(d.Box.Width)} {F(d.Box.Height)}");
            }
            lines.Add($"{CsvRows.Escape(id)},{text}");
        }
        CsvRows.WriteAtomically(path, lines);
    }

    public static (List<string> PatientIds, List<Detection> Detections) Read(string path, ValidationReport report)
    {
        var ids = new List<string>();
        var dets = new List<Detection>();
        foreach (var row in CsvRows.Read(path, "patientId", "PredictionString"))
        {
            report.RowsRead++;
            var id = row["patientId"];
            if (string.IsNullOrEmpty(id)) { report.Add(path, row.Line, IssueKind.Malformed, "empty patientId"); continue; }
            ids.Add(id);
            var tokens = (row["PredictionString"] ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (tokens.Length % 5 != 0)
            {
                report.Add(path, row.Line, IssueKind.Malformed, $"PredictionString has {tokens.Length} values, not a multiple of 5 (conf x y width height)");
                continue;
            }
            for (var k = 0; k < tokens.Length; k += 5)
            {
                if (!VinBigSubmission.TryFloats(tokens, k, 5, out var v))
                {
                    report.Add(path, row.Line, IssueKind.Malformed, $"prediction {k / 5 + 1} '{string.Join(' ', tokens[k..(k + 5)])}' is not numeric");
                    continue;
                }
                dets.Add(new Detection(id, RsnaClasses.LungOpacity, v[0], Box.FromXywh(v[1], v[2], v[3], v[4])));
                report.BoxesKept++;
            }
        }
        return (ids, dets);
    }
}
