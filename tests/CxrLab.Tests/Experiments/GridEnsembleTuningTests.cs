using System.Text.Json;
using CxrLab.Data;
using CxrLab.Evaluation;
using CxrLab.Experiments;
using CxrLab.Tests.Training;

namespace CxrLab.Tests.Experiments;

/// <summary>The table's <c>ensemble+tuned</c> row: WBF member weights chosen on one half of the validation images and
/// applied to the other. A strong member beside one that puts a confident false positive on every image: equal weights
/// rank every false positive above every true box, the tuned weights favour the strong member on both halves.</summary>
public sealed class GridEnsembleTuningTests : IDisposable
{
    readonly string temp = Directory.CreateTempSubdirectory("cxr-gridtuned-").FullName;
    public void Dispose() => Directory.Delete(temp, recursive: true);

    static readonly string[] Images = ["a", "b", "c", "d"];
    static readonly Box Lesion = new(10, 20, 50, 60);
    static readonly Box Elsewhere = new(100, 120, 140, 160);

    static void WriteCell(GridCell cell, Func<string, Detection> predict) =>
        FinishedCell.Write(cell, Images.Select(id => new VinBigAnnotation(id, 0, "", Lesion, 0)).ToList(), Images, Images.Select(predict).ToList(), valMap40: 0);

    [Fact]
    public void Tuned_weights_drop_the_member_that_only_adds_false_positives_and_say_so()
    {
        var experiments = CategoryTrainingTests.RepoFile("experiments");
        var gridFile = Path.Combine(temp, "g.yaml");
        File.WriteAllText(gridFile, $$"""
            name: g
            runs_dir: {{Path.Combine(temp, "runs")}}
            categories: [A]
            models:
              - {name: good, config: "{{experiments}}/vinbig_frcnn_{category}.yaml"}
              - {name: bad, config: "{{experiments}}/vinbig_yolox_{category}.yaml"}
            ensemble: [good, bad]
            """);
        var grid = ExperimentGrid.Load(gridFile);
        var cells = grid.Cells().ToList();
        WriteCell(cells.Single(c => c.Model.Name == "good"), id => new Detection(id, 0, 0.9f, Lesion));
        WriteCell(cells.Single(c => c.Model.Name == "bad"), id => new Detection(id, 0, 0.95f, Elsewhere));

        var (score, weights) = GridTable.CrossFittedEnsemble(cells, hflip: false, WbfOptions.Kaggle);
        Assert.Equal(1.0, score.Map, 6);
        Assert.Equal(2, weights.Length);
        Assert.All(weights, w => Assert.True(w[0] > w[1], $"weights good {w[0]}, bad {w[1]}"));

        var table = GridTable.Build(grid);
        var rows = JsonDocument.Parse(table.Json()).RootElement.EnumerateArray().ToDictionary(r => r.GetProperty("model").GetString()!);
        // Equal weights: each lone box's score is halved, the false positives (0.475) rank above the true boxes (0.45).
        Assert.Equal(0.5, rows["ensemble"].GetProperty("val_map40").GetDouble(), 6);
        Assert.Equal(1.0, rows["ensemble+tuned"].GetProperty("val_map40").GetDouble(), 6);
        Assert.StartsWith("weights half 1: good ", rows["ensemble+tuned"].GetProperty("note").GetString());
        Assert.False(rows["ensemble"].TryGetProperty("note", out _));
        Assert.Contains("- ensemble+tuned A: weights half 1: good", table.Markdown());
    }
}
