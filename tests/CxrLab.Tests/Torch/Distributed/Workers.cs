using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using CxrLab.Tests.Evaluation;

namespace CxrLab.Tests.Torch.Distributed;

/// <summary>Starts ranks of the hidden <c>cxr distributed-check</c> verb as separate processes on loopback, the way a
/// launcher does (RANK, WORLD_SIZE, MASTER_ADDR=127.0.0.1, a free MASTER_PORT), one intra-op thread each.</summary>
internal sealed class Worker : IDisposable
{
    readonly StringBuilder stdout = new(), stderr = new();

    public Worker(IEnumerable<string> args, IReadOnlyDictionary<string, string>? env = null)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Cli.DllPath);
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment["CXR_THREADS"] = "1";
        foreach (var k in new[] { "RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "SLURM_NTASKS" }) start.Environment.Remove(k);
        foreach (var (k, v) in env ?? new Dictionary<string, string>()) start.Environment[k] = v;
        Process = Process.Start(start)!;
        Process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (stdout) stdout.AppendLine(e.Data); };
        Process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
        Process.BeginOutputReadLine();
        Process.BeginErrorReadLine();
    }

    public Process Process { get; }
    public string Stdout { get { lock (stdout) return stdout.ToString(); } }
    public string Stderr { get { lock (stderr) return stderr.ToString(); } }

    /// <summary>Waits for exit; kills and fails after <paramref name="seconds"/>.</summary>
    public int Wait(double seconds)
    {
        if (!Process.WaitForExit(TimeSpan.FromSeconds(seconds)))
        {
            Process.Kill(true);
            throw new TimeoutException($"worker did not finish in {seconds} s:\n{Stdout}\n{Stderr}");
        }
        Process.WaitForExit();  // drain the output events
        return Process.ExitCode;
    }

    public void Dispose()
    {
        if (!Process.HasExited) Process.Kill(true);
        Process.Dispose();
    }

    /// <summary>The environment of rank <paramref name="rank"/> of <paramref name="world"/>.</summary>
    public static Dictionary<string, string> RankEnv(int rank, int world, int port) => new()
    {
        ["RANK"] = $"{rank}", ["WORLD_SIZE"] = $"{world}", ["LOCAL_RANK"] = $"{rank}", ["MASTER_ADDR"] = "127.0.0.1", ["MASTER_PORT"] = $"{port}",
    };

    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        var port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    /// <summary>Runs <paramref name="world"/> ranks of <paramref name="args"/> and requires every one to succeed.</summary>
    public static void RunRanks(int world, double seconds, params string[] args)
    {
        var port = FreePort();
        var workers = Enumerable.Range(0, world).Select(r => new Worker(args, RankEnv(r, world, port))).ToList();
        try
        {
            foreach (var (w, r) in workers.Select((w, r) => (w, r)))
            {
                var code = w.Wait(seconds);
                Assert.True(code == 0, $"rank {r} exited {code}:\n{w.Stdout}\n{w.Stderr}");
            }
        }
        finally { foreach (var w in workers) w.Dispose(); }
    }
}
