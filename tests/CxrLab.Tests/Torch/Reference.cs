using System.Text.Json;
using CxrLab.Torch;

namespace CxrLab.Tests.Torch;

/// <summary>Reads tensors written by tests/fixtures/make_torch_fixtures.py ({shape, dtype, data}) and compares them.</summary>
public static class Reference
{
    public static Tensor Read(JsonElement e)
    {
        var shape = e.GetProperty("shape").EnumerateArray().Select(v => v.GetInt64()).ToArray();
        var data = e.GetProperty("data");
        if (shape.Length == 0)
        {
            // 0-dimensional: Tensor.From treats an empty shape as "1-D of the values' length".
            using var flat = Read1D(e.GetProperty("dtype").GetString(), data, [1]);
            return flat.reshape();
        }
        return Read1D(e.GetProperty("dtype").GetString(), data, shape);
    }

    static Tensor Read1D(string? dtype, JsonElement data, long[] shape)
    {
        return dtype switch
        {
            "float32" => Tensor.From(data.EnumerateArray().Select(v => v.GetSingle()).ToArray(), shape),
            "int64" => Tensor.From(data.EnumerateArray().Select(v => v.GetInt64()).ToArray(), shape),
            "bool" => Tensor.From(data.EnumerateArray().Select(v => v.GetBoolean()).ToArray(), shape),
            var d => throw new NotSupportedException($"fixture dtype {d}"),
        };
    }

    public static Tensor Read(JsonElement parent, string name) => Read(parent.GetProperty(name));

    /// <summary>Asserts same shape and max |a − b| ≤ atol + rtol·|b|.</summary>
    public static void Close(Tensor expected, Tensor actual, double atol = 1e-5, double rtol = 1e-5, string what = "")
    {
        Assert.Equal(expected.Shape, actual.Shape);
        using var e = expected.to(ScalarType.Float64);
        using var a = actual.detach().to(ScalarType.Float64);
        var ev = e.ToArray<double>();
        var av = a.ToArray<double>();
        for (var i = 0; i < ev.Length; i++)
            if (Math.Abs(ev[i] - av[i]) > atol + rtol * Math.Abs(ev[i]))
                Assert.Fail($"{what} element {i}: expected {ev[i]}, got {av[i]} (atol {atol}, rtol {rtol})");
    }
}
