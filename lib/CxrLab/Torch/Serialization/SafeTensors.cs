using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace CxrLab.Torch.Serialization;

/// <summary>The safetensors format: an 8-byte little-endian header length, a JSON header mapping
/// names to dtype, shape and byte offsets (plus optional "__metadata__" strings), then the data.</summary>
public static class SafeTensors
{
    /// <summary>Headers above this size are refused (the format's own reference limit is 100 MB).</summary>
    const long MaxHeaderBytes = 100_000_000;

    public static Dictionary<string, StoredTensor> Read(string path) => Read(path, out _);

    public static Dictionary<string, StoredTensor> Read(string path, out Dictionary<string, string> metadata)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"safetensors file not found: {path}", path);
        using var file = File.OpenRead(path);
        var header = new byte[8];
        if (file.Read(header) != 8) throw new CheckpointException($"{path}: shorter than a safetensors header");
        var headerLength = BinaryPrimitives.ReadInt64LittleEndian(header);
        if (headerLength <= 0 || headerLength > MaxHeaderBytes || headerLength > file.Length - 8)
            throw new CheckpointException($"{path}: safetensors header length {headerLength} is invalid for a {file.Length}-byte file");
        var json = new byte[headerLength];
        file.ReadExactly(json);
        var dataStart = 8 + headerLength;
        var dataLength = file.Length - dataStart;

        metadata = new Dictionary<string, string>();
        var result = new Dictionary<string, StoredTensor>();
        using var doc = ParseHeader(json, path);
        foreach (var entry in doc.RootElement.EnumerateObject())
        {
            if (entry.Name == "__metadata__")
            {
                foreach (var m in entry.Value.EnumerateObject()) metadata[m.Name] = m.Value.GetString() ?? "";
                continue;
            }
            var dtype = ParseDType(entry.Value.GetProperty("dtype").GetString(), path, entry.Name);
            var shape = entry.Value.GetProperty("shape").EnumerateArray().Select(x => x.GetInt64()).ToArray();
            var offsets = entry.Value.GetProperty("data_offsets").EnumerateArray().Select(x => x.GetInt64()).ToArray();
            var count = shape.Aggregate(1L, (a, b) => checked(a * b));
            if (offsets.Length != 2 || offsets[0] < 0 || offsets[1] > dataLength || offsets[1] - offsets[0] != count * dtype.ElementSize())
                throw new CheckpointException($"{path}: tensor '{entry.Name}' has offsets [{string.Join(", ", offsets)}] inconsistent with its shape and the file size");
            var data = new byte[offsets[1] - offsets[0]];
            file.Position = dataStart + offsets[0];
            file.ReadExactly(data);
            result[entry.Name] = new StoredTensor(dtype, shape, data);
        }
        return result;
    }

    /// <summary>Writes tensors atomically (temp file, then rename), in the given order.</summary>
    public static void Write(string path, IEnumerable<KeyValuePair<string, StoredTensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.ToList();
        var header = new Dictionary<string, object>();
        if (metadata is { Count: > 0 }) header["__metadata__"] = metadata;
        long offset = 0;
        foreach (var (name, t) in list)
        {
            header[name] = new Dictionary<string, object>
            {
                ["dtype"] = DTypeName(t.DType),
                ["shape"] = t.Shape,
                ["data_offsets"] = new[] { offset, offset + t.Data.Length },
            };
            offset += t.Data.Length;
        }
        var json = JsonSerializer.SerializeToUtf8Bytes(header);
        var padded = (json.Length + 7) / 8 * 8; // data starts 8-byte aligned; padding is spaces
        using var output = new MemoryStream();
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(length, padded);
        output.Write(length);
        output.Write(json);
        for (var i = json.Length; i < padded; i++) output.WriteByte((byte)' ');
        foreach (var (_, t) in list) output.Write(t.Data);
        CxrLab.Imaging.ImageCodecs.WriteAtomically(path, output.GetBuffer().AsSpan(0, (int)output.Length));
    }

    internal static bool LooksLikeSafeTensors(Stream stream)
    {
        var start = stream.Position;
        try
        {
            Span<byte> head = stackalloc byte[9];
            if (stream.Read(head) != 9) return false;
            var length = BinaryPrimitives.ReadInt64LittleEndian(head);
            return length > 0 && length <= stream.Length - 8 && head[8] == '{';
        }
        finally { stream.Position = start; }
    }

    static JsonDocument ParseHeader(byte[] json, string path)
    {
        try { return JsonDocument.Parse(json); }
        catch (JsonException e) { throw new CheckpointException($"{path}: safetensors header is not valid JSON: {e.Message}", e); }
    }

    static ScalarType ParseDType(string? name, string path, string tensor) => name switch
    {
        "F64" => ScalarType.Float64,
        "F32" => ScalarType.Float32,
        "F16" => ScalarType.Float16,
        "BF16" => ScalarType.BFloat16,
        "I64" => ScalarType.Int64,
        "I32" => ScalarType.Int32,
        "I16" => ScalarType.Int16,
        "I8" => ScalarType.Int8,
        "U8" => ScalarType.UInt8,
        "BOOL" => ScalarType.Bool,
        _ => throw new CheckpointException($"{path}: tensor '{tensor}' has unsupported dtype '{name}'"),
    };

    static string DTypeName(ScalarType type) => type switch
    {
        ScalarType.Float64 => "F64",
        ScalarType.Float32 => "F32",
        ScalarType.Float16 => "F16",
        ScalarType.BFloat16 => "BF16",
        ScalarType.Int64 => "I64",
        ScalarType.Int32 => "I32",
        ScalarType.Int16 => "I16",
        ScalarType.Int8 => "I8",
        ScalarType.UInt8 => "U8",
        ScalarType.Bool => "BOOL",
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "no safetensors dtype"),
    };
}
