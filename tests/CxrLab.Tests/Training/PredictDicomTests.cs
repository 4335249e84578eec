using System.Text.Json;
using CxrLab.Experiments;
using CxrLab.Models.Detection;
using CxrLab.Tasks;
using CxrLab.Tasks.VinBigData;
using CxrLab.Data.Phantom;
using CxrLab.Dicom;
using CxrLab.Models.FasterRcnn;
using CxrLab.Torch;
using CxrLab.Torch.Serialization;
using CxrLab.Tests.Evaluation;
using CxrLab.Training;

namespace CxrLab.Tests.Training;

/// <summary><c>./cxr predict --images</c> on DICOM files: read at the display stage (what the PNG cache holds),
/// detections in the DICOM's own pixels, equal to predicting the display image in-process with the same weights.</summary>
[Collection(TorchRngCollection.Name)]
public sealed class PredictDicomTests : IDisposable
{
    readonly string temp = Directory.CreateTempSubdirectory("cxr-predict-dicom-").FullName;

    public void Dispose() => Directory.Delete(temp, recursive: true);

    [Fact]
    public void Predict_verb_reads_dicom_display_stage_and_reports_boxes_in_its_pixels()
    {
        var root = Path.Combine(temp, "vb");
        VinBigPhantom.Write(root, new PhantomOptions(Images: 2, Size: 80, Seed: 6, TestImages: 1));
        var dicoms = Directory.GetFiles(Path.Combine(root, "train"), "*.dicom").Order(StringComparer.Ordinal).ToArray();

        // A random-init model trained from scratch would use BatchNorm2d: save it that way (num_batches_tracked and
        // all), so the verb's FrozenBatchNorm model also shows it loads such checkpoints.
        var yaml = Path.Combine(temp, "tiny.yaml");
        File.WriteAllText(yaml, """
            name: tiny
            seed: 4
            model: {arch: fasterrcnn_resnet18_fpn, num_classes: 2, input_size: 64, max_size: 64, score_thresh: 0.0}
            faster_rcnn: {fpn_channels: 16, representation_size: 32}
            """);
        var cfg = ExperimentConfigLoader.LoadFile(yaml);
        var weights = Path.Combine(temp, "w.safetensors");
        using (var scratch = ExperimentRunner.BuildModel(cfg)) scratch.Module.save_safetensors(weights);

        var jsonPath = Path.Combine(temp, "pred.json");
        Cli.Run("predict", "--config", yaml, "--weights", weights, "--images", Path.Combine(root, "train"), "--json", jsonPath);
        var results = JsonDocument.Parse(File.ReadAllText(jsonPath)).RootElement.EnumerateArray().ToList();
        Assert.Equal(dicoms.Select(Path.GetFileName), results.Select(r => r.GetProperty("image").GetString()));

        cfg.Model.NormLayer = "frozen";
        using var model = ExperimentRunner.BuildModel(cfg);
        model.LoadWeights(weights);
        model.eval();
        for (var i = 0; i < dicoms.Length; i++)
        {
            using var scope = torch.NewDisposeScope();
            var display = DicomImage.ReadDisplay(dicoms[i]);
            var expected = model.Predict([InMemoryDetectionDataset.ToTensor(display)])[0];
            var scores = results[i].GetProperty("scores").EnumerateArray().Select(s => s.GetSingle()).ToArray();
            var boxes = results[i].GetProperty("boxes").EnumerateArray().Select(b => b.EnumerateArray().Select(v => v.GetSingle()).ToArray()).ToArray();
            Assert.NotEmpty(scores);
            Assert.Equal(expected.Scores.size(0), scores.Length);
            var expectedScores = expected.Scores.ToArray<float>();
            var expectedBoxes = expected.Boxes.contiguous().ToArray<float>();
            for (var k = 0; k < scores.Length; k++)
            {
                Assert.Equal(expectedScores[k], scores[k], 1e-5f);
                for (var c = 0; c < 4; c++) Assert.Equal(expectedBoxes[k * 4 + c], boxes[k][c], 1e-3f);
                // The DICOM's own pixels (80 wide, up to 96 high), not the 64-px model input.
                Assert.InRange(boxes[k][2], 0, display.Cols);
                Assert.InRange(boxes[k][3], 0, display.Rows);
            }
            Assert.Contains(boxes, b => b[2] > 64 || b[3] > 64);
        }
    }
}
