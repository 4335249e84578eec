using CxrLab.Models.Detection;
using CxrLab.Models.Detection.TwoStage;

namespace CxrLab.Models.FasterRcnn;

/// <summary>Faster R-CNN with a ResNet-FPN backbone, module for module and key for key torchvision's
/// <c>FasterRCNN</c> (<c>backbone.body.*</c>, <c>backbone.fpn.*</c>, <c>rpn.head.*</c>, <c>roi_heads.box_head.*</c>,
/// <c>roi_heads.box_predictor.*</c>), so torchvision checkpoints load directly (<see cref="GeneralizedRcnn.LoadWeights"/>;
/// pre-0.13 FPN/RPN key layouts are upgraded on load). The pipeline itself is <see cref="GeneralizedRcnn"/>'s:
/// training returns loss_objectness, loss_rpn_box_reg, loss_classifier, loss_box_reg; evaluation returns per-image
/// boxes (xyxy, input pixels), scores and task labels 0..NumClasses−1.</summary>
public sealed class FasterRcnn : GeneralizedRcnn
{
    public FasterRcnn(BackboneWithFpn backbone, TwoStageOptions options, string arch = "fasterrcnn_resnet50_fpn")
        : this(backbone, options, arch, TwoStageBuilder.Parts(backbone, options)) { }

    FasterRcnn(BackboneWithFpn backbone, TwoStageOptions options, string arch, (RegionProposalNetwork Rpn, RoIHeads RoIHeads) parts)
        : base(arch, options.NumClasses, new GeneralizedRCNNTransform(options.MinSize, options.MaxSize), backbone, parts.Rpn, parts.RoIHeads)
    {
        Options = options;
    }

    public TwoStageOptions Options { get; }

    // ---------------------------------------------------------------- builders

    /// <summary>torchvision's <c>fasterrcnn_resnet50_fpn</c> (random init; load weights with <see cref="GeneralizedRcnn.LoadWeights"/>).</summary>
    public static FasterRcnn ResNet50Fpn(TwoStageOptions? options = null) => ResNetFpn(50, options);
    public static FasterRcnn ResNet18Fpn(TwoStageOptions? options = null) => ResNetFpn(18, options);
    public static FasterRcnn ResNet34Fpn(TwoStageOptions? options = null) => ResNetFpn(34, options);
    public static FasterRcnn ResNet101Fpn(TwoStageOptions? options = null) => ResNetFpn(101, options);

    public static FasterRcnn ResNetFpn(int depth, TwoStageOptions? options = null)
    {
        options ??= new TwoStageOptions();
        var backbone = BackboneWithFpn.ResNetFpn(depth, options.TrainableBackboneLayers, options.FrozenBatchNormEps, options.FpnChannels, options.NormLayer, options.FpnExtraBlock);
        return new FasterRcnn(backbone, options, $"fasterrcnn_resnet{depth}_fpn");
    }

    /// <summary>The zoo's builder: <paramref name="spec"/>'s class count, input size, normalisation, post-processing
    /// and <c>faster_rcnn:</c> section over torchvision's defaults.</summary>
    public static FasterRcnn Build(DetectorSpec spec, int depth) => ResNetFpn(depth, TwoStageBuilder.OptionsFor(spec, spec.FasterRcnn));

}
