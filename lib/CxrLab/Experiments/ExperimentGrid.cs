using System.Globalization;
using CxrLab.Augment;
using CxrLab.Training;
using YamlDotNet.RepresentationModel;

namespace CxrLab.Experiments;

/// <summary>One model row of a grid: its name in the table, the experiment file of each category (<c>{category}</c> in
/// <see cref="ConfigPattern"/> is replaced; relative to the grid file), its <c>--set</c> overrides and its own
/// <c>train_images</c> budget (0: the grid's).</summary>
public sealed record GridModel(string Name, string ConfigPattern, IReadOnlyList<string> Overrides, int TrainImages = 0);

/// <summary>One cell: a model on a category, run as an ordinary experiment named <c>{model}_{category}</c> under the
/// grid's runs folder; <see cref="ResultFile"/> marks it done.</summary>
public sealed record GridCell(GridModel Model, string Category, string ConfigFile, string Dir)
{
    public string Name => $"{Model.Name}_{Category}";
    public string ResultFile => Path.Combine(Dir, "result.json");
    /// <summary>Validation predictions of the scored checkpoint (the grid's best or last) in Kaggle's submission format (original pixels).</summary>
    public string PredictionsFile => Path.Combine(Dir, "val_predictions.csv");
    /// <summary>The same with horizontal-flip test-time augmentation.</summary>
    public string HflipPredictionsFile => Path.Combine(Dir, "val_predictions_hflip.csv");
    /// <summary>The validation truth the predictions were scored against (train.csv schema, original pixels).</summary>
    public string TruthFile => Path.Combine(Dir, "val_truth.csv");
    /// <summary>Predictions on the held-out tuning fold (<c>data.holdout_fold</c>; absent without one), plain and with hflip
    /// TTA, and that fold's truth: what the table tunes the ensemble's weights on.</summary>
    public string HoldoutPredictionsFile => Path.Combine(Dir, "holdout_predictions.csv");
    public string HoldoutHflipPredictionsFile => Path.Combine(Dir, "holdout_predictions_hflip.csv");
    public string HoldoutTruthFile => Path.Combine(Dir, "holdout_truth.csv");
}

/// <summary>Which checkpoint a grid scores. <see cref="Best"/> is chosen on the validation fold it is then scored on, so
/// each single-model cell is the maximum of several noisy evaluations (optimistic on a small fold, and an ensemble row
/// gets no such pick); <see cref="Last"/> is the end of the fixed schedule and involves no choice on the validation fold.</summary>
public enum GridCheckpoint { Best, Last }

/// <summary>Phantom data the grid generates at <c>data.root</c> when that folder has no train.csv (a clean clone needs nothing else).</summary>
public sealed record GridPhantom(int Images, int Size, int Seed, double ClassBalance);

/// <summary>A models × categories grid of experiments (<c>experiments/grids/*.yaml</c>), the seed's score table in one file:
/// <code>
/// name: vinbig_phantom
/// runs_dir: experiments/runs/grids/vinbig_phantom   # relative to the working directory
/// categories: [A, B, C, D]
/// train_images: 1500        # optional: each cell sees about this many training images (epochs = budget / epoch length)
/// phantom: {images: 120, size: 192, seed: 2021, class_balance: 0.5}   # optional
/// set: {data.root: …, train.batch_size: 4}                             # --set for every cell
/// models:
///   - {name: yolox, config: ../vinbig_yolox_{category}.yaml, set: {model.arch: yolox_nano}, train_images: 3000}   # optional own budget
/// seed_scores: {yolox: {A: 0.021, B: 0.068, C: 0.147, D: 0.070}}       # shown beside the results
/// classifier: {arch: resnet18, input_size: 160, epochs: 8}            # optional: the normal/abnormal filter (table rows +filter)
/// checkpoint: last          # optional: which checkpoint each cell is scored with (best, the default, or last)
/// </code>
/// Errors name the file, line and key.</summary>
public sealed record ExperimentGrid(string Name, string Source, string Description, string RunsDir, IReadOnlyList<string> Categories,
    IReadOnlyList<GridModel> Models, IReadOnlyList<string> Overrides, int TrainImages, GridPhantom? Phantom,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, double>> SeedScores, IReadOnlyList<string> Ensemble)
{
    public static ExperimentGrid Load(string path)
    {
        if (!File.Exists(path)) throw new ConfigException($"grid file not found: {path}");
        var src = path;
        YamlMappingNode root;
        try { root = PipelineYaml.ReadRoot(File.ReadAllText(path), src) as YamlMappingNode ?? throw new ConfigException($"{src}: a grid is a mapping (name:, models:, categories:, …)"); }
        catch (FormatException e) { throw new ConfigException(e.Message); }
        try { return Parse(root, path); }
        catch (FormatException e) { throw new ConfigException(e.Message); }
    }

    static ExperimentGrid Parse(YamlMappingNode root, string src)
    {
        var a = new PipelineYaml.Args(root, src, "grid");
        var name = a.Text("name");
        if (name.Length == 0 || name.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0) throw PipelineYaml.Error(src, a.Node("name"), $"name '{name}' must be a plain folder name");
        var runsDir = a.Text("runs_dir", Path.Combine("experiments", "runs", "grids", name));
        if (a.Node("categories") is not YamlSequenceNode cats || cats.Children.Count == 0)
            throw PipelineYaml.Error(src, a.Node("categories"), "categories must be a non-empty list, e.g. [A, B, C, D]");
        var categories = cats.Children.Select(c => (c as YamlScalarNode)?.Value ?? throw PipelineYaml.Error(src, c, "a category is a name, e.g. A")).ToList();
        if (categories.Distinct().Count() != categories.Count) throw PipelineYaml.Error(src, cats, "categories repeat");
        var folder = Path.GetDirectoryName(Path.GetFullPath(src)) ?? ".";
        if (a.Node("models") is not YamlSequenceNode list || list.Children.Count == 0)
            throw PipelineYaml.Error(src, a.Node("models"), "models must be a non-empty list of {name, config, set}");
        var models = new List<GridModel>();
        foreach (var item in list.Children)
        {
            var m = new PipelineYaml.Args(item as YamlMappingNode ?? throw PipelineYaml.Error(src, item, "a model is {name, config, set}"), src, "model");
            var modelName = m.Text("name");
            if (modelName.Length == 0 || modelName.Any(c => !(char.IsLetterOrDigit(c) || c is '_' or '-' or '.')))
                throw PipelineYaml.Error(src, m.Node("name"), $"model name '{modelName}' may hold letters, digits, '_', '-' and '.' only");
            if (modelName.StartsWith("ensemble", StringComparison.Ordinal)) throw PipelineYaml.Error(src, m.Node("name"), "model names starting with 'ensemble' are the table's ensemble rows");
            if (models.Any(x => x.Name == modelName)) throw PipelineYaml.Error(src, m.Node("name"), $"duplicate model '{modelName}'");
            var pattern = m.Text("config");
            if (!pattern.Contains("{category}")) throw PipelineYaml.Error(src, m.Node("config"), $"config '{pattern}' must contain {{category}}, e.g. ../vinbig_yolox_{{category}}.yaml");
            var full = Path.GetFullPath(Path.Combine(folder, pattern));
            foreach (var c in categories)
                if (!File.Exists(full.Replace("{category}", c)))
                    throw PipelineYaml.Error(src, m.Node("config"), $"{full.Replace("{category}", c)} not found (config paths are relative to the grid file)");
            var budget = m.Int("train_images", 0);
            if (budget < 0) throw PipelineYaml.Error(src, m.Node("train_images"), $"train_images {budget} must be ≥ 0 (0: the grid's)");
            models.Add(new GridModel(modelName, full, m.Has("set") ? SetOf(m.Node("set"), src) : [], budget));
            m.RejectUnknown();
        }
        GridPhantom? phantom = null;
        if (a.Has("phantom"))
        {
            var p = new PipelineYaml.Args(a.Node("phantom") as YamlMappingNode ?? throw PipelineYaml.Error(src, a.Node("phantom"), "phantom is {images, size, seed, class_balance}"), src, "phantom");
            phantom = new GridPhantom(p.Int("images", 120), p.Int("size", 256), p.Int("seed", 0), p.Number("class_balance", 0.5));
            if (phantom.Images < 10 || phantom.Size < 64) throw PipelineYaml.Error(src, a.Node("phantom"), "phantom needs images ≥ 10 and size ≥ 64");
            p.RejectUnknown();
        }
        var seedScores = new Dictionary<string, IReadOnlyDictionary<string, double>>();
        if (a.Has("seed_scores"))
        {
            var map = a.Node("seed_scores") as YamlMappingNode ?? throw PipelineYaml.Error(src, a.Node("seed_scores"), "seed_scores is {model: {category: score}}");
            foreach (var (k, v) in map.Children)
            {
                var modelName = ((YamlScalarNode)k).Value ?? "";
                if (models.All(x => x.Name != modelName)) throw PipelineYaml.Error(src, k, $"seed_scores: '{modelName}' is not one of the grid's models ({string.Join(", ", models.Select(x => x.Name))})");
                var scores = new Dictionary<string, double>();
                foreach (var (ck, cv) in (v as YamlMappingNode ?? throw PipelineYaml.Error(src, v, "expected {category: score}")).Children)
                {
                    var text = (cv as YamlScalarNode)?.Value ?? "";
                    if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var score)) throw PipelineYaml.Error(src, cv, $"'{text}' is not a score");
                    scores[((YamlScalarNode)ck).Value ?? ""] = score;
                }
                seedScores[modelName] = scores;
            }
        }
        var ensemble = a.Has("ensemble") ? ((a.Node("ensemble") as YamlSequenceNode)?.Children.Select(n => ((YamlScalarNode)n).Value ?? "").ToList()
                                            ?? throw PipelineYaml.Error(src, a.Node("ensemble"), "ensemble is a list of model names")) : models.Select(m => m.Name).ToList();
        foreach (var e in ensemble)
            if (models.All(m => m.Name != e)) throw PipelineYaml.Error(src, a.Node("ensemble"), $"ensemble: '{e}' is not one of the grid's models");
        var grid = new ExperimentGrid(name, Path.GetFullPath(src), a.Text("description", ""), runsDir, categories, models,
            a.Has("set") ? SetOf(a.Node("set"), src) : [], a.Int("train_images", 0), phantom, seedScores, ensemble)
        {
            Classifier = a.Has("classifier") ? SetOf(a.Node("classifier"), src).Select(kv => "classifier." + kv).ToList() : null,
            Checkpoint = a.Text("checkpoint", "best") switch
            {
                "best" => GridCheckpoint.Best,
                "last" => GridCheckpoint.Last,
                var other => throw PipelineYaml.Error(src, a.Node("checkpoint"), $"checkpoint '{other}' is not best or last"),
            },
        };
        a.RejectUnknown();
        // Every cell's config must load with its overrides now, not an hour into the run.
        foreach (var cell in grid.Cells()) grid.ConfigOf(cell);
        if (grid.Classifier is not null)
        {
            try { grid.ClassifierConfig(); }
            catch (ConfigException e) { throw PipelineYaml.Error(src, a.Node("classifier"), $"classifier: {e.Message}"); }
        }
        return grid;
    }

    /// <summary>A <c>set:</c> mapping as <c>key=value</c> overrides (values written back as YAML flow text).</summary>
    static List<string> SetOf(YamlNode node, string src) =>
        (node as YamlMappingNode ?? throw PipelineYaml.Error(src, node, "set is a mapping of dotted keys, e.g. {train.epochs: 3}"))
        .Children.Select(kv => $"{((YamlScalarNode)kv.Key).Value}={Flow(kv.Value)}").ToList();

    static string Flow(YamlNode node) => node switch
    {
        YamlScalarNode s => s.Style is YamlDotNet.Core.ScalarStyle.SingleQuoted or YamlDotNet.Core.ScalarStyle.DoubleQuoted ? $"'{s.Value}'" : s.Value ?? "",
        YamlSequenceNode q => "[" + string.Join(", ", q.Children.Select(Flow)) + "]",
        YamlMappingNode m => "{" + string.Join(", ", m.Children.Select(kv => $"{Flow(kv.Key)}: {Flow(kv.Value)}")) + "}",
        _ => node.ToString(),
    };

    /// <summary>The <c>classifier:</c> key as <c>classifier.KEY=value</c> overrides (see <see cref="Models.Classification.ClassifierConfig"/>):
    /// the grid trains one normal/abnormal classifier on its fold and the table gains <c>+filter</c> rows. Null without the key.</summary>
    public IReadOnlyList<string>? Classifier { get; init; }

    /// <summary>Which checkpoint scores each cell (the <c>checkpoint:</c> key): the trainer's best on the validation fold, or
    /// the last one.</summary>
    public GridCheckpoint Checkpoint { get; init; } = GridCheckpoint.Best;

    /// <summary>The <c>checkpoint:</c> value as written in the grid file and in each cell's result.json: best or last.</summary>
    public string CheckpointName => Checkpoint == GridCheckpoint.Last ? "last" : "best";

    /// <summary>The classifier's run folder (<c>{runs_dir}/classifier/</c>: timestamped runs, then its result and probabilities).</summary>
    public string ClassifierDir => Path.Combine(RunsDir, "classifier");
    /// <summary>Marks the grid's classifier done: <see cref="ClassifierResult"/> with its validation AUC.</summary>
    public string ClassifierResultFile => Path.Combine(ClassifierDir, "result.json");
    /// <summary>P(abnormal) of every validation image (<c>image_id,p_abnormal</c>), what the <c>+filter</c> rows use.</summary>
    public string ClassifierProbabilitiesFile => Path.Combine(ClassifierDir, "val_p_abnormal.csv");

    /// <summary>The classifier's experiment: the first cell's (the grid's data, fold and seed) with the <c>classifier:</c> key,
    /// named <c>classifier</c> in the grid's runs folder.</summary>
    public ExperimentConfig ClassifierConfig()
    {
        var cfg = ConfigOf(Cells().First(), Classifier);
        cfg.Name = "classifier";
        return cfg;
    }

    /// <summary>The cell's training budget in images (its model's <c>train_images</c>, else the grid's; 0: the config's epochs).</summary>
    public int TrainImagesOf(GridCell cell) => cell.Model.TrainImages > 0 ? cell.Model.TrainImages : TrainImages;

    /// <summary>Every cell, model by model, category by category.</summary>
    public IEnumerable<GridCell> Cells() =>
        Models.SelectMany(m => Categories.Select(c => new GridCell(m, c, m.ConfigPattern.Replace("{category}", c), Path.Combine(RunsDir, $"{m.Name}_{c}"))));

    /// <summary>The cell's experiment: its file with the grid's overrides, then the model's, then its name and runs folder.</summary>
    public ExperimentConfig ConfigOf(GridCell cell, IEnumerable<string>? extra = null) =>
        ExperimentConfigLoader.LoadFile(cell.ConfigFile,
            [.. Overrides, .. cell.Model.Overrides, $"name={cell.Name}", $"output.runs_dir={Path.GetFullPath(RunsDir)}", .. extra ?? []]);

    /// <summary>The seed's score of a cell, if it has one.</summary>
    public double? SeedScore(string model, string category) =>
        SeedScores.TryGetValue(model, out var m) && m.TryGetValue(category, out var s) ? s : null;
}
