using CxrLab.Data;
using CxrLab.Evaluation;

namespace CxrLab.Tests.Evaluation;

/// <summary>Score calibration for ensembles: the isotonic fit against the closed form of isotonic regression (the value at
/// sample i is max over j ≤ i of min over k ≥ i of the mean of samples j..k), VOC matching against the evaluator's own
/// counts, and two detectors on different score scales brought onto one.</summary>
public sealed class ScoreCalibrationTests
{
    [Theory]
    [InlineData(1, 5)]
    [InlineData(2, 40)]
    [InlineData(3, 200)]
    public void Isotonic_fit_equals_the_max_min_formula_on_random_samples(int seed, int n)
    {
        var rng = new Random(seed);
        // Distinct scores; positives likelier at high scores, with violations everywhere.
        var samples = Enumerable.Range(0, n).Select(i => (Score: (i + rng.NextDouble() * 0.5) / n, Positive: rng.NextDouble() < 0.2 + 0.6 * i / n))
            .OrderBy(_ => rng.Next()).ToList();
        var fit = IsotonicCalibration.Fit(samples, prior: 0);
        var sorted = samples.OrderBy(s => s.Score).ToList();
        var y = sorted.Select(s => s.Positive ? 1.0 : 0.0).ToArray();
        for (var i = 0; i < n; i++)
        {
            var expected = double.NegativeInfinity;
            for (var j = 0; j <= i; j++)
            {
                var min = double.PositiveInfinity;
                for (var k = i; k < n; k++) min = Math.Min(min, y[j..(k + 1)].Average());
                expected = Math.Max(expected, min);
            }
            Assert.Equal(expected, fit.Apply(sorted[i].Score) - IsotonicCalibration.Slope * sorted[i].Score, 12);
        }
        // Monotone, and strictly so between distinct scores.
        for (var i = 1; i < n; i++) Assert.True(fit.Apply(sorted[i].Score) > fit.Apply(sorted[i - 1].Score));
    }

    [Fact]
    public void Blocks_are_smoothed_and_scores_outside_the_samples_take_the_end_blocks()
    {
        var fit = IsotonicCalibration.Fit([(0.1, false), (0.9, true)]);
        Assert.Equal(2, fit.Blocks);
        Assert.Equal(0.25 + IsotonicCalibration.Slope * 0.1, fit.Apply(0.1), 12);
        Assert.Equal(0.75 + IsotonicCalibration.Slope * 0.9, fit.Apply(0.9), 12);
        Assert.Equal(0.25, fit.Apply(0.0), 12);
        Assert.Equal(0.75 + IsotonicCalibration.Slope * 2, fit.Apply(2.0), 12);
        // A one-sample negative block below a 1-in-10 block: smoothed alone they would invert (0.25 > 0.136); the map stays monotone.
        List<(double, bool)> pulled = [(0.1, false), (0.2, true), .. Enumerable.Range(3, 9).Select(i => (i / 10.0, false))];
        var smoothed = IsotonicCalibration.Fit(pulled);
        Assert.Equal(2, smoothed.Blocks);
        var mapped = pulled.Select(p => smoothed.Apply(p.Item1)).ToList();
        Assert.All(mapped.Zip(mapped.Skip(1)), pair => Assert.True(pair.Second > pair.First));
        Assert.Equal(0.25 + IsotonicCalibration.Slope * 0.2, smoothed.Apply(0.2), 12);
        Assert.True(IsotonicCalibration.Fit([]).IsIdentity);
        Assert.Equal(0.3, IsotonicCalibration.Fit([]).Apply(0.3));
        Assert.Throws<ArgumentOutOfRangeException>(() => IsotonicCalibration.Fit([(0.1, true)], prior: -1));
    }

    [Fact]
    public void Match_marks_exactly_the_true_positives_the_evaluator_counts()
    {
        var rng = new Random(11);
        var images = Enumerable.Range(0, 12).Select(i => $"img{i}").ToList();
        Box Random() { var x = rng.Next(0, 80); var y = rng.Next(0, 80); return new Box(x, y, x + rng.Next(10, 40), y + rng.Next(10, 40)); }
        var truthBoxes = images.SelectMany(id => Enumerable.Range(0, rng.Next(0, 3)).Select(_ => new TruthBox(id, rng.Next(0, 3), Random()))).ToList();
        var truth = new TruthSet(images, truthBoxes);
        // Near copies of truth boxes (some shifted past IoU 0.4, some duplicated), random boxes, a class without truth and an unknown image.
        var detections = truthBoxes.SelectMany(t => Enumerable.Range(0, rng.Next(1, 3)).Select(_ =>
                new Detection(t.ImageId, t.Label, (float)rng.NextDouble(), new Box(t.Box.X1 + rng.Next(-8, 9), t.Box.Y1 + rng.Next(-8, 9), t.Box.X2 + rng.Next(-8, 9), t.Box.Y2 + rng.Next(-8, 9)))))
            .Concat(images.Select(id => new Detection(id, rng.Next(0, 3), (float)rng.NextDouble(), Random())))
            .Append(new Detection("img0", 9, 0.9f, new Box(0, 0, 10, 10)))
            .Append(new Detection("elsewhere", 0, 0.9f, new Box(0, 0, 10, 10))).ToList();

        var matched = VocEvaluator.Match(truth, detections);
        var score = VocEvaluator.Evaluate(truth, detections);
        Assert.Equal(detections.Count - 1, matched.Count);   // all but the one on an unknown image
        foreach (var c in score.PerClass)
        {
            Assert.Equal(c.TruePositives, matched.Count(m => m.Detection.Label == c.Label && m.TruePositive));
            Assert.Equal(c.DetectionCount, matched.Count(m => m.Detection.Label == c.Label));
        }
        Assert.Contains(matched, m => m.Detection.Label == 9 && !m.TruePositive);
        Assert.InRange(matched.Count(m => m.TruePositive), 1, truthBoxes.Count);
    }

    [Fact]
    public void Two_detectors_on_different_scales_are_brought_onto_one_and_the_no_finding_line_gets_its_own_curve()
    {
        var lesion = new Box(10, 10, 50, 50);
        var elsewhere = new Box(100, 100, 140, 140);
        var ids = Enumerable.Range(0, 20).Select(i => $"i{i}").ToList();
        var truth = new TruthSet(ids, ids.Select(id => new TruthBox(id, 0, lesion)).Concat(ids.Take(10).Select(id => new TruthBox(id, 14, new Box(0, 0, 1, 1)))));
        // Low-scoring detector: right at 0.3, wrong at 0.1. High-scoring one: right at 0.95, wrong at 0.6.
        var low = ids.SelectMany(id => new[] { new Detection(id, 0, 0.3f, lesion), new Detection(id, 0, 0.1f, elsewhere) }).ToList();
        var high = ids.SelectMany(id => new[] { new Detection(id, 0, 0.95f, lesion), new Detection(id, 0, 0.6f, elsewhere) }).ToList();
        var lowCal = DetectionScoreCalibration.Fit(truth, low, [14]);
        var highCal = DetectionScoreCalibration.Fit(truth, high, [14]);
        Assert.True(lowCal.Apply(low[0]) > highCal.Apply(high[1]), "a right box of the low-scoring detector must rank above a wrong one of the other");
        Assert.Equal(lowCal.Apply(low[0]), highCal.Apply(high[0]), 3);

        // "No finding" lines (label 14) about 0.2 are right on the first 10 images (the higher ones); finding boxes about 0.2 never are.
        var mixed = ids.Select((id, i) => new Detection(id, 14, 0.2f + (20 - i) * 1e-3f, new Box(0, 0, 1, 1)))
            .Concat(ids.Select((id, i) => new Detection(id, 0, 0.2f + i * 1e-3f, elsewhere))).ToList();
        var cal = DetectionScoreCalibration.Fit(truth, mixed, [14]);
        Assert.True(cal.Apply(mixed[0]) > 0.9);
        Assert.True(cal.Apply(mixed[20]) < 0.1);
        Assert.Equal(40, cal.Apply(mixed).Count);
    }
}
