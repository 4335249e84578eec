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
        var executed = Execute(name);
        var outputs = executed["cells"]!.AsArray()
            .Where(c => (string?)c!["cell_type"] == "code")
            .SelectMany(c => c!["outputs"]!.AsArray())
            .Select(o => o!.AsObject())
            .ToList();
        Assert.DoesNotContain(outputs, o => (string?)o["output_type"] == "error");
        Assert.NotEmpty(outputs);
        if (name == "00-tour.ipynb")
        {
            var mimeTypes = outputs.Where(o => o["data"] is not null).SelectMany(o => o["data"]!.AsObject().Select(p => p.Key)).ToHashSet();
            Assert.Contains("application/vnd.plotly.v1+json", mimeTypes);
            Assert.Contains("image/png", mimeTypes);
            Assert.Contains("text/html", mimeTypes);
        }
    }

    static JsonObject Execute(string name)
    {
        var home = Directory.CreateTempSubdirectory("cxr-nb-").FullName;
        try
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
        finally
        {
            try { Directory.Delete(home, recursive: true); } catch (IOException) { }
        }
    }

    static string NotebooksFolder()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Research.sln"))) return Path.Combine(dir.FullName, "notebooks");
        throw new InvalidOperationException("Research.sln not found above the test assembly");
    }
}
