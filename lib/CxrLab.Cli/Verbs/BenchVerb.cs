using System.CommandLine;

namespace CxrLab.Cli.Verbs;

/// <summary>`cxr bench AREA [--json]`: speed against the reference implementation measured in the same run;
/// with --json the last line is one JSON object holding both rates and their ratio.</summary>
public static class BenchVerb
{
    public static Command Create()
    {
        var command = new Command("bench", "Benchmarks against the reference implementations, measured in the same run");
        command.Subcommands.Add(BenchEngineVerb.Create());
        command.Subcommands.Add(BenchDicomVerb.Create());
        command.Subcommands.Add(BenchConvertVerb.Create());
        command.Subcommands.Add(BenchAugmentVerb.Create());
        command.Subcommands.Add(BenchTrainVerb.Create());
        command.Subcommands.Add(BenchTrainDistributedVerb.CreateWorker());
        return command;
    }
}
