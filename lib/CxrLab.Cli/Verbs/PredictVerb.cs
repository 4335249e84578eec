using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using CxrLab.Data;
using CxrLab.Evaluation;
using CxrLab.Imaging;
using CxrLab.Models;
using CxrLab.Models.Detection;
using CxrLab.Experiments;
using CxrLab.Tasks;
using CxrLab.Torch;
using CxrLab.Training;
using Spectre.Console;

namespace CxrLab.Cli.Verbs;

/// <summary>`cxr predict`: detections for PNG images (8/16-bit) or DICOM files (display stage) with any zoo arch,
/// as JSON (task class ids, input pixels; masks as COCO RLE) and/or the dataset's Kaggle submission CSV.</summary>
public static class PredictVerb
{
    public static Command Create()
    {
        var config = new Option<string?>("--config") { Description = "Experiment YAML (arch, classes, input size, family options)" };
        var arch = new Option<string?>("--arch") { Description = "Zoo name, e.g. fasterrcnn_resnet50_fpn, yolox_s (instead of --config; ./cxr models lists them)" };
        var numClasses = new Option<int?>("--num-classes") { Description = "Task classes, background not counted (VinBigData 14, RSNA 1); with --arch" };
        var weights = new Option<string>("--weights") { Description = "Our checkpoint, safetensors, or a PyTorch .pth in the reference's layout", Required = true };
        var images = new Option<string>("--images") { Description = "A PNG or DICOM file, or a folder of them (.png, .dcm, .dicom)", Required = true };
        var inputSize = new Option<int?>("--input-size") { Description = "Network input size in pixels (R-CNN: short side; YOLOX/EfficientDet: square); default: the config's or the arch's" };
        var conf = new Option<double?>("--conf", "--score-thresh") { Description = "Minimum detection score (default: the family's, e.g. 0.05 torchvision, 0.01 YOLOX)" };
        var nms = new Option<double?>("--nms") { Description = "NMS IoU (default: the family's, e.g. 0.5 torchvision, 0.65 YOLOX)" };
        var maxDet = new Option<int?>("--max-det") { Description = "Detections kept per image (default: the family's, 100)" };
        var agnostic = new Option<bool>("--agnostic") { Description = "One NMS over all classes instead of one per class" };
        var tta = new Option<string?>("--tta") { Description = "Test-time augmentation: hflip" };
        var json = new Option<string?>("--json") { Description = "Write detections as JSON here (task class ids, input pixels)" };
        var submission = new Option<string?>("--submission") { Description = "Write the dataset's Kaggle submission CSV here (VinBigData by default; the config's data.dataset or --dataset decides)" };
        var dataset = new Option<string?>("--dataset") { Description = "The task whose class names and submission format to use (vinbigdata, rsna); default: the config's data.dataset" };
        var normalFilter = new Option<string?>("--normal-filter") { Description = "VinBigData submissions: a normal/abnormal classifier checkpoint (./cxr classifier train); P(abnormal) p < --normal-low → only '14 1 0 0 1 1', else box scores × p and '14 (1−p) 0 0 1 1'" };
        var normalLow = new Option<double>("--normal-low") { Description = "the normal filter's threshold on P(abnormal) (the public 2-class filter's 0.08)", DefaultValueFactory = _ => NormalFilterOptions.Default.Low };
        var command = new Command("predict", "Detect findings in images with a trained model (any arch of the zoo)")
            { config, arch, numClasses, weights, images, inputSize, conf, nms, maxDet, agnostic, tta, json, submission, dataset, normalFilter, normalLow };
        command.SetAction(parse =>
        {
            ExperimentConfig cfg;
            if (parse.GetValue(config) is { } path) cfg = ExperimentConfigLoader.LoadFile(path);
            else if (parse.GetValue(arch) is { } a && parse.GetValue(numClasses) is { } k)
                cfg = new ExperimentConfig { Model = new ModelConfig { Arch = a, NumClasses = k } };
            else throw new UsageException("give --config, or --arch with --num-classes (task classes: 14 for VinBigData, 1 for RSNA)");
            DetectorZoo.Find(cfg.Model.Arch);   // an unknown arch fails before any file is read
            if (parse.GetValue(dataset) is { } ds)
                cfg.Data.Dataset = DetectionTasks.All.FirstOrDefault(t => t.Name == ds)?.Name
                    ?? throw new UsageException($"--dataset '{ds}' is not known; use one of: {string.Join(", ", DetectionTasks.All.Select(t => t.Name))}");
            if (parse.GetValue(inputSize) is { } size) cfg.Model.InputSize = size;
            if (parse.GetValue(conf) is { } c) cfg.Model.ScoreThresh = c;
            if (parse.GetValue(nms) is { } n) cfg.Model.NmsThresh = n;
            if (parse.GetValue(maxDet) is { } m) cfg.Model.MaxDetections = m;
            if (parse.GetValue(agnostic)) cfg.Model.ClassAgnostic = true;
            cfg.Model.Weights = "";
            // The weights are loaded below: evaluate with fixed statistics (a BatchNorm-trained checkpoint loads
            // into FrozenBatchNorm2d key for key and computes the same in evaluation).
            cfg.Model.NormLayer = "frozen";
            var hflip = parse.GetValue(tta) switch
            {
                null => false,
                "hflip" => true,
                var other => throw new UsageException($"--tta '{other}' is not supported; use hflip"),
            };
            var input = parse.GetValue(images)!;
            var files = Directory.Exists(input)
                ? Directory.GetFiles(input).Where(IsImageFile).Order(StringComparer.Ordinal).ToArray()
                : File.Exists(input) ? [input] : throw new UsageException($"--images: {input} is neither a file nor a folder");
            if (files.Length == 0) throw new UsageException($"--images: no .png, .dcm or .dicom images in {input}");
            var bad = files.FirstOrDefault(f => !IsImageFile(f));
            if (bad is not null) throw new UsageException($"--images: {bad} is not a PNG (.png) or DICOM (.dcm, .dicom, or a 'DICM' preamble) file");
            var weightsPath = parse.GetValue(weights)!;
            if (!File.Exists(weightsPath)) throw new UsageException($"--weights: {weightsPath} not found");

            var task = DetectionTasks.Find(cfg.Data.Dataset);
            var filterPath = parse.GetValue(normalFilter);
            var filterOptions = new NormalFilterOptions(parse.GetValue(normalLow));
            if (filterOptions.Low is < 0 or >= 1) throw new UsageException($"--normal-low {filterOptions.Low}: must be in [0, 1)");
            if (filterPath is not null && (task.Name != "vinbigdata" || parse.GetValue(submission) is null))
                throw new UsageException("--normal-filter applies to VinBigData submissions: give --submission with data.dataset (or --dataset) vinbigdata");
            using var classifier = filterPath is null ? null : ClassifierVerb.LoadClassifier(filterPath);

            using var model = ExperimentRunner.BuildModel(cfg);
            model.LoadWeights(weightsPath);
            model.eval();
            var pAbnormal = new Dictionary<string, double>(StringComparer.Ordinal);
            var results = new List<object>();
            var predictions = new List<ImagePrediction>();
            AnsiConsole.Progress().Start(ctx =>
            {
                var bar = ctx.AddTask("predicting", maxValue: files.Length);
                foreach (var file in files)
                {
                    using var scope = torch.NewDisposeScope();
                    var image = ReadImage(file);
                    var tensor = InMemoryDetectionDataset.ToTensor(image.Channels == 4 ? DropAlpha(image) : image);
                    var d = TestTimeAugmentation.Predict(model, [tensor], hflip)[0];
                    var boxes = d.Boxes.contiguous().ToArray<float>();
                    var scores = d.Scores.ToArray<float>();
                    var labels = d.Labels.ToArray<long>();
                    var rows = Enumerable.Range(0, scores.Length).Select(i => boxes[(i * 4)..(i * 4 + 4)]).ToArray();
                    results.Add(new
                    {
                        image = Path.GetFileName(file),
                        boxes = rows,
                        scores,
                        labels,
                        classes = labels.Select(l => l < task.ClassNames.Count ? task.ClassNames[(int)l] : l.ToString(CultureInfo.InvariantCulture)).ToArray(),
                        // Instance masks (Mask R-CNN) in the input image's pixels as COCO uncompressed RLE.
                        masks = d.Masks is { } ms ? Enumerable.Range(0, scores.Length).Select(k => CocoRle.Encode(ms[k]).ToJsonObject()).ToArray() : null,
                    });
                    predictions.Add(new ImagePrediction(Path.GetFileNameWithoutExtension(file), rows, scores, labels));
                    if (classifier is not null) pAbnormal[Path.GetFileNameWithoutExtension(file)] = classifier.PredictProbabilities([tensor])[0];
                    bar.Increment(1);
                }
            });
            if (parse.GetValue(json) is { } jsonPath)
                ImageCodecs.WriteAtomically(jsonPath, JsonSerializer.SerializeToUtf8Bytes(results, new JsonSerializerOptions { WriteIndented = false, DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull }));
            if (parse.GetValue(submission) is { } subPath)
            {
                if (classifier is null) task.WriteSubmission(subPath, predictions);
                else
                {
                    // The winners' 2-class filter on the Kaggle rows (the detector's own No-finding line is replaced).
                    var ids = predictions.Select(p => p.ImageId).ToList();
                    VinBigSubmission.Write(subPath, ids, NormalFilter.Apply(predictions.SelectMany(CxrLab.Tasks.VinBigData.VinBigTask.ToKaggle), pAbnormal, ids, filterOptions));
                    AnsiConsole.MarkupLine($"normal filter: {pAbnormal.Count(kv => kv.Value < filterOptions.Low)} of {ids.Count} images below P(abnormal) {filterOptions.Low.ToString(CultureInfo.InvariantCulture)} → No finding only");
                }
            }
            AnsiConsole.MarkupLine($"{files.Length} images, {results.Count} results" +
                                   (parse.GetValue(json) is { } j ? $", JSON {Markup.Escape(j)}" : "") +
                                   (parse.GetValue(submission) is { } s ? $", {task.Name} submission {Markup.Escape(s)}" : ""));
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
            // Length first: a FIFO or device in the folder reports 0 and would block an open; a DICOM is > 132 bytes.
            if (new FileInfo(path).Length < 132) return false;
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
