using System.Text.Json;
using CxrLab.Models.Detection;
using CxrLab.Torch;
using CxrLab.Torch.Nn;
using CxrLab.Torch.Serialization;

namespace CxrLab.Tests.Models;

/// <summary>The ResNet-FPN backbone with BatchNorm2d (training from scratch) against torchvision's
/// <c>resnet_fpn_backbone(norm_layer=nn.BatchNorm2d)</c>: keys, trainable parameters, buffers, train-mode
/// outputs and running statistics, and the BatchNorm → FrozenBatchNorm checkpoint hand-over.</summary>
[Collection(CxrLab.Tests.Training.TorchRngCollection.Name)]
public sealed class BackboneNormLayerTests : IDisposable
{
    readonly string temp = Directory.CreateTempSubdirectory("cxr-bn-backbone-").FullName;

    public void Dispose() => Directory.Delete(temp, recursive: true);

    const string Reference = """
        import json, sys, torch, torch.nn as nn
        from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
        out_dir = sys.argv[1]
        result = {}
        for t in (3, 5):
            b = resnet_fpn_backbone(backbone_name='resnet18', weights=None, norm_layer=nn.BatchNorm2d, trainable_layers=t)
            result[str(t)] = {
                'keys': list(b.state_dict().keys()),
                'trainable': [n for n, p in b.named_parameters() if p.requires_grad],
                'buffers': [n for n, _ in b.named_buffers()],
            }
        torch.manual_seed(5)
        b = resnet_fpn_backbone(backbone_name='resnet18', weights=None, norm_layer=nn.BatchNorm2d, trainable_layers=5)
        with torch.no_grad():   # non-trivial statistics and affine, so both modes are exercised
            for m in b.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.2, 0.2); m.running_var.uniform_(0.5, 2.0)
                    m.weight.uniform_(0.5, 1.5); m.bias.uniform_(-0.2, 0.2)
        torch.save(b.state_dict(), out_dir + '/bn.pth')
        x = torch.rand(2, 3, 64, 64)
        x.numpy().tofile(out_dir + '/x.bin')
        b.train()
        with torch.no_grad():
            train_out = b(x)
        for k, v in train_out.items(): v.numpy().tofile(out_dir + f'/train_{k}.bin')
        b.state_dict()['body.layer2.0.bn1.running_mean'].numpy().tofile(out_dir + '/rm.bin')
        b.state_dict()['body.layer2.0.bn1.running_var'].numpy().tofile(out_dir + '/rv.bin')
        result['tracked'] = int(b.state_dict()['body.layer2.0.bn1.num_batches_tracked'])
        b.eval()
        with torch.no_grad():
            eval_out = b(x)
        for k, v in eval_out.items(): v.numpy().tofile(out_dir + f'/eval_{k}.bin')
        result['shapes'] = {k: list(v.shape) for k, v in train_out.items()}
        torch.save(b.state_dict(), out_dir + '/bn_after.pth')
        print(json.dumps(result))
        """;

    JsonElement RunReference() => JsonDocument.Parse(PythonReference.Run(
        $"import sys; sys.argv = ['x', {JsonSerializer.Serialize(temp)}]\n" + Reference, 180).Trim().Split('\n')[^1]).RootElement;

    static void Load(Module module, string path)
    {
        var stored = TorchCheckpoint.ReadStateDict(path);
        var tensors = stored.ToDictionary(kv => kv.Key, kv => Tensor.FromBytes(kv.Value.Data, kv.Value.DType, kv.Value.Shape));
        try { module.load_state_dict(tensors, strict: true); }
        finally { foreach (var t in tensors.Values) t.Dispose(); }
    }

    Tensor Bin(string name, long[] shape) => Tensor.FromBytes(File.ReadAllBytes(Path.Combine(temp, name)), ScalarType.Float32, shape);

    static void AssertClose(Tensor expected, Tensor actual, double tol, string what)
    {
        using var diff = (expected - actual).abs().max();
        using var scale = expected.abs().max();
        var d = diff.item<float>();
        Assert.True(d <= tol * Math.Max(1, scale.item<float>()), $"{what}: max |diff| {d} (scale {scale.item<float>()})");
    }

    [Fact]
    public void BatchNorm_backbone_matches_torchvision_keys_outputs_and_running_statistics()
    {
        var reference = RunReference();
        using var scope = torch.NewDisposeScope();

        // Keys (running_mean/var and num_batches_tracked included), trainable parameters and buffers.
        foreach (var t in new[] { 3, 5 })
        {
            using var ours = BackboneWithFpn.ResNetFpn(18, t, normLayer: NormLayer.BatchNorm);
            var r = reference.GetProperty(t.ToString());
            Assert.Equal(r.GetProperty("keys").EnumerateArray().Select(k => k.GetString()!).Order(), ours.state_dict().Keys.Order());
            Assert.Equal(r.GetProperty("trainable").EnumerateArray().Select(k => k.GetString()!).Order(),
                ours.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name).Order());
            Assert.Equal(r.GetProperty("buffers").EnumerateArray().Select(k => k.GetString()!).Order(), ours.named_buffers().Select(b => b.name).Order());
            Assert.Contains(ours.state_dict().Keys, k => k.EndsWith(".num_batches_tracked", StringComparison.Ordinal));
        }

        using var model = BackboneWithFpn.ResNetFpn(18, 5, normLayer: NormLayer.BatchNorm);
        Load(model, Path.Combine(temp, "bn.pth"));
        var x = Bin("x.bin", [2, 3, 64, 64]);
        var shapes = reference.GetProperty("shapes").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.EnumerateArray().Select(v => v.GetInt64()).ToArray());

        // Train mode: batch statistics, and the running averages move as PyTorch's do.
        model.train();
        using (torch.no_grad())
            foreach (var (name, feature) in model.Forward(x))
                AssertClose(Bin($"train_{name}.bin", shapes[name]), feature, 1e-4, $"train level {name}");
        var state = model.state_dict();
        AssertClose(Bin("rm.bin", [128]), state["body.layer2.0.bn1.running_mean"], 1e-5, "running_mean");
        AssertClose(Bin("rv.bin", [128]), state["body.layer2.0.bn1.running_var"], 1e-5, "running_var");
        Assert.Equal(reference.GetProperty("tracked").GetInt64(), state["body.layer2.0.bn1.num_batches_tracked"].item<long>());

        // Eval mode: running statistics.
        model.eval();
        using (torch.no_grad())
            foreach (var (name, feature) in model.Forward(x))
                AssertClose(Bin($"eval_{name}.bin", shapes[name]), feature, 1e-4, $"eval level {name}");

        // A BatchNorm-trained checkpoint loads into the FrozenBatchNorm variant key for key (num_batches_tracked
        // ignored) and computes the same evaluation outputs: predict and fine-tuning use it that way.
        using var frozen = BackboneWithFpn.ResNetFpn(18, 5, normLayer: NormLayer.Frozen);
        Load(frozen, Path.Combine(temp, "bn_after.pth"));
        frozen.eval();
        using (torch.no_grad())
            foreach (var (name, feature) in frozen.Forward(x))
                AssertClose(Bin($"eval_{name}.bin", shapes[name]), feature, 1e-4, $"frozen eval level {name}");
    }

    [Fact]
    public void Frozen_norms_are_buffers_and_BatchNorm_norms_are_trainable_parameters()
    {
        using var scope = torch.NewDisposeScope();
        using var frozen = BackboneWithFpn.ResNetFpn(18, 5, normLayer: NormLayer.Frozen);
        using var bn = BackboneWithFpn.ResNetFpn(18, 5, normLayer: NormLayer.BatchNorm);
        Assert.DoesNotContain(frozen.named_parameters(), p => p.name.Contains(".bn", StringComparison.Ordinal));
        Assert.Contains(frozen.named_buffers(), b => b.name == "body.layer1.0.bn1.weight");
        Assert.Contains(bn.named_parameters(), p => p.name == "body.layer1.0.bn1.weight" && p.parameter.requires_grad);
        Assert.Equal(frozen.state_dict().Keys.Order(), bn.state_dict().Keys.Where(k => !k.EndsWith(".num_batches_tracked", StringComparison.Ordinal)).Order());
    }
}
