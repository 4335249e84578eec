using System.CommandLine;
using System.Globalization;
using CxrLab.Data;
using CxrLab.Evaluation;

namespace CxrLab.Cli.Verbs;

/// <summary>`cxr ensemble SUB.csv SUB.csv … --out FUSED.csv [--iou 0.4] [--weights 2,1] [--conf-type avg] [--skip 0]
/// [--calibrate-on H1.csv,H2.csv… --calibration-truth TRUTH.csv]`: weighted boxes fusion (ensemble-boxes' algorithm,
/// <see cref="BoxEnsemble"/>) of several models' VinBigData submissions, image by image — the VinBigData winners' last step;
/// with held-out predictions of the same models, each submission's scores are first calibrated on them
/// (<see cref="DetectionScoreCalibration"/>, as the grid's ensemble rows do). Score the result with <c>./cxr score vinbig</c>.</summary>
public static class EnsembleVerb
{
    public static Command Create()
    {
        var inputs = new Argument<string[]>("submissions") { Description = "two or more VinBigData submissions (image_id,PredictionString), original pixels", Arity = new ArgumentArity(2, 100) };
        var output = new Option<string>("--out") { Description = "fused submission to write", Required = true };
        var iou = new Option<double>("--iou") { Description = "boxes of one class overlapping more than this are fused (winners: 0.4; ensemble-boxes' default 0.55)", DefaultValueFactory = _ => 0.4 };
        var skip = new Option<double>("--skip") { Description = "drop boxes scored below this before fusing", DefaultValueFactory = _ => 0.0 };
        var weights = new Option<string?>("--weights") { Description = "one weight per submission, comma-separated (default all 1)" };
        var confType = new Option<string>("--conf-type") { Description = "avg, max, box_and_model_avg or absent_model_aware_avg", DefaultValueFactory = _ => "avg" };
        var normalP = new Option<string?>("--normal-p") { Description = "then the normal filter: image_id,p_abnormal (./cxr classifier predict); p < --normal-low → only '14 1 0 0 1 1', else scores × p and '14 (1−p) 0 0 1 1'" };
        var normalLow = new Option<double>("--normal-low") { Description = "the normal filter's threshold on P(abnormal)", DefaultValueFactory = _ => NormalFilterOptions.Default.Low };
        var calibrateOn = new Option<string?>("--calibrate-on") { Description = "one held-out submission per input, comma-separated, by the same models on images none of them trained on: each input's scores become the precision its model's boxes had at that score there (isotonic; findings pooled, No finding on its own) before fusing" };
        var calibrationTruth = new Option<string?>("--calibration-truth") { Description = "train.csv-shaped truth of the --calibrate-on images (every reader's box is truth, as ./cxr score's default)" };
        var command = new Command("ensemble", "Fuse several models' VinBigData submissions with weighted boxes fusion (WBF), optionally calibrated on held-out predictions and through the normal/abnormal filter")
            { inputs, output, iou, skip, weights, confType, calibrateOn, calibrationTruth, normalP, normalLow };
        command.SetAction(parse =>
        {
            var files = parse.GetValue(inputs)!;
            var w = parse.GetValue(weights) is { } text
                ? text.Split(',').Select(s => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v > 0 ? v
                    : throw new UsageException($"--weights: '{s}' is not a positive number")).ToList()
                : null;
            if (w is not null && w.Count != files.Length) throw new UsageException($"--weights: {w.Count} weights for {files.Length} submissions");
            var conf = parse.GetValue(confType) switch
            {
                "avg" => WbfConfidence.Avg, "max" => WbfConfidence.Max, "box_and_model_avg" => WbfConfidence.BoxAndModelAvg,
                "absent_model_aware_avg" => WbfConfidence.AbsentModelAwareAvg,
                var other => throw new UsageException($"--conf-type '{other}': use avg, max, box_and_model_avg or absent_model_aware_avg"),
            };
            var options = new WbfOptions(parse.GetValue(iou), parse.GetValue(skip), conf);
            if (options.IouThreshold is <= 0 or > 1) throw new UsageException($"--iou {options.IouThreshold}: must be in (0, 1]");
            var report = new ValidationReport();
            var ids = new List<string>();
            var models = new List<IReadOnlyList<Detection>>();
            foreach (var file in files)
            {
                if (!File.Exists(file)) throw new UsageException($"{file}: no such submission");
                var (imageIds, detections) = VinBigSubmission.Read(file, report);
                ids.AddRange(imageIds);
                models.Add(detections);
            }
            if (report.Issues.Count > 0) Console.Error.WriteLine(report.ToString(10));
            if (parse.GetValue(calibrateOn) is { } heldText)
                models = Calibrate(files, models, heldText.Split(','), parse.GetValue(calibrationTruth)
                    ?? throw new UsageException("--calibrate-on needs --calibration-truth: the truth of the held-out images (train.csv schema)"));
            else if (parse.GetValue(calibrationTruth) is not null) throw new UsageException("--calibration-truth is only read with --calibrate-on");
            var fused = BoxEnsemble.WeightedBoxesFusion(models, ids, options, w);
            var order = ids.Distinct(StringComparer.Ordinal).ToList();
            if (parse.GetValue(normalP) is { } pFile)
            {
                var low = parse.GetValue(normalLow);
                if (low is < 0 or >= 1) throw new UsageException($"--normal-low {low}: must be in [0, 1)");
                if (!File.Exists(pFile)) throw new UsageException($"--normal-p: {pFile} not found (write one with ./cxr classifier predict)");
                var p = NormalFilter.ReadProbabilities(pFile);
                var missing = order.FirstOrDefault(id => !p.ContainsKey(id));
                if (missing is not null) throw new UsageException($"--normal-p: {pFile} has no p_abnormal for image '{missing}' (it must cover every submitted image)");
                fused = NormalFilter.Apply(fused, p, order, new NormalFilterOptions(low));
                Console.WriteLine($"normal filter: {order.Count(id => p[id] < low)} of {order.Count} images below P(abnormal) {low.ToString(CultureInfo.InvariantCulture)} → No finding only");
            }
            VinBigSubmission.Write(parse.GetValue(output)!, order, fused);
            Console.WriteLine($"{files.Length} submissions, {models.Sum(m => m.Count)} boxes → {fused.Count} fused boxes on {order.Count} images (WBF at IoU {options.IouThreshold.ToString(CultureInfo.InvariantCulture)}) → {parse.GetValue(output)}");
            return 0;
        });
        return command;
    }

    /// <summary>Each input's detections with scores calibrated on its model's held-out submission against the held-out truth.</summary>
    static List<IReadOnlyList<Detection>> Calibrate(string[] files, List<IReadOnlyList<Detection>> models, string[] heldOut, string truthFile)
    {
        if (heldOut.Length != files.Length) throw new UsageException($"--calibrate-on: {heldOut.Length} held-out submissions for {files.Length} inputs (one per input, in the same order)");
        if (!File.Exists(truthFile)) throw new UsageException($"--calibration-truth: {truthFile} not found");
        var report = new ValidationReport();
        var truth = VinBigDataset.ReadTruth(truthFile, FusionOptions.None, report);
        var calibrated = new List<IReadOnlyList<Detection>>();
        for (var k = 0; k < files.Length; k++)
        {
            if (!File.Exists(heldOut[k])) throw new UsageException($"--calibrate-on: {heldOut[k]} not found");
            var (heldIds, held) = VinBigSubmission.Read(heldOut[k], report);
            var outside = heldIds.FirstOrDefault(id => !truth.Contains(id));
            if (outside is not null) throw new UsageException($"--calibrate-on: {heldOut[k]} has image '{outside}', which {truthFile} does not hold: calibrate on images with truth");
            var calibration = DetectionScoreCalibration.Fit(truth, held, [VinBigClasses.NoFinding]);
            calibrated.Add(calibration.Apply(models[k]));
            Console.WriteLine($"{files[k]}: scores calibrated on {heldOut[k]} ({held.Count} boxes on {heldIds.Count} held-out images)");
        }
        if (report.Issues.Count > 0) Console.Error.WriteLine(report.ToString(10));
        return calibrated;
    }
}
