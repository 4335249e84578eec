using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;

namespace CxrLab.Kernel.Tests;

/// <summary>Message signing against Python's hmac (the algorithm jupyter_client uses), wire framing,
/// and rejection of tampered messages.</summary>
public sealed class SessionTests
{
    [Fact]
    public void Signature_matches_python_hmac_sha256()
    {
        var session = new Session("a-secret-key");
        var frames = new[] { "{\"msg_id\":\"1\"}", "{}", "{}", "{\"code\":\"1 + 1\"}" }.Select(Encoding.UTF8.GetBytes).ToArray();
        var ours = session.Sign(frames[0], frames[1], frames[2], frames[3]);
        var script = "import hmac, hashlib\nh = hmac.new(b'a-secret-key', digestmod=hashlib.sha256)\n" +
                     "for part in ['{\"msg_id\":\"1\"}', '{}', '{}', '{\"code\":\"1 + 1\"}']: h.update(part.encode())\nprint(h.hexdigest())";
        Assert.Equal(Python(script), ours);
    }

    [Fact]
    public void Round_trip_keeps_identities_and_content_and_a_tampered_frame_is_rejected()
    {
        var session = new Session("k");
        var request = new Message { Identities = [[1, 2, 3]], Header = new JsonObject { ["msg_id"] = "x", ["msg_type"] = "execute_request" } };
        var message = session.Create("execute_reply", new JsonObject { ["status"] = "ok" }, request);
        var frames = session.Serialize(message);
        Assert.Equal(new byte[] { 1, 2, 3 }, frames[0]);
        Assert.Equal("<IDS|MSG>", Encoding.ASCII.GetString(frames[1]));

        var parsed = session.Parse(frames);
        Assert.Equal("execute_reply", parsed.Type);
        Assert.Equal("x", (string?)parsed.ParentHeader["msg_id"]);
        Assert.Equal("ok", (string?)parsed.Content["status"]);

        frames[^1] = Encoding.UTF8.GetBytes("{\"status\":\"error\"}");
        Assert.Throws<InvalidDataException>(() => session.Parse(frames));
        Assert.Throws<InvalidDataException>(() => new Session("other").Parse(session.Serialize(message)));
    }

    [Fact]
    public void Cursor_positions_count_code_points()
    {
        var text = "var s = \"𝛼\"; s.Len"; // 𝛼 is two UTF-16 units, one code point
        Assert.Equal(text.Length, CodePoints.ToUtf16Index(text, CodePoints.FromUtf16Index(text, text.Length)));
        Assert.Equal(text.Length - 1, CodePoints.FromUtf16Index(text, text.Length));
    }

    [Fact]
    public void Connection_files_outside_loopback_are_refused()
    {
        var path = Path.Combine(Path.GetTempPath(), $"conn-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, """{"transport":"tcp","ip":"0.0.0.0","shell_port":1,"iopub_port":2,"stdin_port":3,"control_port":4,"hb_port":5,"key":"k","signature_scheme":"hmac-sha256"}""");
        try
        {
            var error = Assert.Throws<InvalidDataException>(() => ConnectionInfo.Read(path));
            Assert.Contains("127.0.0.1", error.Message);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void Kernelspec_has_absolute_argv_and_message_interrupts_and_honours_jupyter_data_dir()
    {
        var dir = Directory.CreateTempSubdirectory("cxr-spec-").FullName;
        var previous = Environment.GetEnvironmentVariable("JUPYTER_DATA_DIR");
        try
        {
            Environment.SetEnvironmentVariable("JUPYTER_DATA_DIR", dir);
            var folder = KernelSpec.Install();
            Assert.Equal(Path.Combine(dir, "kernels", "cxr-csharp"), folder);
            var spec = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "kernel.json")))!;
            var argv = spec["argv"]!.AsArray().Select(a => (string)a!).ToList();
            Assert.True(Path.IsPathRooted(argv[0]) && File.Exists(argv[0]), argv[0]);
            Assert.True(File.Exists(argv[1]), argv[1]);
            Assert.Contains("{connection_file}", argv);
            Assert.Equal("C# (CXR Lab)", (string?)spec["display_name"]);
            Assert.Equal("message", (string?)spec["interrupt_mode"]);
        }
        finally
        {
            Environment.SetEnvironmentVariable("JUPYTER_DATA_DIR", previous);
            Directory.Delete(dir, recursive: true);
        }
    }

    static string Python(string code)
    {
        var start = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(code);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEnd().Trim();
        process.WaitForExit();
        Assert.Equal(0, process.ExitCode);
        return output;
    }
}
