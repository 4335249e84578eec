using System.Text.Json;
using CxrLab.Torch;
using CxrLab.Torch.Serialization;

namespace CxrLab.Tests.Torch;

/// <summary>Checkpoints written by PyTorch itself (tests/fixtures/make_checkpoint_fixtures.py) read back
/// to the same dtypes, shapes and values, in every format.</summary>
public class CheckpointReadingTests
{
    static string Checkpoint(string name) => FixtureFile.PathOf(Path.Combine("checkpoints", name));

    static Dictionary<string, (string DType, long[] Shape, double[] Values)> Expected()
    {
        using var doc = FixtureFile.Json(Path.Combine("checkpoints", "expected.json"));
        return doc.RootElement.GetProperty("tensors").EnumerateObject().ToDictionary(
            p => p.Name,
            p => (p.Value.GetProperty("dtype").GetString()!,
                  p.Value.GetProperty("shape").EnumerateArray().Select(x => x.GetInt64()).ToArray(),
                  p.Value.GetProperty("values").EnumerateArray().Select(x => x.GetDouble()).ToArray()));
    }

    static double[] Values(StoredTensor t) => t.DType switch
    {
        ScalarType.Float32 => t.ToArray<float>().Select(v => (double)v).ToArray(),
        ScalarType.Float64 => t.ToArray<double>(),
        ScalarType.Float16 => t.ToArray<Half>().Select(v => (double)v).ToArray(),
        ScalarType.BFloat16 => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(t.Data).ToArray()
            .Select(b => (double)BitConverter.Int32BitsToSingle(b << 16)).ToArray(),
        ScalarType.Int64 => t.ToArray<long>().Select(v => (double)v).ToArray(),
        ScalarType.Int32 => t.ToArray<int>().Select(v => (double)v).ToArray(),
        ScalarType.Int8 => t.ToArray<sbyte>().Select(v => (double)v).ToArray(),
        ScalarType.UInt8 => t.ToArray<byte>().Select(v => (double)v).ToArray(),
        ScalarType.Bool => t.Data.Select(v => (double)v).ToArray(),
        _ => throw new NotSupportedException(t.DType.ToString()),
    };

    static string TorchName(ScalarType t) => t switch
    {
        ScalarType.Float32 => "float32", ScalarType.Float64 => "float64", ScalarType.Float16 => "float16",
        ScalarType.BFloat16 => "bfloat16", ScalarType.Int64 => "int64", ScalarType.Int32 => "int32",
        ScalarType.Int8 => "int8", ScalarType.UInt8 => "uint8", ScalarType.Bool => "bool", _ => t.ToString(),
    };

    [Theory]
    [InlineData("zip.pth")]
    [InlineData("legacy.pth")]
    [InlineData("python.safetensors")]
    public void EveryTensorMatchesWhatPyTorchSaved(string file)
    {
        var expected = Expected();
        var actual = TorchCheckpoint.ReadStateDict(Checkpoint(file));
        Assert.Equal(expected.Keys.OrderBy(k => k), actual.Keys.OrderBy(k => k));
        foreach (var (name, (dtype, shape, values)) in expected)
        {
            var t = actual[name];
            Assert.True(dtype == TorchName(t.DType), $"{name}: dtype {TorchName(t.DType)}, expected {dtype}");
            Assert.True(shape.SequenceEqual(t.Shape), $"{name}: shape [{string.Join(",", t.Shape)}], expected [{string.Join(",", shape)}]");
            Assert.True(values.SequenceEqual(Values(t)), $"{name}: values differ");
        }
    }

    [Fact]
    public void StateDictKeepsPyTorchsKeyOrder()
    {
        var keys = TorchCheckpoint.ReadStateDict(Checkpoint("zip.pth")).Keys.ToList();
        Assert.Equal("float", keys[0]);
        Assert.Equal("model.0.weight", keys[keys.IndexOf("shared") + 1]);
    }

    [Fact]
    public void NestedModelDictionaryIsFoundAndOtherEntriesAreData()
    {
        var sd = TorchCheckpoint.ReadStateDict(Checkpoint("nested.pth"));
        Assert.Contains("model.0.weight", sd.Keys);
        Assert.Equal(new long[] { 3, 2, 3, 3 }, sd["model.0.weight"].Shape);
        Assert.Equal(ScalarType.Int64, sd["model.1.num_batches_tracked"].DType);

        var root = (Dictionary<object, object?>)TorchCheckpoint.ReadObject(Checkpoint("nested.pth"))!;
        Assert.Equal(12L, root["start_epoch"]);
        Assert.Equal("yolox", root["name"]);
        var optimizer = (Dictionary<object, object?>)root["optimizer"]!;
        Assert.Equal(0.01, optimizer["lr"]);
        Assert.Equal(new object?[] { 0.9, 0.999 }, (object?[])optimizer["betas"]!);
    }

    [Fact]
    public void ExplicitKeyAndRemapHook()
    {
        var sd = TorchCheckpoint.ReadStateDict(Checkpoint("nested.pth"), key: "model",
            remap: k => k.StartsWith("model.1.", StringComparison.Ordinal) ? null : k.Replace("model.0.", "backbone.conv1.", StringComparison.Ordinal));
        Assert.Equal(new[] { "backbone.conv1.bias", "backbone.conv1.weight" }, sd.Keys.OrderBy(k => k));
        var error = Assert.Throws<CheckpointException>(() => TorchCheckpoint.ReadStateDict(Checkpoint("nested.pth"), key: "ema"));
        Assert.Contains("no dictionary under key 'ema'", error.Message);
        Assert.Contains("start_epoch", error.Message);
    }

    [Fact]
    public void SafeTensorsRoundTripsOurOwnWrites()
    {
        var original = TorchCheckpoint.ReadStateDict(Checkpoint("zip.pth"));
        var path = Path.Combine(Path.GetTempPath(), $"cxr-{Guid.NewGuid():N}.safetensors");
        try
        {
            SafeTensors.Write(path, original, new Dictionary<string, string> { ["format"] = "pt" });
            var back = SafeTensors.Read(path, out var metadata);
            Assert.Equal("pt", metadata["format"]);
            Assert.Equal(original.Keys, back.Keys);
            foreach (var (k, t) in original)
            {
                Assert.Equal(t.DType, back[k].DType);
                Assert.Equal(t.Shape, back[k].Shape);
                Assert.Equal(t.Data, back[k].Data);
            }
            // PyTorch's reference reader sees the same values.
            var check = PythonReference.Run(
                "import json,struct,torch\n" +
                $"f=open('{path}','rb'); n=struct.unpack('<Q', f.read(8))[0]; h=json.loads(f.read(n)); d=f.read()\n" +
                "m=h['model.0.weight']; a,b=m['data_offsets']\n" +
                "print(torch.frombuffer(bytearray(d[a:b]), dtype=torch.float32).reshape(m['shape']).sum().item())");
            var sum = original["model.0.weight"].ToArray<float>().Sum();
            Assert.Equal(sum, float.Parse(check.Trim(), System.Globalization.CultureInfo.InvariantCulture), 4);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void TruncatedAndForeignFilesGiveCheckpointErrors()
    {
        var dir = Directory.CreateTempSubdirectory("cxr-ckpt-");
        try
        {
            foreach (var name in new[] { "zip.pth", "legacy.pth", "python.safetensors" })
            {
                var bytes = File.ReadAllBytes(Checkpoint(name));
                foreach (var cut in new[] { 9, bytes.Length / 3, bytes.Length / 2, bytes.Length - 9 })
                {
                    var path = Path.Combine(dir.FullName, $"{cut}-{name}");
                    File.WriteAllBytes(path, bytes[..cut]);
                    var error = Record.Exception(() => TorchCheckpoint.ReadStateDict(path));
                    Assert.True(error is CheckpointException or InvalidDataException or EndOfStreamException,
                        $"{name} cut at {cut}: {error?.GetType().Name}: {error?.Message}");
                }
            }
            var text = Path.Combine(dir.FullName, "notes.txt");
            File.WriteAllText(text, "not a checkpoint");
            var foreign = Assert.Throws<CheckpointException>(() => TorchCheckpoint.ReadStateDict(text));
            Assert.Contains("not a PyTorch checkpoint", foreign.Message);
        }
        finally { dir.Delete(recursive: true); }
    }

    [Fact]
    public void UnknownGlobalsAreNeverExecuted()
    {
        // A pickle that would call os.system in Python: we must read it as inert data.
        var dir = Directory.CreateTempSubdirectory("cxr-ckpt-");
        try
        {
            var path = Path.Combine(dir.FullName, "evil.pth");
            var marker = Path.Combine(dir.FullName, "pwned");
            PythonReference.Run(
                "import os, pickle, torch\n" +
                "class Evil:\n" +
                $"    def __reduce__(self): return (os.system, ('touch {marker}',))\n" +
                $"torch.save({{'weight': torch.ones(2), 'payload': Evil()}}, '{path}')");
            Assert.False(File.Exists(marker));
            var root = (Dictionary<object, object?>)TorchCheckpoint.ReadObject(path)!;
            var payload = Assert.IsType<PickleObject>(root["payload"]);
            Assert.Equal("system", payload.Type.Name);
            Assert.False(File.Exists(marker));
            Assert.Equal(new[] { 1f, 1f }, TorchCheckpoint.ReadStateDict(path)["weight"].ToArray<float>());
        }
        finally { dir.Delete(recursive: true); }
    }
}
