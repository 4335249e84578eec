using System.Diagnostics;
using System.Text.Json.Nodes;
using Spectre.Console;

namespace CxrLab.Cli.Verbs;

/// <summary>What every demo prints the same way: numbered stage lines, notes under them, the seconds each phase took
/// (for the JSON line: where the demo's minutes go on a given machine) and the closing "done" line.</summary>
sealed class DemoProgress
{
    readonly Stopwatch wall = Stopwatch.StartNew();
    readonly Stopwatch phaseClock = Stopwatch.StartNew();

    /// <summary>Seconds per finished phase, in order.</summary>
    public JsonObject Phases { get; } = new();

    public double WallSeconds => Math.Round(wall.Elapsed.TotalSeconds, 1);

    public void EndPhase(string name)
    {
        Phases[name] = Math.Round(phaseClock.Elapsed.TotalSeconds, 1);
        phaseClock.Restart();
    }

    public void Done() =>
        AnsiConsole.MarkupLine($"[green]done[/] in {wall.Elapsed.TotalMinutes:0.0} min ({string.Join(", ", Phases.Select(kv => $"{kv.Key} {kv.Value} s"))})");

    public static void Stage(int n, string text) => AnsiConsole.MarkupLine($"[bold blue]{n}/6[/] {Markup.Escape(text)}");
    public static void Note(string text) => AnsiConsole.MarkupLine("    " + Markup.Escape(text));
}
