using CxrLab.Models.Backbones;
using CxrLab.Torch;
using CxrLab.Torch.Nn;

namespace CxrLab.Tests.Torch;

public class ModuleTests
{
    sealed class Head : Module<Tensor, Tensor>
    {
        public Head(int classes)
        {
            register_module("body", new Sequential(new Conv2d(3, 4, 3), new BatchNorm2d(4), new ReLU()));
            register_module("cls_score", new Linear(4, classes));
        }
        public override Tensor forward(Tensor x) => x;
    }

    [Fact]
    public void StateDictHasPyTorchDottedKeysInRegistrationOrder()
    {
        using var m = new Head(15);
        Assert.Equal(new[]
        {
            "body.0.weight", "body.0.bias", "body.1.weight", "body.1.bias", "body.1.running_mean", "body.1.running_var",
            "body.1.num_batches_tracked", "cls_score.weight", "cls_score.bias",
        }, m.state_dict().Keys);
        Assert.Equal(6, m.parameters().Count());
        Assert.All(m.parameters(), p => Assert.True(p.requires_grad));
        m.eval();
        Assert.All(m.modules(), c => Assert.False(c.training));
    }

    [Fact]
    public void StateDictRoundTripsThroughRawBytes()
    {
        using var a = new Head(15);
        using var b = new Head(15);
        using var scope = torch.NewDisposeScope();
        var copied = a.state_dict().ToDictionary(kv => kv.Key, kv => Tensor.FromBytes(kv.Value.ToBytes(), kv.Value.DType, kv.Value.Shape));
        Assert.True(b.load_state_dict(copied).IsExact);
        foreach (var (k, v) in a.state_dict())
            Assert.Equal(v.ToBytes(), b.state_dict()[k].ToBytes());
    }

    [Fact]
    public void MismatchMessageListsEveryKeyWithBothShapesAndAdvice()
    {
        using var checkpointModel = new Head(91);
        using var model = new Head(15);
        var state = new Dictionary<string, Tensor>(checkpointModel.state_dict());
        state.Remove("body.1.running_var");
        using var extra = torch.zeros(3);
        state["roi_heads.extra"] = extra;
        var error = Assert.Throws<StateDictMismatchException>(() => model.load_state_dict(state));
        Assert.Contains("cls_score.weight: checkpoint [91, 4] vs model [15, 4] — the checkpoint was trained with 91 classes; load with strict: false and skip these keys, or build the model with numClasses: 91 then ReplaceHead(15)", error.Message);
        Assert.Contains("cls_score.bias: checkpoint [91] vs model [15]", error.Message);
        Assert.Contains("missing from the checkpoint (1): body.1.running_var", error.Message);
        Assert.Contains("not in the model (1): roi_heads.extra", error.Message);

        // Non-strict: loads what fits, skips the rest and reports it.
        var result = model.load_state_dict(state, strict: false);
        Assert.Equal(2, result.Mismatched.Count);
        Assert.Equal(checkpointModel.state_dict()["body.0.weight"].ToBytes(), model.state_dict()["body.0.weight"].ToBytes());
    }

    [Fact]
    public void ToDtypeReplacesParametersAndKeepsThemTrainable()
    {
        using var m = new Linear(3, 2);
        m.to(ScalarType.Float64);
        Assert.All(m.parameters(), p => { Assert.Equal(ScalarType.Float64, p.DType); Assert.True(p.requires_grad); Assert.True(p.is_leaf); });
        m.to(Device.CPU);
        Assert.Equal(DeviceType.CPU, m.weight.device.Type);
    }

    [Fact]
    public void ResNet18LogitsMatchTorchvision()
    {
        var dir = Path.Combine(Path.GetTempPath(), "cxr-resnet18-" + Environment.ProcessId);
        PythonReference.Run($"import runpy, sys; sys.argv = ['x', 'resnet', 'resnet18', {Quote(dir)}]; runpy.run_path({Quote(ScriptPath)}, run_name='__main__')");
        try
        {
            using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "index.json")));
            var weights = File.ReadAllBytes(Path.Combine(dir, "weights.bin"));
            using var model = ResNet.ResNet18(numClasses: 10);
            using var scope = torch.NewDisposeScope();
            var state = new Dictionary<string, Tensor>();
            foreach (var e in doc.RootElement.GetProperty("tensors").EnumerateArray())
            {
                var dtype = e.GetProperty("dtype").GetString() == "int64" ? ScalarType.Int64 : ScalarType.Float32;
                var shape = e.GetProperty("shape").EnumerateArray().Select(v => v.GetInt64()).ToArray();
                state[e.GetProperty("key").GetString()!] = Tensor.FromBytes(weights.AsSpan((int)e.GetProperty("offset").GetInt64(), e.GetProperty("nbytes").GetInt32()), dtype, shape);
            }
            Assert.True(model.load_state_dict(state).IsExact);
            model.eval();
            using (torch.no_grad())
            {
                var logits = model.forward(Reference.Read(doc.RootElement, "input"));
                Reference.Close(Reference.Read(doc.RootElement, "logits"), logits, 1e-4, 0, "logits");
            }
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void ResNetVariantsHaveTorchvisionParameterCountsAndFeatureShapes()
    {
        using var r50 = ResNet.ResNet50();
        Assert.Equal(25_557_032L, r50.parameters().Sum(p => p.numel()));
        Assert.Contains("layer4.2.bn3.running_var", r50.state_dict().Keys);
        using var r34 = ResNet.ResNet34(numClasses: 0, normLayer: c => new FrozenBatchNorm2d(c));
        Assert.Equal(new long[] { 64, 128, 256, 512 }, r34.StageChannels);
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var feats = r34.forward_features(torch.randn(1, 3, 64, 64));
        Assert.Equal(new long[] { 1, 512, 2, 2 }, feats[3].Shape);
        Assert.Equal(new long[] { 1, 64, 16, 16 }, feats[0].Shape);
    }

    static string ScriptPath
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            {
                var p = Path.Combine(dir.FullName, "tests", "fixtures", "make_torch_fixtures.py");
                if (File.Exists(p)) return p;
            }
            throw new FileNotFoundException("tests/fixtures/make_torch_fixtures.py not found above the test binaries");
        }
    }

    static string Quote(string s) => "'" + s.Replace("\\", "\\\\").Replace("'", "\\'") + "'";
}
