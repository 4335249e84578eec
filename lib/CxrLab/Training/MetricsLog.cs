using System.Globalization;
using System.Text;
using System.Text.Json;

namespace CxrLab.Training;

/// <summary>Per-epoch metrics, one row per epoch, in two files: <c>metrics.csv</c> (for
/// spreadsheets and plots; rewritten atomically so a new column can appear later) and
/// <c>metrics.jsonl</c> (one JSON object per line). Every row has an <c>epoch</c> column.</summary>
public sealed class MetricsLog
{
    readonly string csvPath;
    readonly string jsonPath;
    readonly List<IReadOnlyDictionary<string, double>> rows = [];

    MetricsLog(string csvPath, string jsonPath)
    {
        this.csvPath = csvPath;
        this.jsonPath = jsonPath;
    }

    public IReadOnlyList<IReadOnlyDictionary<string, double>> Rows => rows;

    /// <summary>Opens the log of a run. On resume, rows after <paramref name="keepThroughEpoch"/>
    /// (written after the checkpoint being resumed) are dropped so the log matches an
    /// uninterrupted run; without it, an existing log is read as is.</summary>
    public static MetricsLog Open(string csvPath, string jsonPath, int? keepThroughEpoch = null)
    {
        var log = new MetricsLog(csvPath, jsonPath);
        if (File.Exists(jsonPath))
        {
            var lineNo = 0;
            foreach (var line in File.ReadLines(jsonPath))
            {
                lineNo++;
                if (string.IsNullOrWhiteSpace(line)) continue;
                Dictionary<string, double> row;
                try
                {
                    row = (JsonSerializer.Deserialize<Dictionary<string, double?>>(line) ?? [])
                        .ToDictionary(kv => kv.Key, kv => kv.Value ?? double.NaN);
                }
                catch (JsonException e) { throw new InvalidDataException($"{jsonPath}:{lineNo}: not a metrics row: {e.Message}"); }
                if (keepThroughEpoch is null || !row.TryGetValue("epoch", out var epoch) || epoch <= keepThroughEpoch) log.rows.Add(row);
            }
            log.Rewrite();
        }
        return log;
    }

    public static MetricsLog Open(RunDirectory run, int? keepThroughEpoch = null) =>
        Open(run.MetricsCsv, run.MetricsJsonLines, keepThroughEpoch);

    /// <summary>Appends one epoch's metrics (must include <c>epoch</c>).</summary>
    public void Append(IReadOnlyDictionary<string, double> row)
    {
        if (!row.ContainsKey("epoch")) throw new ArgumentException("a metrics row needs an 'epoch' value", nameof(row));
        rows.Add(new Dictionary<string, double>(row));
        File.AppendAllText(jsonPath, JsonLine(row) + "\n");
        WriteCsv();
    }

    void Rewrite()
    {
        var sb = new StringBuilder();
        foreach (var r in rows) sb.Append(JsonLine(r)).Append('\n');
        CxrLab.Imaging.ImageCodecs.WriteAtomically(jsonPath, Encoding.UTF8.GetBytes(sb.ToString()));
        WriteCsv();
    }

    void WriteCsv()
    {
        // Columns: epoch first, then in order of first appearance.
        var columns = new List<string> { "epoch" };
        foreach (var r in rows)
        foreach (var k in r.Keys)
            if (!columns.Contains(k)) columns.Add(k);
        var sb = new StringBuilder();
        sb.AppendJoin(',', columns).Append('\n');
        foreach (var r in rows)
            sb.AppendJoin(',', columns.Select(c => r.TryGetValue(c, out var v) ? Format(v) : "")).Append('\n');
        CxrLab.Imaging.ImageCodecs.WriteAtomically(csvPath, Encoding.UTF8.GetBytes(sb.ToString()));
    }

    static string JsonLine(IReadOnlyDictionary<string, double> row) =>
        "{" + string.Join(",", row.Select(kv => $"{JsonSerializer.Serialize(kv.Key)}:{(double.IsFinite(kv.Value) ? Format(kv.Value) : "null")}")) + "}";

    static string Format(double v) => double.IsFinite(v) ? v.ToString("R", CultureInfo.InvariantCulture) : "";
}
