using System.Globalization;
using System.Text.Json;

namespace CxrLab.Tests.Evaluation;

/// <summary>Runs tests/fixtures/make_metric_fixtures.py (independent numpy implementations) on CSV files.</summary>
public static class MetricReference
{
    public static string ScriptPath
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "tests", "fixtures", "make_metric_fixtures.py");
                if (File.Exists(candidate)) return candidate;
            }
            throw new FileNotFoundException("tests/fixtures/make_metric_fixtures.py not found above the test assembly");
        }
    }

    public static JsonElement Score(string kind, string truthCsv, string predCsv)
    {
        var output = PythonReference.Run(
            $"import sys, runpy; sys.argv = ['m', '{kind}', '{truthCsv}', '{predCsv}']; runpy.run_path('{ScriptPath}', run_name='__main__')");
        return JsonDocument.Parse(output.Trim().Split('\n')[^1]).RootElement;
    }

    public static string Temp(string name) => Path.Combine(Path.GetTempPath(), $"cxr-metric-{Guid.NewGuid():N}-{name}");

    /// <summary>A random VinBigData case: 3 readers' jittered boxes, zero-area rows, predictions near and far
    /// from the truth, tied scores, predictions on unknown images and class 14 predictions.</summary>
    public static (string Truth, string Pred) RandomVinBig(int seed, int images = 25)
    {
        var rng = new Random(seed);
        var truth = new List<string> { "image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max" };
        var pred = new List<string> { "image_id,PredictionString" };
        string R(double v) => Math.Round(v, 1).ToString(CultureInfo.InvariantCulture);
        for (var i = 0; i < images; i++)
        {
            var id = $"img{i:000}";
            var lesions = rng.NextDouble() < 0.35 ? 0 : rng.Next(1, 5);
            var boxes = new List<(int C, double X1, double Y1, double X2, double Y2)>();
            for (var k = 0; k < lesions; k++)
            {
                var c = rng.Next(0, 6); // few classes so that classes have several images
                double x = rng.Next(0, 400), y = rng.Next(0, 400), w = rng.Next(10, 120), h = rng.Next(10, 120);
                boxes.Add((c, x, y, x + w, y + h));
            }
            foreach (var rad in new[] { "R1", "R2", "R3" })
            {
                var drew = false;
                foreach (var b in boxes)
                {
                    if (rng.NextDouble() < 0.25) continue;
                    double J() => rng.NextDouble() * 8 - 4;
                    var name = CxrLab.Data.VinBigClasses.Names[b.C];
                    truth.Add($"{id},{name},{b.C},{rad},{R(b.X1 + J())},{R(b.Y1 + J())},{R(b.X2 + J())},{R(b.Y2 + J())}");
                    drew = true;
                }
                if (rng.NextDouble() < 0.05) truth.Add($"{id},Atelectasis,1,{rad},50,60,90,60"); // zero height: dropped by both
                if (!drew) truth.Add($"{id},No finding,14,{rad},,,,");
            }
            var preds = new List<string>();
            string S() => rng.NextDouble() < 0.2 ? "0.5" : Math.Round(rng.NextDouble(), 4).ToString(CultureInfo.InvariantCulture);
            foreach (var b in boxes)
            {
                var copies = rng.Next(0, 3);
                for (var k = 0; k < copies; k++)
                {
                    double J() => rng.NextDouble() * 30 - 15;
                    var c = rng.NextDouble() < 0.15 ? rng.Next(0, 6) : b.C;
                    preds.Add($"{c} {S()} {R(b.X1 + J())} {R(b.Y1 + J())} {R(b.X2 + J())} {R(b.Y2 + J())}");
                }
            }
            for (var k = rng.Next(0, 3); k > 0; k--)
            {
                double x = rng.Next(0, 400), y = rng.Next(0, 400);
                preds.Add($"{rng.Next(0, 6)} {S()} {R(x)} {R(y)} {R(x + rng.Next(5, 100))} {R(y + rng.Next(5, 100))}");
            }
            if (rng.NextDouble() < 0.6) preds.Add($"14 {S()} 0 0 1 1");
            if (rng.NextDouble() < 0.9) pred.Add($"{id},{string.Join(' ', preds.OrderBy(_ => rng.Next()))}");
        }
        pred.Add("unknown_image,3 0.99 10 10 50 50");
        var truthPath = Temp("train.csv");
        var predPath = Temp("sub.csv");
        File.WriteAllLines(truthPath, truth);
        File.WriteAllLines(predPath, pred);
        return (truthPath, predPath);
    }

    /// <summary>A random RSNA case: negatives, 1–3 opacities, predictions near/far, tied confidences.</summary>
    public static (string Truth, string Pred) RandomRsna(int seed, int images = 40)
    {
        var rng = new Random(seed);
        var truth = new List<string> { "patientId,x,y,width,height,Target" };
        var pred = new List<string> { "patientId,PredictionString" };
        string R(double v) => Math.Round(v, 1).ToString(CultureInfo.InvariantCulture);
        for (var i = 0; i < images; i++)
        {
            var id = $"p{i:000}";
            var n = rng.NextDouble() < 0.4 ? 0 : rng.Next(1, 4);
            var boxes = new List<(double X, double Y, double W, double H)>();
            for (var k = 0; k < n; k++) boxes.Add((rng.Next(0, 800), rng.Next(0, 800), rng.Next(40, 250), rng.Next(40, 250)));
            if (n == 0) truth.Add($"{id},,,,,0");
            foreach (var b in boxes) truth.Add($"{id},{R(b.X)},{R(b.Y)},{R(b.W)},{R(b.H)},1");
            var preds = new List<string>();
            string S() => rng.NextDouble() < 0.2 ? "0.5" : Math.Round(rng.NextDouble(), 4).ToString(CultureInfo.InvariantCulture);
            foreach (var b in boxes)
                for (var k = rng.Next(0, 3); k > 0; k--)
                {
                    double J() => rng.NextDouble() * 40 - 20;
                    preds.Add($"{S()} {R(b.X + J())} {R(b.Y + J())} {R(b.W + J())} {R(b.H + J())}");
                }
            if (rng.NextDouble() < 0.3) preds.Add($"{S()} {rng.Next(0, 800)} {rng.Next(0, 800)} {rng.Next(40, 200)} {rng.Next(40, 200)}");
            pred.Add($"{id},{string.Join(' ', preds)}");
        }
        var truthPath = Temp("labels.csv");
        var predPath = Temp("sub.csv");
        File.WriteAllLines(truthPath, truth);
        File.WriteAllLines(predPath, pred);
        return (truthPath, predPath);
    }
}
