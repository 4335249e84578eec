using System.Text.Json;
using CxrLab.Torch.Serialization;

namespace CxrLab.Training;

/// <summary>Where training stands: enough to continue exactly as if never interrupted.</summary>
public sealed record TrainerState
{
    /// <summary>Epochs fully completed (the next epoch to run, 0-based).</summary>
    public int Epoch { get; init; }

    /// <summary>Batches already consumed inside <see cref="Epoch"/> (non-zero only when a run
    /// was cancelled mid-epoch).</summary>
    public int BatchInEpoch { get; init; }

    /// <summary>Optimizer steps taken so far (drives the learning-rate schedule).</summary>
    public long Step { get; init; }

    public EarlyStoppingState EarlyStopping { get; init; } = new(double.NegativeInfinity, -1, 0);

    /// <summary>The validation metric's name, e.g. <c>val_map40</c>.</summary>
    public string Metric { get; init; } = "";

    /// <summary>Free-form extras a model or trainer wants back (e.g. sampler positions).</summary>
    public Dictionary<string, string> Extra { get; init; } = [];
}

/// <summary>A training checkpoint in one safetensors file: tensors grouped by prefix
/// (<c>model.</c>, <c>ema.</c>, <c>optimizer.</c>, <c>rng.</c>…) plus the <see cref="TrainerState"/>
/// as JSON metadata. Written atomically (temp file, then rename), so a crash never leaves a
/// half-written <c>last.ckpt</c>. The <c>model.</c> tensors are the model's state_dict with
/// PyTorch keys, so <see cref="LoadModelStateDict"/> gives weights usable on their own.</summary>
public sealed class TrainingCheckpoint
{
    public const string FormatName = "cxrlab-training-checkpoint";
    public const int FormatVersion = 1;

    public TrainerState State { get; init; } = new();

    /// <summary>Named tensor groups: group → (key → tensor), e.g. "model" → state_dict.</summary>
    public Dictionary<string, Dictionary<string, StoredTensor>> Groups { get; init; } = [];

    /// <summary>Small non-tensor state per group (an optimizer's hyperparameters, a scheduler's
    /// counters) as JSON text.</summary>
    public Dictionary<string, string> GroupMetadata { get; init; } = [];

    public void Save(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var tensors = new List<KeyValuePair<string, StoredTensor>>();
        foreach (var (group, dict) in Groups)
        {
            if (group.Contains('.')) throw new ArgumentException($"checkpoint group '{group}' must not contain '.'");
            foreach (var (key, t) in dict) tensors.Add(new($"{group}.{key}", t));
        }
        var metadata = new Dictionary<string, string>
        {
            ["format"] = FormatName,
            ["format_version"] = FormatVersion.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["trainer_state"] = JsonSerializer.Serialize(State, JsonOptions),
        };
        foreach (var (group, json) in GroupMetadata) metadata["group:" + group] = json;
        SafeTensors.Write(path, tensors, metadata);
    }

    public static bool IsTrainingCheckpoint(string path)
    {
        try
        {
            SafeTensorsHeader(path, out var metadata);
            return metadata.TryGetValue("format", out var f) && f == FormatName;
        }
        catch (CheckpointException) { return false; }
    }

    public static TrainingCheckpoint Load(string path)
    {
        var tensors = SafeTensors.Read(path, out var metadata);
        if (!metadata.TryGetValue("format", out var format) || format != FormatName)
            throw new CheckpointException($"{path} is not a CXR Lab training checkpoint (it has no '{FormatName}' marker); " +
                                          "to start from plain weights, set model.weights instead of resuming");
        var version = int.Parse(metadata.GetValueOrDefault("format_version", "0"), System.Globalization.CultureInfo.InvariantCulture);
        if (version > FormatVersion)
            throw new CheckpointException($"{path} was written by a newer CXR Lab (checkpoint format {version}, this build reads ≤ {FormatVersion})");
        var state = JsonSerializer.Deserialize<TrainerState>(metadata["trainer_state"], JsonOptions)
                    ?? throw new CheckpointException($"{path}: empty trainer state");
        var groups = new Dictionary<string, Dictionary<string, StoredTensor>>();
        foreach (var (name, t) in tensors)
        {
            var dot = name.IndexOf('.');
            if (dot <= 0) throw new CheckpointException($"{path}: tensor '{name}' has no group prefix");
            var group = name[..dot];
            if (!groups.TryGetValue(group, out var dict)) groups[group] = dict = [];
            dict[name[(dot + 1)..]] = t;
        }
        var groupMetadata = metadata.Where(kv => kv.Key.StartsWith("group:", StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key["group:".Length..], kv => kv.Value);
        return new TrainingCheckpoint { State = state, Groups = groups, GroupMetadata = groupMetadata };
    }

    /// <summary>The model weights from a training checkpoint (the EMA weights when
    /// <paramref name="preferEma"/> and present), keyed like the model's state_dict.</summary>
    public static Dictionary<string, StoredTensor> LoadModelStateDict(string path, bool preferEma = true)
    {
        var ckpt = Load(path);
        if (preferEma && ckpt.Groups.TryGetValue("ema", out var ema) && ema.Count > 0) return ema;
        return ckpt.Groups.TryGetValue("model", out var model) ? model
            : throw new CheckpointException($"{path} holds no model weights");
    }

    /// <summary>Reads only the JSON header's metadata (checkpoints can be hundreds of MB).</summary>
    static void SafeTensorsHeader(string path, out Dictionary<string, string> metadata)
    {
        metadata = [];
        using var file = File.OpenRead(path);
        Span<byte> head = stackalloc byte[8];
        if (file.Read(head) != 8) throw new CheckpointException($"{path}: too short");
        var length = System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(head);
        if (length <= 0 || length > Math.Min(100_000_000, file.Length - 8)) throw new CheckpointException($"{path}: not safetensors");
        var json = new byte[length];
        file.ReadExactly(json);
        try
        {
            using var doc = JsonDocument.Parse(json);
            if (doc.RootElement.TryGetProperty("__metadata__", out var m))
                foreach (var p in m.EnumerateObject()) metadata[p.Name] = p.Value.GetString() ?? "";
        }
        catch (JsonException e) { throw new CheckpointException($"{path}: bad header: {e.Message}", e); }
    }

    static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };
}
