using CxrLab.Augment;
using CxrLab.Augment.Categories;
using CxrLab.Data;
using CxrLab.Data.Phantom;
using CxrLab.Dicom;
using CxrLab.Experiments;
using CxrLab.Imaging;
using CxrLab.Tasks.VinBigData;
using CxrLab.Training;

namespace CxrLab.Tests.Training;

/// <summary>Issue 18, item 1: the seed's categories (experiments/datasets/vinbig-A…D.yaml) drawn online by the trainer
/// with the image multipliers of the offline build; resampling applied to the training set and logged; mixing donors
/// from the training fold only; folds grouped by source image; every shipped experiment config loads.</summary>
[Collection(TorchRngCollection.Name)]
public sealed class CategoryTrainingTests : IDisposable
{
    readonly string temp = Directory.CreateTempSubdirectory("cxr-category-train-").FullName;

    public void Dispose() => Directory.Delete(temp, recursive: true);

    internal static string RepoFile(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Research.sln"))) return Path.Combine(dir.FullName, relative);
        throw new FileNotFoundException($"repository root (Research.sln) not found above {AppContext.BaseDirectory}");
    }

    string Phantom(int images = 24)
    {
        var root = Path.Combine(temp, "vb");
        if (!Directory.Exists(root)) VinBigPhantom.Write(root, new PhantomOptions(images, 96, Seed: 5, TestImages: 1, AbnormalFraction: 0.7));
        return root;
    }

    ExperimentConfig Config(string root, string data = ", layout: kaggle", string extra = "") => ExperimentConfigLoader.Load($$"""
        name: category_tiny
        seed: 3
        model: {arch: fasterrcnn_resnet18_fpn, num_classes: 14, input_size: 64, max_size: 64}
        data: {dataset: vinbigdata, root: {{root}}, cache_size: 64, fusion: wbf, fold: 0, folds: 3, include_no_finding: false {{data}} }
        train: {epochs: 1, batch_size: 2}
        output: {runs_dir: {{Path.Combine(temp, "runs")}} }
        {{extra}}
        """, "test.yaml");

    [Theory]
    [InlineData("A", 1)]
    [InlineData("B", 4)]
    [InlineData("C", 5)]
    [InlineData("D", 7)]
    public void Online_category_draws_the_seeds_images_per_source_every_epoch_with_valid_boxes(string category, int perSource)
    {
        var root = Phantom();
        var log = new List<string>();
        var cfg = Config(root, $", layout: kaggle, category: {RepoFile($"experiments/datasets/vinbig-{category}.yaml")}");
        var fold = VinBigTraining.Prepare(cfg, log.Add);
        Assert.NotNull(fold.Category);
        Assert.All(fold.Train.Items, i => Assert.NotEqual(0, i.Target.Count));        // source: abnormal
        var (train, _) = VinBigTraining.Datasets(cfg, fold);
        var samples = Assert.IsType<CategorySamples>(train);
        Assert.Equal(fold.Train.Count * perSource, samples.Count);
        Assert.Contains(log, l => l.Contains($"category vinbig-{category}") && l.Contains($"{perSource} output(s)"));
        if (category == "A") Assert.Contains(log, l => l.Contains("training boxes fused by None"));  // every reader's box, as the seed

        for (var index = 0; index < samples.Count; index++)
        {
            var s = samples.Draw(index, epoch: 2);
            Assert.All(s.Target.Boxes, b => Assert.True(b.IsValid && b.X1 >= 0 && b.Y1 >= 0 && b.X2 <= s.Image.Width && b.Y2 <= s.Image.Height, $"{s.Id}: {b}"));
            Assert.All(s.Target.Labels, l => Assert.InRange(l, 0, 13));
            using var loaded = samples.Load(index, 2);
            Assert.Equal(new long[] { 3, s.Image.Height, s.Image.Width }, loaded.Image.shape);
        }
        // The same (epoch, index) gives the same image (exact resume); another epoch draws afresh.
        var zoomIndex = Enumerable.Range(0, samples.Count).FirstOrDefault(i => samples.Category.Outputs[samples.Entry(i).Output].Suffix == "zoom", -1);
        if (zoomIndex >= 0)
        {
            Assert.Equal(samples.Draw(zoomIndex, 1).Image.Data, samples.Draw(zoomIndex, 1).Image.Data);
            Assert.NotEqual(samples.Draw(zoomIndex, 1).Image.Data, samples.Draw(zoomIndex, 4).Image.Data);
        }
    }

    [Fact]
    public void Mixing_donors_come_from_the_training_fold_only()
    {
        // Wiring: the pool the trainer's datasets draw donors from is the training fold, with or without a category.
        var root = Phantom();
        foreach (var cfg in new[] { Config(root, $", layout: kaggle, category: {RepoFile("experiments/datasets/vinbig-D.yaml")}"),
                                    Config(root, extra: "augment: [{name: mosaic, p: 1}, {name: cutmix, p: 1}]") })
        {
            var fold = VinBigTraining.Prepare(cfg);
            var (train, validation) = VinBigTraining.Datasets(cfg, fold);
            var pool = train is CategorySamples c ? c.Pool : Assert.IsType<DetectionDatasetSamples>(train).Pool;
            var poolIds = Enumerable.Range(0, pool.Count).Select(i => ((DatasetSampleSource)pool).ImageId(i)).ToHashSet();
            Assert.Equal(fold.Train.Items.Select(i => i.ImageId).ToHashSet(), poolIds);
            Assert.Empty(poolIds.Intersect(fold.Validation.Items.Select(i => i.ImageId)));
            // The first Mosaic draw used to throw (no pool): every training sample of an epoch now loads.
            for (var i = 0; i < Math.Min(train.Count, 10); i++) using (train.Load(i, 0)) { }
            using (validation.Load(0, -1)) { }
        }

        // Behaviour: training images are flat 0.25, the rest flat 0.75; a mosaic of the training set holds no 0.75 pixel.
        var items = Enumerable.Range(0, 8).Select(i => Flat($"img{i}", i < 4 ? 0.25f : 0.75f)).ToList();
        var all = new DetectionDataset("flat", VinBigClasses.Names, items, new ValidationReport());
        var category = CategoryConfig.Load(RepoFile("experiments/datasets/vinbig-D.yaml"));
        var samples = new CategorySamples(category, all.Subset([0, 1, 2, 3]), null, seed: 9);
        var mixed = 0;
        for (var epoch = 0; epoch < 3; epoch++)
            for (var index = 0; index < samples.Count; index++)
            {
                var suffix = category.Outputs[samples.Entry(index).Output].Suffix;
                if (suffix is not ("mosaic" or "cutmix_mosaic")) continue;
                var pixels = samples.Draw(index, epoch).Image.Data;
                Assert.All(pixels, p => Assert.Equal(0.25f, p, 3));
                mixed++;
            }
        Assert.Equal(3 * 4 * 2, mixed);
        // Drawn from the whole set instead, mosaics of the same training images do show the other images.
        var leaky = new CategorySamples(category, all, null, seed: 9);
        Assert.Contains(Enumerable.Range(0, leaky.Count).Where(i => leaky.Entry(i).Item < 4 && category.Outputs[leaky.Entry(i).Output].Suffix == "mosaic"),
            i => leaky.Draw(i, 0).Image.Data.Any(p => Math.Abs(p - 0.75f) < 1e-3));
    }

    static DatasetItem Flat(string id, float value)
    {
        const int size = 32;
        var target = new Target(size, size, [new Box(4, 4, 20, 20)], [3]);
        return new DatasetItem(id, ImageInfo.Original(size, size), target, [1f], id, [3],
            () => new Image(Enumerable.Repeat(value, size * size).ToArray(), size, size));
    }

    [Fact]
    public void Resampling_changes_the_per_epoch_class_counts_as_configured_and_is_logged()
    {
        var root = Phantom();
        var plain = VinBigTraining.Prepare(Config(root));
        var before = ClassHistogram.Of(plain.Train.ImageClasses, null, Enumerable.Range(0, plain.Train.Count));
        var rare = before.Images.OrderBy(kv => kv.Value).ThenBy(kv => kv.Key).First();
        var common = before.Images.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key).First();
        Assert.True(rare.Value < common.Value, "the phantom fold has no class imbalance to resample");

        // per_class: the rarest class raised to the most common class's count.
        var log = new List<string>();
        var cfg = Config(root, $", layout: kaggle, resampling: per_class, class_min_images: {{{rare.Key}: {common.Value}}}");
        var fold = VinBigTraining.Prepare(cfg, log.Add);
        var after = ClassHistogram.Of(fold.Train.ImageClasses, null, Enumerable.Range(0, fold.Train.Count));
        Assert.True(after.Images[rare.Key] >= common.Value, $"class {rare.Key}: {after.Images[rare.Key]} images after, wanted ≥ {common.Value}");
        Assert.Equal(plain.Train.Items.Select(i => i.ImageId).ToHashSet(), fold.Train.Items.Select(i => i.ImageId).ToHashSet()); // no image lost
        foreach (var copies in fold.Train.Items.GroupBy(i => i.ImageId).Where(g => g.Count() > 1))
            Assert.Contains(rare.Key, copies.First().ImageClasses);                     // only images of the raised class repeat
        var (train, _) = VinBigTraining.Datasets(cfg, fold);
        Assert.Equal(fold.Train.Count, train.Count);                                   // the trainer's epoch is the resampled list
        Assert.Contains(log, l => l.StartsWith("resampling (per class") && l.Contains($"{before.TotalImages} → {fold.Train.Count}"));

        // repeat_factor: images of classes below the threshold fraction are repeated ⌈sqrt(t / f)⌉-ish times, others once.
        log.Clear();
        var rf = VinBigTraining.Prepare(Config(root, ", layout: kaggle, resampling: repeat_factor, repeat_threshold: 0.5"), log.Add);
        var factors = ClassResampler.RepeatFactors(before, 0.5);
        var counts = rf.Train.Items.GroupBy(i => i.ImageId).ToDictionary(g => g.Key, g => g.Count());
        foreach (var item in plain.Train.Items)
        {
            var r = item.ImageClasses.Max(c => factors[c]);
            Assert.InRange(counts[item.ImageId], (int)Math.Floor(r), (int)Math.Ceiling(r));
        }
        Assert.True(rf.Train.Count > plain.Train.Count);
        Assert.Contains(log, l => l.StartsWith("resampling (repeat factor, threshold 0.5)"));
        // Drawn once per run: the same seed gives the same list.
        Assert.Equal(rf.Train.Items.Select(i => i.ImageId), VinBigTraining.Prepare(Config(root, ", layout: kaggle, resampling: repeat_factor, repeat_threshold: 0.5")).Train.Items.Select(i => i.ImageId));
    }

    [Fact]
    public void Folds_of_a_built_category_keep_every_copy_of_a_source_image_together()
    {
        var root = Phantom();
        VinBigTraining.Prepare(Config(root));  // builds the PNG cache at 64 px
        var config = CategoryConfig.Load(RepoFile("experiments/datasets/vinbig-B.yaml"));
        var built = Path.Combine(temp, "built");
        CategoryBuilder.Build(config, root, new PngCacheSource(Path.Combine(root, "cache_png64")), built, threads: 2);
        Assert.True(File.Exists(Path.Combine(built, VinBigDataset.SourceIdsCsv)));

        var dataset = VinBigDataset.LoadTrain(built, new PngCacheSource(Path.Combine(built, CategoryBuilder.ImagesFolder)));
        Assert.All(dataset.Items, i => Assert.StartsWith(i.GroupId, i.ImageId));
        Assert.Equal(dataset.Count / 4, dataset.Items.Select(i => i.GroupId).Distinct().Count());
        var split = MultilabelStratifiedKFold.Split(dataset, 3, seed: 1);
        foreach (var group in dataset.Items.Select((item, index) => (item.GroupId, index)).GroupBy(x => x.GroupId))
            Assert.Single(group.Select(x => split.FoldOf[x.index]).Distinct());

        // Through the trainer's own path (data.layout: cache over the built folder): no source on both sides.
        var fold = VinBigTraining.Prepare(Config(built, $", layout: cache, cache_dir: {Path.Combine(built, CategoryBuilder.ImagesFolder)}"));
        var trainSources = fold.Train.Items.Select(i => i.GroupId).ToHashSet();
        Assert.DoesNotContain(fold.Validation.Items, i => trainSources.Contains(i.GroupId));
    }

    [Fact]
    public void A_holdout_fold_is_neither_trained_on_nor_validated_on_and_the_classifier_skips_it_too()
    {
        var root = Phantom();
        var cfg = Config(root, ", layout: kaggle, holdout_fold: 2");
        var log = new List<string>();
        var fold = VinBigTraining.Prepare(cfg, log.Add);
        var holdout = Assert.IsType<DetectionDataset>(fold.Holdout).Items.Select(i => i.ImageId).ToHashSet();
        // The holdout is fold 2 of the same split; training is what is left of folds 1 and 2 once validation (0) and holdout (2) are out.
        var all = VinBigDataset.LoadTrain(root, new PngCacheSource(Path.Combine(root, "cache_png64")), new FusionOptions(FusionMethod.Wbf, 0.4f));
        Assert.Equal(fold.Split.Folds[2].Validation.Select(i => all[i].ImageId).ToHashSet(), holdout);
        Assert.NotEmpty(holdout);
        Assert.Empty(holdout.Intersect(fold.Train.Items.Select(i => i.ImageId)));
        Assert.Empty(holdout.Intersect(fold.Validation.Items.Select(i => i.ImageId)));
        var foldOne = fold.Split.Folds[1].Validation.Select(i => all[i].ImageId).ToHashSet();
        Assert.All(fold.Train.Items, i => Assert.Contains(i.ImageId, foldOne));
        Assert.Contains(log, l => l.Contains($"{holdout.Count} held out (fold 2: not trained on)"));
        // Without the key the same fold trains on both other folds.
        Assert.True(VinBigTraining.Prepare(Config(root)).Train.Count > fold.Train.Count);
        // The grid's normal/abnormal classifier shares the detectors' folds: it never trains on the holdout either.
        var classifier = VinBigClassifierData.Prepare(Config(root, ", layout: kaggle, holdout_fold: 2"));
        Assert.Empty(holdout.Intersect(classifier.Train.Select(i => i.Id)));

        var same = Assert.Throws<ConfigException>(() => Config(root, ", layout: kaggle, holdout_fold: 0"));
        Assert.Contains("data.holdout_fold", same.Message);
        Assert.Contains("other than data.fold (0)", same.Message);
    }

    [Fact]
    public void Every_shipped_experiment_config_loads_and_the_categories_name_their_dataset_file()
    {
        var dir = RepoFile("experiments");
        var files = Directory.GetFiles(dir, "*.yaml").Order(StringComparer.Ordinal).ToList();
        Assert.True(files.Count >= 12);
        foreach (var file in files)
        {
            var cfg = ExperimentConfigLoader.LoadFile(file);
            var name = Path.GetFileNameWithoutExtension(file);
            if (System.Text.RegularExpressions.Regex.Match(name, "^vinbig_(frcnn|yolox|effdet)_([ABCD])$") is not { Success: true } m) continue;
            Assert.Equal(Path.GetFullPath(RepoFile($"experiments/datasets/vinbig-{m.Groups[2].Value}.yaml")), cfg.Data.Category);
            Assert.Empty(cfg.Augment);                  // the category is the whole definition: the same data for every family
            Assert.Equal("none", cfg.Data.Resampling);
            Assert.Equal($"vinbig-{m.Groups[2].Value}", CategoryConfig.Load(cfg.Data.Category).Name);
        }
        // Every category file loads too, and a missing one is named.
        foreach (var c in "ABCD") CategoryConfig.Load(RepoFile($"experiments/datasets/vinbig-{c}.yaml"));
        var bad = Assert.Throws<ConfigException>(() => ExperimentConfigLoader.Load("data: {category: datasets/nope.yaml}", Path.Combine(dir, "x.yaml")));
        Assert.Contains("data.category", bad.Message);
        Assert.Contains("nope.yaml", bad.Message);
    }

    public static TheoryData<string> CategoryExperiments() =>
        new(from family in new[] { "frcnn", "yolox", "effdet" } from c in "ABCD" select $"vinbig_{family}_{c}.yaml");

    /// <summary>Each shipped category experiment, with its own arch and recipe but a phantom root and small inputs, prepares
    /// its category and takes one training step on the samples of its last two outputs (Mosaic and CutMix + Mosaic for D).</summary>
    [Theory]
    [MemberData(nameof(CategoryExperiments))]
    public void Every_shipped_category_experiment_takes_one_training_step(string file)
    {
        var root = Phantom();
        var cfg = ExperimentConfigLoader.LoadFile(RepoFile($"experiments/{file}"),
            [$"data.root={root}", "data.cache_size=64", "data.folds=3", "model.input_size=128", "model.max_size=128", "model.weights=''"]);
        var fold = VinBigTraining.Prepare(cfg);
        var (train, _) = VinBigTraining.Datasets(cfg, fold);
        var samples = new[] { train.Count - 1, train.Count - 2 }.Select(i => train.Load(i, 0)).ToList();
        try
        {
            using var model = ExperimentRunner.BuildModel(cfg);
            model.Module.train();
            using var scope = CxrLab.Torch.torch.NewDisposeScope();
            var losses = model.ForwardTrain(samples.Select(s => s.Image).ToList(), samples.Select(s => s.Target).ToList());
            var total = losses.Values.Aggregate((a, b) => a + b);
            total.backward();
            Assert.True(double.IsFinite(total.item<float>()), $"{file}: loss {total.item<float>()}");
            Assert.Contains(model.Module.parameters(), p => p.grad is { } g && g.abs().sum().item<float>() > 0);
        }
        finally
        {
            foreach (var s in samples) s.Dispose();
        }
    }
}
