using CxrLab.Data;
using CxrLab.Evaluation;

namespace CxrLab.Tests.Evaluation;

/// <summary>Issue 18, item 3: the winners' normal/abnormal filter on hand cases (P(abnormal) below the threshold → only the
/// No-finding line; above → finding scores × p and a No-finding line of 1 − p replacing the detector's), ROC AUC on hand
/// cases, and the probability file.</summary>
public sealed class NormalFilterTests : IDisposable
{
    readonly string temp = Directory.CreateTempSubdirectory("cxr-filter-").FullName;
    public void Dispose() => Directory.Delete(temp, recursive: true);

    static readonly Box Lesion = new(10, 20, 50, 60);

    static List<Detection> Detections() =>
    [
        new("a", 3, 0.9f, Lesion),
        new("a", 7, 0.4f, new Box(1, 2, 3, 4)),
        new("a", VinBigClasses.NoFinding, 0.1f, VinBigClasses.NoFindingBox),   // the detector's own rule: 1 − best
        new("b", 0, 0.5f, Lesion),
        new("b", VinBigClasses.NoFinding, 0.5f, VinBigClasses.NoFindingBox),
        new("elsewhere", 0, 0.5f, Lesion),
    ];

    [Fact]
    public void An_image_below_the_threshold_gets_only_the_no_finding_line_with_score_one()
    {
        var p = new Dictionary<string, double> { ["a"] = 0.05, ["b"] = 0.6 };
        var result = NormalFilter.Apply(Detections(), p, ["a", "b"], new NormalFilterOptions(Low: 0.08));
        var a = Assert.Single(result, d => d.ImageId == "a");
        Assert.Equal(new Detection("a", 14, 1f, new Box(0, 0, 1, 1)), a);
        Assert.DoesNotContain(result, d => d.ImageId == "elsewhere");   // only the listed images
    }

    [Fact]
    public void An_image_above_the_threshold_keeps_its_boxes_scaled_by_p_and_gets_no_finding_one_minus_p()
    {
        var p = new Dictionary<string, double> { ["a"] = 0.25, ["b"] = 0.08 };   // b exactly at the threshold: kept
        var result = NormalFilter.Apply(Detections(), p, ["a", "b"], new NormalFilterOptions(Low: 0.08));
        var a = result.Where(d => d.ImageId == "a").ToList();
        Assert.Equal(3, a.Count);
        Assert.Equal(0.9f * 0.25f, a.Single(d => d.Label == 3).Score, 6);
        Assert.Equal(Lesion, a.Single(d => d.Label == 3).Box);
        Assert.Equal(0.4f * 0.25f, a.Single(d => d.Label == 7).Score, 6);
        var noFinding = a.Single(d => d.Label == 14);                      // the detector's 0.1 line is replaced
        Assert.Equal(0.75f, noFinding.Score, 6);
        Assert.Equal(VinBigClasses.NoFindingBox, noFinding.Box);
        var b = result.Where(d => d.ImageId == "b").ToList();
        Assert.Equal(2, b.Count);
        Assert.Equal(0.5f * 0.08f, b.Single(d => d.Label == 0).Score, 6);
        Assert.Equal(0.92f, b.Single(d => d.Label == 14).Score, 6);

        // Without down-weighting the boxes keep their scores; the No-finding line is still 1 − p.
        var unscaled = NormalFilter.Apply(Detections(), p, ["a"], new NormalFilterOptions(Low: 0.08, ScaleBoxes: false));
        Assert.Equal(0.9f, unscaled.Single(d => d.Label == 3).Score);
        Assert.Equal(0.75f, unscaled.Single(d => d.Label == 14).Score, 6);
    }

    [Fact]
    public void An_image_without_detections_still_gets_its_no_finding_line_and_a_missing_probability_is_an_error()
    {
        var p = new Dictionary<string, double> { ["c"] = 0.7 };
        var c = Assert.Single(NormalFilter.Apply([], p, ["c"]));
        Assert.Equal(14, c.Label);
        Assert.Equal(0.3f, c.Score, 6);
        var error = Assert.Throws<KeyNotFoundException>(() => NormalFilter.Apply(Detections(), p, ["a"]));
        Assert.Contains("'a'", error.Message);
    }

    [Fact]
    public void The_filter_raises_the_kaggle_map_when_the_classifier_is_right()
    {
        // Image n is normal (truth: No finding), image s has a class-0 lesion. The detector fires on both.
        var truth = new TruthSet(["n", "s"], [new TruthBox("n", 14, VinBigClasses.NoFindingBox), new TruthBox("s", 0, Lesion)]);
        List<Detection> detections =
        [
            new("n", 0, 0.9f, Lesion), new("n", 14, 0.1f, VinBigClasses.NoFindingBox),
            new("s", 0, 0.5f, Lesion), new("s", 14, 0.5f, VinBigClasses.NoFindingBox),
        ];
        // Class 0: FP at 0.9 then TP → AP 0.5; No finding: FP (s, 0.5) then TP (n, 0.1) → AP 0.5.
        Assert.Equal(0.5, VocEvaluator.Evaluate(truth, detections).Map, 6);
        var filtered = NormalFilter.Apply(detections, new Dictionary<string, double> { ["n"] = 0.02, ["s"] = 0.9 }, truth.ImageIds);
        // Class 0: the TP alone → 1; No finding: n at 1.0 (TP) above s at 0.1 (FP) → 1.
        Assert.Equal(1.0, VocEvaluator.Evaluate(truth, filtered).Map, 6);
    }

    [Fact]
    public void Roc_auc_accuracy_and_log_loss_on_hand_cases()
    {
        // scikit-learn's roc_auc_score example: 0.75.
        Assert.Equal(0.75, BinaryMetrics.RocAuc([0.1, 0.4, 0.35, 0.8], [false, false, true, true]), 12);
        Assert.Equal(1.0, BinaryMetrics.RocAuc([0.1, 0.2, 0.7, 0.9], [false, false, true, true]), 12);
        Assert.Equal(0.0, BinaryMetrics.RocAuc([0.9, 0.7, 0.2, 0.1], [false, false, true, true]), 12);
        Assert.Equal(0.5, BinaryMetrics.RocAuc([0.5, 0.5, 0.5], [true, false, false]), 12);          // ties count half
        // Pairs (positive, negative): (0.5, 0.2) 1, (0.5, 0.5) ½, (0.9, 0.2) 1, (0.9, 0.5) 1 → 3.5 / 4.
        Assert.Equal(0.875, BinaryMetrics.RocAuc([0.2, 0.5, 0.5, 0.9], [false, true, false, true]), 12);
        Assert.True(double.IsNaN(BinaryMetrics.RocAuc([0.2, 0.4], [true, true])));
        Assert.Equal(0.75, BinaryMetrics.Accuracy([0.1, 0.6, 0.7, 0.4], [false, true, false, false]), 12);
        Assert.Equal(-Math.Log(0.8), BinaryMetrics.LogLoss([0.8, 0.2], [true, false]), 12);
    }

    [Fact]
    public void Probability_files_round_trip_and_a_bad_row_names_its_line()
    {
        var path = Path.Combine(temp, "p.csv");
        NormalFilter.WriteProbabilities(path, [KeyValuePair.Create("x", 0.125), KeyValuePair.Create("y,z", 1.0)]);
        var read = NormalFilter.ReadProbabilities(path);
        Assert.Equal(0.125, read["x"]);
        Assert.Equal(1.0, read["y,z"]);
        File.WriteAllText(path, "image_id,p_abnormal\nx,0.5\ny,1.5\n");
        var error = Assert.Throws<InvalidDataException>(() => NormalFilter.ReadProbabilities(path));
        Assert.Contains("p.csv:3", error.Message);
    }
}
