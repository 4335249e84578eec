using System.Diagnostics;

namespace CxrLab.Tests;

/// <summary>Runs a snippet in Debian's Python (/usr/bin/python3: torch, torchvision, cv2, pydicom, gdcm),
/// the independent reference for tests. Fails the test with Python's stderr when the snippet fails.</summary>
public static class PythonReference
{
    public const string Interpreter = "/usr/bin/python3";

    public static string Run(string code, int timeoutSeconds = 120)
    {
        var start = new ProcessStartInfo(Interpreter)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(code);
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start " + Interpreter);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeoutSeconds * 1000))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"reference Python did not finish in {timeoutSeconds} s");
        }
        if (process.ExitCode != 0) throw new InvalidOperationException($"reference Python failed:\n{stderr.Result}");
        return stdout.Result;
    }
}
