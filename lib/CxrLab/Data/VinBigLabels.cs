namespace CxrLab.Data;

/// <summary>One row of VinBigData's train.csv: one box (or "No finding", <see cref="Box"/> null) by one
/// radiologist, in original pixels. <see cref="Line"/> is the CSV line it came from.</summary>
public sealed record VinBigAnnotation(string ImageId, int ClassId, string RadId, Box? Box, int Line);

/// <summary>Reads and writes VinBigData's <c>train.csv</c>
/// (<c>image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max</c>).</summary>
public static class VinBigLabels
{
    public static readonly string[] Columns = ["image_id", "class_name", "class_id", "rad_id", "x_min", "y_min", "x_max", "y_max"];

    /// <summary>Writes rows atomically in the train.csv schema: class_name from <see cref="VinBigClasses"/>, a row
    /// without a box ("No finding") with empty coordinates, coordinates rounded to 0.01 px (in whatever frame the
    /// caller's boxes are: original DICOM pixels for Kaggle data, a cache's or a derived dataset's PNG pixels).</summary>
    public static void Write(string path, IEnumerable<VinBigAnnotation> rows) =>
        CsvRows.WriteAtomically(path, new[] { string.Join(",", Columns) }.Concat(rows.Select(Line)));

    static string Line(VinBigAnnotation r)
    {
        if (r.ClassId < 0 || r.ClassId >= VinBigClasses.Count) throw new ArgumentException($"image {r.ImageId}: class_id {r.ClassId} is not a VinBigData class (0–14)");
        var head = $"{CsvRows.Escape(r.ImageId)},{CsvRows.Escape(VinBigClasses.Names[r.ClassId])},{r.ClassId},{CsvRows.Escape(r.RadId)}";
        return r.Box is { } b ? $"{head},{C(b.X1)},{C(b.Y1)},{C(b.X2)},{C(b.Y2)}" : $"{head},,,,";
    }

    static string C(float v) => Math.Round(v, 2).ToString("0.##", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Reads every usable row into <paramref name="report"/>'s care: malformed rows and unknown class
    /// ids are rejected, zero-area boxes dropped, and — when <paramref name="originalSizeOf"/> knows the
    /// image — boxes clipped to the image (or dropped when wholly outside). All with line numbers.</summary>
    public static List<VinBigAnnotation> Read(string path, ValidationReport report, Func<string, (int Width, int Height)?>? originalSizeOf = null)
    {
        var result = new List<VinBigAnnotation>();
        foreach (var row in CsvRows.Read(path, Columns))
        {
            report.RowsRead++;
            var id = row["image_id"];
            if (string.IsNullOrEmpty(id)) { report.Add(path, row.Line, IssueKind.Malformed, "empty image_id"); continue; }
            if (!CsvRows.TryInt(row["class_id"], out var classId))
            {
                report.Add(path, row.Line, IssueKind.Malformed, $"class_id '{row["class_id"]}' is not an integer");
                continue;
            }
            if (classId < 0 || classId >= VinBigClasses.Count)
            {
                report.Add(path, row.Line, IssueKind.UnknownClass, $"class_id {classId} is not a VinBigData class (0–14)");
                continue;
            }
            var name = row["class_name"];
            if (!string.IsNullOrEmpty(name) && name != VinBigClasses.Names[classId])
                report.Add(path, row.Line, IssueKind.Warning, $"class_name '{name}' does not match class_id {classId} ('{VinBigClasses.Names[classId]}'); kept by class_id");
            var rad = row["rad_id"] ?? "";
            string?[] coords = [row["x_min"], row["y_min"], row["x_max"], row["y_max"]];
            var empty = coords.All(string.IsNullOrEmpty);
            if (classId == VinBigClasses.NoFinding)
            {
                if (!empty) report.Add(path, row.Line, IssueKind.Warning, "\"No finding\" row has coordinates; they are ignored");
                result.Add(new VinBigAnnotation(id, classId, rad, null, row.Line));
                continue;
            }
            if (empty || coords.Any(string.IsNullOrEmpty))
            {
                report.Add(path, row.Line, IssueKind.Malformed, $"class {classId} row needs x_min,y_min,x_max,y_max (got '{string.Join(",", coords)}')");
                continue;
            }
            var values = new float[4];
            var bad = -1;
            for (var i = 0; i < 4; i++) if (!CsvRows.TryFloat(coords[i], out values[i])) { bad = i; break; }
            if (bad >= 0)
            {
                report.Add(path, row.Line, IssueKind.Malformed, $"{Columns[4 + bad]} '{coords[bad]}' is not a number");
                continue;
            }
            var box = new Box(values[0], values[1], values[2], values[3]);
            if (!BoxChecks.Admit(ref box, originalSizeOf?.Invoke(id), path, row.Line, report)) continue;
            result.Add(new VinBigAnnotation(id, classId, rad, box, row.Line));
            report.BoxesKept++;
        }
        return result;
    }
}

/// <summary>The shared box checks of every loader.</summary>
public static class BoxChecks
{
    /// <summary>Drops zero-area boxes and boxes wholly outside the image; clips the rest (when the
    /// image size is known). Reports each case against the line. Returns whether to keep the box.</summary>
    public static bool Admit(ref Box box, (int Width, int Height)? size, string file, int line, ValidationReport report)
    {
        if (!box.IsValid)
        {
            report.Add(file, line, IssueKind.ZeroArea, $"box {box} has zero width or height; dropped");
            return false;
        }
        if (size is { } s)
        {
            var clipped = box.Clip(s.Width, s.Height);
            if (!clipped.IsValid)
            {
                report.Add(file, line, IssueKind.OutsideImage, $"box {box} lies outside the {s.Width}×{s.Height} image; dropped");
                return false;
            }
            if (clipped != box)
            {
                report.Add(file, line, IssueKind.Clipped, $"box {box} reaches outside the {s.Width}×{s.Height} image; clipped to {clipped}");
                box = clipped;
            }
        }
        return true;
    }
}
