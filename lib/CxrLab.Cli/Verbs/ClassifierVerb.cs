using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using CxrLab.Evaluation;
using CxrLab.Experiments;
using CxrLab.Models.Classification;
using CxrLab.Training;
using Spectre.Console;

namespace CxrLab.Cli.Verbs;

/// <summary>`cxr classifier train CONFIG [--set classifier.epochs=8 …] [--resume]`: the normal/abnormal image classifier of the
/// VinBigData winners' "2-class filter" on the experiment's fold (every training image, normal ones too), logging validation
/// AUC and accuracy; `cxr classifier predict --weights CKPT --images DIR --out p.csv`: P(abnormal) per image, the file
/// `./cxr ensemble --normal-p` reads (`./cxr predict --normal-filter CKPT` runs the classifier itself).</summary>
public static class ClassifierVerb
{
    public static Command Create()
    {
        var config = new Argument<string>("config") { Description = "experiment YAML: its data:, seed and output.runs_dir, and the classifier: section (arch, input_size, epochs, batch_size, lr, weight_decay, flip_prob, filter_low)" };
        var set = new Option<string[]>("--set") { Description = "override a config value: --set classifier.epochs=8 (repeatable)", AllowMultipleArgumentsPerToken = false };
        var resume = new Option<bool>("--resume") { Description = "continue the newest classifier run of this config (exactly, from its last.ckpt)" };
        var train = new Command("train", "Train the normal/abnormal classifier (BCE; validation AUC and accuracy each epoch; resumable). Run: {runs_dir}/{name}_classifier/{stamp}/") { config, set, resume };
        train.SetAction(parse => Train(parse.GetValue(config)!, parse.GetValue(set) ?? [], parse.GetValue(resume)));

        var weights = new Option<string>("--weights") { Description = "a classifier checkpoint (best.ckpt of ./cxr classifier train)", Required = true };
        var images = new Option<string>("--images") { Description = "a PNG or DICOM file, or a folder of them", Required = true };
        var output = new Option<string>("--out") { Description = "CSV to write: image_id,p_abnormal (image_id = file name without extension)", Required = true };
        var predict = new Command("predict", "P(abnormal) of each image with a trained classifier, as image_id,p_abnormal") { weights, images, output };
        predict.SetAction(parse =>
        {
            var files = ImageFiles(parse.GetValue(images)!);
            using var model = LoadClassifier(parse.GetValue(weights)!);
            var p = Probabilities(model, files);
            NormalFilter.WriteProbabilities(parse.GetValue(output)!, p);
            Console.WriteLine($"{files.Count} images, {p.Count(kv => kv.Value >= 0.5)} with P(abnormal) ≥ 0.5 → {parse.GetValue(output)}");
            return 0;
        });
        return new Command("classifier", "The normal/abnormal image classifier (the winners' 2-class filter): train, predict") { train, predict };
    }

    static int Train(string path, string[] overrides, bool resume)
    {
        var cfg = ExperimentConfigLoader.LoadFile(path, overrides);
        if (!cfg.Name.EndsWith("_classifier", StringComparison.Ordinal)) cfg.Name += "_classifier";
        void Say(string msg) => AnsiConsole.MarkupLine(Markup.Escape(msg));
        using var cts = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cts.Cancel(); };
        Console.CancelKeyPress += onCancel;
        using var onTerminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context => { context.Cancel = true; cts.Cancel(); });
        try
        {
            var result = ClassifierRunner.Train(cfg, resume, Say, trainer => trainer.EpochDone += e =>
                Say(string.Create(CultureInfo.InvariantCulture,
                    $"epoch {e.Epoch + 1}/{e.Epochs}: loss {e.Loss:0.0000}, val_loss {e.ValLoss:0.0000}, val_auc {e.ValAuc:0.0000}, val_accuracy {e.ValAccuracy:0.000} ({e.Seconds:0.0} s, lr {e.Lr:0.#####})")), cts.Token);
            if (result is null)
            {
                AnsiConsole.MarkupLine($"[yellow]interrupted[/]; state saved. Continue with: ./cxr classifier train {Markup.Escape(path)} --resume");
                return 130;
            }
            Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(new
            {
                val_auc = result.ValAuc, val_accuracy = result.ValAccuracy, checkpoint = result.Checkpoint, probabilities = result.Probabilities, wall_seconds = result.WallSeconds,
            }));
            return 0;
        }
        finally { Console.CancelKeyPress -= onCancel; }
    }

    /// <summary>A classifier checkpoint, or a usage error naming the flag.</summary>
    public static NormalAbnormalClassifier LoadClassifier(string path)
    {
        if (!File.Exists(path)) throw new UsageException($"--weights/--normal-filter: {path} not found (the best.ckpt of ./cxr classifier train)");
        try { return NormalAbnormalClassifier.Load(path); }
        catch (Torch.Serialization.CheckpointException e) { throw new UsageException(e.Message); }
    }

    /// <summary>P(abnormal) per file (id = file name without extension), in file order.</summary>
    public static List<KeyValuePair<string, double>> Probabilities(NormalAbnormalClassifier model, IReadOnlyList<string> files)
    {
        var p = ClassifierTrainer.Predict(model, files.Select(f => (Func<Imaging.Image>)(() => PredictVerb.ReadImage(f))).ToList(), batchSize: 8);
        return files.Select((f, k) => KeyValuePair.Create(Path.GetFileNameWithoutExtension(f), (double)p[k])).ToList();
    }

    static List<string> ImageFiles(string input)
    {
        var files = Directory.Exists(input)
            ? Directory.GetFiles(input).Where(f => f.EndsWith(".png", StringComparison.OrdinalIgnoreCase) || PredictVerb.IsDicom(f)).Order(StringComparer.Ordinal).ToList()
            : File.Exists(input) ? [input] : throw new UsageException($"--images: {input} is neither a file nor a folder");
        if (files.Count == 0) throw new UsageException($"--images: no .png, .dcm or .dicom images in {input}");
        return files;
    }
}
