using System.Text.Json.Nodes;

namespace CxrLab.Viz;

/// <summary>MIME type names used by Jupyter front ends.</summary>
public static class MimeTypes
{
    public const string PlainText = "text/plain";
    public const string Html = "text/html";
    public const string Png = "image/png";
    public const string Json = "application/json";
    public const string Plotly = "application/vnd.plotly.v1+json";
}

/// <summary>One value rendered in several representations, keyed by MIME type, as Jupyter's
/// display_data / execute_result carry it. Text types hold a string, image types hold base64 text,
/// JSON types hold a <see cref="JsonNode"/>. <see cref="MimeTypes.PlainText"/> is always present
/// once a bundle leaves <see cref="Formatters.Format"/>.</summary>
public sealed class MimeBundle
{
    public MimeBundle() { }

    public MimeBundle(string plainText) => Data[MimeTypes.PlainText] = plainText;

    /// <summary>Representations by MIME type: string (text, base64 images) or <see cref="JsonNode"/>.</summary>
    public Dictionary<string, object> Data { get; } = new(StringComparer.Ordinal);

    /// <summary>Per-MIME metadata (e.g. <c>{"image/png": {"width": 640}}</c>).</summary>
    public JsonObject Metadata { get; } = new();

    public string? PlainText => Data.TryGetValue(MimeTypes.PlainText, out var v) ? v as string : null;

    public bool Has(string mimeType) => Data.ContainsKey(mimeType);

    /// <summary>Adds or replaces one representation; returns this bundle for chaining.</summary>
    public MimeBundle With(string mimeType, object value)
    {
        if (value is not (string or JsonNode))
            throw new ArgumentException($"a MIME bundle value must be a string or a JsonNode, not {value.GetType().Name}", nameof(value));
        Data[mimeType] = value;
        return this;
    }

    public MimeBundle WithMetadata(string mimeType, JsonObject metadata)
    {
        Metadata[mimeType] = metadata;
        return this;
    }

    /// <summary>A plain-text bundle.</summary>
    public static MimeBundle Text(string text) => new(text);

    /// <summary>An HTML bundle with its plain-text fallback.</summary>
    public static MimeBundle Html(string html, string plainText) => new MimeBundle(plainText).With(MimeTypes.Html, html);

    /// <summary>A PNG bundle; <paramref name="width"/>/<paramref name="height"/> become metadata when given.</summary>
    public static MimeBundle Png(byte[] png, string plainText, int? width = null, int? height = null)
    {
        var bundle = new MimeBundle(plainText).With(MimeTypes.Png, Convert.ToBase64String(png));
        if (width is not null && height is not null)
            bundle.WithMetadata(MimeTypes.Png, new JsonObject { ["width"] = width, ["height"] = height });
        return bundle;
    }

    /// <summary>The bundle as Jupyter's <c>data</c> object.</summary>
    public JsonObject DataToJson()
    {
        var json = new JsonObject();
        foreach (var (mime, value) in Data)
            json[mime] = value is JsonNode node ? node.DeepClone() : JsonValue.Create((string)value);
        return json;
    }

    public override string ToString() => $"MimeBundle({string.Join(", ", Data.Keys)})";
}
