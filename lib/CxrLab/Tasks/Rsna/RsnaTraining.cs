using CxrLab.Augment;
using CxrLab.Data;
using CxrLab.Dicom.Cache;
using CxrLab.Training;

namespace CxrLab.Tasks.Rsna;

/// <summary>The experiment YAML's <c>rsna:</c> section: how RSNA boxes become Mask R-CNN training targets. Defaults are the seed's.</summary>
public sealed class RsnaConfig
{
    /// <summary><c>box</c> (filled box, the seed's) or <c>ellipse</c> (inscribed ellipse).</summary>
    public string MaskShape { get; set; } = "box";

    /// <summary>Ground-truth boxes kept per image, largest first (the seed's MAX_GT_INSTANCES: 4; the set has at most 4).</summary>
    public int MaxBoxes { get; set; } = 4;

    /// <summary>An augmentation pipeline file in the augmentation library's YAML (<c>experiments/augment/rsna-seed.yaml</c>
    /// is the seed's imgaug pipeline), applied to training images after the config's <c>augment:</c> steps; empty for none.</summary>
    public string AugmentPipeline { get; set; } = "";

    /// <summary>Fraction of the training fold's patients without opacity kept for training (1 = all, the seed's; a
    /// smaller share makes short CPU runs see more opacities per epoch). Validation always keeps every patient: the
    /// metric charges false alarms on negatives.</summary>
    public double TrainNegatives { get; set; } = 1.0;
}

/// <summary>An RSNA split prepared for training: train and validation subsets (items in cache pixels, label 0), the
/// cache they read from, and the augmentation.</summary>
public sealed record RsnaSplit(DetectionDataset Train, DetectionDataset Validation, string CacheDir, Pipeline? Augment, KFoldSplit Split);

/// <summary>Reads <c>data.dataset: rsna</c> configs for the trainer: Kaggle layout (<c>stage_2_train_labels.csv</c> +
/// <c>stage_2_train_images/*.dcm</c>) → 8-bit PNG cache (long side <c>data.cache_size</c>, resumable) → a patient-level
/// split stratified by Target (<c>data.folds</c> folds, <c>data.fold</c> held out; every patient's images stay on one side),
/// the opacity boxes as task label 0.</summary>
public static class RsnaTraining
{
    /// <summary>The PNG cache folder: <c>data.cache_dir</c>, else <c>{root}/cache_png{cache_size}</c>; <c>data.layout: cache</c>
    /// means <c>data.root</c> already is a cache (meta.csv + PNGs) beside the labels CSV.</summary>
    public static string CacheDirOf(DataConfig data) =>
        data.Layout == "cache" ? data.Root
        : data.CacheDir.Length > 0 ? data.CacheDir
        : Path.Combine(data.Root, $"cache_png{data.CacheSize}");

    /// <summary>Builds (or completes) the PNG cache and loads the split. <paramref name="log"/> gets one line per stage.</summary>
    public static RsnaSplit Prepare(ExperimentConfig config, Action<string>? log = null)
    {
        var data = config.Data;
        var csv = Path.Combine(data.Root, RsnaDataset.LabelsCsv);
        if (!File.Exists(csv)) throw new FileNotFoundException($"data.root '{data.Root}' has no {RsnaDataset.LabelsCsv}; point data.root at the Kaggle RSNA Pneumonia folder ({RsnaDataset.LabelsCsv}, {RsnaDataset.TrainFolder}/*.dcm)", csv);
        if (data.Layout is not ("kaggle" or "cache")) throw new ArgumentException($"data.layout '{data.Layout}' is not known; use kaggle or cache");
        var cacheDir = CacheDirOf(data);
        if (data.Layout == "kaggle")
        {
            var trainDir = Path.Combine(data.Root, RsnaDataset.TrainFolder);
            if (!Directory.Exists(trainDir)) throw new DirectoryNotFoundException($"data.root '{data.Root}' has no {RsnaDataset.TrainFolder}/ folder of DICOMs");
            var report = ImageCacheConverter.Convert(trainDir, cacheDir, new ImageCacheOptions { Size = data.CacheSize, Bits = 8, KeepAspect = true });
            log?.Invoke($"cache {cacheDir}: {report.Converted} converted, {report.Skipped} already there, {report.Failed} failed ({report.Elapsed.TotalSeconds:0.0} s)");
            if (report.Failed > 0 && report.Converted + report.Skipped == 0) throw new InvalidDataException($"no DICOM converted; see {report.ErrorsCsv}");
        }
        var all = RsnaDataset.LoadTrain(data.Root, new PngCacheSource(cacheDir));
        if (all.Count == 0) throw new InvalidDataException($"no training image of {csv} is in the cache {cacheDir}");
        if (data.Folds < 2 || data.Fold < 0 || data.Fold >= data.Folds) throw new ArgumentException($"data.fold {data.Fold} of data.folds {data.Folds}: need folds ≥ 2 and 0 ≤ fold < folds");
        if (data.HoldoutFold != -1) throw new ArgumentException($"data.holdout_fold {data.HoldoutFold}: RSNA training has no held-out tuning fold yet (VinBigData grids use it); remove the key");
        var split = SplitByTarget(all, data.Folds, (int)config.Seed);
        var fold = split.Folds[data.Fold];
        if (config.Rsna.TrainNegatives is < 0 or > 1) throw new ArgumentException($"rsna.train_negatives {config.Rsna.TrainNegatives} must be in [0, 1]");
        var negatives = fold.Train.Where(i => all[i].Target.Count == 0).ToList();
        var keptNegatives = negatives.OrderBy(i => SampleSeed.Of((ulong)config.Seed, 0, i)).Take((int)Math.Round(negatives.Count * config.Rsna.TrainNegatives)).ToHashSet();
        var trainIdx = fold.Train.Where(i => all[i].Target.Count > 0 || keptNegatives.Contains(i)).ToList();
        if (data.Limit > 0) trainIdx = trainIdx.Take(data.Limit).ToList();
        var train = all.Subset(trainIdx, "-train");
        var validation = all.Subset(fold.Validation, "-val");
        var positives = all.Count(i => i.Target.Count > 0);
        log?.Invoke($"{all.Count} images ({positives} with opacities); fold {data.Fold}/{data.Folds}: {train.Count} train, {validation.Count} validation");
        return new RsnaSplit(train, validation, cacheDir, BuildAugment(config), split);
    }

    /// <summary>Folds stratified by Target (opacity or not), grouped by patientId so a patient's images share a fold.</summary>
    public static KFoldSplit SplitByTarget(DetectionDataset all, int folds, int seed) =>
        MultilabelStratifiedKFold.Split(all.Items.Select(i => (IReadOnlyList<int>)[i.Target.Count > 0 ? 1 : 0]).ToList(), folds, seed, all.Items.Select(i => i.GroupId).ToList());

    /// <summary>The config's <c>augment:</c> steps, then <c>rsna.augment_pipeline</c>'s file.</summary>
    public static Pipeline? BuildAugment(ExperimentConfig config)
    {
        var steps = AugmentMapping.Build(config.Augment);
        var file = config.Rsna.AugmentPipeline;
        if (file.Length == 0) return steps;
        if (!File.Exists(file)) throw new FileNotFoundException($"rsna.augment_pipeline '{file}' does not exist (paths are relative to the working directory, e.g. experiments/augment/rsna-seed.yaml)", file);
        var pipeline = PipelineYaml.Load(file);
        return steps is null ? pipeline : new Pipeline(new Sequential(steps.Root, pipeline.Root), pipeline.Policy);
    }

    /// <summary>Train and validation sets for the trainer (validation never augmented).</summary>
    public static (RsnaSamples Train, RsnaSamples Validation) Datasets(ExperimentConfig config, RsnaSplit split)
    {
        var shape = RsnaMasks.Parse(config.Rsna.MaskShape);
        return (new RsnaSamples(split.Train, split.Augment, config.Seed, shape, config.Rsna.MaxBoxes),
                new RsnaSamples(split.Validation, null, config.Seed, shape, config.Rsna.MaxBoxes));
    }
}

/// <summary>RSNA images as Mask R-CNN trains on them: read from the cache, at most <paramref name="maxBoxes"/> boxes
/// (largest first), each with its mask (<paramref name="shape"/>), augmented together (training epochs only, seeded by
/// (seed, epoch, index)), label 0 (Lung Opacity).</summary>
public sealed class RsnaSamples(DetectionDataset dataset, Pipeline? augment, long seed, RsnaMaskShape shape, int maxBoxes = 4) : IDetectionDataset
{
    public DetectionDataset Dataset { get; } = dataset;
    public int Count => Dataset.Count;

    public DetectionSample Load(int index, int epoch)
    {
        var item = Dataset[index];
        var image = item.Load();
        var target = RsnaMasks.WithMasks(Capped(item.Target, maxBoxes), shape);
        if (augment is not null && epoch >= 0)
        {
            var result = augment.Run(new Sample(image, target, item.ImageId), SampleSeed.Of((ulong)seed, epoch, index));
            (image, target) = (result.Sample.Image, result.Sample.Target);
        }
        return new DetectionSample(item.ImageId, InMemoryDetectionDataset.ToTensor(image), ToModelTarget(target));
    }

    /// <summary>The largest <paramref name="maxBoxes"/> boxes.</summary>
    public static Target Capped(Target target, int maxBoxes)
    {
        if (target.Count <= maxBoxes) return target;
        var keep = Enumerable.Range(0, target.Count).OrderByDescending(i => target.Boxes[i].Area).Take(maxBoxes).Order().ToList();
        return new Target(target.Width, target.Height, keep.Select(i => target.Boxes[i]).ToList(), keep.Select(i => target.Labels[i]).ToList(),
            target.Masks is null ? null : keep.Select(i => target.Masks[i]).ToList());
    }

    /// <summary>Boxes, label 0 and the masks as <c>[K, H, W]</c> uint8; boxes without area are dropped with their masks.</summary>
    public static Models.Detection.DetectionTarget ToModelTarget(Target target)
    {
        var keep = Enumerable.Range(0, target.Count).Where(i => target.Boxes[i].IsValid).ToList();
        var boxes = keep.SelectMany(i => new[] { target.Boxes[i].X1, target.Boxes[i].Y1, target.Boxes[i].X2, target.Boxes[i].Y2 }).ToArray();
        var (h, w) = (target.Height, target.Width);
        var pixels = new byte[keep.Count * h * w];
        for (var k = 0; k < keep.Count; k++)
        {
            var m = target.Masks![keep[k]].Data;
            for (var p = 0; p < h * w; p++) pixels[k * h * w + p] = m[p] > 0.5f ? (byte)1 : (byte)0;
        }
        return new Models.Detection.DetectionTarget(Torch.Tensor.From(boxes, keep.Count, 4), Torch.Tensor.From(new long[keep.Count]),
            Torch.Tensor.From(pixels, keep.Count, h, w));
    }
}

/// <summary>The RSNA test split (<c>stage_2_sample_submission.csv</c>'s patients) from an image source, without truth.</summary>
public static class RsnaTestSet
{
    public static DetectionDataset Load(string root, IImageSource images)
    {
        var csv = Path.Combine(root, RsnaDataset.SampleSubmissionCsv);
        if (!File.Exists(csv)) throw new FileNotFoundException($"'{root}' has no {RsnaDataset.SampleSubmissionCsv} listing the test patients", csv);
        var report = new ValidationReport();
        var items = new List<DatasetItem>();
        foreach (var row in CsvRows.Read(csv, "patientId", "PredictionString"))
        {
            report.RowsRead++;
            var id = row["patientId"];
            if (string.IsNullOrEmpty(id)) { report.Add(csv, row.Line, IssueKind.Malformed, "empty patientId"); continue; }
            if (!images.Contains(id)) { report.Add(csv, row.Line, IssueKind.MissingImage, $"{id} has no image file in the source"); continue; }
            var info = images.Describe(id);
            items.Add(new DatasetItem(id, info, Target.Empty(info.Width, info.Height), [], id, [], () => images.Load(id)));
        }
        return new DetectionDataset("rsna-test", [RsnaClasses.LungOpacityName], items, report);
    }
}
