using CxrLab.Data;
using CxrLab.Training;

namespace CxrLab.Tasks.VinBigData;

/// <summary>The normal/abnormal classifier's images from a VinBigData experiment: the same cache, fusion, folds and held-out
/// fold as the detectors (so its validation images are theirs), but every training image of the fold — normal ones too,
/// with no category outputs and no resampling: the classifier must see the real normal/abnormal mix. Abnormal = the image
/// has any finding box (a "No finding" image has none).</summary>
public static class VinBigClassifierData
{
    public sealed record Images(IReadOnlyList<ClassifierImage> Train, IReadOnlyList<ClassifierImage> Validation, VinBigFold Fold);

    /// <summary>Prepares the fold of <paramref name="config"/> for the classifier. The config's data section is changed
    /// in place (<c>data.category</c> cleared, <c>data.include_no_finding</c> on, <c>data.resampling: none</c>).</summary>
    public static Images Prepare(ExperimentConfig config, Action<string>? log = null)
    {
        config.Data.Category = "";
        config.Data.IncludeNoFinding = true;
        config.Data.Resampling = "none";
        config.Data.ClassMinImages = [];
        config.Data.ClassMaxImages = [];
        var fold = VinBigTraining.Prepare(config, log);
        static ClassifierImage Of(DatasetItem item) => new(item.ImageId, item.Load, item.Target.Labels.Any(l => l >= 0 && l < VinBigClasses.FindingCount));
        var train = fold.Train.Items.DistinctBy(i => i.ImageId).Select(Of).ToList();
        var validation = fold.Validation.Items.DistinctBy(i => i.ImageId).Select(Of).ToList();
        log?.Invoke($"classifier images: {train.Count} train ({train.Count(i => i.Abnormal)} abnormal), {validation.Count} validation ({validation.Count(i => i.Abnormal)} abnormal)");
        return new Images(train, validation, fold);
    }
}
