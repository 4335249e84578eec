using System.Globalization;
using CxrLab.Data;

namespace CxrLab.Evaluation;

/// <summary>Settings of <see cref="NormalFilter"/>. <paramref name="Low"/>: below this P(abnormal) an image is declared
/// normal (the public VinBigData "2-class filter" used low_thr 0.08; winners used 0.05–0.1). <paramref name="ScaleBoxes"/>:
/// multiply the kept finding scores by P(abnormal) (down-weighting boxes on probably-normal images).</summary>
public sealed record NormalFilterOptions(double Low = 0.08, bool ScaleBoxes = true)
{
    public static NormalFilterOptions Default { get; } = new();
}

/// <summary>The VinBigData winners' "2-class filter": an image classifier's P(abnormal) p decides the image's "No finding"
/// line (class 14, box 0 0 1 1) and weighs its boxes. With p &lt; low the image's prediction is only <c>14 1 0 0 1 1</c>;
/// otherwise its finding scores are multiplied by p and <c>14 (1 − p) 0 0 1 1</c> is its No-finding line. Any No-finding
/// line the detector (or WBF) produced is replaced. Works on Kaggle detections (original pixels, classes 0–14), so it
/// applies to a single model's predictions, an ensemble's, or a submission read back.</summary>
public static class NormalFilter
{
    /// <summary>Filters the detections of <paramref name="imageIds"/>; every image needs a probability in
    /// <paramref name="pAbnormal"/> (an image absent from it is an error naming it). Images in <paramref name="detections"/>
    /// outside <paramref name="imageIds"/> are dropped. Output: image by image, findings first, then the No-finding line.</summary>
    public static List<Detection> Apply(IEnumerable<Detection> detections, IReadOnlyDictionary<string, double> pAbnormal,
        IEnumerable<string> imageIds, NormalFilterOptions? options = null)
    {
        options ??= NormalFilterOptions.Default;
        if (options.Low is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(options), $"normal filter low {options.Low} must be in [0, 1]");
        var byImage = detections.ToLookup(d => d.ImageId, StringComparer.Ordinal);
        var result = new List<Detection>();
        foreach (var id in imageIds.Distinct(StringComparer.Ordinal))
        {
            if (!pAbnormal.TryGetValue(id, out var p))
                throw new KeyNotFoundException($"normal filter: no P(abnormal) for image '{id}'; the classifier's probabilities must cover every predicted image");
            if (p is < 0 or > 1 || double.IsNaN(p)) throw new ArgumentOutOfRangeException(nameof(pAbnormal), $"normal filter: P(abnormal) {p} of image '{id}' is not a probability");
            if (p < options.Low)
            {
                result.Add(new Detection(id, VinBigClasses.NoFinding, 1f, VinBigClasses.NoFindingBox));
                continue;
            }
            foreach (var d in byImage[id])
                if (d.Label != VinBigClasses.NoFinding)
                    result.Add(options.ScaleBoxes ? d with { Score = (float)(d.Score * p) } : d);
            result.Add(new Detection(id, VinBigClasses.NoFinding, (float)(1 - p), VinBigClasses.NoFindingBox));
        }
        return result;
    }

    /// <summary>The probability file's columns: <c>image_id,p_abnormal</c>.</summary>
    public const string ImageColumn = "image_id", ProbabilityColumn = "p_abnormal";

    /// <summary>Writes <c>image_id,p_abnormal</c> rows (atomically), in the given order.</summary>
    public static void WriteProbabilities(string path, IEnumerable<KeyValuePair<string, double>> pAbnormal) =>
        CsvRows.WriteAtomically(path, new[] { $"{ImageColumn},{ProbabilityColumn}" }
            .Concat(pAbnormal.Select(kv => $"{CsvRows.Escape(kv.Key)},{kv.Value.ToString("0.######", CultureInfo.InvariantCulture)}")));

    /// <summary>Reads <c>image_id,p_abnormal</c>; a bad row is an error naming the file and line.</summary>
    public static Dictionary<string, double> ReadProbabilities(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such probability file (image_id,p_abnormal; ./cxr classifier predict writes one)", path);
        var result = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var row in CsvRows.Read(path, ImageColumn, ProbabilityColumn))
        {
            var id = row[ImageColumn];
            if (string.IsNullOrEmpty(id)) throw new InvalidDataException($"{path}:{row.Line}: empty image_id");
            if (!double.TryParse(row[ProbabilityColumn], NumberStyles.Float, CultureInfo.InvariantCulture, out var p) || p is < 0 or > 1)
                throw new InvalidDataException($"{path}:{row.Line}: p_abnormal '{row[ProbabilityColumn]}' is not a probability in [0, 1]");
            result[id] = p;
        }
        return result;
    }
}

/// <summary>Scores of a binary classifier (positive = abnormal).</summary>
public static class BinaryMetrics
{
    /// <summary>Area under the ROC curve: the probability that a random positive scores above a random negative (ties count
    /// half; the Mann–Whitney U statistic with average ranks). NaN when one class is absent.</summary>
    public static double RocAuc(IReadOnlyList<double> scores, IReadOnlyList<bool> positive)
    {
        if (scores.Count != positive.Count) throw new ArgumentException($"{scores.Count} scores for {positive.Count} labels");
        var order = Enumerable.Range(0, scores.Count).OrderBy(i => scores[i]).ToArray();
        double rankSum = 0;
        long pos = 0;
        for (var start = 0; start < order.Length;)
        {
            var end = start;
            while (end + 1 < order.Length && scores[order[end + 1]] == scores[order[start]]) end++;
            var rank = (start + end) / 2.0 + 1;   // average 1-based rank of the tie group
            for (var k = start; k <= end; k++)
                if (positive[order[k]]) { rankSum += rank; pos++; }
            start = end + 1;
        }
        var neg = scores.Count - pos;
        if (pos == 0 || neg == 0) return double.NaN;
        return (rankSum - pos * (pos + 1) / 2.0) / ((double)pos * neg);
    }

    /// <summary>Fraction of images whose score ≥ <paramref name="threshold"/> agrees with the label.</summary>
    public static double Accuracy(IReadOnlyList<double> scores, IReadOnlyList<bool> positive, double threshold = 0.5) =>
        scores.Count == 0 ? double.NaN : Enumerable.Range(0, scores.Count).Count(i => scores[i] >= threshold == positive[i]) / (double)scores.Count;

    /// <summary>Mean binary cross-entropy of probabilities (clamped to [1e-7, 1 − 1e-7]).</summary>
    public static double LogLoss(IReadOnlyList<double> p, IReadOnlyList<bool> positive) =>
        p.Count == 0 ? double.NaN : -Enumerable.Range(0, p.Count).Average(i => Math.Log(positive[i] ? Math.Clamp(p[i], 1e-7, 1) : Math.Clamp(1 - p[i], 1e-7, 1)));
}
