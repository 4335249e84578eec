using System.Globalization;
using CsvHelper;
using CxrLab.Data;
using CxrLab.Imaging;

namespace CxrLab.Augment.Categories;

// STAND-IN for the data helper's VinBigData loader (issue 5, branch `data`), kept small and isolated so it
// can be swapped: it reads the image-cache layout DIR/train.csv + DIR/train/<image_id>.png with box
// coordinates in the PNG's pixel frame, and writes the same layout. Replace VinBigFolder with an
// ISampleSource over the data helper's dataset (boxes + labels + rad_id tags) and VinBigRow/VinBigCsv
// with its record and writer. CategoryBuilder.Build(config, ISampleSource, imageId, outDir) already takes
// any source; only its folder overload and VinBigCsv.Write/ClassNames touch this file.

/// <summary>One row of VinBigData's train.csv: <c>image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max</c>
/// ("No finding", class 14, has empty coordinates).</summary>
public sealed record VinBigRow(string ImageId, string ClassName, int ClassId, string RadId, float? XMin, float? YMin, float? XMax, float? YMax)
{
    public bool HasBox => XMin is not null && YMin is not null && XMax is not null && YMax is not null;
    public Box Box => new(XMin ?? 0, YMin ?? 0, XMax ?? 0, YMax ?? 0);
}

/// <summary>Reads and writes train.csv in the VinBigData schema.</summary>
public static class VinBigCsv
{
    public const int NoFinding = 14;

    public static readonly IReadOnlyList<string> ClassNames =
    [
        "Aortic enlargement", "Atelectasis", "Calcification", "Cardiomegaly", "Consolidation", "ILD", "Infiltration",
        "Lung Opacity", "Nodule/Mass", "Other lesion", "Pleural effusion", "Pleural thickening", "Pneumothorax",
        "Pulmonary fibrosis", "No finding",
    ];

    public static readonly IReadOnlyList<string> Columns = ["image_id", "class_name", "class_id", "rad_id", "x_min", "y_min", "x_max", "y_max"];

    /// <summary>Reads every row; malformed rows throw with the file and line.</summary>
    public static List<VinBigRow> Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"train.csv not found: {path}", path);
        using var reader = new StreamReader(path);
        using var csv = new CsvReader(reader, CultureInfo.InvariantCulture);
        if (!csv.Read()) throw new InvalidDataException($"{path}: empty file, expected the header {string.Join(",", Columns)}");
        csv.ReadHeader();
        var missing = Columns.Where(c => !csv.HeaderRecord!.Contains(c)).ToList();
        if (missing.Count > 0) throw new InvalidDataException($"{path}:1: missing column(s) {string.Join(", ", missing)}; expected {string.Join(",", Columns)}");
        var rows = new List<VinBigRow>();
        while (csv.Read())
        {
            var line = csv.Parser.RawRow;
            try
            {
                var classId = int.Parse(csv.GetField("class_id")!, CultureInfo.InvariantCulture);
                if (classId is < 0 or > NoFinding) throw new FormatException($"class_id {classId} is not 0–14");
                rows.Add(new VinBigRow(csv.GetField("image_id")!, csv.GetField("class_name")!, classId, csv.GetField("rad_id") ?? "",
                    Coordinate(csv.GetField("x_min")), Coordinate(csv.GetField("y_min")), Coordinate(csv.GetField("x_max")), Coordinate(csv.GetField("y_max"))));
            }
            catch (Exception e) when (e is FormatException or OverflowException)
            {
                throw new InvalidDataException($"{path}:{line}: {e.Message}", e);
            }
        }
        return rows;
    }

    static float? Coordinate(string? text) =>
        string.IsNullOrWhiteSpace(text) ? null : float.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture);

    /// <summary>Writes rows atomically with the VinBigData header.</summary>
    public static void Write(string path, IEnumerable<VinBigRow> rows)
    {
        using var buffer = new StringWriter(CultureInfo.InvariantCulture);
        buffer.NewLine = "\n";
        using (var csv = new CsvWriter(buffer, CultureInfo.InvariantCulture))
        {
            foreach (var c in Columns) csv.WriteField(c);
            csv.NextRecord();
            foreach (var r in rows)
            {
                csv.WriteField(r.ImageId); csv.WriteField(r.ClassName); csv.WriteField(r.ClassId); csv.WriteField(r.RadId);
                csv.WriteField(Format(r.XMin)); csv.WriteField(Format(r.YMin)); csv.WriteField(Format(r.XMax)); csv.WriteField(Format(r.YMax));
                csv.NextRecord();
            }
        }
        ImageCodecs.WriteAtomically(path, System.Text.Encoding.UTF8.GetBytes(buffer.ToString()));
    }

    static string Format(float? v) => v is null ? "" : Math.Round(v.Value, 2).ToString("0.##", CultureInfo.InvariantCulture);
}

/// <summary>A VinBigData image cache folder (DIR/train.csv + DIR/train/&lt;image_id&gt;.png) as samples: boxes of
/// classes 0–13 with their rad_id as box tags; "No finding" rows add no box.</summary>
public sealed class VinBigFolder : ISampleSource
{
    readonly string[] ids;
    readonly Dictionary<string, List<VinBigRow>> rowsById;

    VinBigFolder(string directory, string[] ids, Dictionary<string, List<VinBigRow>> rowsById)
    {
        Directory = directory;
        this.ids = ids;
        this.rowsById = rowsById;
    }

    public string Directory { get; }
    public int Count => ids.Length;

    /// <summary>Opens <paramref name="directory"/>; <paramref name="abnormalOnly"/> keeps images with at least one
    /// box of classes 0–13 (the seed's 4,394 of 15,000). Image ids are served in sorted order.</summary>
    public static VinBigFolder Open(string directory, bool abnormalOnly)
    {
        var rows = VinBigCsv.Read(Path.Combine(directory, "train.csv"));
        var byId = rows.GroupBy(r => r.ImageId).ToDictionary(g => g.Key, g => g.ToList());
        var ids = byId.Where(kv => !abnormalOnly || kv.Value.Any(r => r.ClassId != VinBigCsv.NoFinding && r.HasBox))
            .Select(kv => kv.Key).Order(StringComparer.Ordinal).ToArray();
        var missing = ids.Where(id => !File.Exists(ImagePath(directory, id))).Take(5).ToList();
        if (missing.Count > 0)
            throw new FileNotFoundException($"{directory}: no PNG for image id(s) {string.Join(", ", missing)} (expected train/<image_id>.png)");
        return new VinBigFolder(directory, ids, byId);
    }

    public static string ImagePath(string directory, string imageId) => Path.Combine(directory, "train", imageId + ".png");

    public string ImageId(int index) => ids[index];

    IEnumerable<VinBigRow> BoxRows(int index) => rowsById[ids[index]].Where(r => r.ClassId != VinBigCsv.NoFinding && r.HasBox);

    public IReadOnlyList<int> LabelsOf(int index) => BoxRows(index).Select(r => r.ClassId).ToList();

    public Sample Get(int index)
    {
        var image = ImageCodecs.Read(ImagePath(Directory, ids[index])).ToImage();
        if (image.Channels != 1) throw new InvalidDataException($"{ImagePath(Directory, ids[index])}: expected a grey image, got {image.Channels} channels");
        var rows = BoxRows(index).ToList();
        return Sample.Of(image, rows.Select(r => r.Box).ToList(), rows.Select(r => r.ClassId).ToList(), ids[index], rows.Select(r => r.RadId).ToList());
    }
}
