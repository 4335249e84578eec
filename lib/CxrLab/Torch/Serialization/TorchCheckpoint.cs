using System.Buffers.Binary;
using System.IO.Compression;

namespace CxrLab.Torch.Serialization;

/// <summary>Reads checkpoints written by PyTorch's <c>torch.save</c>: the zip format of
/// PyTorch ≥ 1.6 (<c>data.pkl</c> plus raw storages under <c>data/</c>) and the legacy format the
/// older torchvision model-zoo files use (a sequence of pickles followed by raw storages). Also
/// reads safetensors (see <see cref="SafeTensors"/>). Nothing in the file is executed.</summary>
public static class TorchCheckpoint
{
    const string LegacyMagic = "119547037146038801333356"; // 0x1950a86a20f9469cfc6c, torch's legacy magic number

    /// <summary>The whole pickled object: dictionaries (<c>Dictionary&lt;object, object?&gt;</c>), lists,
    /// tuples (<c>object?[]</c>), numbers, strings and <see cref="StoredTensor"/>s.</summary>
    public static object? ReadObject(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"checkpoint not found: {path}", path);
        using var file = File.OpenRead(path);
        Span<byte> head = stackalloc byte[8];
        var n = file.Read(head);
        file.Position = 0;
        if (n >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4) return ReadZip(file, path);
        if (n >= 2 && head[0] == 0x80) return ReadLegacy(file, path);
        if (n == 8 && SafeTensors.LooksLikeSafeTensors(file))
            return SafeTensors.Read(path).ToDictionary(kv => (object)kv.Key, kv => (object?)kv.Value);
        throw new CheckpointException($"{path}: not a PyTorch checkpoint (neither a torch.save zip, a legacy torch.save file, nor safetensors)");
    }

    /// <summary>Reads a state dict: the tensors of the checkpoint's top-level dictionary, or of a
    /// nested one under <paramref name="key"/> (by default the first of "state_dict", "model",
    /// "model_state_dict" that holds tensors — as YOLOX, effdet and Lightning save them). Nested
    /// dictionaries are flattened with dotted keys. <paramref name="remap"/> renames keys (return
    /// null to drop one), e.g. to strip a "module." prefix.</summary>
    public static Dictionary<string, StoredTensor> ReadStateDict(string path, string? key = null, Func<string, string?>? remap = null)
    {
        var root = ReadObject(path);
        var dict = root as Dictionary<object, object?>
                   ?? throw new CheckpointException($"{path}: the checkpoint holds a {Describe(root)}, not a dictionary of tensors");
        if (key is not null)
        {
            dict = dict.TryGetValue(key, out var nested) && nested is Dictionary<object, object?> d
                ? d
                : throw new CheckpointException($"{path}: no dictionary under key '{key}'; top-level keys: {string.Join(", ", dict.Keys.Take(20))}");
        }
        else if (!dict.Values.Any(v => v is StoredTensor))
        {
            foreach (var candidate in new[] { "state_dict", "model", "model_state_dict", "module" })
                if (dict.TryGetValue(candidate, out var nested) && nested is Dictionary<object, object?> d && Flatten(d, "").Any())
                {
                    dict = d;
                    break;
                }
        }
        var result = new Dictionary<string, StoredTensor>();
        foreach (var (name, tensor) in Flatten(dict, ""))
        {
            var mapped = remap is null ? name : remap(name);
            if (mapped is null) continue;
            if (!result.TryAdd(mapped, tensor)) throw new CheckpointException($"{path}: two tensors map to the key '{mapped}' (check the remap function)");
        }
        if (result.Count == 0)
            throw new CheckpointException($"{path}: no tensors found; top-level keys: {string.Join(", ", dict.Keys.Take(20))}. Pass the key that holds the state dict.");
        return result;
    }

    static IEnumerable<(string Name, StoredTensor Tensor)> Flatten(Dictionary<object, object?> dict, string prefix)
    {
        foreach (var (k, v) in dict)
        {
            var name = prefix + k;
            if (v is StoredTensor t) yield return (name, t);
            else if (v is Dictionary<object, object?> nested)
                foreach (var item in Flatten(nested, name + ".")) yield return item;
        }
    }

    static string Describe(object? value) => value?.GetType().Name ?? "None";

    // ---- zip format -------------------------------------------------------------------------

    static object? ReadZip(FileStream file, string path)
    {
        using var zip = new ZipArchive(file, ZipArchiveMode.Read, leaveOpen: true);
        var pkl = zip.Entries.FirstOrDefault(e => e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal) || e.FullName == "data.pkl")
                  ?? throw new CheckpointException($"{path}: zip archive without data.pkl — not a torch.save file");
        var prefix = pkl.FullName[..^"data.pkl".Length];
        var bigEndian = zip.GetEntry(prefix + "byteorder") is { } order && ReadText(order).Trim() == "big";
        if (bigEndian) throw new CheckpointException($"{path}: big-endian checkpoints are not supported");

        var storages = new Dictionary<string, Storage>();
        object? PersistentLoad(object? pid)
        {
            var id = pid as object?[] ?? throw new CheckpointException($"{path}: persistent id is not a tuple");
            if (id.Length < 5 || id[0] as string != "storage")
                throw new CheckpointException($"{path}: unsupported persistent id ({string.Join(", ", id.Select(x => x?.ToString()))})");
            var dtype = StorageType(id[1], path);
            var key = id[2]?.ToString() ?? throw new CheckpointException($"{path}: storage without a key");
            if (storages.TryGetValue(key, out var existing)) return existing;
            var entry = zip.GetEntry(prefix + "data/" + key)
                        ?? throw new CheckpointException($"{path}: storage data/{key} is missing from the archive (truncated file?)");
            var bytes = new byte[entry.Length];
            using (var s = entry.Open()) s.ReadExactly(bytes);
            return storages[key] = new Storage(dtype, bytes);
        }

        using var pickle = new MemoryStream(ReadAll(pkl));
        var root = new PickleReader(pickle, path, PersistentLoad, (g, a) => Rebuild(g, a, path)).Load();
        return Materialize(root, path);
    }

    static byte[] ReadAll(ZipArchiveEntry entry)
    {
        var bytes = new byte[entry.Length];
        using var s = entry.Open();
        s.ReadExactly(bytes);
        return bytes;
    }

    static string ReadText(ZipArchiveEntry entry) => System.Text.Encoding.UTF8.GetString(ReadAll(entry));

    // ---- legacy format ----------------------------------------------------------------------

    static object? ReadLegacy(FileStream file, string path)
    {
        using var buffered = new MemoryStream();
        file.CopyTo(buffered);
        buffered.Position = 0;
        object? NoPersistent(object? _) => throw new CheckpointException($"{path}: unexpected persistent id in the header");
        var magic = new PickleReader(buffered, path, NoPersistent).Load();
        if (magic?.ToString() != LegacyMagic)
            throw new CheckpointException($"{path}: a pickle, but not a torch.save file (no torch magic number)");
        var protocol = new PickleReader(buffered, path, NoPersistent).Load();
        if (protocol is not 1001L) throw new CheckpointException($"{path}: legacy protocol {protocol} is not supported (expected 1001)");
        new PickleReader(buffered, path, NoPersistent).Load(); // sys_info: endianness and type sizes of the writer

        var storages = new Dictionary<string, Storage>();
        object? PersistentLoad(object? pid)
        {
            var id = pid as object?[] ?? throw new CheckpointException($"{path}: persistent id is not a tuple");
            if (id.Length < 6 || id[0] as string != "storage")
                throw new CheckpointException($"{path}: unsupported persistent id ({string.Join(", ", id.Select(x => x?.ToString()))})");
            var dtype = StorageType(id[1], path);
            var rootKey = id[2]?.ToString()!;
            var numel = Convert.ToInt64(id[4]);
            if (!storages.TryGetValue(rootKey, out var storage))
                storages[rootKey] = storage = new Storage(dtype, null) { LegacyNumel = numel };
            if (id[5] is object?[] view && view.Length == 3)
            {
                // A view into the root storage: offset and size in elements.
                return new StorageView(storage, Convert.ToInt64(view[1]), Convert.ToInt64(view[2]));
            }
            return storage;
        }

        var root = new PickleReader(buffered, path, PersistentLoad, (g, a) => Rebuild(g, a, path)).Load();
        var keys = new PickleReader(buffered, path, NoPersistent).Load() as List<object?>
                   ?? throw new CheckpointException($"{path}: storage key list missing after the object pickle");
        foreach (var key in keys.Select(k => k?.ToString()!))
        {
            if (!storages.TryGetValue(key, out var storage)) throw new CheckpointException($"{path}: storage {key} listed but never referenced");
            var header = new byte[8];
            buffered.ReadExactly(header);
            var numel = BinaryPrimitives.ReadInt64LittleEndian(header);
            var size = checked(numel * storage.DType.ElementSize());
            if (numel < 0 || size > buffered.Length - buffered.Position)
                throw new CheckpointException($"{path}: storage {key} claims {numel} elements, more than the file holds (truncated?)");
            storage.Bytes = new byte[size];
            buffered.ReadExactly(storage.Bytes);
        }
        return Materialize(root, path);
    }

    // ---- tensors ----------------------------------------------------------------------------

    sealed class Storage(ScalarType dtype, byte[]? bytes)
    {
        public ScalarType DType { get; } = dtype;
        public byte[]? Bytes { get; set; } = bytes;
        public long LegacyNumel { get; init; }
    }

    sealed record StorageView(Storage Root, long Offset, long Size);

    /// <summary>A tensor whose storage bytes may arrive later (legacy format); materialized at the end.</summary>
    sealed record PendingTensor(object Storage, long Offset, long[] Shape, long[] Stride);

    static object? Rebuild(PickleGlobal global, IReadOnlyList<object?> args, string path)
    {
        switch (global.Module, global.Name)
        {
            case ("torch._utils", "_rebuild_tensor_v2"):
            case ("torch._utils", "_rebuild_tensor_v3"):
            case ("torch._utils", "_rebuild_tensor"):
                if (args.Count < 4) throw new CheckpointException($"{path}: {global} with {args.Count} arguments");
                return new PendingTensor(args[0] ?? throw new CheckpointException($"{path}: tensor without storage"),
                    Convert.ToInt64(args[1]), Longs(args[2], path), Longs(args[3], path));
            case ("torch._utils", "_rebuild_parameter"):
            case ("torch._utils", "_rebuild_parameter_with_state"):
                return args.Count > 0 ? args[0] : null; // a Parameter is its data tensor
            case ("torch._tensor", "_rebuild_from_type_v2"):
                // (func, new_type, args, state): the tensor comes from calling func with args.
                if (args.Count >= 3 && args[0] is PickleGlobal inner && args[2] is object?[] innerArgs) return Rebuild(inner, innerArgs, path);
                return null;
            case ("torch", "Size"):
                return args.Count > 0 ? args[0] : Array.Empty<object?>();
            default:
                return null; // inert: kept as a PickleObject by the reader
        }
    }

    static long[] Longs(object? value, string path) =>
        value is object?[] items ? items.Select(Convert.ToInt64).ToArray()
        : throw new CheckpointException($"{path}: expected a tuple of ints, got {Describe(value)}");

    static ScalarType StorageType(object? type, string path)
    {
        var name = type is PickleGlobal g ? g.Name : type?.ToString() ?? "";
        return name switch
        {
            "FloatStorage" => ScalarType.Float32,
            "DoubleStorage" => ScalarType.Float64,
            "HalfStorage" => ScalarType.Float16,
            "BFloat16Storage" => ScalarType.BFloat16,
            "LongStorage" => ScalarType.Int64,
            "IntStorage" => ScalarType.Int32,
            "ShortStorage" => ScalarType.Int16,
            "CharStorage" => ScalarType.Int8,
            "ByteStorage" => ScalarType.UInt8,
            "BoolStorage" => ScalarType.Bool,
            _ => throw new CheckpointException($"{path}: storage type '{name}' is not supported"),
        };
    }

    /// <summary>Replaces every pending tensor in the object tree by a contiguous <see cref="StoredTensor"/>.</summary>
    static object? Materialize(object? value, string path)
    {
        switch (value)
        {
            case PendingTensor p: return Gather(p, path);
            case Dictionary<object, object?> d:
                foreach (var k in d.Keys.ToList()) d[k] = Materialize(d[k], path);
                return d;
            case List<object?> l:
                for (var i = 0; i < l.Count; i++) l[i] = Materialize(l[i], path);
                return l;
            case object?[] t:
                return t.Select(x => Materialize(x, path)).ToArray();
            default: return value;
        }
    }

    static StoredTensor Gather(PendingTensor p, string path)
    {
        var (storage, baseOffset) = p.Storage switch
        {
            Storage s => (s, 0L),
            StorageView v => (v.Root, v.Offset),
            _ => throw new CheckpointException($"{path}: tensor storage is a {Describe(p.Storage)}"),
        };
        var bytes = storage.Bytes ?? throw new CheckpointException($"{path}: tensor storage was never loaded (truncated file?)");
        var e = storage.DType.ElementSize();
        var shape = p.Shape;
        var count = shape.Aggregate(1L, (a, b) => checked(a * b));
        var result = new byte[checked(count * e)];
        if (count == 0) return new StoredTensor(storage.DType, shape, result);

        var offset = baseOffset + p.Offset;
        // Highest element index touched must lie inside the storage.
        var last = offset + shape.Select((d, i) => (d - 1) * p.Stride[i]).Sum();
        if (offset < 0 || (last + 1) * e > bytes.Length)
            throw new CheckpointException($"{path}: tensor [{string.Join(", ", shape)}] at offset {offset} runs past its storage of {bytes.Length / e} elements (corrupt file)");

        if (IsContiguous(shape, p.Stride))
        {
            Buffer.BlockCopy(bytes, checked((int)(offset * e)), result, 0, result.Length);
            return new StoredTensor(storage.DType, shape, result);
        }
        var index = new long[shape.Length];
        for (long n = 0; n < count; n++)
        {
            long src = offset;
            for (var d = 0; d < shape.Length; d++) src += index[d] * p.Stride[d];
            Buffer.BlockCopy(bytes, checked((int)(src * e)), result, checked((int)(n * e)), e);
            for (var d = shape.Length - 1; d >= 0; d--)
            {
                if (++index[d] < shape[d]) break;
                index[d] = 0;
            }
        }
        return new StoredTensor(storage.DType, shape, result);
    }

    static bool IsContiguous(long[] shape, long[] stride)
    {
        long expected = 1;
        for (var d = shape.Length - 1; d >= 0; d--)
        {
            if (shape[d] != 1 && stride[d] != expected) return false;
            expected *= shape[d];
        }
        return true;
    }
}
