using System.Diagnostics;
using System.Text.Json.Nodes;

namespace CxrLab.Kernel.Tests;

/// <summary>CI for notebooks: every notebooks/*.ipynb runs through Jupyter's own nbconvert/nbclient
/// with the cxr-csharp kernel (installed into a temporary JUPYTER_PATH); a cell error fails the test.</summary>
public sealed class NotebookExecutionTests
{
    public static TheoryData<string> Notebooks()
    {
        var data = new TheoryData<string>();
        foreach (var path in Directory.EnumerateFiles(NotebooksFolder(), "*.ipynb").Order()) data.Add(Path.GetFileName(path));
        return data;
    }

    [Theory]
    [MemberData(nameof(Notebooks))]
    public void Notebook_executes_without_a_cell_error(string name)
    {
        var executed = Execute(name, out var home);
        try { CheckOutputs(name, executed, home); }
        finally
        {
            try { Directory.Delete(home, recursive: true); } catch (IOException) { }
        }
    }

    static void CheckOutputs(string name, JsonObject executed, string home)
    {
        var outputs = executed["cells"]!.AsArray()
            .Where(c => (string?)c!["cell_type"] == "code")
            .SelectMany(c => c!["outputs"]!.AsArray())
            .Select(o => o!.AsObject())
            .ToList();
        Assert.DoesNotContain(outputs, o => (string?)o["output_type"] == "error");
        Assert.NotEmpty(outputs);
        var mimeTypes = outputs.Where(o => o["data"] is not null).SelectMany(o => o["data"]!.AsObject().Select(p => p.Key)).ToHashSet();
        if (name is "00-tour.ipynb" or "02-faster-rcnn.ipynb" or "04-efficientdet.ipynb")
        {
            Assert.Contains("application/vnd.plotly.v1+json", mimeTypes);
            Assert.Contains("image/png", mimeTypes);
            Assert.Contains("text/html", mimeTypes);
        }
        // 06: class-count figures, tables and the category previews (PNG); 07 and 08: learning curves and score figures, tables.
        if (name is "06-imbalance-resampling.ipynb") Assert.Contains("image/png", mimeTypes);
        if (name is "06-imbalance-resampling.ipynb" or "07-per-category-training.ipynb" or "08-kaggle-scoring.ipynb")
        {
            Assert.Contains("application/vnd.plotly.v1+json", mimeTypes);
            Assert.Contains("text/html", mimeTypes);
        }
        // 08 calibrates the ensemble on its tiny grid's held-out fold (the phantom grid's data.holdout_fold), not the fallback.
        if (name == "08-kaggle-scoring.ipynb")
            Assert.Contains(outputs, o => (string?)o["output_type"] == "stream" && o["text"]!.ToJsonString().Contains("scores calibrated (chosen on the held-out fold"));
        // The histogram's colour (#e6194b) in 00; in 02 the bottom of the Viridis scale (#440154), which the RoIAlign
        // figure's smallest pooled bin always takes (a fixed map and box) and no PNG overlay colour is near.
        if (name == "00-tour.ipynb") HtmlExportShowsPlots(Path.Combine(home, name), home, (230, 25, 75), 2000, "Plotly histogram (#e6194b)");
        if (name == "02-faster-rcnn.ipynb") HtmlExportShowsPlots(Path.Combine(home, name), home, (68, 1, 84), 5000, "RoIAlign heatmap (Viridis #440154)");
    }

    /// <summary>Exports the executed notebook to HTML (nbconvert), opens it in headless Chromium and
    /// counts the pixels of a colour only a Plotly figure draws: they exist only if the offline plotly.js
    /// embedded in the page ran and drew the figure.</summary>
    static void HtmlExportShowsPlots(string executedNotebook, string home, (int R, int G, int B) colour, int minPixels, string what)
    {
        Run("jupyter", ["nbconvert", "--to", "html", "--output-dir", home, "--output", "export", executedNotebook], home, TimeSpan.FromMinutes(3));
        var screenshot = Path.Combine(home, "export.png");
        var profile = Directory.CreateTempSubdirectory("cxr-chromium-").FullName;
        try
        {
            Run("chromium", ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--no-first-run", $"--user-data-dir={profile}", "--virtual-time-budget=10000", $"--screenshot={screenshot}",
                "--window-size=1200,5200", "file://" + Path.Combine(home, "export.html")], home, TimeSpan.FromMinutes(3));
        }
        finally
        {
            try { Directory.Delete(profile, recursive: true); } catch (IOException) { }
        }
        var image = CxrLab.Imaging.ImageCodecs.Read(screenshot);
        var pixels = (byte[])image.Pixels;
        var count = 0;
        for (var i = 0; i + 2 < pixels.Length; i += image.Channels)
            if (Math.Abs(pixels[i] - colour.R) < 12 && Math.Abs(pixels[i + 1] - colour.G) < 12 && Math.Abs(pixels[i + 2] - colour.B) < 12) count++;
        Assert.True(count > minPixels, $"the exported HTML shows no {what}: {count} pixels of that colour in {screenshot}");
    }

    static void Run(string program, string[] arguments, string workingDirectory, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = workingDirectory };
        foreach (var a in arguments) start.ArgumentList.Add(a);
        Process process;
        try { process = Process.Start(start)!; }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"{program} is not installed: run ./cxr test (it installs the test references)", e);
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(timeout))
            {
                process.Kill(entireProcessTree: true);
                Assert.Fail($"{program} did not finish in {timeout.TotalMinutes} minutes");
            }
            Assert.True(process.ExitCode == 0, $"{program} failed (exit {process.ExitCode}):\n{stderr.Result}");
        }
    }

    static JsonObject Execute(string name, out string home)
    {
        home = Directory.CreateTempSubdirectory("cxr-nb-").FullName;
        {
            KernelSpec.Install(home);
            var start = new ProcessStartInfo("jupyter")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                WorkingDirectory = NotebooksFolder(),
            };
            foreach (var a in new[] { "nbconvert", "--to", "notebook", "--execute", "--ExecutePreprocessor.kernel_name=cxr-csharp",
                         "--ExecutePreprocessor.timeout=600", "--output-dir", home, "--output", name, Path.Combine(NotebooksFolder(), name) })
                start.ArgumentList.Add(a);
            start.Environment["JUPYTER_PATH"] = home;
            start.Environment["JUPYTER_DATA_DIR"] = home;
            start.Environment["JUPYTER_RUNTIME_DIR"] = Path.Combine(home, "runtime");
            Process process;
            try { process = Process.Start(start)!; }
            catch (System.ComponentModel.Win32Exception e)
            {
                throw new InvalidOperationException("jupyter is not installed: run ./cxr test (it installs jupyter-nbconvert and python3-nbclient)", e);
            }
            using (process)
            {
                var stdout = process.StandardOutput.ReadToEndAsync();
                var stderr = process.StandardError.ReadToEndAsync();
                if (!process.WaitForExit(TimeSpan.FromMinutes(10)))
                {
                    process.Kill(entireProcessTree: true);
                    Assert.Fail($"{name}: nbconvert did not finish in 10 minutes");
                }
                var log = string.Join('\n', stderr.Result.Split('\n').Where(l => !l.StartsWith("[cxr-kernel", StringComparison.Ordinal)).TakeLast(60));
                Assert.True(process.ExitCode == 0, $"{name}: nbconvert --execute failed (exit {process.ExitCode}):\n{log}");
            }
            return JsonNode.Parse(File.ReadAllText(Path.Combine(home, name)))!.AsObject();
        }
    }

    static string NotebooksFolder()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Research.sln"))) return Path.Combine(dir.FullName, "notebooks");
        throw new InvalidOperationException("Research.sln not found above the test assembly");
    }
}
