using System.Globalization;
using System.Text;
using CxrLab.Augment;
using CxrLab.Augment.Categories;
using CxrLab.Data;
using CxrLab.Dicom.Cache;
using CxrLab.Evaluation;
using CxrLab.Imaging;

using CxrLab.Training;

namespace CxrLab.Tasks.VinBigData;

/// <summary>A VinBigData fold prepared for training: the train and validation subsets (items in cache pixels,
/// labels 0–13), the cache they read from, and the augmentation pipeline built from the config.
/// <see cref="Category"/>: the dataset category (<c>data.category</c>) the training images are drawn through, if any.
/// <see cref="Holdout"/>: the <c>data.holdout_fold</c> images (never trained on; truth fused as validation's), if any.</summary>
public sealed record VinBigFold(DetectionDataset Train, DetectionDataset Validation, string CacheDir, Pipeline? Augment, KFoldSplit Split,
    CategoryConfig? Category = null, DetectionDataset? Holdout = null);

/// <summary>Reads <c>data.dataset: vinbigdata</c> configs for the trainer: Kaggle layout (train.csv +
/// train/*.dicom) → 16-bit PNG cache (<c>./cxr convert</c> semantics, long side <c>data.cache_size</c>,
/// resumable) → radiologists fused (<c>data.fusion</c> at <c>data.fusion_iou</c>) → multilabel-stratified
/// <c>data.folds</c> split, <c>data.fold</c> held out. "No finding" images stay in validation always (the
/// Kaggle metric scores them) and in training only with <c>data.include_no_finding</c>.</summary>
public static class VinBigTraining
{
    /// <summary>The PNG cache folder of a config: <c>data.cache_dir</c>, else <c>{root}/cache_png{cache_size}</c>;
    /// <c>data.layout: cache</c> means the PNGs are already there: in <c>data.cache_dir</c> if given (a built category:
    /// <c>root: OUT, cache_dir: OUT/train</c>), else in <c>data.root</c> beside train.csv.</summary>
    public static string CacheDirOf(DataConfig data) =>
        data.CacheDir.Length > 0 ? data.CacheDir
        : data.Layout == "cache" ? data.Root
        : Path.Combine(data.Root, $"cache_png{data.CacheSize}");

    /// <summary>Builds (or completes) the PNG cache and loads the fold. <paramref name="log"/> gets one line per stage.</summary>
    public static VinBigFold Prepare(ExperimentConfig config, Action<string>? log = null, IProgress<ImageCacheProgress>? cacheProgress = null)
    {
        var data = config.Data;
        var csv = Path.Combine(data.Root, VinBigDataset.TrainCsv);
        if (!File.Exists(csv)) throw new FileNotFoundException($"data.root '{data.Root}' has no {VinBigDataset.TrainCsv}; point data.root at the Kaggle VinBigData folder (train.csv, train/*.dicom)", csv);
        if (data.Layout is not ("kaggle" or "cache")) throw new ArgumentException($"data.layout '{data.Layout}' is not known; use kaggle or cache");
        var cacheDir = CacheDirOf(data);
        if (data.Layout == "kaggle")
        {
            var trainDir = Path.Combine(data.Root, "train");
            if (!Directory.Exists(trainDir)) throw new DirectoryNotFoundException($"data.root '{data.Root}' has no train/ folder of DICOMs");
            var report = ImageCacheConverter.Convert(trainDir, cacheDir, new ImageCacheOptions { Size = data.CacheSize, Bits = 16, KeepAspect = true }, cacheProgress);
            log?.Invoke($"cache {cacheDir}: {report.Converted} converted, {report.Skipped} already there, {report.Failed} failed ({report.Elapsed.TotalSeconds:0.0} s)");
            if (report.Failed > 0 && report.Converted + report.Skipped == 0) throw new InvalidDataException($"no DICOM converted; see {report.ErrorsCsv}");
        }
        var fusion = new FusionOptions(ParseFusion(data.Fusion), (float)data.FusionIou);
        var images = new PngCacheSource(cacheDir);
        var all = VinBigDataset.LoadTrain(data.Root, images, fusion);
        if (all.Count == 0) throw new InvalidDataException($"no training image of {csv} is in the cache {cacheDir}");
        if (data.Folds < 2 || data.Fold < 0 || data.Fold >= data.Folds) throw new ArgumentException($"data.fold {data.Fold} of data.folds {data.Folds}: need folds ≥ 2 and 0 ≤ fold < folds");
        // Folds by group: a source image and every copy `./cxr dataset build` made of it land in the same fold.
        var split = MultilabelStratifiedKFold.Split(all, data.Folds, (int)config.Seed);
        var fold = split.Folds[data.Fold];
        var category = data.Category.Length > 0 ? CategoryConfig.Load(data.Category) : null;

        // Training boxes: the category's fusion (e.g. every reader's box, as the seed) when it differs from data.fusion,
        // which stays the validation truth's.
        var trainSource = all;
        if (category is not null && category.Fusion != fusion.Method)
        {
            trainSource = VinBigDataset.LoadTrain(data.Root, images, new FusionOptions(category.Fusion, (float)data.FusionIou));
            log?.Invoke($"category {category.Name}: training boxes fused by {category.Fusion}, validation truth by {fusion.Method}");
        }
        var byId = trainSource.Items.ToDictionary(i => i.ImageId, StringComparer.Ordinal);
        var abnormalOnly = category?.AbnormalOnly ?? !data.IncludeNoFinding;
        var holdoutIndices = data.HoldoutFold >= 0 ? split.Folds[data.HoldoutFold].Validation : [];
        var heldOut = holdoutIndices.ToHashSet();
        var trainItems = fold.Train.Where(i => !heldOut.Contains(i)).Select(i => byId[all[i].ImageId]).Where(i => !abnormalOnly || i.Target.Count > 0).ToList();
        if (data.Limit > 0) trainItems = trainItems.Take(data.Limit).ToList();
        var train = new DetectionDataset($"{all.Name}-train", all.ClassNames, trainItems, trainSource.Report, trainSource.Fusion);
        var validation = all.Subset(fold.Validation, "-val");
        var holdout = data.HoldoutFold >= 0 ? all.Subset(holdoutIndices, "-holdout") : null;
        log?.Invoke($"{all.Count} images ({all.Fusion?.NoFindingImages ?? 0} without findings); fold {data.Fold}/{data.Folds}: {train.Count} train" +
                    (abnormalOnly ? " (with findings)" : "") + $", {validation.Count} validation" +
                    (holdout is null ? "" : $", {holdout.Count} held out (fold {data.HoldoutFold}: not trained on)"));
        train = TrainingResampling.Apply(data, train, config.Seed, log);
        if (category is not null)
            log?.Invoke($"category {category.Name} ({data.Category}): {category.Outputs.Count} output(s) per training image per epoch " +
                        $"({string.Join(", ", category.Outputs.Select(o => o.Suffix.Length == 0 ? "source" : o.Suffix))}); mixing donors from the {train.Items.DistinctBy(i => i.ImageId).Count()} training images");
        return new VinBigFold(train, validation, cacheDir, AugmentMapping.Build(config.Augment), split, category, holdout);
    }

    static FusionMethod ParseFusion(string name) => name.ToLowerInvariant() switch
    {
        "wbf" => FusionMethod.Wbf,
        "nms" => FusionMethod.Nms,
        "none" => FusionMethod.None,
        "keep_one_reader" => FusionMethod.KeepOneReader,
        _ => throw new ArgumentException($"data.fusion '{name}' is not known; use wbf, nms, none or keep_one_reader"),
    };

    /// <summary>Train and validation sets for the trainer (validation never augmented): the category's outputs per
    /// training image when the fold has one, else each training image with <c>augment:</c>. Mixing donors come from the
    /// training items only.</summary>
    public static (IDetectionDataset Train, DetectionDatasetSamples Validation) Datasets(ExperimentConfig config, VinBigFold fold)
    {
        IDetectionDataset train = fold.Category is { } category
            ? new CategorySamples(category, fold.Train, fold.Augment, config.Seed, VinBigClasses.FindingCount)
            : new DetectionDatasetSamples(fold.Train, fold.Augment, config.Seed, VinBigClasses.FindingCount);
        return (train, new DetectionDatasetSamples(fold.Validation, null, config.Seed, VinBigClasses.FindingCount));
    }
}

/// <summary>The VinBigData Kaggle metric (mAP at IoU 0.4, ../shared/REFERENCES.md) on a validation subset:
/// detections mapped to original pixels (labels are already the finding ids); every image also gets a
/// "No finding" (class 14, box 0,0,1,1) prediction scored 1 − its best finding score, as the competition's
/// submissions did; truth from <see cref="DetectionDataset.ToTruth"/> with the No-finding box.</summary>
public sealed class VinBigValidationMetric(DetectionDataset validation) : ValidationMetric
{
    readonly Dictionary<string, ImageInfo> infos = validation.Items.DistinctBy(i => i.ImageId).ToDictionary(i => i.ImageId, i => i.Info, StringComparer.Ordinal);
    readonly TruthSet truth = validation.ToTruth(noFindingBox: true);

    public override string Name => "val_map40";

    /// <summary>The result of the latest <see cref="Compute"/> (per-class AP and PR curves).</summary>
    public override MapResult? Last => last;
    MapResult? last;

    public override double Compute(IReadOnlyList<ValidationItem> items)
    {
        last = VocEvaluator.Evaluate(truth, ToDetections(items, infos));
        return last.Map;
    }

    /// <summary>Model outputs (cache pixels, finding ids 0–13) → Kaggle detections (original pixels, classes 0–14 with No finding).</summary>
    public static List<Detection> ToDetections(IEnumerable<ValidationItem> items, IReadOnlyDictionary<string, ImageInfo> infos) =>
        items.SelectMany(item =>
        {
            var info = infos[item.Id];
            var original = item.Boxes.Select(b => info.ToOriginal(new Box(b[0], b[1], b[2], b[3]))).Select(b => new[] { b.X1, b.Y1, b.X2, b.Y2 }).ToArray();
            return VinBigTask.ToKaggle(new ImagePrediction(item.Id, original, item.Scores, item.Labels));
        }).ToList();
}
