using System.Text.Json;
using CxrLab.Torch;

namespace CxrLab.Data;

/// <summary>A binary mask as COCO's uncompressed run-length encoding (what <c>pycocotools.mask.encode</c> counts before
/// compressing, and what COCO's JSON accepts as <c>{"size": [h, w], "counts": [...]}</c>): the mask read column by column
/// (Fortran order), run lengths alternating zeros and ones, always starting with the zero run (0 when the first pixel is set).</summary>
public sealed record CocoRle(int Height, int Width, IReadOnlyList<long> Counts)
{
    /// <summary>Encodes a <c>[H, W]</c> mask (bool or any numeric dtype; non-zero is inside).</summary>
    public static CocoRle Encode(Tensor mask)
    {
        if (mask.dim() != 2) throw new ArgumentException($"a mask to encode must be [H, W], got [{string.Join(", ", mask.shape)}]");
        var (h, w) = ((int)mask.size(0), (int)mask.size(1));
        // Column-major: transpose then read row by row.
        using var columns = mask.ne(0).t().contiguous().cpu();
        return Encode(columns.ToArray<bool>(), h, w);
    }

    /// <summary>Encodes pixels already in column-major order (<paramref name="height"/> × <paramref name="width"/>).</summary>
    public static CocoRle Encode(ReadOnlySpan<bool> columnMajor, int height, int width)
    {
        if (columnMajor.Length != height * width) throw new ArgumentException($"{columnMajor.Length} pixels for a {height}×{width} mask");
        var counts = new List<long>();
        var current = false;
        long run = 0;
        foreach (var v in columnMajor)
        {
            if (v != current)
            {
                counts.Add(run);
                current = v;
                run = 0;
            }
            run++;
        }
        counts.Add(run);
        return new CocoRle(height, width, counts);
    }

    /// <summary>The mask back as <c>[H, W]</c> bool.</summary>
    public Tensor Decode()
    {
        var columns = new bool[Height * Width];
        var pos = 0L;
        for (var i = 0; i < Counts.Count; i++)
        {
            if (pos + Counts[i] > columns.Length) throw new FormatException($"RLE counts sum past the {Height}×{Width} mask");
            if (i % 2 == 1) Array.Fill(columns, true, (int)pos, (int)Counts[i]);
            pos += Counts[i];
        }
        if (pos != columns.Length) throw new FormatException($"RLE counts sum to {pos}, the {Height}×{Width} mask has {columns.Length} pixels");
        using var t = Tensor.From(columns, Width, Height);
        return t.t().contiguous();
    }

    /// <summary>Pixels inside the mask.</summary>
    public long Area => Counts.Where((_, i) => i % 2 == 1).Sum();

    /// <summary><c>{"size": [h, w], "counts": [...]}</c> as an object for <see cref="JsonSerializer"/>.</summary>
    public IReadOnlyDictionary<string, object> ToJsonObject() => new Dictionary<string, object> { ["size"] = new[] { Height, Width }, ["counts"] = Counts };

    /// <summary>Writes <c>{"size": [h, w], "counts": [...]}</c>.</summary>
    public void WriteJson(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteStartArray("size");
        w.WriteNumberValue(Height);
        w.WriteNumberValue(Width);
        w.WriteEndArray();
        w.WriteStartArray("counts");
        foreach (var c in Counts) w.WriteNumberValue(c);
        w.WriteEndArray();
        w.WriteEndObject();
    }

    /// <summary>Reads <c>{"size": [h, w], "counts": [...]}</c> (uncompressed counts only).</summary>
    public static CocoRle FromJson(JsonElement e)
    {
        var size = e.GetProperty("size");
        var counts = e.GetProperty("counts");
        if (counts.ValueKind != JsonValueKind.Array) throw new FormatException("only uncompressed RLE (counts as a number list) is supported; decode compressed strings with pycocotools first");
        return new CocoRle(size[0].GetInt32(), size[1].GetInt32(), counts.EnumerateArray().Select(c => c.GetInt64()).ToArray());
    }

    /// <summary>Intersection over union of two masks of the same size (1 when both are empty).</summary>
    public static double Iou(Tensor a, Tensor b)
    {
        using var scope = torch.NewDisposeScope();
        var (x, y) = (a.ne(0), b.ne(0));
        var inter = x.logical_and(y).sum().item<long>();
        var union = x.logical_or(y).sum().item<long>();
        return union == 0 ? 1.0 : (double)inter / union;
    }
}
