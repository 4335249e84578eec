using System.CommandLine;
using System.Text.Json;
using CxrLab.Diagnostics;
using Spectre.Console;

namespace CxrLab.Cli.Verbs;

/// <summary>`cxr doctor`: one line per component (versions, BLAS and its GEMM rate, threads, CUDA).</summary>
public static class DoctorVerb
{
    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "print one JSON object instead of the table" };
        var command = new Command("doctor", "Check the environment: .NET, libtorch, BLAS speed, threads, OpenCV, GDCM, ZeroMQ, CUDA") { json };
        command.SetAction(parse =>
        {
            var report = EnvironmentReport.Collect();
            if (parse.GetValue(json)) Console.WriteLine(ToJson(report));
            else Print(report);
            return report.Healthy ? 0 : 1;
        });
        return command;
    }

    public static void Print(EnvironmentReport report)
    {
        var width = report.Checks.Max(c => c.Name.Length);
        foreach (var check in report.Checks)
        {
            var tag = check.Status switch
            {
                CheckStatus.Ok => "[green]ok  [/]",
                CheckStatus.Warn => "[yellow]warn[/]",
                _ => "[red]FAIL[/]",
            };
            AnsiConsole.MarkupLine($"{tag}  {Markup.Escape(check.Name.PadRight(width))}  {Markup.Escape(check.Value)}");
            if (check.Advice is not null) AnsiConsole.MarkupLine($"      {new string(' ', width)}  [grey]{Markup.Escape(check.Advice)}[/]");
        }
    }

    public static string ToJson(EnvironmentReport report)
    {
        var document = new Dictionary<string, object?>(report.Facts)
        {
            ["healthy"] = report.Healthy,
            ["checks"] = report.Checks.Select(c => new Dictionary<string, object?>
            {
                ["name"] = c.Name,
                ["value"] = c.Value,
                ["status"] = c.Status.ToString().ToLowerInvariant(),
                ["advice"] = c.Advice,
            }).ToList(),
        };
        return JsonSerializer.Serialize(document);
    }
}
