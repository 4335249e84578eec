namespace CxrLab.Data;

/// <summary>What kind of problem a row of an input file had.</summary>
public enum IssueKind
{
    /// <summary>A row that could not be read (missing or unparsable fields); rejected.</summary>
    Malformed,
    /// <summary>A class id outside the dataset's classes; rejected.</summary>
    UnknownClass,
    /// <summary>A box with zero (or negative) width or height; dropped.</summary>
    ZeroArea,
    /// <summary>A box reaching outside its image; clipped to the image and kept.</summary>
    Clipped,
    /// <summary>A box lying entirely outside its image; dropped.</summary>
    OutsideImage,
    /// <summary>An image named by the labels without an image file; the image is left out.</summary>
    MissingImage,
    /// <summary>Something odd but usable (e.g. class_name not matching class_id); kept.</summary>
    Warning,
}

/// <summary>One finding about one line (1-based, the header is line 1; 0 when not about a line).</summary>
public sealed record ValidationIssue(string File, int Line, IssueKind Kind, string Message)
{
    public override string ToString() => Line > 0 ? $"{Path.GetFileName(File)}:{Line}: {Kind}: {Message}" : $"{Path.GetFileName(File)}: {Kind}: {Message}";
}

/// <summary>The validation report of loading a dataset or a submission: every issue with its line, and
/// counts. Loading never throws for bad rows; it reports them here (a missing file still throws).</summary>
public sealed class ValidationReport
{
    readonly List<ValidationIssue> issues = [];

    public IReadOnlyList<ValidationIssue> Issues => issues;
    public int RowsRead { get; internal set; }
    public int BoxesKept { get; internal set; }

    public int Count(IssueKind kind) => issues.Count(i => i.Kind == kind);
    public int ZeroAreaDropped => Count(IssueKind.ZeroArea);
    public int Clipped => Count(IssueKind.Clipped);
    public int Rejected => Count(IssueKind.Malformed) + Count(IssueKind.UnknownClass);
    public IReadOnlyList<string> MissingImages => issues.Where(i => i.Kind == IssueKind.MissingImage).Select(i => i.Message.Split(' ')[0]).ToList();

    public bool IsClean => issues.Count == 0;

    public void Add(string file, int line, IssueKind kind, string message) => issues.Add(new ValidationIssue(file, line, kind, message));

    internal void Merge(ValidationReport other)
    {
        issues.AddRange(other.issues);
        RowsRead += other.RowsRead;
        BoxesKept += other.BoxesKept;
    }

    /// <summary>One line of counts, e.g. for a CLI footer.</summary>
    public string Summary() =>
        $"{RowsRead} rows, {BoxesKept} boxes kept; {ZeroAreaDropped} zero-area dropped, {Clipped} clipped, " +
        $"{Count(IssueKind.OutsideImage)} outside dropped, {Rejected} rows rejected " +
        $"({Count(IssueKind.Malformed)} malformed, {Count(IssueKind.UnknownClass)} unknown class), " +
        $"{Count(IssueKind.MissingImage)} images without files, {Count(IssueKind.Warning)} warnings";

    /// <summary>The summary and then up to <paramref name="maxLines"/> issues.</summary>
    public string ToString(int maxLines)
    {
        var lines = new List<string> { Summary() };
        lines.AddRange(issues.Take(maxLines).Select(i => "  " + i));
        if (issues.Count > maxLines) lines.Add($"  … {issues.Count - maxLines} more");
        return string.Join(Environment.NewLine, lines);
    }

    public override string ToString() => ToString(20);
}
