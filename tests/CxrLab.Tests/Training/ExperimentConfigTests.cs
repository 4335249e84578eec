using CxrLab.Experiments;
using CxrLab.Tasks;
using CxrLab.Tasks.VinBigData;
using CxrLab.Training;

namespace CxrLab.Tests.Training;

public class ExperimentConfigTests
{
    const string Yaml = """
        name: vin_a
        seed: 7
        model:
          arch: fasterrcnn_resnet18_fpn
          num_classes: 14
          input_size: 512
          max_size: 512
        augment:
          - name: hflip
            p: 0.5
          - name: rotate
            params: {limit: 10}
        optimizer:
          name: adamw
          lr: 0.0002
        schedule:
          name: cosine
          milestones: [8, 11]
        train:
          epochs: 3
        """;

    [Fact]
    public void Reads_values_and_keeps_reference_defaults()
    {
        var c = ExperimentConfigLoader.Load(Yaml, "a.yaml");
        Assert.Equal("vin_a", c.Name);
        Assert.Equal(7, c.Seed);
        Assert.Equal("fasterrcnn_resnet18_fpn", c.Model.Arch);
        Assert.Equal(512, c.Model.InputSize);
        Assert.Equal(14, c.Model.NumClasses);
        Assert.Equal(3, c.FasterRcnn.TrainableBackboneLayers);
        Assert.Equal(OptimizerKind.AdamW, c.Optimizer.Name);
        Assert.Equal(0.0002, c.Optimizer.Lr);
        Assert.Equal(ScheduleKind.Cosine, c.Schedule.Name);
        Assert.Equal([8, 11], c.Schedule.Milestones);
        Assert.Equal(2, c.Augment.Count);
        Assert.Equal(0.5, c.Augment[0].P);
        Assert.Equal("10", c.Augment[1].Params["limit"]);
        Assert.Equal(3, c.Train.Epochs);
        Assert.Equal(2, c.Train.BatchSize);
    }

    [Fact]
    public void Overrides_replace_values_and_create_missing_sections()
    {
        var c = ExperimentConfigLoader.Load(Yaml, "a.yaml",
            ["optimizer.lr=0.01", "train.batch_size=4", "schedule.milestones=[2, 3]", "data.fold=1", "schedule.name=multistep", "model.weights="]);
        Assert.Equal(0.01, c.Optimizer.Lr);
        Assert.Equal(4, c.Train.BatchSize);
        Assert.Equal([2, 3], c.Schedule.Milestones);
        Assert.Equal(1, c.Data.Fold);
        Assert.Equal(ScheduleKind.MultiStep, c.Schedule.Name);
        Assert.Equal("", c.Model.Weights);
    }

    [Fact]
    public void Unknown_key_names_line_and_suggests()
    {
        var e = Assert.Throws<ConfigException>(() => ExperimentConfigLoader.Load(Yaml.Replace("lr: 0.0002", "lrr: 0.0002"), "a.yaml"));
        Assert.Contains("a.yaml:15 optimizer.lrr", e.Message);
        Assert.Contains("did you mean 'lr'", e.Message);
    }

    [Fact]
    public void Bad_value_type_names_line_and_expectation()
    {
        var e = Assert.Throws<ConfigException>(() => ExperimentConfigLoader.Load(Yaml.Replace("epochs: 3", "epochs: three"), "a.yaml"));
        Assert.Contains("a.yaml:20 train.epochs", e.Message);
        Assert.Contains("whole number", e.Message);
        var enumError = Assert.Throws<ConfigException>(() => ExperimentConfigLoader.Load(Yaml, "a.yaml", ["optimizer.name=rmsprop"]));
        Assert.Contains("--set optimizer.name", enumError.Message);
        Assert.Contains("sgd, adamw", enumError.Message);
    }

    [Fact]
    public void Out_of_range_value_names_where_it_was_set()
    {
        var fromFile = Assert.Throws<ConfigException>(() => ExperimentConfigLoader.Load(Yaml.Replace("epochs: 3", "epochs: 0"), "a.yaml"));
        Assert.Contains("a.yaml:20 train.epochs", fromFile.Message);
        var fromOverride = Assert.Throws<ConfigException>(() => ExperimentConfigLoader.Load(Yaml, "a.yaml", ["optimizer.lr=-1"]));
        Assert.Contains("--set optimizer.lr", fromOverride.Message);
        var fold = Assert.Throws<ConfigException>(() => ExperimentConfigLoader.Load(Yaml, "a.yaml", ["data.fold=5"]));
        Assert.Contains("data.fold", fold.Message);
        Assert.Contains("0..4", fold.Message);
    }

    [Fact]
    public void Override_errors_are_clear()
    {
        Assert.Contains("key=value", Assert.Throws<ConfigException>(() => ExperimentConfigLoader.Load(Yaml, "a", ["optimizer.lr"])).Message);
        Assert.Contains("not a section", Assert.Throws<ConfigException>(() => ExperimentConfigLoader.Load(Yaml, "a", ["seed.x=1"])).Message);
        Assert.Contains("unknown key 'nope'", Assert.Throws<ConfigException>(() => ExperimentConfigLoader.Load(Yaml, "a", ["train.nope=1"])).Message);
    }

    [Fact]
    public void Yaml_syntax_error_names_line()
    {
        var e = Assert.Throws<ConfigException>(() => ExperimentConfigLoader.Load("name: a\nmodel: [\n", "bad.yaml"));
        Assert.StartsWith("bad.yaml:", e.Message);
    }

    [Fact]
    public void Resolved_yaml_round_trips()
    {
        var c = ExperimentConfigLoader.Load(Yaml, "a.yaml", ["optimizer.lr=0.005"]);
        var again = ExperimentConfigLoader.Load(ExperimentConfigLoader.ToYaml(c), "resolved.yaml");
        Assert.Equal(ExperimentConfigLoader.ToYaml(c), ExperimentConfigLoader.ToYaml(again));
        Assert.Equal(0.005, again.Optimizer.Lr);
        Assert.Equal(OptimizerKind.AdamW, again.Optimizer.Name);
        Assert.Equal("10", again.Augment[1].Params["limit"]);
    }

    [Fact]
    public void Shipped_experiment_configs_load()
    {
        var dir = Path.Combine(RepoRoot(), "experiments");
        var files = Directory.GetFiles(dir, "*.yaml");
        Assert.NotEmpty(files);
        foreach (var f in files) ExperimentConfigLoader.LoadFile(f);
    }

    internal static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Research.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("repository root not found above " + AppContext.BaseDirectory);
    }
}
