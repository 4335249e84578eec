using System.CommandLine;
using System.Diagnostics;
using System.Xml.Linq;

namespace CxrLab.Cli.Verbs;

/// <summary>`cxr test`: runs every test project of Research.sln and ends with one line
/// `N passed, N failed, N skipped` (what CI reads). Exits non-zero on any failure.</summary>
public static class TestVerb
{
    public static Command Create()
    {
        var filter = new Option<string?>("--filter") { Description = "dotnet test filter, e.g. FullyQualifiedName~Torch" };
        var command = new Command("test", "Run all tests; ends with 'N passed, N failed, N skipped'") { filter };
        command.SetAction(parse => Run(parse.GetValue(filter)));
        return command;
    }

    static int Run(string? filter)
    {
        var root = RepositoryRoot();
        var results = Path.Combine(root, "build", "test-results", DateTime.UtcNow.ToString("yyyyMMdd-HHmmss"));
        Directory.CreateDirectory(results);
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = root,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "test", Path.Combine(root, "Research.sln"), "-c", "Release", "--no-build", "--nologo",
                     "--logger", "trx", "--logger", "console;verbosity=normal", "--results-directory", results })
            start.ArgumentList.Add(a);
        if (filter is not null) { start.ArgumentList.Add("--filter"); start.ArgumentList.Add(filter); }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start dotnet test");
        process.WaitForExit();

        var (passed, failed, skipped, failures) = Count(results);
        if (failures.Count > 0)
        {
            Console.WriteLine();
            Console.WriteLine("Failed tests:");
            foreach (var name in failures) Console.WriteLine($"  {name}");
        }
        var runnerFailed = process.ExitCode != 0 && failed == 0;
        if (runnerFailed) Console.WriteLine($"dotnet test exited with {process.ExitCode} without a failed test: see its output above.");
        Console.WriteLine($"{passed} passed, {failed} failed, {skipped} skipped");
        return failed > 0 || runnerFailed || passed == 0 ? 1 : 0;
    }

    static (int Passed, int Failed, int Skipped, List<string> Failures) Count(string resultsDir)
    {
        int passed = 0, failed = 0, skipped = 0;
        var failures = new List<string>();
        foreach (var trx in Directory.EnumerateFiles(resultsDir, "*.trx", SearchOption.AllDirectories))
        {
            var doc = XDocument.Load(trx);
            foreach (var result in doc.Descendants().Where(e => e.Name.LocalName == "UnitTestResult"))
            {
                switch ((string?)result.Attribute("outcome"))
                {
                    case "Passed": passed++; break;
                    case "NotExecuted": skipped++; break;
                    default: failed++; failures.Add((string?)result.Attribute("testName") ?? "?"); break;
                }
            }
        }
        return (passed, failed, skipped, failures);
    }

    /// <summary>The folder holding Research.sln: CXR_ROOT (set by ./cxr), else found upward from the binary.</summary>
    public static string RepositoryRoot()
    {
        var env = Environment.GetEnvironmentVariable("CXR_ROOT");
        if (!string.IsNullOrEmpty(env) && File.Exists(Path.Combine(env, "Research.sln"))) return env;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Research.sln"))) return dir.FullName;
        throw new InvalidOperationException("Research.sln not found; run this from the CXR Lab checkout via ./cxr");
    }
}
