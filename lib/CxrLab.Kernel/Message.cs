using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace CxrLab.Kernel;

/// <summary>One Jupyter message (protocol 5.3): routing identities, header, parent header, metadata,
/// content and optional binary buffers.</summary>
public sealed class Message
{
    public List<byte[]> Identities { get; init; } = [];
    public required JsonObject Header { get; init; }
    public JsonObject ParentHeader { get; init; } = new();
    public JsonObject Metadata { get; init; } = new();
    public JsonObject Content { get; init; } = new();
    public List<byte[]> Buffers { get; init; } = [];

    public string Type => (string?)Header["msg_type"] ?? "";
    public string Id => (string?)Header["msg_id"] ?? "";
    public override string ToString() => $"{Type} {Id}";
}

/// <summary>Frames, signs and checks messages for one kernel session: the wire format is
/// identities…, <c>&lt;IDS|MSG&gt;</c>, HMAC-SHA256 hex signature over the four JSON frames, header,
/// parent header, metadata, content, buffers…. An empty key disables signing (as Jupyter does).</summary>
public sealed class Session(string key)
{
    public const string ProtocolVersion = "5.3";
    static readonly byte[] Delimiter = "<IDS|MSG>"u8.ToArray();
    readonly byte[] keyBytes = Encoding.UTF8.GetBytes(key);

    /// <summary>This kernel's session id, in every header it sends.</summary>
    public string Id { get; } = Guid.NewGuid().ToString();

    /// <summary>A new message of <paramref name="type"/> replying to (or caused by) <paramref name="parent"/>.</summary>
    public Message Create(string type, JsonObject content, Message? parent = null, JsonObject? metadata = null) => new()
    {
        Identities = parent?.Identities ?? [],
        Header = new JsonObject
        {
            ["msg_id"] = Guid.NewGuid().ToString("N"),
            ["session"] = Id,
            ["username"] = "kernel",
            ["date"] = DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'"),
            ["msg_type"] = type,
            ["version"] = ProtocolVersion,
        },
        ParentHeader = parent is null ? new JsonObject() : (JsonObject)parent.Header.DeepClone(),
        Metadata = metadata ?? new JsonObject(),
        Content = content,
    };

    /// <summary>The frames to send; <paramref name="topic"/> replaces the identities (iopub).</summary>
    public List<byte[]> Serialize(Message message, string? topic = null)
    {
        var header = Encoding.UTF8.GetBytes(message.Header.ToJsonString());
        var parent = Encoding.UTF8.GetBytes(message.ParentHeader.ToJsonString());
        var metadata = Encoding.UTF8.GetBytes(message.Metadata.ToJsonString());
        var content = Encoding.UTF8.GetBytes(message.Content.ToJsonString());
        var frames = new List<byte[]>();
        if (topic is not null) frames.Add(Encoding.UTF8.GetBytes(topic));
        else frames.AddRange(message.Identities);
        frames.Add(Delimiter);
        frames.Add(Encoding.ASCII.GetBytes(Sign(header, parent, metadata, content)));
        frames.Add(header);
        frames.Add(parent);
        frames.Add(metadata);
        frames.Add(content);
        frames.AddRange(message.Buffers);
        return frames;
    }

    /// <summary>Parses received frames; throws <see cref="InvalidDataException"/> for a malformed
    /// message or a wrong signature (the caller drops it).</summary>
    public Message Parse(List<byte[]> frames)
    {
        var split = frames.FindIndex(f => f.AsSpan().SequenceEqual(Delimiter));
        if (split < 0 || frames.Count < split + 6) throw new InvalidDataException("malformed message: no <IDS|MSG> delimiter followed by a signature and four frames");
        var signature = Encoding.ASCII.GetString(frames[split + 1]);
        var expected = Sign(frames[split + 2], frames[split + 3], frames[split + 4], frames[split + 5]);
        if (!CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(signature), Encoding.ASCII.GetBytes(expected)))
            throw new InvalidDataException("invalid message signature (HMAC-SHA256 does not match the connection key)");
        JsonObject Obj(byte[] frame) => JsonNode.Parse(frame) as JsonObject ?? new JsonObject();
        return new Message
        {
            Identities = frames.Take(split).ToList(),
            Header = Obj(frames[split + 2]),
            ParentHeader = Obj(frames[split + 3]),
            Metadata = Obj(frames[split + 4]),
            Content = Obj(frames[split + 5]),
            Buffers = frames.Skip(split + 6).ToList(),
        };
    }

    /// <summary>Hex HMAC-SHA256 of the four frames; empty when there is no key.</summary>
    public string Sign(byte[] header, byte[] parent, byte[] metadata, byte[] content)
    {
        if (keyBytes.Length == 0) return "";
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, keyBytes);
        hmac.AppendData(header);
        hmac.AppendData(parent);
        hmac.AppendData(metadata);
        hmac.AppendData(content);
        return Convert.ToHexStringLower(hmac.GetHashAndReset());
    }
}
