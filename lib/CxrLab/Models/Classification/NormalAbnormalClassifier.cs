using System.Text.Json;
using CxrLab.Models.Backbones;
using CxrLab.Torch;
using CxrLab.Torch.Nn;
using CxrLab.Torch.Serialization;

namespace CxrLab.Models.Classification;

/// <summary>The network of the VinBigData winners' "2-class filter": a library backbone (<c>backbone.*</c>: torchvision's
/// ResNet or timm's EfficientNet keys), global average pooling of its last feature map, and one linear logit
/// (<c>fc</c>) = log-odds that the image has any finding. Images arrive as [3, H, W] in [0, 1] of any size and are
/// resized to <see cref="InputSize"/>² and ImageNet-normalised here (<see cref="Preprocess"/>), so callers pass what
/// the detectors get.</summary>
public sealed class NormalAbnormalClassifier : Module<Tensor, Tensor>
{
    /// <summary>Backbones this classifier is built on.</summary>
    public static readonly IReadOnlyList<string> Archs =
        ["resnet18", "resnet34", "resnet50", "resnet101", "efficientnet_b0", "efficientnet_b1", "efficientnet_b2", "efficientnet_b3"];

    static readonly float[] Mean = [0.485f, 0.456f, 0.406f], Std = [0.229f, 0.224f, 0.225f];

    readonly Module backbone;
    readonly Linear fc;

    public string Arch { get; }
    public int InputSize { get; }

    /// <param name="arch">One of <see cref="Archs"/>.</param>
    /// <param name="inputSize">Square input in pixels.</param>
    public NormalAbnormalClassifier(string arch = "resnet18", int inputSize = 224)
    {
        if (!Archs.Contains(arch)) throw new ArgumentException($"classifier arch '{arch}' is not known; use one of {string.Join(", ", Archs)}");
        ArgumentOutOfRangeException.ThrowIfLessThan(inputSize, 32);
        (Arch, InputSize) = (arch, inputSize);
        long channels;
        if (arch.StartsWith("resnet", StringComparison.Ordinal))
        {
            var resnet = arch switch
            {
                "resnet18" => ResNet.ResNet18(numClasses: 0),
                "resnet34" => ResNet.ResNet34(numClasses: 0),
                "resnet50" => ResNet.ResNet50(numClasses: 0),
                _ => ResNet.ResNet101(numClasses: 0),
            };
            channels = resnet.StageChannels[^1];
            backbone = register_module("backbone", resnet);
        }
        else
        {
            // timm's last feature level (stride 32): EfficientNet without its conv_head, as the detectors use it.
            var options = EfficientNet.Variant(arch) with { OutIndices = [4] };
            var net = new EfficientNet(options);
            channels = net.FeatureChannels[0];
            backbone = register_module("backbone", net);
        }
        fc = register_module("fc", new Linear(channels, 1));
    }

    /// <summary>The last feature map [N, C, h, w] of normalised input [N, 3, S, S].</summary>
    Tensor LastFeatures(Tensor x)
    {
        if (backbone is ResNet resnet)
        {
            var maps = resnet.forward_features(x);
            for (var k = 0; k < maps.Length - 1; k++) maps[k].Dispose();
            return maps[^1];
        }
        return ((EfficientNet)backbone).forward(x)[0];
    }

    /// <summary>Logits [N] (log-odds of "abnormal") for normalised input [N, 3, S, S] (<see cref="Preprocess"/>).</summary>
    public override Tensor forward(Tensor x)
    {
        using var features = LastFeatures(x);
        using var pooled = torch.adaptive_avg_pool2d(features, [1, 1]);
        using var flat = pooled.flatten(1);
        using var logits = fc.forward(flat);
        return logits.flatten();
    }

    /// <summary>Images [3, H, W] in [0, 1] (any sizes) → one batch [N, 3, S, S], bilinear-resized and ImageNet-normalised,
    /// on <paramref name="device"/>.</summary>
    public Tensor Preprocess(IReadOnlyList<Tensor> images, Device device)
    {
        if (images.Count == 0) throw new ArgumentException("no images to classify");
        var resized = new List<Tensor>(images.Count);
        try
        {
            foreach (var image in images)
            {
                if (image.dim() != 3 || image.size(0) != 3) throw new ArgumentException($"an image must be [3, H, W] in [0, 1], got [{string.Join(", ", image.shape)}]");
                using var onDevice = image.to(device);
                using var one = onDevice.unsqueeze(0);
                resized.Add(torch.interpolate(one, size: [InputSize, InputSize], mode: "bilinear", align_corners: false));
            }
            var batch = torch.cat(resized);
            using var mean = torch.tensor(Mean, 1, 3, 1, 1);
            using var std = torch.tensor(Std, 1, 3, 1, 1);
            using var meanOn = mean.to(device);
            using var stdOn = std.to(device);
            return batch.sub_(meanOn).div_(stdOn);
        }
        finally
        {
            foreach (var r in resized) r.Dispose();
        }
    }

    /// <summary>P(abnormal) per image, without gradients, in eval mode (the mode is restored).</summary>
    public float[] PredictProbabilities(IReadOnlyList<Tensor> images)
    {
        var wasTraining = training;
        eval();
        try
        {
            using var _ = torch.no_grad();
            using var x = Preprocess(images, Device);
            using var logits = forward(x);
            using var p = logits.sigmoid();
            using var host = p.to(ScalarType.Float32).cpu();
            return host.ToArray<float>();
        }
        finally { train(wasTraining); }
    }

    /// <summary>The device the weights are on.</summary>
    public Device Device => fc.weight.device;

    // ---------------------------------------------------------------- checkpoints

    /// <summary>Checkpoint group metadata holding how to rebuild the network (arch, input size).</summary>
    public const string MetadataGroup = "classifier";

    public string Metadata() => JsonSerializer.Serialize(new Dictionary<string, string> { ["arch"] = Arch, ["input_size"] = InputSize.ToString(System.Globalization.CultureInfo.InvariantCulture) });

    /// <summary>Rebuilds a trained classifier from a training checkpoint of <c>./cxr classifier train</c> (its
    /// <c>best.ckpt</c> or <c>last.ckpt</c>): the architecture from its metadata, then its weights, in eval mode.</summary>
    public static NormalAbnormalClassifier Load(string path, Device? device = null)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"classifier checkpoint {path} not found; train one with ./cxr classifier train CONFIG.yaml", path);
        // Our training checkpoint (safetensors): the builder's metadata under "group:classifier", weights under "model.".
        SafeTensors.Read(path, out var metadata);
        if (!metadata.TryGetValue("group:" + MetadataGroup, out var json))
            throw new CheckpointException($"{path} is not a normal/abnormal classifier checkpoint (no '{MetadataGroup}' metadata); give the best.ckpt of ./cxr classifier train");
        var meta = JsonSerializer.Deserialize<Dictionary<string, string>>(json) ?? [];
        var model = new NormalAbnormalClassifier(meta.GetValueOrDefault("arch", ""), int.Parse(meta.GetValueOrDefault("input_size", "0"), System.Globalization.CultureInfo.InvariantCulture));
        using (var scope = torch.NewDisposeScope())
        {
            var weights = Detection.DetectorWeights.ReadStateDict(path).ToDictionary(kv => kv.Key, kv => Tensor.FromBytes(kv.Value.Data, kv.Value.DType, kv.Value.Shape));
            model.load_state_dict(weights);
        }
        if (device is { } d) model.to(d);
        model.eval();
        return model;
    }
}
