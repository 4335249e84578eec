using CxrLab.Models.Detection;

namespace CxrLab.Models;

/// <summary>One row of the model zoo: an arch name users type, its family, what it reproduces, its default input
/// size and label space, the checkpoint layouts that load into it, and its builder.</summary>
public sealed record ZooEntry(string Arch, string Family, string Reference, int DefaultInputSize, bool HasBackground,
    string CheckpointLayouts, Func<DetectorSpec, IDetector> Build);

/// <summary>The model zoo: every arch name → builder, in ONE explicit table a reader can see whole. Verbs, the
/// trainer, experiments, benches and notebooks build detectors only through <see cref="Create(DetectorSpec)"/>.</summary>
public static class DetectorZoo
{
    const string EffdetLayouts = "effdet state_dict (.pth: backbone.*, fpn.*, class_net.*, box_net.*), safetensors, CXR Lab checkpoint";
    const string TorchvisionLayouts = "torchvision state_dict (.pth, v1 and ≥0.13 FPN/RPN keys), safetensors, CXR Lab checkpoint";

    public static IReadOnlyList<ZooEntry> Entries { get; } =
    [
        new("fasterrcnn_resnet18_fpn", "faster_rcnn", "torchvision FasterRCNN (resnet_fpn_backbone)", 800, true, TorchvisionLayouts, s => FasterRcnn.FasterRcnn.Build(s, 18)),
        new("fasterrcnn_resnet34_fpn", "faster_rcnn", "torchvision FasterRCNN (resnet_fpn_backbone)", 800, true, TorchvisionLayouts, s => FasterRcnn.FasterRcnn.Build(s, 34)),
        new("fasterrcnn_resnet50_fpn", "faster_rcnn", "torchvision fasterrcnn_resnet50_fpn (v1)", 800, true, TorchvisionLayouts, s => FasterRcnn.FasterRcnn.Build(s, 50)),
        new("fasterrcnn_resnet101_fpn", "faster_rcnn", "torchvision FasterRCNN (resnet_fpn_backbone)", 800, true, TorchvisionLayouts, s => FasterRcnn.FasterRcnn.Build(s, 101)),
        new("efficientdet_d0", "efficientdet", "effdet (rwightman)", 512, false, EffdetLayouts, EfficientDet.EfficientDet.Build),
        new("efficientdet_d1", "efficientdet", "effdet (rwightman)", 640, false, EffdetLayouts, EfficientDet.EfficientDet.Build),
        new("tf_efficientdet_d0", "efficientdet", "effdet (rwightman)", 512, false, EffdetLayouts, EfficientDet.EfficientDet.Build),
        new("tf_efficientdet_d1", "efficientdet", "effdet (rwightman)", 640, false, EffdetLayouts, EfficientDet.EfficientDet.Build),
        new("tf_efficientdet_d2", "efficientdet", "effdet (rwightman)", 768, false, EffdetLayouts, EfficientDet.EfficientDet.Build),
        new("tf_efficientdet_d3", "efficientdet", "effdet (rwightman)", 896, false, EffdetLayouts, EfficientDet.EfficientDet.Build),
        new("tf_efficientdet_d4", "efficientdet", "effdet (rwightman)", 1024, false, EffdetLayouts, EfficientDet.EfficientDet.Build),
        new("tf_efficientdet_d5", "efficientdet", "effdet (rwightman)", 1280, false, EffdetLayouts, EfficientDet.EfficientDet.Build),
        new("tf_efficientdet_d6", "efficientdet", "effdet (rwightman)", 1280, false, EffdetLayouts, EfficientDet.EfficientDet.Build),
        new("tf_efficientdet_d7", "efficientdet", "effdet (rwightman)", 1536, false, EffdetLayouts, EfficientDet.EfficientDet.Build),
    ];

    /// <summary>The row for <paramref name="arch"/>; an unknown name lists the zoo and suggests the closest.</summary>
    public static ZooEntry Find(string arch)
    {
        var entry = Entries.FirstOrDefault(e => e.Arch == arch);
        if (entry is not null) return entry;
        var closest = Entries.MinBy(e => EditDistance(e.Arch, arch))!.Arch;
        throw new ArgumentException($"unknown architecture '{arch}' (did you mean '{closest}'?); `./cxr models` lists them: {string.Join(", ", Entries.Select(e => e.Arch))}");
    }

    /// <summary>Builds <paramref name="spec"/>'s arch (random init; load weights with <see cref="IDetector.LoadWeights"/>).</summary>
    public static IDetector Create(DetectorSpec spec)
    {
        if (spec.NumClasses < 1) throw new ArgumentException($"num_classes {spec.NumClasses}: a detector needs at least one task class (14 for VinBigData, 1 for RSNA)");
        return Find(spec.Arch).Build(spec);
    }

    /// <summary>Builds an arch with its defaults for <paramref name="numClasses"/> task classes.</summary>
    public static IDetector Create(string arch, int numClasses) => Create(new DetectorSpec(arch, numClasses));

    static int EditDistance(string a, string b)
    {
        var d = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++) d[j] = j;
        for (var i = 1; i <= a.Length; i++)
        {
            var prev = d[0];
            d[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var cur = d[j];
                d[j] = Math.Min(Math.Min(d[j] + 1, d[j - 1] + 1), prev + (a[i - 1] == b[j - 1] ? 0 : 1));
                prev = cur;
            }
        }
        return d[b.Length];
    }
}
