using System.CommandLine;
using CxrLab.Kernel;

namespace CxrLab.Cli.Verbs;

/// <summary>`cxr kernel install`: writes the Jupyter kernelspec cxr-csharp; `cxr kernel run -f FILE`
/// runs the kernel in this process (what the kernelspec's command line does too).</summary>
public static class KernelVerb
{
    public static Command Create()
    {
        var dataDir = new Option<string?>("--data-dir")
        {
            Description = "Jupyter data directory (default: $JUPYTER_DATA_DIR, else ~/.local/share/jupyter); the spec goes to <dir>/kernels/cxr-csharp",
        };
        var install = new Command("install", "Write the kernelspec cxr-csharp (\"C# (CXR Lab)\") so Jupyter, VS Code and nbclient find the kernel") { dataDir };
        install.SetAction(parse =>
        {
            var folder = KernelSpec.Install(parse.GetValue(dataDir), kernelAssembly: KernelAssembly());
            Console.WriteLine($"installed kernelspec {KernelSpec.Name} (\"{KernelSpec.DisplayName}\") in {folder}");
            Console.WriteLine(File.ReadAllText(Path.Combine(folder, "kernel.json")).TrimEnd());
            return 0;
        });

        var file = new Option<string>("--connection-file", "-f") { Description = "the connection file Jupyter wrote", Required = true };
        var run = new Command("run", "Run the kernel for a Jupyter connection file (Jupyter starts this)") { file };
        run.SetAction(parse => CxrLab.Kernel.Program.Run(parse.GetValue(file)!));

        var command = new Command("kernel", "The C# Jupyter kernel: install its kernelspec, or run it") { install, run };
        return command;
    }

    /// <summary>The kernel's own build output (it carries its runtimeconfig and Roslyn), else the copy beside this CLI.</summary>
    public static string KernelAssembly()
    {
        var own = Path.Combine(TestVerb.RepositoryRoot(), "lib", "CxrLab.Kernel", "bin", "Release", "net10.0", "CxrLab.Kernel.dll");
        return File.Exists(own) ? own : typeof(KernelSpec).Assembly.Location;
    }
}
