using System.Globalization;
using System.Text;
using CxrLab.Augment;

namespace CxrLab.Training;

/// <summary>Maps a config's <c>augment:</c> steps onto the augmentation library: each step becomes
/// <c>sometimes: {p, then: name: {params}}</c> in <see cref="PipelineYaml"/>'s language. Config shorthands:
/// <c>zoom {limit: L}</c> → factor [1−L, 1+L]; <c>rotate {limit: D}</c> → degrees [−D, D];
/// <c>rotate90</c> without k → a random quarter turn either way; <c>clahe {tile_grid}</c> → tiles.
/// Other parameters pass through under their own names.</summary>
public static class AugmentMapping
{
    public static Pipeline? Build(IReadOnlyList<AugmentStepConfig> steps)
    {
        if (steps.Count == 0) return null;
        var yaml = new StringBuilder();
        foreach (var step in steps)
        {
            var (name, args) = Translate(step);
            var body = args.Count == 0 ? name : $"{{{name}: {{{string.Join(", ", args.Select(kv => $"{kv.Key}: {kv.Value}"))}}}}}";
            yaml.Append(step.P >= 1 ? $"- {body}\n" : $"- sometimes: {{p: {step.P.ToString(CultureInfo.InvariantCulture)}, then: {body}}}\n");
        }
        try { return PipelineYaml.Parse(yaml.ToString(), "config augment"); }
        catch (FormatException e) { throw new ArgumentException($"augment: {e.Message} (generated steps:\n{yaml})", e); }
    }

    static (string Name, Dictionary<string, string> Args) Translate(AugmentStepConfig step)
    {
        if (step.Name.Length == 0) throw new ArgumentException("augment: a step has no name");
        var args = new Dictionary<string, string>(step.Params);
        string Take(string key) { var v = args[key]; args.Remove(key); return v; }
        double Num(string text) => double.Parse(text, CultureInfo.InvariantCulture);
        string F(double v) => v.ToString("0.######", CultureInfo.InvariantCulture);
        switch (step.Name)
        {
            case "zoom" when args.ContainsKey("limit"):
                var l = Num(Take("limit"));
                args["factor"] = $"[{F(1 - l)}, {F(1 + l)}]";
                break;
            case "rotate" when args.ContainsKey("limit"):
                var d = Num(Take("limit"));
                args["degrees"] = $"[{F(-d)}, {F(d)}]";
                break;
            case "rotate90" when !args.ContainsKey("k"):
                args["k"] = "[1, 3]";
                break;
            case "clahe" when args.ContainsKey("tile_grid"):
                args["tiles"] = Take("tile_grid");
                break;
        }
        return (step.Name, args);
    }
}

