using System.Collections;
using System.Globalization;
using System.Net;
using System.Reflection;
using System.Text;

namespace CxrLab.Viz;

/// <summary>A table of records (one row per item, one column per public property or field), rendered
/// as HTML and as aligned plain text. Used by <see cref="Formatters"/> for sequences of records, so a
/// LINQ query's result shows as a table in a notebook.</summary>
public sealed class HtmlTable
{
    /// <summary>Rows shown before the rest is summarised as "… N more rows".</summary>
    public const int DefaultMaxRows = 50;

    HtmlTable(IReadOnlyList<string> columns, IReadOnlyList<string[]> rows, long totalRows)
    {
        Columns = columns;
        Rows = rows;
        TotalRows = totalRows;
    }

    public IReadOnlyList<string> Columns { get; }

    /// <summary>The formatted cells of the rows shown (at most the row limit).</summary>
    public IReadOnlyList<string[]> Rows { get; }

    /// <summary>How many items the sequence had (may exceed <see cref="Rows"/>.Count).</summary>
    public long TotalRows { get; }

    /// <summary>Builds a table from a sequence; columns come from the element type's public instance
    /// properties and fields (in declaration order), or a single "value" column for scalars.</summary>
    public static HtmlTable From(IEnumerable items, int maxRows = DefaultMaxRows)
    {
        var elementType = ElementType(items.GetType()) ?? typeof(object);
        var members = IsScalar(elementType) ? [] : Members(elementType);
        var columns = members.Length == 0 ? new[] { "value" } : members.Select(m => m.Name).ToArray();
        var rows = new List<string[]>();
        long total = 0;
        foreach (var item in items)
        {
            if (total++ >= maxRows) continue;
            rows.Add(members.Length == 0
                ? [Cell(item)]
                : members.Select(m => Cell(item is null ? null : Read(m, item))).ToArray());
        }
        return new HtmlTable(columns, rows, total);
    }

    /// <summary>True when <see cref="From"/> makes a sensible table of this type's values: a sequence
    /// (not a string or a dictionary of scalars) whose elements are records/classes with members.</summary>
    public static bool IsRecordSequence(Type type)
    {
        if (type == typeof(string) || !typeof(IEnumerable).IsAssignableFrom(type)) return false;
        var element = ElementType(type);
        return element is not null && !IsScalar(element) && Members(element).Length > 0;
    }

    public string ToHtml()
    {
        var html = new StringBuilder();
        html.Append("<table class=\"cxr-table\" style=\"border-collapse:collapse;font-size:12px\"><thead><tr>");
        foreach (var c in Columns) html.Append("<th style=\"text-align:left;border-bottom:1px solid #999;padding:2px 8px\">").Append(WebUtility.HtmlEncode(c)).Append("</th>");
        html.Append("</tr></thead><tbody>");
        foreach (var row in Rows)
        {
            html.Append("<tr>");
            foreach (var cell in row) html.Append("<td style=\"padding:2px 8px\">").Append(WebUtility.HtmlEncode(cell)).Append("</td>");
            html.Append("</tr>");
        }
        html.Append("</tbody></table>");
        if (TotalRows > Rows.Count) html.Append($"<div style=\"font-size:11px;color:#666\">… {TotalRows - Rows.Count} more rows ({TotalRows} in all)</div>");
        return html.ToString();
    }

    public override string ToString()
    {
        var widths = Columns.Select((c, i) => Math.Max(c.Length, Rows.Count == 0 ? 0 : Rows.Max(r => r[i].Length))).ToArray();
        var text = new StringBuilder();
        text.AppendJoin("  ", Columns.Select((c, i) => c.PadRight(widths[i]))).Append('\n');
        text.AppendJoin("  ", widths.Select(w => new string('-', w))).Append('\n');
        foreach (var row in Rows) text.AppendJoin("  ", row.Select((c, i) => c.PadRight(widths[i]))).Append('\n');
        if (TotalRows > Rows.Count) text.Append($"… {TotalRows - Rows.Count} more rows ({TotalRows} in all)\n");
        return text.ToString().TrimEnd('\n');
    }

    public MimeBundle ToMimeBundle() => MimeBundle.Html(ToHtml(), ToString());

    static string Cell(object? value) => value switch
    {
        null => "",
        string s => s,
        float f => f.ToString("G6", CultureInfo.InvariantCulture),
        double d => d.ToString("G6", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        IEnumerable e => "[" + string.Join(", ", e.Cast<object?>().Take(8).Select(Cell)) + (e.Cast<object?>().Skip(8).Any() ? ", …" : "") + "]",
        _ => value.ToString() ?? "",
    };

    static object? Read(MemberInfo member, object item) => member switch
    {
        PropertyInfo p => p.GetValue(item),
        FieldInfo f => f.GetValue(item),
        _ => null,
    };

    static MemberInfo[] Members(Type type) =>
        type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.GetIndexParameters().Length == 0 && p.CanRead && p.Name != "EqualityContract")
            .Cast<MemberInfo>()
            .Concat(type.GetFields(BindingFlags.Public | BindingFlags.Instance))
            .OrderBy(m => m.MetadataToken)
            .ToArray();

    static bool IsScalar(Type type) =>
        type.IsPrimitive || type.IsEnum || type == typeof(string) || type == typeof(decimal) || type == typeof(DateTime)
        || type == typeof(TimeSpan) || type == typeof(Guid) || type == typeof(object);

    static Type? ElementType(Type sequenceType)
    {
        if (sequenceType.IsArray) return sequenceType.GetElementType();
        var enumerable = sequenceType.IsGenericType && sequenceType.GetGenericTypeDefinition() == typeof(IEnumerable<>)
            ? sequenceType
            : sequenceType.GetInterfaces().FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IEnumerable<>));
        return enumerable?.GetGenericArguments()[0];
    }
}
