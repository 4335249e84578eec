using System.Text.Json;
using CxrLab.Data;
using CxrLab.Data.Phantom;
using CxrLab.Dicom;
using CxrLab.Evaluation;
using CxrLab.Experiments;
using CxrLab.Models.Detection;
using CxrLab.Tasks.Rsna;
using CxrLab.Tests.Training;
using CxrLab.Torch;
using CxrLab.Torch.Serialization;
using CxrLab.Training;
using Cli = CxrLab.Tests.Evaluation.Cli;

namespace CxrLab.Tests.Tasks;

/// <summary>The RSNA pipeline through the built CLI with a tiny Mask R-CNN: <c>./cxr predict</c> on Kaggle-layout DICOMs
/// writes masks as COCO uncompressed RLE in the DICOM's pixels and an RSNA submission that <c>./cxr score rsna</c> reads
/// back; <c>./cxr sweep</c> prints the grid the library computes.</summary>
[Collection(TorchRngCollection.Name)]
public sealed class RsnaCliTests : IDisposable
{
    readonly string temp = Directory.CreateTempSubdirectory("cxr-rsna-cli-").FullName;

    public void Dispose() => Directory.Delete(temp, recursive: true);

    (string Root, string Yaml, string Weights) TinyModel(int images, int size)
    {
        var root = Path.Combine(temp, "rsna");
        RsnaPhantom.Write(root, new PhantomOptions(images, size, Seed: 8, TestImages: 2));
        var yaml = Path.Combine(temp, "tiny_rsna.yaml");
        File.WriteAllText(yaml, $$"""
            name: rsna_cli
            seed: 5
            model: {arch: maskrcnn_resnet18_fpn, num_classes: 1, input_size: 96, max_size: 96, norm_layer: batchnorm, score_thresh: 0.0, nms_thresh: 0.5, max_detections: 3}
            mask_rcnn: {fpn_channels: 16, representation_size: 32, mask_channels: 16, mask_convs: 2, anchor_sizes: [16, 32, 64, 128, 128],
                        rpn_post_nms_top_n_train: 60, rpn_post_nms_top_n_test: 30, roi_batch_size_per_image: 32}
            data: {dataset: rsna, root: {{root}}, layout: kaggle, cache_size: 96, fold: 0, folds: 3}
            train: {epochs: 1, batch_size: 2}
            output: {runs_dir: {{Path.Combine(temp, "runs")}} }
            """);
        var cfg = ExperimentConfigLoader.LoadFile(yaml);
        var weights = Path.Combine(temp, "tiny.safetensors");
        using (var scratch = ExperimentRunner.BuildModel(cfg)) scratch.Module.save_safetensors(weights);
        return (root, yaml, weights);
    }

    static IDetector Frozen(string yaml, string weights)
    {
        var cfg = ExperimentConfigLoader.LoadFile(yaml);
        cfg.Model.NormLayer = "frozen";
        var model = ExperimentRunner.BuildModel(cfg);
        model.LoadWeights(weights);
        model.eval();
        return model;
    }

    [Fact]
    public void Predict_writes_masks_as_coco_rle_in_the_dicom_pixels_and_a_submission_that_score_rsna_reads_back()
    {
        var (root, yaml, weights) = TinyModel(images: 6, size: 128);
        var dicomDir = Path.Combine(root, RsnaDataset.TrainFolder);
        var dicoms = Directory.GetFiles(dicomDir, "*.dcm").Order(StringComparer.Ordinal).ToArray();
        var jsonPath = Path.Combine(temp, "pred.json");
        var csv = Path.Combine(temp, "rsna.csv");
        // A config whose data.dataset says otherwise: --dataset rsna picks the RSNA submission format.
        var vinbigYaml = Path.Combine(temp, "as_vinbig.yaml");
        File.WriteAllText(vinbigYaml, File.ReadAllText(yaml).Replace("dataset: rsna", "dataset: vinbigdata"));
        Cli.Run("predict", "--config", vinbigYaml, "--dataset", "rsna", "--weights", weights, "--images", dicomDir, "--json", jsonPath, "--submission", csv);
        var results = JsonDocument.Parse(File.ReadAllText(jsonPath)).RootElement.EnumerateArray().ToList();
        Assert.Equal(dicoms.Length, results.Count);

        using var model = Frozen(yaml, weights);
        var fromJson = new List<Detection>();
        for (var i = 0; i < dicoms.Length; i++)
        {
            using var scope = torch.NewDisposeScope();
            var display = DicomImage.ReadDisplay(dicoms[i]);
            var expected = model.Predict([InMemoryDetectionDataset.ToTensor(display)])[0];
            var r = results[i];
            var id = Path.GetFileNameWithoutExtension(dicoms[i]);
            var scores = r.GetProperty("scores").EnumerateArray().Select(s => s.GetSingle()).ToArray();
            var boxes = r.GetProperty("boxes").EnumerateArray().Select(b => b.EnumerateArray().Select(v => v.GetSingle()).ToArray()).ToArray();
            var masks = r.GetProperty("masks").EnumerateArray().ToList();
            Assert.InRange(scores.Length, 1, 3);
            Assert.Equal(scores.Length, masks.Count);
            Assert.Equal(expected.Count, masks.Count);
            for (var k = 0; k < masks.Count; k++)
            {
                // {"size": [h, w], "counts": [...]}: the DICOM's own pixels (128), not the 96-px model input; column-major
                // runs starting with the zero run, summing to h·w.
                Assert.Equal(new[] { display.Rows, display.Cols }, masks[k].GetProperty("size").EnumerateArray().Select(v => v.GetInt32()).ToArray());
                var counts = masks[k].GetProperty("counts").EnumerateArray().Select(v => v.GetInt64()).ToArray();
                Assert.Equal((long)display.Rows * display.Cols, counts.Sum());
                Assert.All(counts.Skip(1), c => Assert.True(c > 0));
                var rle = CocoRle.FromJson(masks[k]);
                using var decoded = rle.Decode();
                Assert.True(decoded.eq(expected.Masks![k]).all().item<bool>(), $"{id} mask {k} differs from predicting in-process");
                // Column-major with the zero run first, independently of CocoRle: the first count is the number of unset
                // pixels before the first set one, reading column by column.
                using var columns = expected.Masks[k].t().contiguous();
                var firstSet = Array.IndexOf(columns.ToArray<bool>(), true);
                Assert.Equal(firstSet < 0 ? (long)display.Rows * display.Cols : firstSet, counts[0]);
                fromJson.Add(new Detection(id, RsnaClasses.LungOpacity, scores[k], new Box(boxes[k][0], boxes[k][1], boxes[k][2], boxes[k][3])));
            }
        }

        // The submission: one row per image, conf x y w h in the DICOM's pixels, the JSON's boxes.
        var lines = File.ReadAllLines(csv);
        Assert.Equal("patientId,PredictionString", lines[0]);
        Assert.Equal(dicoms.Select(Path.GetFileNameWithoutExtension), lines.Skip(1).Select(l => l.Split(',')[0]));
        var report = new ValidationReport();
        var (_, read) = RsnaSubmission.Read(csv, report);
        Assert.Equal(0, report.Rejected);
        Assert.Equal(fromJson.Count, read.Count);
        foreach (var d in fromJson)
        {
            var match = read.Single(p => p.ImageId == d.ImageId && Math.Abs(p.Score - d.Score) < 1e-5 && Math.Abs(p.Box.X1 - d.Box.X1) < 1e-3 && Math.Abs(p.Box.Y1 - d.Box.Y1) < 1e-3);
            Assert.Equal(d.Box.Width, match.Box.Width, 1e-3f);
            Assert.Equal(d.Box.Height, match.Box.Height, 1e-3f);
        }

        // score rsna on that file equals the metric on the JSON's detections (truth: the labels of these patients).
        var stdout = Cli.Run("score", "rsna", "--truth", Path.Combine(root, RsnaDataset.LabelsCsv), "--pred", csv, "--json");
        var scored = JsonDocument.Parse(stdout.TrimEnd().Split('\n')[^1]).RootElement;
        var truth = RsnaDataset.ReadTruth(Path.Combine(root, RsnaDataset.LabelsCsv), new ValidationReport());
        var direct = RsnaMetric.Evaluate(truth, fromJson);
        Assert.Equal(direct.Score, scored.GetProperty("score").GetDouble(), 6);
        Assert.Equal(direct.Images.Count, scored.GetProperty("images").GetInt32());

        // --dataset names a task or fails as a usage error.
        var (code, _, err) = Cli.RunAny("predict", "--config", vinbigYaml, "--dataset", "coco", "--weights", weights, "--images", dicomDir);
        Assert.Equal(2, code);
        Assert.Contains("--dataset 'coco'", err);
    }

    [Fact]
    public void Sweep_verb_prints_the_grid_the_library_computes_on_the_validation_split()
    {
        var (_, yaml, weights) = TinyModel(images: 12, size: 96);
        var jsonPath = Path.Combine(temp, "sweep.json");
        var stdout = Cli.Run("sweep", yaml, "--weights", weights, "--conf", "0,0.3,0.6", "--nms", "0.1,0.5", "--json", jsonPath);
        var last = JsonDocument.Parse(stdout.TrimEnd().Split('\n')[^1]).RootElement;
        Assert.Equal("val_rsna_map", last.GetProperty("metric").GetString());
        var doc = JsonDocument.Parse(File.ReadAllText(jsonPath)).RootElement;
        Assert.Equal([0.0, 0.3, 0.6], doc.GetProperty("confidences").EnumerateArray().Select(v => v.GetDouble()));
        Assert.Equal([0.1, 0.5], doc.GetProperty("nms").EnumerateArray().Select(v => v.GetDouble()));

        var cfg = ExperimentConfigLoader.LoadFile(yaml);
        var split = RsnaTraining.Prepare(cfg);
        var (_, validation) = RsnaTraining.Datasets(cfg, split);
        using var model = Frozen(yaml, weights);
        var grid = RsnaThresholdSweep.Run(model, validation, split.Validation, [0.0, 0.3, 0.6], [0.1, 0.5], batchSize: 2);
        var scores = doc.GetProperty("scores").EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetDouble()).ToArray()).ToArray();
        var detections = doc.GetProperty("detections").EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetInt32()).ToArray()).ToArray();
        for (var i = 0; i < 3; i++)
        for (var j = 0; j < 2; j++)
        {
            Assert.Equal(grid[i, j].Score, scores[i][j], 6);
            Assert.Equal(grid[i, j].Detections, detections[i][j]);
        }
        // Confidence 0 keeps up to each image's top 3; higher thresholds keep no more.
        Assert.InRange(detections[0][1], 1, 3 * split.Validation.Count);
        Assert.True(detections[2][1] <= detections[1][1] && detections[1][1] <= detections[0][1]);
        Assert.Equal(grid.Best.Score, last.GetProperty("best").GetProperty("score").GetDouble(), 6);

        var (code, _, err) = Cli.RunAny("sweep", yaml, "--weights", weights, "--nms", "0.1,1.5");
        Assert.Equal(2, code);
        Assert.Contains("--nms: '1.5'", err);
    }
}
