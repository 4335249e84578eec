using CxrLab.Training;

namespace CxrLab.Tasks.Shapes;

/// <summary>The synthetic smoke-test set (<c>data.dataset: shapes</c>, <see cref="ShapesDataset"/>): two classes, square
/// and bar, <c>data.limit</c> images (32 by default) and a quarter as many for validation, scored with plain mAP@0.4.</summary>
public sealed class ShapesTask : IDetectionTask
{
    public string Name => "shapes";

    public IReadOnlyList<string> ClassNames { get; } = ["square", "bar"];

    public TaskData Prepare(ExperimentConfig config, Action<string>? log = null)
    {
        var count = config.Data.Limit > 0 ? config.Data.Limit : 32;
        return new TaskData(new InMemoryDetectionDataset(ShapesDataset.Generate(count, (int)config.Seed, config.Data.CacheSize)),
            new InMemoryDetectionDataset(ShapesDataset.Generate(Math.Max(2, count / 4), (int)config.Seed + 1, config.Data.CacheSize)),
            new MeanAveragePrecision(0.4));
    }

    public void WriteSubmission(string path, IReadOnlyList<ImagePrediction> predictions)
    {
        var lines = predictions.Select(p => p.ImageId + "," + string.Join(' ', Enumerable.Range(0, p.Labels.Length).Select(k =>
            string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{p.Labels[k]} {p.Scores[k]:0.####} {p.Boxes[k][0]:0.#} {p.Boxes[k][1]:0.#} {p.Boxes[k][2]:0.#} {p.Boxes[k][3]:0.#}"))));
        Imaging.ImageCodecs.WriteAtomically(path, System.Text.Encoding.UTF8.GetBytes("image_id,PredictionString\n" + string.Join('\n', lines) + "\n"));
    }
}
