namespace CxrLab.Data;

/// <summary>One row of RSNA's <c>stage_2_train_labels.csv</c>: an opacity box (xyxy, original pixels,
/// converted from Kaggle's x,y,width,height) when <see cref="Target"/> is 1, else null.</summary>
public sealed record RsnaAnnotation(string PatientId, Box? Box, int Target, int Line);

/// <summary>Reads RSNA's <c>stage_2_train_labels.csv</c> (<c>patientId,x,y,width,height,Target</c>) and
/// <c>stage_2_detailed_class_info.csv</c> (<c>patientId,class</c>).</summary>
public static class RsnaLabels
{
    public static readonly string[] LabelColumns = ["patientId", "x", "y", "width", "height", "Target"];
    public static readonly string[] DetailedColumns = ["patientId", "class"];

    public static List<RsnaAnnotation> Read(string path, ValidationReport report, Func<string, (int Width, int Height)?>? originalSizeOf = null)
    {
        var result = new List<RsnaAnnotation>();
        foreach (var row in CsvRows.Read(path, LabelColumns))
        {
            report.RowsRead++;
            var id = row["patientId"];
            if (string.IsNullOrEmpty(id)) { report.Add(path, row.Line, IssueKind.Malformed, "empty patientId"); continue; }
            if (!CsvRows.TryInt(row["Target"], out var target) || target is < 0 or > 1)
            {
                report.Add(path, row.Line, target is < 0 or > 1 && CsvRows.TryInt(row["Target"], out _) ? IssueKind.UnknownClass : IssueKind.Malformed,
                    $"Target '{row["Target"]}' must be 0 or 1");
                continue;
            }
            string?[] coords = [row["x"], row["y"], row["width"], row["height"]];
            if (target == 0)
            {
                if (!coords.All(string.IsNullOrEmpty))
                    report.Add(path, row.Line, IssueKind.Warning, "Target 0 row has coordinates; they are ignored");
                result.Add(new RsnaAnnotation(id, null, 0, row.Line));
                continue;
            }
            var values = new float[4];
            var bad = -1;
            for (var i = 0; i < 4; i++) if (!CsvRows.TryFloat(coords[i], out values[i])) { bad = i; break; }
            if (bad >= 0)
            {
                report.Add(path, row.Line, IssueKind.Malformed, $"{LabelColumns[1 + bad]} '{coords[bad]}' is not a number (Target 1 needs x,y,width,height)");
                continue;
            }
            var box = Box.FromXywh(values[0], values[1], values[2], values[3]);
            if (!BoxChecks.Admit(ref box, originalSizeOf?.Invoke(id), path, row.Line, report)) continue;
            result.Add(new RsnaAnnotation(id, box, 1, row.Line));
            report.BoxesKept++;
        }
        return result;
    }

    /// <summary>patientId → detailed class; unknown class names are reported and left out.</summary>
    public static Dictionary<string, string> ReadDetailed(string path, ValidationReport report)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var row in CsvRows.Read(path, DetailedColumns))
        {
            report.RowsRead++;
            var id = row["patientId"];
            var name = row["class"];
            if (string.IsNullOrEmpty(id)) { report.Add(path, row.Line, IssueKind.Malformed, "empty patientId"); continue; }
            if (name is null || !RsnaClasses.Detailed.Contains(name))
            {
                report.Add(path, row.Line, IssueKind.UnknownClass, $"class '{name}' is not one of {string.Join(" | ", RsnaClasses.Detailed)}");
                continue;
            }
            if (result.TryGetValue(id, out var previous) && previous != name)
                report.Add(path, row.Line, IssueKind.Warning, $"patient {id} listed as '{previous}' and '{name}'; keeping the first");
            else result[id] = name;
        }
        return result;
    }
}
