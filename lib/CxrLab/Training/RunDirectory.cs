using System.Globalization;

namespace CxrLab.Training;

/// <summary>One run's output folder, <c>{runs_dir}/{name}/{yyyyMMdd-HHmmss}/</c>: the resolved
/// config, metrics (CSV + JSON lines), the log, and checkpoints (last and best).</summary>
public sealed class RunDirectory
{
    public const string TimestampFormat = "yyyyMMdd-HHmmss";

    RunDirectory(string path) => Path = System.IO.Path.GetFullPath(path);

    public string Path { get; }
    public string ConfigFile => System.IO.Path.Combine(Path, "config.yaml");
    public string MetricsCsv => System.IO.Path.Combine(Path, "metrics.csv");
    public string MetricsJsonLines => System.IO.Path.Combine(Path, "metrics.jsonl");
    public string LogFile => System.IO.Path.Combine(Path, "train.log");
    public string CheckpointDir => System.IO.Path.Combine(Path, "checkpoints");
    public string LastCheckpoint => System.IO.Path.Combine(CheckpointDir, "last.ckpt");
    public string BestCheckpoint => System.IO.Path.Combine(CheckpointDir, "best.ckpt");
    public string PlotsDir => System.IO.Path.Combine(Path, "plots");

    /// <summary>Creates a fresh run folder and writes the resolved config into it. Two runs started
    /// in the same second get <c>-2</c>, <c>-3</c>… suffixes instead of sharing a folder.</summary>
    public static RunDirectory Create(ExperimentConfig config, DateTime? now = null)
    {
        var parent = System.IO.Path.Combine(config.Output.RunsDir, config.Name);
        var stamp = (now ?? DateTime.Now).ToString(TimestampFormat, CultureInfo.InvariantCulture);
        var path = System.IO.Path.Combine(parent, stamp);
        for (var i = 2; Directory.Exists(path); i++) path = System.IO.Path.Combine(parent, $"{stamp}-{i}");
        var run = new RunDirectory(path);
        Directory.CreateDirectory(run.CheckpointDir);
        Directory.CreateDirectory(run.PlotsDir);
        CxrLab.Imaging.ImageCodecs.WriteAtomically(run.ConfigFile, System.Text.Encoding.UTF8.GetBytes(ExperimentConfigLoader.ToYaml(config)));
        return run;
    }

    /// <summary>Opens an existing run folder (for <c>--resume</c>); it must hold a last checkpoint.</summary>
    public static RunDirectory Open(string path)
    {
        var run = new RunDirectory(path);
        if (!File.Exists(run.LastCheckpoint))
            throw new FileNotFoundException($"{run.Path} has no checkpoints/last.ckpt to resume from; start a new run without --resume", run.LastCheckpoint);
        return run;
    }

    /// <summary>The run folder another process (rank 0 of a distributed run) created or opened; nothing is checked or written.</summary>
    public static RunDirectory Join(string path) => new(path);

    /// <summary>The newest run of <paramref name="config"/>'s name that has a last checkpoint, or null.</summary>
    public static RunDirectory? Latest(ExperimentConfig config)
    {
        var parent = System.IO.Path.Combine(config.Output.RunsDir, config.Name);
        if (!Directory.Exists(parent)) return null;
        return Directory.GetDirectories(parent)
            .OrderByDescending(d => System.IO.Path.GetFileName(d), StringComparer.Ordinal)
            .Select(d => new RunDirectory(d))
            .FirstOrDefault(r => File.Exists(r.LastCheckpoint));
    }

    public override string ToString() => Path;
}
