using System.CommandLine;
using System.Diagnostics;
using System.Runtime.InteropServices;
using CxrLab.Kernel;

namespace CxrLab.Cli.Verbs;

/// <summary>`cxr notebook`: installs the kernelspec and starts Debian's Jupyter Notebook on the
/// notebooks folder (127.0.0.1 only), or explains how to open the folder in VS Code.</summary>
public static class NotebookVerb
{
    public static Command Create()
    {
        var port = new Option<int>("--port") { Description = "port for Jupyter (default 8888)", DefaultValueFactory = _ => 8888 };
        var command = new Command("notebook", "Start Jupyter on notebooks/ with the C# kernel (or explain how to use VS Code)") { port };
        command.SetAction(parse => Run(parse.GetValue(port)));
        return command;
    }

    static int Run(int port)
    {
        var root = TestVerb.RepositoryRoot();
        var notebooks = Path.Combine(root, "notebooks");
        var folder = KernelSpec.Install(kernelAssembly: KernelVerb.KernelAssembly());
        Console.WriteLine($"kernelspec {KernelSpec.Name} installed in {folder}");
        var jupyter = FindOnPath("jupyter-notebook") ?? FindOnPath("jupyter");
        if (jupyter is null)
        {
            Console.WriteLine("Jupyter is not installed (Debian: apt-get install jupyter-notebook).");
            PrintVsCodeHelp(notebooks);
            return 1;
        }
        PrintVsCodeHelp(notebooks);
        Console.WriteLine($"Starting Jupyter on http://127.0.0.1:{port} (Ctrl+C stops it) ...");
        var start = new ProcessStartInfo(jupyter) { UseShellExecute = false, WorkingDirectory = notebooks };
        if (Path.GetFileName(jupyter) == "jupyter") start.ArgumentList.Add("notebook");
        foreach (var a in new[] { "--ip=127.0.0.1", $"--port={port}", "--no-browser", $"--notebook-dir={notebooks}" })
            start.ArgumentList.Add(a);
        // Containers and CI machines often run as root, which Jupyter refuses without this flag.
        if (Environment.UserName == "root") start.ArgumentList.Add("--allow-root");
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {jupyter}");
        // Pass SIGTERM on so Jupyter shuts its kernels down instead of being orphaned (Ctrl+C reaches it directly).
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
        {
            context.Cancel = true;
            if (!process.HasExited) kill(process.Id, 15);
        });
        process.WaitForExit();
        return process.ExitCode;
    }

    static void PrintVsCodeHelp(string notebooks)
    {
        Console.WriteLine($"VS Code: open the folder {notebooks} (File > Open Folder), open a .ipynb, and pick the kernel");
        Console.WriteLine($"  \"{KernelSpec.DisplayName}\" under Select Kernel > Jupyter Kernel (needs the Jupyter extension).");
    }

    [DllImport("libc", SetLastError = true)]
    static extern int kill(int pid, int signal);

    static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);
}
