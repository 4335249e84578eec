using System.Globalization;
using CxrLab.Data;

namespace CxrLab.Training;

/// <summary>Applies a config's <c>data.resampling</c> to a training set (any dataset): the resampled item list is drawn
/// once from the run's seed, so every epoch has the same length and a resumed run the same images; the classes'
/// images and boxes before → after are written to the log as a table.</summary>
public static class TrainingResampling
{
    /// <summary>The training set after <c>data.resampling</c> (the same set when it is <c>none</c>).</summary>
    public static DetectionDataset Apply(DataConfig data, DetectionDataset train, long seed, Action<string>? log = null)
    {
        var result = Resample(data, train, seed);
        if (result is null) return train;
        log?.Invoke($"resampling ({Describe(data)}): {result.Before.TotalImages} → {result.After.TotalImages} training images per epoch" + Environment.NewLine +
                    result.Table(c => c >= 0 && c < train.ClassNames.Count ? train.ClassNames[c] : c.ToString(CultureInfo.InvariantCulture)));
        return train.Subset(result.Indices, $"-{data.Resampling}");
    }

    /// <summary>The resampled indices and histograms, or null for <c>resampling: none</c>.</summary>
    public static ResamplingResult? Resample(DataConfig data, DetectionDataset train, long seed)
    {
        var seed32 = (int)(seed & 0x7fffffff);
        return data.Resampling switch
        {
            "none" => null,
            "repeat_factor" => ClassResampler.RepeatFactor(train.ImageClasses, train.BoxLabels, data.RepeatThreshold, seed32),
            "per_class" => ClassResampler.Resample(train.ImageClasses, train.BoxLabels,
                new ResamplingPlan(Counts(data.ClassMaxImages), Counts(data.ClassMinImages)), seed32),
            _ => throw new ConfigException($"data.resampling '{data.Resampling}' must be none, repeat_factor or per_class"),
        };
    }

    static string Describe(DataConfig data) => data.Resampling switch
    {
        "repeat_factor" => $"repeat factor, threshold {data.RepeatThreshold.ToString(CultureInfo.InvariantCulture)}",
        _ => "per class" + (data.ClassMinImages.Count > 0 ? $", at least {string.Join(", ", data.ClassMinImages.Select(kv => $"{kv.Key}: {kv.Value}"))}" : "")
                         + (data.ClassMaxImages.Count > 0 ? $", at most {string.Join(", ", data.ClassMaxImages.Select(kv => $"{kv.Key}: {kv.Value}"))}" : ""),
    };

    static Dictionary<int, int> Counts(Dictionary<string, string> map) =>
        map.ToDictionary(kv => int.Parse(kv.Key, CultureInfo.InvariantCulture), kv => int.Parse(kv.Value, CultureInfo.InvariantCulture));
}
