using CxrLab.Data;
using CxrLab.Evaluation;

namespace CxrLab.Tests.Evaluation;

/// <summary>Small cases worked by hand (values in the comments), each also checked against the numpy reference.</summary>
public class HandWorkedMetricTests
{
    static readonly Box A = new(10, 10, 50, 50), B = new(100, 100, 160, 140), Far = new(300, 300, 320, 320);

    static TruthSet Truth(params (string Image, int Label, Box Box)[] boxes) =>
        new(boxes.Select(b => b.Image), boxes.Select(b => new TruthBox(b.Image, b.Label, b.Box)));

    [Fact]
    public void PerfectPredictionsScoreOneEverywhere()
    {
        var truth = Truth(("a", 0, A), ("a", 3, B), ("b", 0, B));
        var dets = truth.Boxes.Select(t => new Detection(t.ImageId, t.Label, 0.9f, t.Box)).ToList();
        Assert.Equal(1.0, VocEvaluator.Evaluate(truth, dets).Map, 12);
        Assert.Equal(1.0, CocoEvaluator.Evaluate(truth, dets).Map, 12);
        Assert.Equal(1.0, CocoEvaluator.Evaluate(truth, dets, CocoEvaluator.VinBigThresholds).Map, 12);
    }

    [Fact]
    public void NoPredictionsAndAllWrongScoreZero()
    {
        var truth = Truth(("a", 0, A), ("b", 1, B));
        Assert.Equal(0.0, VocEvaluator.Evaluate(truth, []).Map);
        Assert.Equal(0.0, CocoEvaluator.Evaluate(truth, []).Map);
        // right place, wrong class; and right class, wrong place
        List<Detection> wrong = [new("a", 1, 0.9f, A), new("b", 1, 0.8f, Far)];
        var voc = VocEvaluator.Evaluate(truth, wrong);
        Assert.Equal(0.0, voc.Map);
        Assert.Equal(2, voc.PerClass.Count); // classes with truth only; the class-1 detection on "a" is a false positive
    }

    [Fact]
    public void DuplicateDetectionIsAFalsePositive()
    {
        // class 0: truth A, B on one image; detections: A (0.9, TP), A again (0.8, FP: A already matched), B (0.7, TP)
        // recall .5 .5 1, precision 1 .5 .667 → all-point AP = .5·1 + .5·(2/3) = 0.833333
        var truth = Truth(("a", 0, A), ("a", 0, B));
        List<Detection> dets = [new("a", 0, 0.9f, A), new("a", 0, 0.8f, A), new("a", 0, 0.7f, B)];
        Assert.Equal(0.5 + 0.5 * (2.0 / 3), VocEvaluator.Evaluate(truth, dets).Map, 12);
    }

    [Fact]
    public void TiedScoresKeepTheirInputOrder()
    {
        var truth = Truth(("a", 0, A));
        // FP first then TP at the same score: recall 0, 1; precision 0, .5 → AP .5; the other order → 1.
        List<Detection> fpFirst = [new("a", 0, 0.5f, Far), new("a", 0, 0.5f, A)];
        List<Detection> tpFirst = [new("a", 0, 0.5f, A), new("a", 0, 0.5f, Far)];
        Assert.Equal(0.5, VocEvaluator.Evaluate(truth, fpFirst).Map, 12);
        Assert.Equal(1.0, VocEvaluator.Evaluate(truth, tpFirst).Map, 12);
    }

    [Fact]
    public void IouMustExceedPointFourForVocButOnlyReachItForCoco()
    {
        // truth 0..10 × 0..10; detection 0..4 × 0..10 → IoU exactly 0.4
        var truth = Truth(("a", 0, new Box(0, 0, 10, 10)));
        List<Detection> dets = [new("a", 0, 0.9f, new Box(0, 0, 4, 10))];
        Assert.Equal(0.0, VocEvaluator.Evaluate(truth, dets).Map);
        Assert.Equal(1.0, CocoEvaluator.Evaluate(truth, dets, CocoEvaluator.VinBigThresholds).Map, 12);
    }

    [Fact]
    public void NoFindingIsScoredAsClass14WithTheUnitBox()
    {
        var dir = Directory.CreateTempSubdirectory("cxr-nofinding").FullName;
        try
        {
            var truth = Path.Combine(dir, "train.csv");
            File.WriteAllLines(truth, [
                "image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max",
                "n1,No finding,14,R1,,,,", "n1,No finding,14,R2,,,,", "n1,No finding,14,R3,,,,",
                "s1,Cardiomegaly,3,R1,10,10,50,50", "s1,No finding,14,R2,,,,",
            ]);
            var sub = Path.Combine(dir, "sub.csv");
            VinBigSubmission.Write(sub, ["n1", "s1"], [new Detection("s1", 3, 0.7f, new Box(12, 11, 50, 49))]);
            Assert.Contains("n1,14 1 0 0 1 1", File.ReadAllLines(sub));
            var score = KaggleScoring.ScoreVinBig(truth, sub);
            Assert.Equal(1.0, score.Map, 12); // class 14 on n1 (one box despite three readers) and class 3 on s1
            Assert.Equal([3, 14], score.Voc.PerClass.Select(c => c.Label));
            var reference = MetricReference.Score("vinbig", truth, sub);
            Assert.Equal(reference.GetProperty("map").GetDouble(), score.Map, 1e-9);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void RsnaHandCases()
    {
        var truth = new TruthSet(["hit", "extra", "miss", "neg-fp", "neg-empty"],
            [new("hit", 0, A), new("extra", 0, A), new("miss", 0, B)]);
        List<Detection> dets = [new("hit", 0, 0.9f, A), new("extra", 0, 0.9f, A), new("extra", 0, 0.3f, Far), new("neg-fp", 0, 0.5f, B)];
        var result = RsnaMetric.Evaluate(truth, dets);
        // hit 1; extra 1/(1+1) = .5; miss 0; neg-fp 0; neg-empty skipped → (1 + .5 + 0 + 0) / 4
        Assert.Equal(1.5 / 4, result.Score, 12);
        Assert.Equal(1, result.SkippedImages);
        Assert.Equal(4, result.Images.Count);
    }

    [Fact]
    public void ApInterpolationsMatchWorkedValues()
    {
        // recall .5, .5, 1 with precision 1, .5, 2/3: VOC 0.8333; COCO 101 points: r ≤ .5 (51 points) → 1, r > .5 (50 points) → 2/3
        double[] recall = [0.5, 0.5, 1.0], precision = [1.0, 0.5, 2.0 / 3];
        Assert.Equal(0.5 + 0.5 * (2.0 / 3), AveragePrecision.AllPoint(recall, precision), 12);
        Assert.Equal((51 * 1.0 + 50 * (2.0 / 3)) / 101, AveragePrecision.Coco101(recall, precision), 12);
    }

    [Fact]
    public void ConfusionMatrixCountsMatchesMissesAndFalseAlarms()
    {
        var truth = Truth(("a", 0, A), ("a", 1, B));
        List<Detection> dets = [new("a", 0, 0.9f, A), new("a", 2, 0.9f, B), new("a", 1, 0.9f, Far), new("a", 1, 0.1f, B)];
        var m = ConfusionMatrix.Compute(truth, dets, classCount: 3);
        Assert.Equal(1, m.Counts[0, 0]); // A found as 0
        Assert.Equal(1, m.Counts[1, 2]); // B (class 1) found as 2
        Assert.Equal(1, m.Counts[m.Background, 1]); // Far: false alarm of class 1 (the 0.1 detection is below the threshold)
        Assert.Equal(3, m.Counts.Cast<int>().Sum());
    }
}

public class SubmissionFileTests
{
    [Fact]
    public void MalformedSubmissionRowsAreReportedWithLinesAndTheRestIsScored()
    {
        var path = Path.Combine(Path.GetTempPath(), $"cxr-sub-{Guid.NewGuid():N}.csv");
        try
        {
            File.WriteAllLines(path, [
                "image_id,PredictionString",
                "a,3 0.9 10 10 50 50 14 0.2 0 0 1 1",
                "b,3 0.9 10 10 50",                  // line 3: not a multiple of 6
                "c,3 high 10 10 50 50",              // line 4: not numeric
                "d,21 0.5 10 10 50 50",              // line 5: unknown class
                ",3 0.5 1 1 2 2",                    // line 6: empty id
                "e,",                                 // empty prediction string: nothing found
            ]);
            var report = new CxrLab.Data.ValidationReport();
            var (ids, dets) = VinBigSubmission.Read(path, report);
            Assert.Equal(["a", "b", "c", "d", "e"], ids);
            Assert.Equal(2, dets.Count);
            Assert.Equal([3, 4, 5, 6], report.Issues.Select(i => i.Line));
            Assert.Equal(CxrLab.Data.IssueKind.UnknownClass, report.Issues[2].Kind);
            File.WriteAllLines(path, ["image_id,Predictions", "a,"]);
            var error = Assert.Throws<InvalidDataException>(() => VinBigSubmission.Read(path, new CxrLab.Data.ValidationReport()));
            Assert.Contains("PredictionString", error.Message);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void RsnaSubmissionRoundTripsTopLeftWidthHeight()
    {
        var path = Path.Combine(Path.GetTempPath(), $"cxr-rsna-{Guid.NewGuid():N}.csv");
        try
        {
            RsnaSubmission.Write(path, ["p1", "p2"], [new Detection("p1", 0, 0.25f, new CxrLab.Data.Box(10, 20, 110, 70)), new Detection("p1", 0, 0.75f, new CxrLab.Data.Box(1, 2, 3, 4))]);
            Assert.Equal(["patientId,PredictionString", "p1,0.75 1 2 2 2 0.25 10 20 100 50", "p2,"], File.ReadAllLines(path));
            var (ids, dets) = RsnaSubmission.Read(path, new CxrLab.Data.ValidationReport());
            Assert.Equal(["p1", "p2"], ids);
            Assert.Equal(new CxrLab.Data.Box(10, 20, 110, 70), dets[1].Box);
        }
        finally { File.Delete(path); }
    }
}
