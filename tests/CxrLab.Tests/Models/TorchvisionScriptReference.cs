using System.Text.Json;
using CxrLab.Torch;

namespace CxrLab.Tests.Models;

/// <summary>A reference fixture made once per test class: runs a script of tests/fixtures (argv[1] = a temp folder) that
/// writes reference.json and image{i}.bin there, and reads them back. The torchvision parity classes derive from it.</summary>
public abstract class TorchvisionScriptReference : IDisposable
{
    public string Dir { get; }
    public JsonElement Ref { get; }

    protected TorchvisionScriptReference(string script, string tempPrefix, int timeoutSeconds)
    {
        Dir = Directory.CreateTempSubdirectory(tempPrefix).FullName;
        var path = Path.Combine(CxrLab.Tests.Training.ExperimentConfigTests.RepoRoot(), "tests", "fixtures", script);
        PythonReference.Run($"import sys; sys.argv = ['x', {JsonSerializer.Serialize(Dir)}]; exec(open({JsonSerializer.Serialize(path)}).read())", timeoutSeconds);
        Ref = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "reference.json"))).RootElement;
    }

    /// <summary>The reference's input images, float32 [3, H, W] as the script wrote them.</summary>
    public List<Tensor> Images() => Ref.GetProperty("sizes").EnumerateArray().Select((s, i) =>
    {
        var shape = s.EnumerateArray().Select(x => x.GetInt64()).ToArray();
        return Tensor.FromBytes(File.ReadAllBytes(Path.Combine(Dir, $"image{i}.bin")), ScalarType.Float32, shape);
    }).ToList();

    public void Dispose() => Directory.Delete(Dir, recursive: true);

    /// <summary>A JSON array of numbers as floats (a box, a score row).</summary>
    public static float[] Row(JsonElement e) => e.EnumerateArray().Select(x => x.GetSingle()).ToArray();

    /// <summary>IoU of two xyxy boxes, for matching detections against the reference's.</summary>
    public static float Iou(float[] a, float[] b)
    {
        var iw = Math.Min(a[2], b[2]) - Math.Max(a[0], b[0]);
        var ih = Math.Min(a[3], b[3]) - Math.Max(a[1], b[1]);
        if (iw <= 0 || ih <= 0) return 0;
        var inter = iw * ih;
        return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
    }
}
