using CxrLab.Data;
using YamlDotNet.RepresentationModel;

namespace CxrLab.Augment.Categories;

/// <summary>One image made from every source image: its id suffix (empty = the source id) and its pipeline.
/// With <see cref="WhenClasses"/>, only sources holding one of those classes get this output.</summary>
public sealed record CategoryOutput(string Suffix, Pipeline Pipeline, IReadOnlyList<int>? WhenClasses = null);

/// <summary>An offline dataset "category" (the seeds' A–D): which source images, and which outputs each makes.
/// YAML keys: name, seed, source (abnormal | all), fusion (none | wbf | nms | one: how the radiologists' boxes are
/// combined when the dataset is loaded; default none = every reader's box, as the seed did, with rad_id kept),
/// bits (8 | 16, PNG depth written), box_policy, outputs (list of {suffix, pipeline, when_classes}).</summary>
public sealed record CategoryConfig(string Name, ulong Seed, bool AbnormalOnly, int Bits, BoxPolicy Policy, IReadOnlyList<CategoryOutput> Outputs,
    FusionMethod Fusion = FusionMethod.None)
{
    public static CategoryConfig Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"category config not found: {path}", path);
        return Parse(File.ReadAllText(path), path);
    }

    public static CategoryConfig Parse(string yaml, string src = "<yaml>")
    {
        var root = PipelineYaml.ReadRoot(yaml, src) as YamlMappingNode ?? throw new FormatException($"{src}: a category config is a mapping");
        var a = new PipelineYaml.Args(root, src, "category");
        var name = a.Text("name");
        var seed = (ulong)a.Int("seed", 0);
        var source = a.Text("source", "abnormal");
        if (source is not ("abnormal" or "all")) throw PipelineYaml.Error(src, a.Node("source"), "source must be 'abnormal' or 'all'");
        var fusion = a.Text("fusion", "none") switch
        {
            "none" => FusionMethod.None,
            "wbf" => FusionMethod.Wbf,
            "nms" => FusionMethod.Nms,
            "one" => FusionMethod.KeepOneReader,
            var other => throw PipelineYaml.Error(src, a.Node("fusion"), $"fusion '{other}' must be none, wbf, nms or one"),
        };
        var bits = a.Int("bits", 16);
        if (bits is not (8 or 16)) throw PipelineYaml.Error(src, a.Node("bits"), "bits must be 8 or 16");
        var policy = a.Has("box_policy") ? PipelineYaml.Policy(a.Node("box_policy"), src) : BoxPolicy.Default;
        if (a.Node("outputs") is not YamlSequenceNode list || list.Children.Count == 0)
            throw PipelineYaml.Error(src, a.Node("outputs"), "outputs must be a non-empty list of {suffix, pipeline}");
        var outputs = new List<CategoryOutput>();
        foreach (var item in list.Children)
        {
            var o = new PipelineYaml.Args(item as YamlMappingNode ?? throw PipelineYaml.Error(src, item, "an output is a mapping {suffix, pipeline, when_classes}"), src, "output");
            var suffix = o.Text("suffix", "");
            if (suffix.Any(c => !(char.IsLetterOrDigit(c) || c is '_' or '-')))
                throw PipelineYaml.Error(src, o.Node("suffix"), $"suffix '{suffix}' may hold letters, digits, '_' and '-' only (it becomes part of file names)");
            if (outputs.Any(x => x.Suffix == suffix)) throw PipelineYaml.Error(src, item, $"duplicate suffix '{suffix}': image ids must stay unique");
            var pipelineNode = o.Has("pipeline") ? o.Node("pipeline") : null;
            ITransform steps = pipelineNode is null or YamlSequenceNode { Children.Count: 0 } ? new Identity() : PipelineYaml.Steps(pipelineNode, src);
            outputs.Add(new CategoryOutput(suffix, new Pipeline(steps, policy), o.Has("when_classes") ? o.Ints("when_classes") : null));
            o.RejectUnknown();
        }
        a.RejectUnknown();
        return new CategoryConfig(name, seed, source == "abnormal", bits, policy, outputs, fusion);
    }
}
