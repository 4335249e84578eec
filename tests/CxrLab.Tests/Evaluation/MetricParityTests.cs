using System.Text.Json;
using CxrLab.Evaluation;

namespace CxrLab.Tests.Evaluation;

/// <summary>./cxr score's computation against the independent numpy implementations, on random cases.</summary>
public class MetricParityTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void VinBigScoresEqualTheReferenceOnRandomCases(int seed)
    {
        var (truth, pred) = MetricReference.RandomVinBig(seed);
        try
        {
            var ours = KaggleScoring.ScoreVinBig(truth, pred);
            var reference = MetricReference.Score("vinbig", truth, pred);
            Assert.True(ours.Voc.PerClass.Count >= 4, "the random case should hold several classes");
            Assert.Equal(reference.GetProperty("map").GetDouble(), ours.Map, 1e-9);
            AssertPerClass(reference.GetProperty("ap"), ours.Voc);
            Assert.Equal(reference.GetProperty("coco40").GetProperty("map").GetDouble(), ours.Coco40.Map, 1e-9);
            AssertPerClass(reference.GetProperty("coco40").GetProperty("ap"), ours.Coco40);
            Assert.Equal(reference.GetProperty("coco").GetProperty("map").GetDouble(), ours.Coco.Map, 1e-9);
            AssertPerClass(reference.GetProperty("coco").GetProperty("ap"), ours.Coco);
            Assert.Equal(1, ours.Voc.IgnoredDetections); // the prediction on "unknown_image"
            Assert.True(ours.Map is > 0.05 and < 0.99, $"random case should be neither trivial nor hopeless, got {ours.Map}");
        }
        finally { File.Delete(truth); File.Delete(pred); }
    }

    [Theory]
    [InlineData(11)]
    [InlineData(12)]
    [InlineData(13)]
    public void RsnaScoresEqualTheReferenceOnRandomCases(int seed)
    {
        var (truth, pred) = MetricReference.RandomRsna(seed);
        try
        {
            var ours = KaggleScoring.ScoreRsna(truth, pred);
            var reference = MetricReference.Score("rsna", truth, pred);
            Assert.Equal(reference.GetProperty("score").GetDouble(), ours.Score, 1e-9);
            Assert.Equal(reference.GetProperty("images").GetInt32(), ours.Result.Images.Count);
            var perT = reference.GetProperty("per_threshold").EnumerateArray().Select(e => e.GetDouble()).ToArray();
            for (var t = 0; t < perT.Length; t++) Assert.Equal(perT[t], ours.Result.PerThreshold[t], 1e-9);
            Assert.True(ours.Score is > 0.05 and < 0.95, $"random case should be neither trivial nor hopeless, got {ours.Score}");
        }
        finally { File.Delete(truth); File.Delete(pred); }
    }

    [Fact]
    public void ScoreVerbPrintsTheReferenceValueAsItsLastJsonLine()
    {
        var (truth, pred) = MetricReference.RandomVinBig(7, images: 12);
        try
        {
            var output = Cli.Run("score", "vinbig", "--truth", truth, "--pred", pred, "--json");
            var json = JsonDocument.Parse(output.Trim().Split('\n')[^1]).RootElement;
            var reference = MetricReference.Score("vinbig", truth, pred);
            Assert.Equal(reference.GetProperty("map").GetDouble(), json.GetProperty("map").GetDouble(), 1e-6);
            foreach (var c in reference.GetProperty("ap").EnumerateObject())
                Assert.Equal(c.Value.GetDouble(), json.GetProperty("ap").GetProperty(c.Name).GetDouble(), 1e-6);
            Assert.Contains("mAP@0.4 (VOC, Kaggle)", output);
        }
        finally { File.Delete(truth); File.Delete(pred); }
    }

    [Fact]
    public void RsnaScoreVerbPrintsTheReferenceValueAsItsLastJsonLine()
    {
        var (truth, pred) = MetricReference.RandomRsna(8, images: 15);
        try
        {
            var output = Cli.Run("score", "rsna", "--truth", truth, "--pred", pred, "--json");
            var json = JsonDocument.Parse(output.Trim().Split('\n')[^1]).RootElement;
            var reference = MetricReference.Score("rsna", truth, pred);
            Assert.Equal(reference.GetProperty("score").GetDouble(), json.GetProperty("score").GetDouble(), 1e-6);
        }
        finally { File.Delete(truth); File.Delete(pred); }
    }

    static void AssertPerClass(JsonElement reference, MapResult ours)
    {
        var expected = reference.EnumerateObject().ToDictionary(p => int.Parse(p.Name), p => p.Value.GetDouble());
        Assert.Equal(expected.Keys.Order(), ours.PerClass.Select(c => c.Label));
        foreach (var c in ours.PerClass) Assert.Equal(expected[c.Label], c.Ap, 1e-9);
    }
}
