using System.Text.Json;
using CxrLab.Data;
using CxrLab.Evaluation;

namespace CxrLab.Tests.Evaluation;

/// <summary>Weighted boxes fusion of model predictions against an independent re-implementation of ensemble-boxes'
/// algorithm (tests/fixtures/make_wbf_fixtures.py; checked against the ensemble-boxes package itself when
/// ENSEMBLE_BOXES_SRC is set) on 200 random cases: several models, weights, thresholds, every conf_type.</summary>
public class BoxEnsembleTests
{
    [Fact]
    public void Weighted_boxes_fusion_equals_the_ensemble_boxes_algorithm_on_random_cases()
    {
        using var doc = FixtureFile.Json("wbf_cases.json");
        var cases = doc.RootElement.GetProperty("cases").EnumerateArray().ToList();
        Assert.Equal(200, cases.Count);
        var fusedTotal = 0;
        var merged = 0;
        foreach (var (c, index) in cases.Select((c, i) => (c, i)))
        {
            var models = new List<IReadOnlyList<ScoredBox>>();
            var boxes = c.GetProperty("boxes").EnumerateArray().ToList();
            var scores = c.GetProperty("scores").EnumerateArray().ToList();
            var labels = c.GetProperty("labels").EnumerateArray().ToList();
            for (var t = 0; t < boxes.Count; t++)
            {
                var b = boxes[t].EnumerateArray().Select(x => x.EnumerateArray().Select(v => v.GetSingle()).ToArray()).ToList();
                var s = scores[t].EnumerateArray().Select(v => v.GetSingle()).ToList();
                var l = labels[t].EnumerateArray().Select(v => v.GetInt32()).ToList();
                models.Add(b.Select((x, k) => new ScoredBox(new Box(x[0], x[1], x[2], x[3]), s[k], l[k])).ToList());
            }
            var weights = c.GetProperty("weights").ValueKind == JsonValueKind.Null ? null : c.GetProperty("weights").EnumerateArray().Select(v => v.GetDouble()).ToList();
            var options = new WbfOptions(c.GetProperty("iou_thr").GetDouble(), c.GetProperty("skip_box_thr").GetDouble(),
                c.GetProperty("conf_type").GetString() switch
                {
                    "avg" => WbfConfidence.Avg, "max" => WbfConfidence.Max, "box_and_model_avg" => WbfConfidence.BoxAndModelAvg,
                    "absent_model_aware_avg" => WbfConfidence.AbsentModelAwareAvg, var other => throw new InvalidDataException(other),
                }, c.GetProperty("allows_overflow").GetBoolean());
            var expected = c.GetProperty("expected").EnumerateArray().ToList();
            var actual = BoxEnsemble.WeightedBoxesFusion(models, options, weights);
            Assert.True(expected.Count == actual.Count, $"case {index}: {actual.Count} fused boxes, expected {expected.Count}");
            for (var k = 0; k < expected.Count; k++)
            {
                var e = expected[k];
                Assert.True(e.GetProperty("label").GetInt32() == actual[k].Label, $"case {index} box {k}: label");
                Assert.True(Math.Abs(e.GetProperty("score").GetDouble() - actual[k].Score) < 1e-5, $"case {index} box {k}: score {actual[k].Score} vs {e.GetProperty("score").GetDouble()}");
                var eb = e.GetProperty("box").EnumerateArray().Select(v => v.GetDouble()).ToArray();
                var ab = new double[] { actual[k].Box.X1, actual[k].Box.Y1, actual[k].Box.X2, actual[k].Box.Y2 };
                for (var j = 0; j < 4; j++) Assert.True(Math.Abs(eb[j] - ab[j]) < 1e-5, $"case {index} box {k}: coordinate {j} {ab[j]} vs {eb[j]}");
            }
            fusedTotal += actual.Count;
            merged += models.Sum(m => m.Count) - actual.Count;
        }
        Assert.True(fusedTotal > 1000 && merged > 500, $"the cases hardly exercise fusion: {fusedTotal} fused, {merged} merged away");
    }

    [Fact]
    public void Fusing_submissions_goes_image_by_image_and_agreeing_models_keep_their_score()
    {
        var a = new List<Detection> { new("img1", 3, 0.8f, new Box(10, 10, 50, 50)), new("img2", 14, 0.6f, new Box(0, 0, 1, 1)) };
        var b = new List<Detection> { new("img1", 3, 0.8f, new Box(12, 12, 52, 52)), new("img2", 14, 0.4f, new Box(0, 0, 1, 1)), new("img2", 5, 0.9f, new Box(1, 1, 9, 9)) };
        var fused = BoxEnsemble.WeightedBoxesFusion([a, b], ["img1", "img2"], WbfOptions.Kaggle);
        var one = Assert.Single(fused, d => d.ImageId == "img1");
        Assert.Equal(0.8f, one.Score, 5);                              // two models agree: the mean, not halved
        Assert.Equal(11f, one.Box.X1, 4);
        Assert.Equal(0.5f, fused.Single(d => d.ImageId == "img2" && d.Label == 14).Score, 5);
        Assert.Equal(0.45f, fused.Single(d => d.ImageId == "img2" && d.Label == 5).Score, 5);   // one model of two: halved
    }

    [Fact]
    public void Ensemble_verb_fuses_submissions_as_the_library_does_and_names_bad_weights()
    {
        var dir = Directory.CreateTempSubdirectory("cxr-ensemble-").FullName;
        try
        {
            var a = Path.Combine(dir, "a.csv");
            var b = Path.Combine(dir, "b.csv");
            VinBigSubmission.Write(a, ["i1", "i2"], [new("i1", 3, 0.8f, new Box(10, 10, 50, 50)), new("i2", 5, 0.3f, new Box(5, 5, 25, 30))]);
            VinBigSubmission.Write(b, ["i1", "i2"], [new("i1", 3, 0.6f, new Box(14, 12, 54, 50)), new("i1", 7, 0.5f, new Box(60, 60, 90, 95))]);
            var fusedPath = Path.Combine(dir, "fused.csv");
            var output = Cli.Run("ensemble", a, b, "--out", fusedPath, "--weights", "2,1");
            Assert.Contains("5 boxes → 4 fused boxes on 2 images", output);   // b's empty i2 row is Kaggle's "14 1 0 0 1 1"
            var report = new ValidationReport();
            var (ids, fused) = VinBigSubmission.Read(fusedPath, report);
            Assert.Equal(["i1", "i2"], ids);
            var expected = BoxEnsemble.WeightedBoxesFusion([VinBigSubmission.Read(a, report).Detections, VinBigSubmission.Read(b, report).Detections],
                ["i1", "i2"], WbfOptions.Kaggle, [2.0, 1.0]);
            Assert.Equal(expected.Count, fused.Count);
            foreach (var e in expected)
                Assert.Contains(fused, f => f.ImageId == e.ImageId && f.Label == e.Label && Math.Abs(f.Score - e.Score) < 1e-4 && Math.Abs(f.Box.X1 - e.Box.X1) < 1e-2);
            var (code, _, stderr) = Cli.RunAny("ensemble", a, b, "--out", fusedPath, "--weights", "1");
            Assert.Equal(2, code);
            Assert.Contains("--weights: 1 weights for 2 submissions", stderr);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void Ensemble_verb_calibrates_each_submission_on_its_held_out_predictions_before_fusing()
    {
        var dir = Directory.CreateTempSubdirectory("cxr-ensemble-cal-").FullName;
        try
        {
            var lesion = new Box(10, 10, 50, 50);
            var elsewhere = new Box(100, 100, 140, 140);
            string[] held = ["h1", "h2", "h3", "h4"];
            var truthFile = Path.Combine(dir, "held_truth.csv");
            VinBigLabels.Write(truthFile, held.Select(id => new VinBigAnnotation(id, 3, "", lesion, 0)).ToList());
            // On the held-out images model a is right at 0.3 and wrong at 0.2; model b is wrong at 0.9 and right at 0.8.
            var heldA = Path.Combine(dir, "held_a.csv");
            var heldB = Path.Combine(dir, "held_b.csv");
            VinBigSubmission.Write(heldA, held, held.SelectMany(id => new Detection[] { new(id, 3, 0.3f, lesion), new(id, 3, 0.2f, elsewhere) }).ToList());
            VinBigSubmission.Write(heldB, held, held.SelectMany(id => new Detection[] { new(id, 3, 0.9f, elsewhere), new(id, 3, 0.8f, lesion) }).ToList());
            var a = Path.Combine(dir, "a.csv");
            var b = Path.Combine(dir, "b.csv");
            VinBigSubmission.Write(a, ["t1"], [new("t1", 3, 0.3f, new Box(20, 20, 60, 60))]);
            VinBigSubmission.Write(b, ["t1"], [new("t1", 3, 0.9f, new Box(70, 70, 90, 90))]);
            var fusedPath = Path.Combine(dir, "fused.csv");
            var output = Cli.Run("ensemble", a, b, "--out", fusedPath, "--calibrate-on", $"{heldA},{heldB}", "--calibration-truth", truthFile);
            Assert.Contains("scores calibrated on", output);

            var report = new ValidationReport();
            var truth = VinBigDataset.ReadTruth(truthFile, FusionOptions.None, report);
            var calA = DetectionScoreCalibration.Fit(truth, VinBigSubmission.Read(heldA, report).Detections, [VinBigClasses.NoFinding]);
            var calB = DetectionScoreCalibration.Fit(truth, VinBigSubmission.Read(heldB, report).Detections, [VinBigClasses.NoFinding]);
            var expected = BoxEnsemble.WeightedBoxesFusion([calA.Apply(VinBigSubmission.Read(a, report).Detections), calB.Apply(VinBigSubmission.Read(b, report).Detections)],
                ["t1"], WbfOptions.Kaggle);
            var fused = VinBigSubmission.Read(fusedPath, report).Detections.Where(d => d.Label == 3).OrderByDescending(d => d.Score).ToList();
            Assert.Equal(expected.Where(d => d.Label == 3).OrderByDescending(d => d.Score).Select(d => d.Score), fused.Select(d => d.Score), (x, y) => Math.Abs(x - y) < 1e-4);
            // a's 0.3 box was right where a said 0.3, b's 0.9 box was wrong where b said 0.9: after calibration a's box leads.
            Assert.Equal(20f, fused[0].Box.X1, 2);

            var (code, _, stderr) = Cli.RunAny("ensemble", a, b, "--out", fusedPath, "--calibrate-on", heldA, "--calibration-truth", truthFile);
            Assert.Equal(2, code);
            Assert.Contains("--calibrate-on: 1 held-out submissions for 2 inputs", stderr);
            (code, _, stderr) = Cli.RunAny("ensemble", a, b, "--out", fusedPath, "--calibrate-on", $"{heldA},{heldB}");
            Assert.Equal(2, code);
            Assert.Contains("needs --calibration-truth", stderr);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
