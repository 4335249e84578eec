using System.Text.Json;

namespace CxrLab.Kernel;

/// <summary>The connection file Jupyter writes for a kernel: transport, address, the five ports and
/// the signing key. The kernel only listens on the loopback address.</summary>
public sealed record ConnectionInfo(string Transport, string Ip, int ShellPort, int IopubPort, int StdinPort, int ControlPort,
    int HbPort, string SignatureScheme, string Key)
{
    public static ConnectionInfo Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"connection file not found: {path}", path);
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var root = doc.RootElement;
        string Str(string key, string? fallback = null) =>
            root.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()!
            : fallback ?? throw new InvalidDataException($"{path}: connection file lacks the string \"{key}\"");
        int Port(string key) =>
            root.TryGetProperty(key, out var v) && v.TryGetInt32(out var p) && p > 0 ? p
            : throw new InvalidDataException($"{path}: connection file lacks a positive \"{key}\"");
        var info = new ConnectionInfo(Str("transport", "tcp"), Str("ip", "127.0.0.1"), Port("shell_port"), Port("iopub_port"),
            Port("stdin_port"), Port("control_port"), Port("hb_port"), Str("signature_scheme", "hmac-sha256"), Str("key", ""));
        info.Validate(path);
        return info;
    }

    void Validate(string path)
    {
        if (Transport != "tcp") throw new InvalidDataException($"{path}: transport \"{Transport}\" is not supported; use tcp");
        if (Ip is not ("127.0.0.1" or "localhost"))
            throw new InvalidDataException($"{path}: ip \"{Ip}\" refused: the CXR kernel only listens on 127.0.0.1 (start Jupyter with --ip=127.0.0.1)");
        if (Key.Length > 0 && SignatureScheme != "hmac-sha256")
            throw new InvalidDataException($"{path}: signature_scheme \"{SignatureScheme}\" is not supported; use hmac-sha256");
    }

    public string Endpoint(int port) => $"tcp://127.0.0.1:{port}";
}
