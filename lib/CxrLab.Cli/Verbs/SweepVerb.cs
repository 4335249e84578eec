using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using CxrLab.Experiments;
using CxrLab.Imaging;
using CxrLab.Tasks;
using CxrLab.Training;
using Spectre.Console;

namespace CxrLab.Cli.Verbs;

/// <summary>`cxr sweep CONFIG --weights W [--conf 0.5,0.7,...] [--nms 0.1,0.3,...] [--json FILE]`: a trained model's
/// validation score (the task's metric: RSNA mAP, VinBigData mAP@0.4) over a detection confidence × NMS IoU grid, on the
/// config's validation split, the network run once (<see cref="ThresholdSweep"/>). The last line is one JSON object with
/// the best cell; <c>--json</c> writes the whole grid.</summary>
public static class SweepVerb
{
    public static Command Create()
    {
        var config = new Argument<string>("config") { Description = "Experiment YAML the model was trained with (data, fold, arch, family options)" };
        var weights = new Option<string>("--weights") { Description = "The model: our checkpoint (RUN/checkpoints/best.ckpt), safetensors, or a reference .pth", Required = true };
        var conf = new Option<string?>("--conf") { Description = $"Confidence thresholds, comma-separated (default {string.Join(",", ThresholdSweep.DefaultConfidences.Select(F))})" };
        var nms = new Option<string?>("--nms") { Description = $"NMS IoU thresholds, comma-separated (default {string.Join(",", ThresholdSweep.DefaultNms.Select(F))})" };
        var batch = new Option<int?>("--batch-size") { Description = "Images per network pass (default: the config's train.batch_size)" };
        var json = new Option<string?>("--json") { Description = "Write the grid here as JSON ({metric, confidences, nms, scores[conf][nms], detections[conf][nms], best})" };
        var set = new Option<string[]>("--set") { Description = "Override a config value, e.g. --set data.root=data/rsna (repeatable)" };
        var command = new Command("sweep", "Sweep detection confidence × NMS IoU on the validation split and print the task's score grid")
            { config, weights, conf, nms, batch, json, set };
        command.SetAction(parse =>
        {
            var confidences = Parse(parse.GetValue(conf), "--conf", ThresholdSweep.DefaultConfidences, c => c is >= 0 and <= 1, "[0, 1]");
            var nmsValues = Parse(parse.GetValue(nms), "--nms", ThresholdSweep.DefaultNms, n => n is > 0 and <= 1, "(0, 1]");
            var weightsPath = parse.GetValue(weights)!;
            if (!File.Exists(weightsPath)) throw new UsageException($"--weights: {weightsPath} not found");
            var cfg = ExperimentConfigLoader.LoadFile(parse.GetValue(config)!, parse.GetValue(set) ?? []);
            var batchSize = parse.GetValue(batch) ?? cfg.Train.BatchSize;
            if (batchSize < 1) throw new UsageException("--batch-size must be ≥ 1");
            // Evaluate with fixed statistics, as predict does: a BatchNorm-trained checkpoint loads into FrozenBatchNorm2d
            // key for key and computes the same in evaluation.
            cfg.Model.Weights = "";
            cfg.Model.NormLayer = "frozen";
            void Say(string msg) => AnsiConsole.MarkupLine(Markup.Escape(msg));
            var data = ExperimentRunner.Data(cfg, Say);
            using var model = ExperimentRunner.BuildModel(cfg, Say);
            model.LoadWeights(weightsPath);
            Say($"{cfg.Model.Arch} from {weightsPath}; {data.Validation.Count} validation images; {confidences.Count} × {nmsValues.Count} thresholds, {data.Metric.Name}");
            var grid = ThresholdSweep.Run(model, data.Validation, data.Metric, confidences, nmsValues, batchSize);
            AnsiConsole.WriteLine(grid.ToTable().TrimEnd());
            var best = grid.Best;
            Say($"best: confidence {F(best.Confidence)}, NMS {F(best.Nms)} → {data.Metric.Name} {best.Score:0.0000} ({best.Detections} detections); " +
                $"use them with ./cxr predict --conf {F(best.Confidence)} --nms {F(best.Nms)}");
            var bestJson = new JsonObject { ["confidence"] = best.Confidence, ["nms"] = best.Nms, ["score"] = Math.Round(best.Score, 6), ["detections"] = best.Detections };
            if (parse.GetValue(json) is { } jsonPath)
            {
                var doc = new JsonObject
                {
                    ["metric"] = data.Metric.Name,
                    ["images"] = data.Validation.Count,
                    ["confidences"] = new JsonArray(confidences.Select(c => (JsonNode)c).ToArray()),
                    ["nms"] = new JsonArray(nmsValues.Select(n => (JsonNode)n).ToArray()),
                    ["scores"] = new JsonArray(grid.Scores.Select(row => (JsonNode)new JsonArray(row.Select(v => (JsonNode)v).ToArray())).ToArray()),
                    ["detections"] = new JsonArray(Enumerable.Range(0, confidences.Count).Select(i =>
                        (JsonNode)new JsonArray(Enumerable.Range(0, nmsValues.Count).Select(j => (JsonNode)grid[i, j].Detections).ToArray())).ToArray()),
                    ["best"] = bestJson.DeepClone(),
                };
                ImageCodecs.WriteAtomically(jsonPath, System.Text.Encoding.UTF8.GetBytes(doc.ToJsonString()));
            }
            Console.WriteLine(new JsonObject { ["metric"] = data.Metric.Name, ["best"] = bestJson, ["grid"] = parse.GetValue(json) }.ToJsonString());
            return 0;
        });
        return command;
    }

    static string F(double v) => v.ToString("0.###", CultureInfo.InvariantCulture);

    /// <summary>A comma-separated list of thresholds, each checked against its range; the default when not given.</summary>
    static List<double> Parse(string? text, string flag, IReadOnlyList<double> fallback, Func<double, bool> valid, string range)
    {
        if (text is null) return fallback.ToList();
        var values = new List<double>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!double.TryParse(part, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !valid(v))
                throw new UsageException($"{flag}: '{part}' is not a number in {range} (give a comma-separated list, e.g. {flag} {string.Join(",", fallback.Take(3).Select(F))})");
            values.Add(v);
        }
        if (values.Count == 0) throw new UsageException($"{flag}: no thresholds given");
        return values;
    }
}
