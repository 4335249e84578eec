namespace CxrLab.Torch;

/// <summary>c10::DeviceType codes for the devices CXR Lab uses.</summary>
public enum DeviceType { CPU = 0, CUDA = 1 }

/// <summary>Where a tensor lives: <c>cpu</c>, <c>cuda</c> or <c>cuda:N</c>.</summary>
public readonly record struct Device(DeviceType Type, int Index = -1)
{
    public static readonly Device CPU = new(DeviceType.CPU);
    public static readonly Device CUDA = new(DeviceType.CUDA);

    /// <summary>Parses "cpu", "cuda", "cuda:1".</summary>
    public static Device Parse(string text)
    {
        var parts = text.Trim().ToLowerInvariant().Split(':');
        var type = parts[0] switch
        {
            "cpu" => DeviceType.CPU,
            "cuda" => DeviceType.CUDA,
            _ => throw new ArgumentException($"unknown device '{text}'; use cpu, cuda or cuda:N"),
        };
        var index = parts.Length > 1 && int.TryParse(parts[1], out var i) ? i : -1;
        return new Device(type, index);
    }

    public static implicit operator Device(string text) => Parse(text);

    public override string ToString() => (Type == DeviceType.CPU ? "cpu" : "cuda") + (Index >= 0 ? ":" + Index : "");
}
