using System.CommandLine;
using CxrLab.Diagnostics;
using Spectre.Console;

namespace CxrLab.Cli.Verbs;

/// <summary>`cxr demo`: the end-to-end tour. Until the pipeline stages land it checks the environment
/// and says what the full demo will run.</summary>
public static class DemoVerb
{
    public static Command Create()
    {
        var command = new Command("demo", "Run the phantom-data tour (today: environment check and the plan of the full pipeline)");
        command.SetAction(_ =>
        {
            AnsiConsole.MarkupLine("[bold]CXR Lab demo[/]");
            AnsiConsole.WriteLine();
            var report = EnvironmentReport.Collect();
            DoctorVerb.Print(report);
            AnsiConsole.WriteLine();
            AnsiConsole.MarkupLine("[bold]What the full demo runs[/] (stages arrive with the open issues; none is faked here):");
            string[] stages =
            [
                "generate a phantom VinBigData set in the Kaggle layout (real DICOM through GDCM)",
                "convert DICOM → 16-bit PNG cache (VOI LUT / window, MONOCHROME1 inverted)",
                "fuse the three radiologists' boxes (weighted boxes fusion) and split by image",
                "train a small Faster R-CNN for a few epochs on CPU",
                "score with the Kaggle metric (mAP@0.4) and write a submission CSV and an HTML report",
            ];
            for (var i = 0; i < stages.Length; i++) AnsiConsole.MarkupLine($"  {i + 1}. {Markup.Escape(stages[i])}");
            AnsiConsole.WriteLine();
            AnsiConsole.MarkupLine("Status: the environment and native engine work; the stages above are not built yet (see README).");
            return report.Healthy ? 0 : 1;
        });
        return command;
    }
}
