using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using CxrLab.Models;
using CxrLab.Torch;
using Spectre.Console;

namespace CxrLab.Cli.Verbs;

/// <summary>`cxr models [--num-classes K] [--json]`: the model zoo — every arch name the other verbs accept, its family,
/// parameter count for K task classes (built as the zoo builds it: random init, the family's normalisation rule), label
/// space, default input size, the implementation it reproduces and the checkpoint layouts that load.</summary>
public static class ModelsVerb
{
    public static Command Create()
    {
        var numClasses = new Option<int>("--num-classes") { Description = "Task classes to count parameters for (VinBigData 14, RSNA 1)", DefaultValueFactory = _ => 14 };
        var json = new Option<bool>("--json") { Description = "A JSON list of {arch, family, params, ...} instead of the table" };
        var command = new Command("models", "The model zoo: arch names, families, parameter counts, input sizes, references") { numClasses, json };
        command.SetAction(parse =>
        {
            var k = parse.GetValue(numClasses);
            if (k < 1) throw new UsageException("--num-classes must be ≥ 1 (task classes, background not counted)");
            var rows = DetectorZoo.Entries.Select(e => Describe(e, k)).ToList();
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(rows, new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower }));
                return 0;
            }
            // Piped output has no terminal width: keep rows on one line so the table can be grepped.
            if (Console.IsOutputRedirected) { AnsiConsole.Profile.Width = 160; AnsiConsole.Profile.Capabilities.Ansi = false; }
            var table = new Table().AddColumns("arch", "family", "params", "label space", "input", "reference");
            foreach (var r in rows)
                table.AddRow(Markup.Escape(r.Arch), r.Family, r.Params.ToString("N0", CultureInfo.InvariantCulture), Markup.Escape(r.LabelSpace),
                    r.InputSize.ToString(CultureInfo.InvariantCulture), Markup.Escape(r.Reference));
            AnsiConsole.Write(table);
            AnsiConsole.MarkupLine($"parameters for {k} task classes; build any of them with [bold]--arch[/] (predict, bench train, demo) or model.arch in a config; [bold]--json[/] adds the checkpoint layouts each one loads");
            return 0;
        });
        return command;
    }

    /// <summary>One zoo row as printed.</summary>
    public sealed record ZooRow(string Arch, string Family, long Params, string LabelSpace, int InputSize, string Reference, string CheckpointLayouts);

    /// <summary>Builds the arch once (no gradients, freed at once) to count what the reference counts: every parameter,
    /// trainable or not (<c>sum(p.numel() for p in model.parameters())</c>).</summary>
    public static ZooRow Describe(ZooEntry entry, int numClasses)
    {
        using var scope = torch.NewDisposeScope();
        using var model = DetectorZoo.Create(new DetectorSpec(entry.Arch, numClasses));
        var count = model.Module.parameters().Sum(p => p.numel());
        return new ZooRow(entry.Arch, entry.Family, count, model.LabelSpace.ToString(), model.Preprocessing.InputSize, entry.Reference, entry.CheckpointLayouts);
    }
}
