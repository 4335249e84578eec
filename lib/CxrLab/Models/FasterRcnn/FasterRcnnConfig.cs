using CxrLab.Models.Detection.TwoStage;

namespace CxrLab.Models.FasterRcnn;

/// <summary>The experiment YAML's <c>faster_rcnn:</c> section: the two-stage keys (<see cref="TwoStageConfig"/>) over
/// torchvision's <c>fasterrcnn_resnet50_fpn</c> defaults; Faster R-CNN adds none of its own.</summary>
public sealed class FasterRcnnConfig : TwoStageConfig;
