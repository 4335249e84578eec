using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using CxrLab.Imaging;
using CxrLab.Models.FasterRcnn;
using CxrLab.Torch;
using CxrLab.Training;
using Spectre.Console;

namespace CxrLab.Cli.Verbs;

/// <summary>`cxr predict`: detections for PNG images (8/16-bit) or DICOM files (display stage) with a trained or torchvision model,
/// as JSON (model labels, input pixels) and/or a Kaggle VinBigData submission CSV.</summary>
public static class PredictVerb
{
    public static Command Create()
    {
        var config = new Option<string?>("--config") { Description = "Experiment YAML (architecture, classes, sizes)" };
        var arch = new Option<string?>("--arch") { Description = "Architecture, e.g. fasterrcnn_resnet50_fpn (instead of --config)" };
        var numClasses = new Option<int?>("--num-classes") { Description = "Classes including background (with --arch)" };
        var weights = new Option<string>("--weights") { Description = "Our checkpoint, safetensors, or a PyTorch .pth", Required = true };
        var images = new Option<string>("--images") { Description = "A PNG or DICOM file, or a folder of them (.png, .dcm, .dicom)", Required = true };
        var minSize = new Option<int?>("--min-size") { Description = "Short side after resizing (pixels)" };
        var maxSize = new Option<int?>("--max-size") { Description = "Long-side cap after resizing (pixels)" };
        var scoreThresh = new Option<double?>("--score-thresh") { Description = "Minimum detection score (default 0.05)" };
        var tta = new Option<string?>("--tta") { Description = "Test-time augmentation: hflip" };
        var json = new Option<string?>("--json") { Description = "Write detections as JSON here" };
        var submission = new Option<string?>("--submission") { Description = "Write a VinBigData submission CSV here (class = label − 1)" };
        var command = new Command("predict", "Detect findings in images with a trained model")
            { config, arch, numClasses, weights, images, minSize, maxSize, scoreThresh, tta, json, submission };
        command.SetAction(parse =>
        {
            ExperimentConfig cfg;
            if (parse.GetValue(config) is { } path) cfg = ExperimentConfigLoader.LoadFile(path);
            else if (parse.GetValue(arch) is { } a && parse.GetValue(numClasses) is { } k)
                cfg = new ExperimentConfig { Model = new ModelConfig { Arch = a, NumClasses = k } };
            else { AnsiConsole.MarkupLine("[red]give --config, or --arch with --num-classes[/]"); return 2; }
            if (parse.GetValue(minSize) is { } mn) cfg.Model.MinSize = mn;
            if (parse.GetValue(maxSize) is { } mx) cfg.Model.MaxSize = mx;
            if (parse.GetValue(scoreThresh) is { } st) cfg.Model.ScoreThresh = st;
            cfg.Model.Weights = "";
            // The weights are loaded below: evaluate with fixed statistics (a BatchNorm-trained checkpoint loads
            // into FrozenBatchNorm2d key for key and computes the same in evaluation).
            cfg.Model.NormLayer = "frozen";
            var hflip = parse.GetValue(tta) switch
            {
                null => false,
                "hflip" => true,
                var other => throw new ArgumentException($"--tta '{other}' is not supported; use hflip"),
            };
            var input = parse.GetValue(images)!;
            var files = Directory.Exists(input)
                ? Directory.GetFiles(input).Where(IsImageFile).Order(StringComparer.Ordinal).ToArray()
                : File.Exists(input) ? [input] : throw new FileNotFoundException($"--images: {input} is neither a file nor a folder");
            if (files.Length == 0) { AnsiConsole.MarkupLine($"[red]no .png, .dcm or .dicom images in {Markup.Escape(input)}[/]"); return 2; }
            var bad = files.FirstOrDefault(f => !IsImageFile(f));
            if (bad is not null) throw new NotSupportedException($"{bad}: not a PNG (.png) or DICOM (.dcm, .dicom, or a 'DICM' preamble) file");

            using var model = ExperimentRunner.BuildModel(cfg);
            model.LoadWeights(parse.GetValue(weights)!);
            model.eval();
            var results = new List<object>();
            var csv = new StringBuilder("image_id,PredictionString\n");
            AnsiConsole.Progress().Start(ctx =>
            {
                var task = ctx.AddTask("predicting", maxValue: files.Length);
                foreach (var file in files)
                {
                    using var scope = torch.NewDisposeScope();
                    var image = ReadImage(file);
                    var tensor = InMemoryDetectionDataset.ToTensor(image.Channels == 4 ? DropAlpha(image) : image);
                    var d = FasterRcnnInference.Predict(model, tensor, hflip);
                    var boxes = d.Boxes.contiguous().ToArray<float>();
                    var scores = d.Scores.ToArray<float>();
                    var labels = d.Labels.ToArray<long>();
                    var id = Path.GetFileNameWithoutExtension(file);
                    results.Add(new
                    {
                        image = Path.GetFileName(file),
                        boxes = Enumerable.Range(0, scores.Length).Select(i => boxes[(i * 4)..(i * 4 + 4)]).ToArray(),
                        scores,
                        labels,
                    });
                    var parts = Enumerable.Range(0, scores.Length).Select(i => string.Create(CultureInfo.InvariantCulture,
                        $"{labels[i] - 1} {scores[i]:0.####} {boxes[i * 4]:0.#} {boxes[i * 4 + 1]:0.#} {boxes[i * 4 + 2]:0.#} {boxes[i * 4 + 3]:0.#}")).ToList();
                    csv.Append(id).Append(',').Append(parts.Count > 0 ? string.Join(' ', parts) : "14 1 0 0 1 1").Append('\n');
                    task.Increment(1);
                }
            });
            if (parse.GetValue(json) is { } jsonPath)
                ImageCodecs.WriteAtomically(jsonPath, JsonSerializer.SerializeToUtf8Bytes(results, new JsonSerializerOptions { WriteIndented = false }));
            if (parse.GetValue(submission) is { } subPath)
                ImageCodecs.WriteAtomically(subPath, Encoding.UTF8.GetBytes(csv.ToString()));
            AnsiConsole.MarkupLine($"{files.Length} images, {results.Count} results" +
                                   (parse.GetValue(json) is { } j ? $", JSON {Markup.Escape(j)}" : "") +
                                   (parse.GetValue(submission) is { } s ? $", submission {Markup.Escape(s)}" : ""));
            return 0;
        });
        return command;
    }

    static bool IsPng(string path) => path.EndsWith(".png", StringComparison.OrdinalIgnoreCase);

    /// <summary>DICOM by extension (.dcm, .dicom) or, for other names, by the "DICM" magic after the 128-byte preamble.</summary>
    public static bool IsDicom(string path)
    {
        if (path.EndsWith(".dcm", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".dicom", StringComparison.OrdinalIgnoreCase)) return true;
        if (IsPng(path)) return false;
        try
        {
            using var f = File.OpenRead(path);
            var head = new byte[132];
            return f.Read(head, 0, head.Length) == head.Length && head[128] == 'D' && head[129] == 'I' && head[130] == 'C' && head[131] == 'M';
        }
        catch (IOException) { return false; }
    }

    static bool IsImageFile(string path) => IsPng(path) || IsDicom(path);

    /// <summary>A PNG (8/16-bit) as stored, or a DICOM's display stage (VOI, MONOCHROME1 inverted, min–max
    /// scaled: what the PNG cache holds), as [0, 1] grey at the file's own resolution.</summary>
    public static Image ReadImage(string path) =>
        IsPng(path) ? ImageCodecs.Read(path).ToImage() : CxrLab.Dicom.DicomImage.ReadDisplay(path);

    static Image DropAlpha(Image rgba)
    {
        var rgb = new Image(rgba.Rows, rgba.Cols, 3);
        for (var i = 0; i < rgba.Rows * rgba.Cols; i++)
            for (var c = 0; c < 3; c++) rgb.Data[i * 3 + c] = rgba.Data[i * 4 + c];
        return rgb;
    }
}
