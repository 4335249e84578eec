using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using CxrLab.Data;
using CxrLab.Evaluation;
using Spectre.Console;

namespace CxrLab.Cli.Verbs;

/// <summary>`cxr score vinbig|rsna --truth CSV --pred CSV [--json] [--fuse wbf|nms|none]`: the Kaggle metric
/// of a submission, a per-class table, the input validation summary; with --json the last line is one JSON
/// object (`map` and `ap` per class id for VinBigData, `score` for RSNA).</summary>
public static class ScoreVerb
{
    public static Command Create()
    {
        var command = new Command("score", "Score a Kaggle submission CSV against a truth CSV (VinBigData mAP@0.4 or the RSNA metric)");
        command.Subcommands.Add(VinBig());
        command.Subcommands.Add(Rsna());
        return command;
    }

    static Command VinBig()
    {
        var truth = new Option<FileInfo>("--truth") { Description = "train.csv-shaped truth (image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max)", Required = true };
        var pred = new Option<FileInfo>("--pred") { Description = "submission CSV (image_id,PredictionString)", Required = true };
        var json = new Option<bool>("--json") { Description = "end with one JSON line: {map, ap{class id: AP}, coco40_map, coco_map, ...}" };
        var fuse = new Option<string>("--fuse") { Description = "fuse the truth's radiologist boxes: none (every reader box is truth), wbf or nms (IoU 0.4)", DefaultValueFactory = _ => "none" };
        fuse.AcceptOnlyFromAmong("none", "wbf", "nms");
        var command = new Command("vinbig", "VinBigData: VOC mAP at IoU > 0.4 (class 14 = box 0,0,1,1), plus COCOeval@0.4 and COCO mAP@[.5:.95]") { truth, pred, json, fuse };
        command.SetAction(parse =>
        {
            var method = parse.GetValue(fuse) switch { "wbf" => FusionMethod.Wbf, "nms" => FusionMethod.Nms, _ => FusionMethod.None };
            var score = KaggleScoring.ScoreVinBig(parse.GetValue(truth)!.FullName, parse.GetValue(pred)!.FullName, new FusionOptions(method));
            var table = new Table().AddColumns("id", "class", "truth", "preds", "TP", "AP@0.4 (VOC)", "AP@0.4 (COCO)", "AP@[[.5:.95]]");
            foreach (var c in score.Voc.PerClass)
                table.AddRow(c.Label.ToString(CultureInfo.InvariantCulture), Markup.Escape(VinBigClasses.NameOf(c.Label)),
                    c.TruthCount.ToString(CultureInfo.InvariantCulture), c.DetectionCount.ToString(CultureInfo.InvariantCulture),
                    c.TruePositives.ToString(CultureInfo.InvariantCulture), F(c.Ap), F(score.Coco40.ApOf(c.Label)), F(score.Coco.ApOf(c.Label)));
            AnsiConsole.Write(table);
            PrintReports(score.TruthReport, score.PredictionReport, score.Voc.IgnoredDetections);
            AnsiConsole.MarkupLine($"[bold]mAP@0.4 (VOC, Kaggle) = {F(score.Map)}[/]   COCOeval@0.4 = {F(score.Coco40.Map)}   COCO mAP@[[.5:.95]] = {F(score.Coco.Map)}");
            if (parse.GetValue(json))
                Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
                {
                    ["map"] = score.Map,
                    ["ap"] = score.Voc.PerClass.ToDictionary(c => c.Label.ToString(CultureInfo.InvariantCulture), c => c.Ap),
                    ["coco40_map"] = score.Coco40.Map,
                    ["coco40_ap"] = score.Coco40.PerClass.ToDictionary(c => c.Label.ToString(CultureInfo.InvariantCulture), c => c.Ap),
                    ["coco_map"] = score.Coco.Map,
                    ["coco_ap"] = score.Coco.PerClass.ToDictionary(c => c.Label.ToString(CultureInfo.InvariantCulture), c => c.Ap),
                    ["fuse"] = parse.GetValue(fuse)!,
                    ["ignored_predictions"] = score.Voc.IgnoredDetections,
                    ["rejected_rows"] = score.TruthReport.Rejected + score.PredictionReport.Rejected,
                }));
            return 0;
        });
        return command;
    }

    static Command Rsna()
    {
        var truth = new Option<FileInfo>("--truth") { Description = "stage_2_train_labels.csv-shaped truth (patientId,x,y,width,height,Target)", Required = true };
        var pred = new Option<FileInfo>("--pred") { Description = "submission CSV (patientId,PredictionString)", Required = true };
        var json = new Option<bool>("--json") { Description = "end with one JSON line: {score, images, per_threshold{t: score}}" };
        var command = new Command("rsna", "RSNA Pneumonia: mean over images of TP/(TP+FP+FN) averaged over IoU 0.40..0.75") { truth, pred, json };
        command.SetAction(parse =>
        {
            var score = KaggleScoring.ScoreRsna(parse.GetValue(truth)!.FullName, parse.GetValue(pred)!.FullName);
            var table = new Table().AddColumns("IoU threshold", "mean TP/(TP+FP+FN)");
            for (var t = 0; t < RsnaMetric.Thresholds.Count; t++)
                table.AddRow(RsnaMetric.Thresholds[t].ToString("0.00", CultureInfo.InvariantCulture), F(score.Result.PerThreshold[t]));
            AnsiConsole.Write(table);
            PrintReports(score.TruthReport, score.PredictionReport, score.Result.IgnoredDetections);
            AnsiConsole.MarkupLine($"[bold]score = {F(score.Score)}[/] over {score.Result.Images.Count} images ({score.Result.SkippedImages} without truth or predictions skipped)");
            if (parse.GetValue(json))
                Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
                {
                    ["score"] = score.Score,
                    ["images"] = score.Result.Images.Count,
                    ["skipped_images"] = score.Result.SkippedImages,
                    ["per_threshold"] = RsnaMetric.Thresholds.Select((t, i) => (t, i)).ToDictionary(x => x.t.ToString("0.00", CultureInfo.InvariantCulture), x => score.Result.PerThreshold[x.i]),
                    ["ignored_predictions"] = score.Result.IgnoredDetections,
                    ["rejected_rows"] = score.TruthReport.Rejected + score.PredictionReport.Rejected,
                }));
            return 0;
        });
        return command;
    }

    static void PrintReports(ValidationReport truth, ValidationReport pred, int ignored)
    {
        AnsiConsole.MarkupLine($"[grey]truth: {Markup.Escape(truth.Summary())}[/]");
        foreach (var issue in truth.Issues.Take(10)) AnsiConsole.MarkupLine($"[yellow]  {Markup.Escape(issue.ToString())}[/]");
        AnsiConsole.MarkupLine($"[grey]predictions: {Markup.Escape(pred.Summary())}; {ignored} predictions on images outside the truth ignored[/]");
        foreach (var issue in pred.Issues.Take(10)) AnsiConsole.MarkupLine($"[yellow]  {Markup.Escape(issue.ToString())}[/]");
    }

    static string F(double v) => double.IsNaN(v) ? "-" : v.ToString("0.0000", CultureInfo.InvariantCulture);
}
