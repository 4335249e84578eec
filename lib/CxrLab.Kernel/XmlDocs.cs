using System.Globalization;
using System.Xml;
using Microsoft.CodeAnalysis;

namespace CxrLab.Kernel;

/// <summary>Documentation comments from an assembly's XML doc file (read on first use), so inspect
/// shows summaries. Roslyn's own provider lives in the Workspaces package, which the kernel does not need.</summary>
internal sealed class XmlDocs(string path) : DocumentationProvider
{
    readonly Lazy<Dictionary<string, string>> members = new(() => Load(path));

    protected override string? GetDocumentationForSymbol(string documentationMemberID, CultureInfo preferredCulture, CancellationToken cancellationToken = default) =>
        members.Value.TryGetValue(documentationMemberID, out var xml) ? xml : null;

    static Dictionary<string, string> Load(string path)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            using var reader = XmlReader.Create(path, new XmlReaderSettings { DtdProcessing = DtdProcessing.Ignore });
            reader.MoveToContent();
            while (!reader.EOF)
            {
                if (reader.NodeType == XmlNodeType.Element && reader.Name == "member")
                {
                    var name = reader.GetAttribute("name");
                    var xml = reader.ReadOuterXml(); // moves to the node after this member
                    if (name is not null) result[name] = xml;
                }
                else reader.Read();
            }
        }
        catch (XmlException) { /* a broken doc file only loses summaries */ }
        catch (IOException) { }
        return result;
    }

    public override bool Equals(object? obj) => obj is XmlDocs other && other.Path == Path;
    public override int GetHashCode() => Path.GetHashCode(StringComparison.Ordinal);
    string Path => path;
}
