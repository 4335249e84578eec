using CxrLab.Data;
using CxrLab.Evaluation;
using CxrLab.Imaging;
using CxrLab.Training;

namespace CxrLab.Tests.Training;

public sealed class RunReportTests : IDisposable
{
    readonly string temp = Directory.CreateTempSubdirectory("cxr-report-").FullName;

    public void Dispose() => Directory.Delete(temp, recursive: true);

    [Fact]
    public void Report_holds_summary_curves_per_class_ap_and_example_pngs_of_truth_and_predictions()
    {
        // A real MapResult: one class found, one missed.
        var truth = new TruthSet(["a", "b"], [new TruthBox("a", 0, new Box(10, 10, 30, 30)), new TruthBox("b", 3, new Box(5, 5, 40, 40))]);
        var result = VocEvaluator.Evaluate(truth, [new Detection("a", 0, 0.9f, new Box(11, 10, 30, 31)), new Detection("b", 0, 0.8f, new Box(5, 5, 40, 40))]);
        var image = new Image(48, 48);
        var example = new ReportExample("a", image, new Target(48, 48, [new Box(10, 10, 30, 30)], [0]), [new Box(11, 10, 30, 31)], [0], [0.9f]);
        var rows = new List<IReadOnlyDictionary<string, double>>
        {
            new Dictionary<string, double> { ["epoch"] = 0, ["loss"] = 2.0, ["val_map40"] = 0.1 },
            new Dictionary<string, double> { ["epoch"] = 1, ["loss"] = 1.0, ["val_map40"] = 0.5 },
        };
        var path = Path.Combine(temp, "report.html");
        var pngs = RunReport.Write(path, "test run", [("val mAP@0.4", "0.5")], rows, result, VinBigClasses.Names, [example]);

        var html = File.ReadAllText(path);
        Assert.Contains("val mAP@0.4", html);
        Assert.Contains("Validation (Kaggle mAP@0.4)", html);
        Assert.Contains(VinBigClasses.Names[3], html);                         // the missed class is listed with AP 0
        Assert.Contains("<td>1.000</td>", html);                                 // and the found one with AP 1
        Assert.Contains("data:image/png;base64,", html);
        var png = Assert.Single(pngs);
        var decoded = ImageCodecs.Read(png).ToImage();
        Assert.Equal((48, 48), (decoded.Width, decoded.Height));
    }

    [Fact]
    public void Run_folder_gets_standalone_learning_curve_and_per_class_ap_plots()
    {
        var truth = new TruthSet(["a"], [new TruthBox("a", 2, new Box(10, 10, 30, 30))]);
        var result = VocEvaluator.Evaluate(truth, [new Detection("a", 2, 0.9f, new Box(10, 10, 30, 30))]);
        var rows = new List<IReadOnlyDictionary<string, double>>
        {
            new Dictionary<string, double> { ["epoch"] = 0, ["loss_classifier"] = 2.0, ["val_map40"] = 0.25 },
            new Dictionary<string, double> { ["epoch"] = 1, ["loss_classifier"] = 1.0, ["val_map40"] = 0.75 },
        };
        var files = RunReport.WritePlots(temp, rows, result, VinBigClasses.Names);
        Assert.Equal(["learning_curves.html", "per_class_ap.html", "validation_curve.html"], files.Select(Path.GetFileName).Order());
        var curves = File.ReadAllText(Path.Combine(temp, "learning_curves.html"));
        Assert.Contains("loss_classifier", curves);
        Assert.Contains("<script", curves);                                  // plotly.js embedded: opens offline
        Assert.Contains("0.75", File.ReadAllText(Path.Combine(temp, "validation_curve.html")));
        Assert.Contains(VinBigClasses.Names[2], File.ReadAllText(Path.Combine(temp, "per_class_ap.html")));
        // Without a result (no VinBigData metric) only the curves are written.
        var other = Directory.CreateDirectory(Path.Combine(temp, "other")).FullName;
        Assert.Equal(2, RunReport.WritePlots(other, rows, null, VinBigClasses.Names).Count);
    }
}
