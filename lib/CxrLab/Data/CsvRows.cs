using System.Globalization;
using CsvHelper;
using CsvHelper.Configuration;

namespace CxrLab.Data;

/// <summary>One data row of a CSV file with its 1-based line number (header = line 1).</summary>
public sealed class CsvRow(int line, IReadOnlyDictionary<string, int> columns, string[] fields)
{
    public int Line { get; } = line;

    /// <summary>The field of <paramref name="column"/>, trimmed; null when the row is too short.</summary>
    public string? this[string column] => columns.TryGetValue(column, out var i) && i < fields.Length ? fields[i].Trim() : null;

    public int FieldCount => fields.Length;
}

/// <summary>Reads CSV files with CsvHelper into raw rows carrying line numbers, so that loaders can
/// report bad rows instead of failing deep inside a typed mapping.</summary>
public static class CsvRows
{
    /// <summary>Reads every row. Throws a clear <see cref="InvalidDataException"/> only when the file is
    /// missing a required column (nothing useful can be loaded then).</summary>
    public static IEnumerable<CsvRow> Read(string path, params string[] requiredColumns)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"CSV file not found: {path}", path);
        var config = new CsvConfiguration(CultureInfo.InvariantCulture)
        {
            MissingFieldFound = null,
            BadDataFound = null,
            DetectColumnCountChanges = false,
            TrimOptions = TrimOptions.None,
        };
        using var reader = new StreamReader(path);
        using var csv = new CsvReader(reader, config);
        if (!csv.Read()) throw new InvalidDataException($"{path}: empty file, expected a header with {string.Join(",", requiredColumns)}");
        var header = csv.Parser.Record ?? [];
        var columns = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < header.Length; i++) columns.TryAdd(header[i].Trim().TrimStart('\uFEFF'), i);
        var missing = requiredColumns.Where(c => !columns.ContainsKey(c)).ToList();
        if (missing.Count > 0)
            throw new InvalidDataException($"{path}:1: header lacks column(s) {string.Join(", ", missing)}; " +
                                           $"expected {string.Join(",", requiredColumns)}, found {string.Join(",", header)}");
        while (csv.Read())
        {
            var fields = csv.Parser.Record ?? [];
            if (fields.Length == 1 && fields[0].Length == 0) continue; // blank line
            yield return new CsvRow(csv.Parser.RawRow, columns, fields);
        }
    }

    public static bool TryFloat(string? text, out float value) =>
        float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value) && float.IsFinite(value);

    public static bool TryInt(string? text, out int value) =>
        int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out value);

    /// <summary>Formats a float for CSV output: invariant culture, shortest round-trip form.</summary>
    public static string Format(float value) => value.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>Quotes a field when it holds a comma, quote or newline.</summary>
    public static string Escape(string field) =>
        field.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + field.Replace("\"", "\"\"") + "\"" : field;

    /// <summary>Writes lines atomically (temp file then rename), "\n" line ends, UTF-8 without BOM.</summary>
    public static void WriteAtomically(string path, IEnumerable<string> lines)
    {
        var text = string.Concat(lines.Select(l => l + "\n"));
        Imaging.ImageCodecs.WriteAtomically(path, new System.Text.UTF8Encoding(false).GetBytes(text));
    }
}
