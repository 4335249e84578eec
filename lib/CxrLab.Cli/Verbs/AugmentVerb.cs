using System.CommandLine;
using System.Globalization;
using CxrLab.Augment;
using CxrLab.Augment.Categories;
using CxrLab.Data;
using CxrLab.Imaging;
using Spectre.Console;

namespace CxrLab.Cli.Verbs;

/// <summary>`cxr augment preview`: a grid of augmented versions of one image with their labelled boxes.</summary>
public static class AugmentVerb
{
    public static Command Create()
    {
        var config = new Option<string>("--config") { Description = "augmentation pipeline YAML (or a category config: its outputs are shown in turn)", Required = true };
        var image = new Option<string>("--image") { Description = "PNG image (grey); its boxes come from --box, or from --data's train.csv (image id = file name)", Required = true };
        var data = new Option<string?>("--data") { Description = "VinBigData root (train.csv) holding the image's boxes; its abnormal images are the donor pool of mixing transforms. " +
                                                                 "Boxes are read in the PNG cache's pixels: --cache, default the image's folder (needs meta.csv, e.g. a built category's OUT/train)" };
        var cache = new Option<string?>("--cache") { Description = "PNG cache folder (meta.csv + PNGs) for --data; default: the folder of --image" };
        var n = new Option<int>("--n") { Description = "number of augmented samples", DefaultValueFactory = _ => 16 };
        var output = new Option<string>("--out") { Description = "output PNG", DefaultValueFactory = _ => "grid.png" };
        var seed = new Option<ulong>("--seed") { Description = "seed of the first sample (sample k uses f(seed, 0, k))", DefaultValueFactory = _ => 0 };
        var tile = new Option<int>("--tile") { Description = "cell size in pixels", DefaultValueFactory = _ => 320 };
        var boxes = new Option<string[]>("--box") { Description = "a box 'x1,y1,x2,y2[,class_id]' in image pixels (repeatable)", AllowMultipleArgumentsPerToken = false };
        var preview = new Command("preview", "Draw a grid of augmented samples of one image with their boxes and class names") { config, image, data, cache, n, output, seed, tile, boxes };
        preview.SetAction(parse => Preview(parse.GetValue(config)!, parse.GetValue(image)!, parse.GetValue(data), parse.GetValue(cache), parse.GetValue(n),
            parse.GetValue(output)!, parse.GetValue(seed), parse.GetValue(tile), parse.GetValue(boxes) ?? []));
        return new Command("augment", "Augmentation tools: preview") { preview };
    }

    static int Preview(string configPath, string imagePath, string? dataDir, string? cacheDir, int n, string outPath, ulong seed, int tile, string[] boxArgs)
    {
        if (n < 1) throw new ArgumentException("--n must be at least 1");
        var (sample, pool) = LoadSample(imagePath, dataDir, cacheDir, boxArgs);
        var pipelines = LoadPipelines(configPath);
        var samples = new List<Sample> { sample };
        var captions = new List<string> { "original" };
        var stats = new AugmentStats();
        for (var k = 0; k < n - 1; k++)
        {
            var (name, pipeline) = pipelines[k % pipelines.Count];
            var result = pipeline.Run(sample, SampleSeed.Of(seed, 0, k), pool);
            stats.Add(result.Stats);
            samples.Add(result.Sample);
            captions.Add(name.Length > 0 ? $"{name} #{k + 1}" : $"#{k + 1}");
        }
        var (rgb, rows, cols) = PreviewGrid.Render(samples, tile, l => l >= 0 && l < VinBigClasses.Count ? VinBigClasses.Names[l] : l.ToString(CultureInfo.InvariantCulture), captions);
        ImageCodecs.Write<byte>(outPath, rgb, rows, cols, 3);
        AnsiConsole.MarkupLine($"wrote [green]{Markup.Escape(outPath)}[/] ({cols}×{rows}, {samples.Count} cells: the original then {n - 1} augmented)");
        AnsiConsole.MarkupLine($"[grey]{Markup.Escape(stats.ToString())}[/]");
        return 0;
    }

    /// <summary>A pipeline file, or a category config whose outputs are previewed in turn.</summary>
    static List<(string Name, Pipeline Pipeline)> LoadPipelines(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"config not found: {path}", path);
        var text = File.ReadAllText(path);
        if (PipelineYaml.ReadRoot(text, path) is YamlDotNet.RepresentationModel.YamlMappingNode map && map.Children.ContainsKey(new YamlDotNet.RepresentationModel.YamlScalarNode("outputs")))
            return CategoryConfig.Parse(text, path).Outputs.Select(o => (o.Suffix.Length == 0 ? "source" : o.Suffix, o.Pipeline)).ToList();
        return [("", PipelineYaml.Parse(text, path))];
    }

    /// <summary>The image with boxes from --box, or from --data's train.csv over the PNG cache (whose abnormal images then
    /// also serve as the donor pool; every reader's box is kept, as the category builds do by default).</summary>
    static (Sample Sample, ISampleSource Pool) LoadSample(string imagePath, string? dataDir, string? cacheDir, string[] boxArgs)
    {
        var image = ImageCodecs.Read(imagePath).ToImage();
        if (image.Channels != 1) throw new InvalidDataException($"{imagePath}: preview expects a grey X-ray, got {image.Channels} channels");
        var id = Path.GetFileNameWithoutExtension(imagePath);
        if (boxArgs.Length == 0 && dataDir is not null)
        {
            var cache = new PngCacheSource(cacheDir ?? Path.GetDirectoryName(Path.GetFullPath(imagePath))!);
            var dataset = VinBigDataset.LoadTrain(dataDir, cache, FusionOptions.None);
            var item = dataset.Items.FirstOrDefault(i => i.ImageId == id)
                       ?? throw new ArgumentException($"{Path.Combine(dataDir, VinBigDataset.TrainCsv)} has no usable row for image '{id}' in the cache {cache.Folder}");
            var sample = new DatasetSampleSource([item]).Get(0);
            var pool = DatasetSampleSource.Of(dataset, abnormalOnly: true);
            return (sample, pool.Count > 0 ? pool : new ListSampleSource([sample]));
        }
        var boxes = new List<Box>();
        var labels = new List<int>();
        foreach (var arg in boxArgs)
        {
            var parts = arg.Split(',');
            if (parts.Length is not (4 or 5) || !parts.All(p => double.TryParse(p, NumberStyles.Float, CultureInfo.InvariantCulture, out _)))
                throw new ArgumentException($"--box '{arg}': expected x1,y1,x2,y2[,class_id]");
            var v = parts.Select(p => float.Parse(p, CultureInfo.InvariantCulture)).ToArray();
            boxes.Add(new Box(v[0], v[1], v[2], v[3]));
            labels.Add(parts.Length == 5 ? (int)v[4] : 0);
        }
        var own = Sample.Of(image, boxes, labels, id);
        return (own, new ListSampleSource([own]));
    }
}
