using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using CxrLab.Torch.Distributed;

namespace CxrLab.Cli.Verbs;

/// <summary>Where the local workers of a run stand (torchrun's flags).</summary>
/// <param name="NprocPerNode">Workers on this machine.</param>
/// <param name="Nnodes">Machines in the run.</param>
/// <param name="NodeRank">This machine's index, 0..Nnodes−1 (node 0 hosts rank 0 and the TCPStore).</param>
/// <param name="MasterAddr">Node 0's address, reachable from every node.</param>
/// <param name="MasterPort">The TCPStore port; null = a free port on a single node, 29500 across nodes.</param>
public sealed record LaunchOptions(int NprocPerNode, int Nnodes = 1, int NodeRank = 0, string MasterAddr = "127.0.0.1", int? MasterPort = null);

/// <summary>The torchrun of <c>./cxr</c>: starts <see cref="LaunchOptions.NprocPerNode"/> copies of this CLI with the
/// variables torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT; CXR_THREADS =
/// cores / workers unless set, as torchrun sets OMP_NUM_THREADS) and the same arguments minus the launch flags,
/// streams their output, forwards SIGTERM, and when one worker fails stops the rest (after a short grace so they
/// can report the lost peer themselves) and exits with the failing worker's code.</summary>
public static class DistributedLauncher
{
    static readonly string[] Flags = ["--nproc-per-node", "--nnodes", "--node-rank", "--master-addr", "--master-port"];

    /// <summary>The launch options, to add to a verb.</summary>
    public sealed class Options
    {
        public Option<int?> NprocPerNode { get; } = new("--nproc-per-node") { Description = "Start N local worker processes (distributed data parallel, like torchrun)" };
        public Option<int> Nnodes { get; } = new("--nnodes") { Description = "Machines in the run (with --nproc-per-node)", DefaultValueFactory = _ => 1 };
        public Option<int> NodeRank { get; } = new("--node-rank") { Description = "This machine's index 0..nnodes-1", DefaultValueFactory = _ => 0 };
        public Option<string> MasterAddr { get; } = new("--master-addr") { Description = "Address of node 0 (rank 0's TCPStore)", DefaultValueFactory = _ => "127.0.0.1" };
        public Option<int?> MasterPort { get; } = new("--master-port") { Description = "TCPStore port (default: a free port on one node, 29500 on several)" };

        public void AddTo(Command command)
        {
            command.Options.Add(NprocPerNode);
            command.Options.Add(Nnodes);
            command.Options.Add(NodeRank);
            command.Options.Add(MasterAddr);
            command.Options.Add(MasterPort);
        }

        /// <summary>The launch the command line asks for, or null without --nproc-per-node.</summary>
        public LaunchOptions? From(ParseResult parse) => parse.GetValue(NprocPerNode) is int n
            ? new LaunchOptions(n, parse.GetValue(Nnodes), parse.GetValue(NodeRank), parse.GetValue(MasterAddr)!, parse.GetValue(MasterPort))
            : null;
    }

    /// <summary>This process's arguments without the launch flags: what each worker runs.</summary>
    public static List<string> WorkerArguments(IEnumerable<string> args)
    {
        var result = new List<string>();
        var list = args.ToList();
        for (var i = 0; i < list.Count; i++)
        {
            var a = list[i];
            if (Flags.Contains(a)) { i++; continue; }
            if (Flags.Any(f => a.StartsWith(f + "=", StringComparison.Ordinal))) continue;
            result.Add(a);
        }
        return result;
    }

    /// <summary>The command that runs this CLI again: <c>dotnet cxr.dll</c> or the app host.</summary>
    public static List<string> SelfCommand()
    {
        var host = Environment.ProcessPath ?? "dotnet";
        var dll = typeof(DistributedLauncher).Assembly.Location;
        return Path.GetFileNameWithoutExtension(host) == "dotnet" ? [host, dll] : [host];
    }

    /// <summary>Starts the local workers with <paramref name="workerArgs"/> and waits for them; returns 0 when all
    /// succeed, else the first failing worker's exit code.</summary>
    /// <param name="options">Node layout and rendezvous address.</param>
    /// <param name="workerArgs">Arguments of each worker (this CLI's verb and its options).</param>
    /// <param name="log">Where the launcher reports (stderr by default).</param>
    /// <param name="grace">How long the surviving workers get to stop by themselves after one fails (default 15 s).</param>
    public static int Run(LaunchOptions options, IReadOnlyList<string> workerArgs, Action<string>? log = null, TimeSpan? grace = null)
    {
        log ??= Console.Error.WriteLine;
        if (options.NprocPerNode < 1) throw new ArgumentException($"--nproc-per-node must be at least 1, got {options.NprocPerNode}");
        if (options.Nnodes < 1 || options.NodeRank < 0 || options.NodeRank >= options.Nnodes)
            throw new ArgumentException($"--node-rank {options.NodeRank} is outside 0..{options.Nnodes - 1} (--nnodes {options.Nnodes})");
        var port = options.MasterPort ?? (options.Nnodes == 1 ? FreePort() : DistributedEnvironment.DefaultPort);
        var world = options.Nnodes * options.NprocPerNode;
        var threads = Environment.GetEnvironmentVariable("CXR_THREADS") is { Length: > 0 } t ? t
            : Math.Max(1, Environment.ProcessorCount / options.NprocPerNode).ToString(CultureInfo.InvariantCulture);
        var command = SelfCommand();
        log($"cxr: starting {options.NprocPerNode} worker(s) on node {options.NodeRank} of {options.Nnodes} (world size {world}, " +
            $"rendezvous {options.MasterAddr}:{port}, {threads} thread(s) each)");
        var workers = new List<(int Rank, Process Process)>();
        using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx =>
        {
            ctx.Cancel = true;  // stay alive to collect the workers' exit codes
            foreach (var (_, p) in workers) Signal(p, 15);
        });
        // Ctrl+C reaches every process of the terminal's group: the workers save and stop by themselves.
        using var onInt = PosixSignalRegistration.Create(PosixSignal.SIGINT, ctx => ctx.Cancel = true);
        try
        {
            for (var local = 0; local < options.NprocPerNode; local++)
            {
                var env = new DistributedEnvironment(options.NodeRank * options.NprocPerNode + local, world, local, options.NprocPerNode, options.MasterAddr, port);
                var start = new ProcessStartInfo(command[0]) { UseShellExecute = false };
                foreach (var a in command.Skip(1).Concat(workerArgs)) start.ArgumentList.Add(a);
                foreach (var (k, v) in env.ToVariables()) start.Environment[k] = v;
                start.Environment["CXR_THREADS"] = threads;
                workers.Add((env.Rank, Process.Start(start) ?? throw new InvalidOperationException($"could not start worker {env.Rank}: {command[0]}")));
            }
            return Supervise(workers, log, grace ?? TimeSpan.FromSeconds(15));
        }
        finally
        {
            foreach (var (_, p) in workers)
            {
                if (!p.HasExited) p.Kill(entireProcessTree: true);
                p.Dispose();
            }
        }
    }

    static int Supervise(List<(int Rank, Process Process)> workers, Action<string> log, TimeSpan grace)
    {
        int? failure = null;
        DateTime? deadline = null;
        while (true)
        {
            var running = workers.Where(w => !w.Process.HasExited).ToList();
            foreach (var (rank, p) in workers)
            {
                if (failure is null && p.HasExited && p.ExitCode != 0)
                {
                    failure = p.ExitCode;
                    deadline = DateTime.UtcNow + grace;
                    log($"cxr: worker rank {rank} (pid {p.Id}) exited with code {p.ExitCode}; " +
                        (running.Count > 0 ? $"stopping the other {running.Count} worker(s)" : "no worker left"));
                }
            }
            if (running.Count == 0) return failure ?? 0;
            if (deadline is { } d && DateTime.UtcNow > d)
            {
                foreach (var (rank, p) in running)
                {
                    log($"cxr: worker rank {rank} (pid {p.Id}) did not stop within {grace.TotalSeconds:0} s of the failure; killing it");
                    p.Kill(entireProcessTree: true);
                }
                foreach (var (_, p) in running) p.WaitForExit();
                return failure ?? 1;
            }
            running[0].Process.WaitForExit(200);
        }
    }

    static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    static extern int Kill(int pid, int signal);

    static void Signal(Process p, int signal)
    {
        try { if (!p.HasExited) Kill(p.Id, signal); }
        catch (InvalidOperationException) { }  // exited meanwhile
    }
}
