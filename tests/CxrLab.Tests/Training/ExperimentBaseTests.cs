using CxrLab.Experiments;
using CxrLab.Training;

namespace CxrLab.Tests.Training;

/// <summary><c>base:</c> includes (what the A–D configs share lives once) and the shipped experiment files.</summary>
[Collection(TorchRngCollection.Name)]
public sealed class ExperimentBaseTests : IDisposable
{
    readonly string temp = Directory.CreateTempSubdirectory("cxr-base-").FullName;

    public void Dispose() => Directory.Delete(temp, recursive: true);

    string Write(string name, string yaml)
    {
        var path = Path.Combine(temp, name);
        File.WriteAllText(path, yaml);
        return path;
    }

    [Fact]
    public void A_file_overrides_its_base_section_by_section_and_bases_chain()
    {
        Write("root.yaml", "seed: 5\nmodel: {arch: fasterrcnn_resnet18_fpn, input_size: 320}\noptimizer: {lr: 0.1, momentum: 0.8}\n");
        Write("mid.yaml", "base: root.yaml\noptimizer: {lr: 0.2}\nfaster_rcnn: {fpn_channels: 64}\n");
        var c = ExperimentConfigLoader.LoadFile(Write("leaf.yaml", "base: mid.yaml\nname: leaf\nmodel: {input_size: 256}\n"), ["optimizer.momentum=0.7"]);
        Assert.Equal("leaf", c.Name);
        Assert.Equal(5, c.Seed);                                    // from the root
        Assert.Equal("fasterrcnn_resnet18_fpn", c.Model.Arch);      // kept beside an overridden sibling key
        Assert.Equal(256, c.Model.InputSize);                       // the leaf wins
        Assert.Equal(0.2, c.Optimizer.Lr);                          // the middle wins over the root
        Assert.Equal(0.7, c.Optimizer.Momentum);                    // --set wins over everything
        Assert.Equal(64, c.FasterRcnn.FpnChannels);
    }

    [Fact]
    public void Errors_in_a_base_name_the_base_file_and_line_and_cycles_and_missing_bases_are_refused()
    {
        Write("bad_base.yaml", "seed: 1\nfaster_rcnn:\n  fpn_chanels: 8\n");
        var e = Assert.Throws<ConfigException>(() => ExperimentConfigLoader.LoadFile(Write("a.yaml", "base: bad_base.yaml\nname: a\n")));
        Assert.Contains("bad_base.yaml:3 faster_rcnn.fpn_chanels", e.Message);
        Assert.Contains("did you mean 'fpn_channels'", e.Message);

        Write("x.yaml", "base: y.yaml\n");
        Write("y.yaml", "base: x.yaml\n");
        Assert.Contains("includes itself", Assert.Throws<ConfigException>(() => ExperimentConfigLoader.LoadFile(Path.Combine(temp, "x.yaml"))).Message);
        Assert.Contains("nowhere.yaml not found", Assert.Throws<ConfigException>(() => ExperimentConfigLoader.LoadFile(Write("m.yaml", "base: nowhere.yaml\n"))).Message);
    }

    [Fact]
    public void Unknown_arch_and_a_class_count_that_does_not_fit_the_dataset_are_config_errors()
    {
        var arch = Assert.Throws<ConfigException>(() => ExperimentConfigLoader.Load("model: {arch: fasterrcnn_resnet51_fpn}\n", "c.yaml"));
        Assert.Contains("c.yaml:1 model.arch", arch.Message);
        Assert.Contains("did you mean 'fasterrcnn_resnet50_fpn'", arch.Message);
        var classes = ExperimentConfigLoader.Load("model: {num_classes: 15}\ndata: {dataset: vinbigdata}\n", "d.yaml");
        var e = Assert.Throws<ConfigException>(() => ExperimentRunner.Data(classes));
        Assert.Contains("model.num_classes is 15", e.Message);
        Assert.Contains("14 classes", e.Message);
    }

    public static TheoryData<string> ShippedConfigs() =>
        [.. Directory.GetFiles(Path.Combine(ExperimentConfigTests.RepoRoot(), "experiments"), "*.yaml").Select(f => Path.GetFileName(f)).Order()];

    [Theory, MemberData(nameof(ShippedConfigs))]
    public void Every_shipped_experiment_builds_its_model_for_its_dataset(string file)
    {
        var c = ExperimentConfigLoader.LoadFile(Path.Combine(ExperimentConfigTests.RepoRoot(), "experiments", file));
        using var model = ExperimentRunner.BuildModel(c);
        Assert.Equal(c.Model.NumClasses, model.NumClasses);
        Assert.Equal(c.Model.Arch, model.Arch);
        var task = CxrLab.Tasks.DetectionTasks.Find(c.Data.Dataset);
        Assert.Equal(task.ClassNames.Count, model.NumClasses);
        // The metric's class names start with the model's; VinBigData's Kaggle metric adds "No finding" (14).
        Assert.Equal(task.ClassNames, task.MetricClassNames.Take(task.ClassNames.Count));
        if (task.Name == "vinbigdata") Assert.Equal("No finding", task.MetricClassNames[14]);
    }
}
