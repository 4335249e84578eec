using CxrLab.Data;
using CxrLab.Evaluation;
using CxrLab.Experiments;

namespace CxrLab.Tests.Experiments;

/// <summary>A finished grid cell's files as <see cref="GridRunner"/> writes them (truth, plain and hflip predictions, the
/// result), for table tests that need no training.</summary>
static class FinishedCell
{
    public static void Write(GridCell cell, IReadOnlyList<VinBigAnnotation> truth, IReadOnlyList<string> images, IReadOnlyList<Detection> detections, double valMap40)
    {
        WriteSet(cell.Dir, (cell.TruthFile, cell.PredictionsFile, cell.HflipPredictionsFile), truth, images, detections);
        new GridCellResult { Model = cell.Model.Name, Category = cell.Category, ValMap40 = valMap40, ValMap40Hflip = valMap40 }.Save(cell.ResultFile);
    }

    /// <summary>The cell's predictions on a held-out tuning fold (<c>data.holdout_fold</c>), plain and hflip alike, with its truth.</summary>
    public static void WriteHoldout(GridCell cell, IReadOnlyList<VinBigAnnotation> truth, IReadOnlyList<string> images, IReadOnlyList<Detection> detections) =>
        WriteSet(cell.Dir, (cell.HoldoutTruthFile, cell.HoldoutPredictionsFile, cell.HoldoutHflipPredictionsFile), truth, images, detections);

    static void WriteSet(string dir, (string Truth, string Plain, string Hflip) files, IReadOnlyList<VinBigAnnotation> truth, IReadOnlyList<string> images, IReadOnlyList<Detection> detections)
    {
        Directory.CreateDirectory(dir);
        VinBigLabels.Write(files.Truth, truth);
        VinBigSubmission.Write(files.Plain, images, detections);
        VinBigSubmission.Write(files.Hflip, images, detections);
    }
}
