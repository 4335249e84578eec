using CxrLab.Data;
using CxrLab.Diagnostics;
using CxrLab.Models.Detection;
using CxrLab.Torch;

namespace CxrLab.Training;

/// <summary>A trained model run over a whole <see cref="DetectionDataset"/> (no augmentation), and validation
/// images picked for a report or a notebook with their predictions beside the truth.</summary>
public static class DatasetPrediction
{
    /// <summary>The model's detections for every item, in dataset order, batched by <paramref name="batchSize"/>:
    /// boxes in the dataset's (cache) pixels, task class ids, truth alongside. The model must be
    /// in eval mode. Stops between batches with <see cref="OperationCanceledException"/> when
    /// <paramref name="cancellation"/> (default: the ambient <see cref="Cancellation.Current"/>) is cancelled.</summary>
    public static List<ValidationItem> Predict(IDetector model, DetectionDataset dataset, int batchSize, CancellationToken? cancellation = null, bool hflip = false)
    {
        var items = new List<ValidationItem>(dataset.Count);
        foreach (var batch in Batches(dataset, batchSize, cancellation))
        {
            using var scope = torch.NewDisposeScope();
            try
            {
                var detections = TestTimeAugmentation.Predict(model, batch.Select(s => s.Image).ToList(), hflip);
                items.AddRange(batch.Select((s, k) => Item(s, detections[k])));
            }
            finally
            {
                foreach (var s in batch) s.Dispose();
            }
        }
        return items;
    }

    /// <summary>Runs <paramref name="model"/> up to its box head over the dataset once and keeps every candidate box
    /// (<see cref="IDetector.PredictCandidates"/>), so post-processing thresholds can be swept with
    /// <see cref="DatasetCandidates.Select"/> at a fraction of the cost of predicting again. Model in eval mode;
    /// cancellation as <see cref="Predict"/>.</summary>
    public static DatasetCandidates Candidates(IDetector model, DetectionDataset dataset, int batchSize, CancellationToken? cancellation = null)
    {
        var batches = new List<(string[] Ids, DetectionTarget[] Truth, DetectionCandidates Candidates)>();
        try
        {
            foreach (var batch in Batches(dataset, batchSize, cancellation))
            {
                try
                {
                    var truth = batch.Select(s => new DetectionTarget(s.Target.Boxes.clone(), s.Target.Labels.clone())).ToArray();
                    batches.Add((batch.Select(s => s.Id).ToArray(), truth, model.PredictCandidates(batch.Select(s => s.Image).ToList())));
                }
                finally
                {
                    foreach (var s in batch) s.Dispose();
                }
            }
        }
        catch
        {
            new DatasetCandidates(model, batches).Dispose();
            throw;
        }
        return new DatasetCandidates(model, batches);
    }

    internal static ValidationItem Item(DetectionSample sample, Detections detections) => Item(sample.Id, sample.Target, detections);

    internal static ValidationItem Item(string id, DetectionTarget truth, Detections detections) =>
        new(id, Rows(truth.Boxes), truth.Labels.to(ScalarType.Int64).ToArray<long>(),
            Rows(detections.Boxes), detections.Scores.to(ScalarType.Float32).ToArray<float>(), detections.Labels.to(ScalarType.Int64).ToArray<long>());

    /// <summary>The dataset's samples (no augmentation) in batches; the caller disposes them.</summary>
    static IEnumerable<List<DetectionSample>> Batches(DetectionDataset dataset, int batchSize, CancellationToken? cancellation)
    {
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), "the batch needs at least one image");
        var token = cancellation ?? Cancellation.Current;
        var samples = new DetectionDatasetSamples(dataset, null, 0);
        for (var start = 0; start < samples.Count; start += batchSize)
        {
            token.ThrowIfCancellationRequested();
            yield return Enumerable.Range(start, Math.Min(batchSize, samples.Count - start)).Select(i => samples.Load(i, -1)).ToList();
        }
    }

    /// <summary>Up to <paramref name="count"/> items with their predictions as <see cref="ReportExample"/>s (dataset
    /// class ids, cache pixels): the images with the most truth boxes first, then one without findings when
    /// there is one, so a reader sees both hits and false alarms.</summary>
    public static List<ReportExample> Examples(DetectionDataset dataset, IReadOnlyList<ValidationItem> predictions, int count)
    {
        var byId = predictions.ToDictionary(p => p.Id, StringComparer.Ordinal);
        var withFindings = dataset.Items.Where(i => i.Target.Count > 0).OrderByDescending(i => i.Target.Count).Take(Math.Max(0, count - 1)).ToList();
        var chosen = withFindings.Concat(dataset.Items.Where(i => i.Target.Count == 0).Take(count > 0 ? 1 : 0)).ToList();
        return chosen.Select(item =>
        {
            if (!byId.TryGetValue(item.ImageId, out var p)) throw new ArgumentException($"no prediction for image {item.ImageId}; predict the same dataset first", nameof(predictions));
            return new ReportExample(item.ImageId, item.Load(), item.Target,
                p.Boxes.Select(b => new Box(b[0], b[1], b[2], b[3])).ToList(), p.Labels.Select(l => (int)l).ToList(), p.Scores);
        }).ToList();
    }

    static float[][] Rows(Tensor boxes)
    {
        var flat = boxes.to(ScalarType.Float32).contiguous().ToArray<float>();
        return Enumerable.Range(0, flat.Length / 4).Select(i => flat[(i * 4)..(i * 4 + 4)]).ToArray();
    }
}

/// <summary>A dataset's detector candidates (<see cref="DatasetPrediction.Candidates"/>): post-process them with any
/// <see cref="PostprocessOptions"/> into the same items <see cref="DatasetPrediction.Predict"/> would return for a model with
/// those options.</summary>
public sealed class DatasetCandidates : IDisposable
{
    readonly IDetector model;
    readonly List<(string[] Ids, DetectionTarget[] Truth, DetectionCandidates Candidates)> batches;

    internal DatasetCandidates(IDetector model, List<(string[] Ids, DetectionTarget[] Truth, DetectionCandidates Candidates)> batches)
    {
        this.model = model;
        this.batches = batches;
    }

    /// <summary>Images held.</summary>
    public int Count => batches.Sum(b => b.Ids.Length);

    /// <summary>Detections after post-processing with <paramref name="options"/> (score threshold, per-class NMS,
    /// top-k), in dataset order, as <see cref="ValidationItem"/>s in the dataset's pixels.</summary>
    public List<ValidationItem> Select(PostprocessOptions options)
    {
        var items = new List<ValidationItem>(Count);
        foreach (var (ids, truth, candidates) in batches)
        {
            using var scope = torch.NewDisposeScope();
            var detections = model.SelectDetections(candidates, options);
            for (var k = 0; k < ids.Length; k++) items.Add(DatasetPrediction.Item(ids[k], truth[k], detections[k]));
        }
        return items;
    }

    public void Dispose()
    {
        foreach (var (_, truth, candidates) in batches)
        {
            candidates.Dispose();
            foreach (var t in truth) { t.Boxes.Dispose(); t.Labels.Dispose(); }
        }
        batches.Clear();
    }
}
