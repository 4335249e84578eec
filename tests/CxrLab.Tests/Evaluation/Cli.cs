using System.Diagnostics;

namespace CxrLab.Tests.Evaluation;

/// <summary>Runs the built `cxr` CLI (lib/CxrLab.Cli/bin/Release/net10.0/cxr.dll) the way ./cxr does.</summary>
public static class Cli
{
    public static string DllPath
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "lib", "CxrLab.Cli", "bin", "Release", "net10.0", "cxr.dll");
                if (File.Exists(candidate)) return candidate;
            }
            throw new FileNotFoundException("cxr.dll not found: build Research.sln -c Release first");
        }
    }

    /// <summary>Runs the CLI; returns stdout; fails with stderr when the exit code is not 0.</summary>
    public static string Run(params string[] args)
    {
        var (code, stdout, stderr) = RunAny(args);
        if (code != 0) throw new InvalidOperationException($"cxr {string.Join(' ', args)} exited {code}:\n{stdout}\n{stderr}");
        return stdout;
    }

    /// <summary>Runs the CLI and returns its exit code, stdout and stderr whatever they are.</summary>
    public static (int ExitCode, string Stdout, string Stderr) RunAny(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(DllPath);
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment["COLUMNS"] = "200";
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(120_000)) { process.Kill(true); throw new TimeoutException("cxr did not finish in 120 s"); }
        return (process.ExitCode, stdout.Result, stderr.Result);
    }
}
