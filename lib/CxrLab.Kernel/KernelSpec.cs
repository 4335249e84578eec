using System.Text.Json.Nodes;

namespace CxrLab.Kernel;

/// <summary>Writes the Jupyter kernelspec <c>cxr-csharp</c>: Jupyter, VS Code and nbclient find it in
/// <c>$JUPYTER_DATA_DIR/kernels</c> (default <c>~/.local/share/jupyter/kernels</c>).</summary>
public static class KernelSpec
{
    public const string Name = "cxr-csharp";
    public const string DisplayName = "C# (CXR Lab)";

    /// <summary>Jupyter's user data directory: <c>$JUPYTER_DATA_DIR</c>, else <c>$XDG_DATA_HOME/jupyter</c>,
    /// else <c>~/.local/share/jupyter</c> (Jupyter's rules on Linux).</summary>
    public static string UserDataDirectory()
    {
        if (Environment.GetEnvironmentVariable("JUPYTER_DATA_DIR") is { Length: > 0 } dir) return Path.GetFullPath(dir);
        if (Environment.GetEnvironmentVariable("XDG_DATA_HOME") is { Length: > 0 } xdg) return Path.Combine(xdg, "jupyter");
        var home = Environment.GetEnvironmentVariable("HOME") is { Length: > 0 } h ? h : Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        if (string.IsNullOrEmpty(home)) throw new InvalidOperationException("neither HOME nor JUPYTER_DATA_DIR is set: cannot tell where Jupyter looks for kernels");
        return Path.Combine(home, ".local", "share", "jupyter");
    }

    /// <summary>The kernel.json content: argv[0] is the absolute path of the dotnet host, argv[1] this
    /// kernel's assembly (absolute), interrupts arrive as messages.</summary>
    public static JsonObject Spec(string? dotnetHost = null, string? kernelAssembly = null)
    {
        dotnetHost ??= DotnetHost();
        kernelAssembly ??= typeof(KernelSpec).Assembly.Location;
        return new JsonObject
        {
            ["argv"] = new JsonArray(dotnetHost, Path.GetFullPath(kernelAssembly), "--connection-file", "{connection_file}"),
            ["display_name"] = DisplayName,
            ["language"] = "csharp",
            ["interrupt_mode"] = "message",
            ["env"] = new JsonObject { ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1", ["DOTNET_NOLOGO"] = "1" },
            ["metadata"] = new JsonObject { ["debugger"] = false },
        };
    }

    /// <summary>Writes <c>&lt;dataDir&gt;/kernels/cxr-csharp/kernel.json</c> (atomically); returns the folder.</summary>
    public static string Install(string? dataDirectory = null, string? dotnetHost = null, string? kernelAssembly = null)
    {
        var folder = Path.Combine(dataDirectory ?? UserDataDirectory(), "kernels", Name);
        Directory.CreateDirectory(folder);
        var json = Spec(dotnetHost, kernelAssembly).ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true });
        Imaging.ImageCodecs.WriteAtomically(Path.Combine(folder, "kernel.json"), System.Text.Encoding.UTF8.GetBytes(json + "\n"));
        return folder;
    }

    /// <summary>The absolute path of the dotnet host running this process (or found on PATH / in DOTNET_ROOT).</summary>
    public static string DotnetHost()
    {
        var process = Environment.ProcessPath;
        if (process is not null && Path.GetFileNameWithoutExtension(process) == "dotnet") return Path.GetFullPath(process);
        if (Environment.GetEnvironmentVariable("DOTNET_ROOT") is { Length: > 0 } root && File.Exists(Path.Combine(root, "dotnet")))
            return Path.Combine(root, "dotnet");
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, "dotnet");
            if (File.Exists(candidate)) return new FileInfo(candidate).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? candidate;
        }
        throw new InvalidOperationException("the dotnet host was not found (not on PATH, DOTNET_ROOT unset): install the .NET SDK 10");
    }
}
