using System.Diagnostics;
using System.Text.Json.Nodes;

namespace CxrLab.Kernel.Tests;

/// <summary>One kernel for all protocol tests (Roslyn's warm-up takes seconds), driven by a real
/// Jupyter client: Debian's jupyter_client in <c>kernel_driver.py</c>, talking JSON lines with us.
/// The kernelspec is installed into a temporary JUPYTER_PATH, as <c>./cxr kernel install</c> writes it.</summary>
public sealed class KernelFixture : IDisposable
{
    readonly Process driver;
    readonly object gate = new();

    public KernelFixture()
    {
        Home = Directory.CreateTempSubdirectory("cxr-kernel-tests-").FullName;
        KernelSpec.Install(Home);
        var start = new ProcessStartInfo("/usr/bin/python3")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Home,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "kernel_driver.py"));
        start.Environment["JUPYTER_PATH"] = Home;
        start.Environment["JUPYTER_DATA_DIR"] = Home;
        start.Environment["JUPYTER_RUNTIME_DIR"] = Path.Combine(Home, "runtime");
        driver = Process.Start(start) ?? throw new InvalidOperationException("could not start /usr/bin/python3");
        driver.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (Log) Log.Add(e.Data); };
        driver.BeginErrorReadLine();
        var started = Send(new JsonObject { ["op"] = "start", ["cwd"] = Home, ["timeout"] = 120 });
        KeyLength = (int)started["key_length"]!;
    }

    /// <summary>Temporary JUPYTER_PATH / data dir / kernel working directory.</summary>
    public string Home { get; }

    /// <summary>Length of the HMAC key jupyter_client generated (the kernel signs with it).</summary>
    public int KeyLength { get; }

    /// <summary>The driver's and the kernel's stderr (the kernel logs there).</summary>
    public List<string> Log { get; } = [];

    /// <summary>Sends one command; fails with the driver's error (and the log tail) when it reports one.</summary>
    public JsonObject Send(JsonObject command, int timeoutSeconds = 150)
    {
        lock (gate)
        {
            driver.StandardInput.WriteLine(command.ToJsonString());
            driver.StandardInput.Flush();
            var line = driver.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(timeoutSeconds)).GetAwaiter().GetResult()
                       ?? throw new InvalidOperationException("kernel driver exited:\n" + LogTail());
            var result = JsonNode.Parse(line)!.AsObject();
            if (result["error"] is { } error) throw new InvalidOperationException($"kernel driver: {error}\n{LogTail()}");
            return result;
        }
    }

    /// <summary>Runs code in the kernel; returns the driver's {reply, iopub, ...}.</summary>
    public JsonObject Execute(string code, JsonObject? extra = null)
    {
        var command = new JsonObject { ["op"] = "execute", ["code"] = code };
        if (extra is not null) foreach (var (k, v) in extra) command[k] = v?.DeepClone();
        return Send(command);
    }

    public string LogTail()
    {
        lock (Log) return string.Join('\n', Log.TakeLast(40));
    }

    public void Dispose()
    {
        try
        {
            if (!driver.HasExited) Send(new JsonObject { ["op"] = "shutdown" }, 30);
            driver.WaitForExit(10_000);
        }
        catch (Exception) { /* the kernel is gone either way below */ }
        finally
        {
            if (!driver.HasExited) driver.Kill(entireProcessTree: true);
            driver.Dispose();
            try { Directory.Delete(Home, recursive: true); } catch (IOException) { }
        }
    }
}

[CollectionDefinition("kernel")]
public sealed class KernelCollection : ICollectionFixture<KernelFixture>;

/// <summary>Helpers to read the driver's message lists.</summary>
public static class Messages
{
    public static List<JsonObject> Iopub(JsonObject result) => result["iopub"]!.AsArray().Select(m => m!.AsObject()).ToList();

    public static IEnumerable<JsonObject> OfType(JsonObject result, string type) => Iopub(result).Where(m => (string?)m["msg_type"] == type);

    public static JsonObject ReplyContent(JsonObject result) => result["reply"]!["content"]!.AsObject();

    public static string Stdout(JsonObject result) =>
        string.Concat(OfType(result, "stream").Where(m => (string?)m["content"]!["name"] == "stdout").Select(m => (string?)m["content"]!["text"]));

    public static DateTime Date(JsonObject message) => DateTime.Parse((string)message["date"]!, System.Globalization.CultureInfo.InvariantCulture).ToUniversalTime();
}
