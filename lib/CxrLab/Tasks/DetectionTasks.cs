namespace CxrLab.Tasks;

/// <summary>The datasets training and prediction know, by <c>data.dataset</c> name: one explicit table.</summary>
public static class DetectionTasks
{
    public static IReadOnlyList<IDetectionTask> All { get; } =
    [
        new VinBigData.VinBigTask(),
        new Shapes.ShapesTask(),
    ];

    /// <summary>The task for <paramref name="name"/>; an unknown name lists the known ones.</summary>
    public static IDetectionTask Find(string name) =>
        All.FirstOrDefault(t => t.Name == name)
        ?? throw new ArgumentException($"data.dataset '{name}' is not known; use one of: {string.Join(", ", All.Select(t => t.Name))}");
}
