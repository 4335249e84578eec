using System.Text.Json.Nodes;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using static CxrLab.Kernel.Tests.Messages;

namespace CxrLab.Kernel.Tests;

/// <summary>The kernel against a real Jupyter client (jupyter_client, which also checks the HMAC
/// signature of every message the kernel sends). One kernel serves all tests in this collection.</summary>
[Collection("kernel")]
public sealed class ProtocolTests(KernelFixture kernel)
{
    [Fact]
    public void Kernel_info_carries_language_info_and_protocol_5_3()
    {
        var content = ReplyContent(kernel.Send(new JsonObject { ["op"] = "kernel_info" }));
        Assert.Equal("ok", (string?)content["status"]);
        Assert.Equal("5.3", (string?)content["protocol_version"]);
        Assert.Equal("csharp", (string?)content["language_info"]!["name"]);
        Assert.Equal(".cs", (string?)content["language_info"]!["file_extension"]);
        Assert.True(kernel.KeyLength > 0, "jupyter_client should sign with a key");
    }

    [Fact]
    public void Execute_publishes_busy_then_outputs_then_reply_then_idle()
    {
        var result = kernel.Execute("Console.WriteLine(\"hello from C#\");\n6 * 7");
        var iopub = Iopub(result);
        Assert.Equal("busy", (string?)iopub[0]["content"]!["execution_state"]);
        Assert.Equal("idle", (string?)iopub[^1]["content"]!["execution_state"]);
        Assert.Equal(["status", "execute_input", "stream", "execute_result", "status"], iopub.Select(m => (string)m["msg_type"]!));
        Assert.Equal("hello from C#\n", Stdout(result));
        var value = OfType(result, "execute_result").Single();
        Assert.Equal("42", (string?)value["content"]!["data"]!["text/plain"]);

        var reply = ReplyContent(result);
        Assert.Equal("ok", (string?)reply["status"]);
        Assert.Equal((int)value["content"]!["execution_count"]!, (int)reply["execution_count"]!);
        // The reply is sent before idle is published and after the last output.
        Assert.True(Date(result["reply"]!.AsObject()) <= Date(iopub[^1]), "idle must follow the reply");
        Assert.True(Date(value) <= Date(result["reply"]!.AsObject()), "outputs must precede the reply");
    }

    [Fact]
    public void Stdout_streams_while_the_cell_is_still_running()
    {
        // The cell waits for a file that the client creates only after it has received "waiting":
        // without streaming the cell would run into its deadline and report it.
        var flag = Path.Combine(kernel.Home, $"flag-{Guid.NewGuid():N}");
        var code = $$"""
            Console.WriteLine("waiting");
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (!File.Exists(@"{{flag}}") && DateTime.UtcNow < deadline) Thread.Sleep(10);
            Console.WriteLine(File.Exists(@"{{flag}}") ? "released" : "never released");
            """;
        var result = kernel.Execute(code, new JsonObject { ["touch_on"] = new JsonObject { ["text"] = "waiting", ["path"] = flag } });
        Assert.True((bool)result["touched"]!);
        Assert.Equal("waiting\nreleased\n", Stdout(result));
        Assert.True(OfType(result, "stream").Count() >= 2, "the two lines must arrive as separate stream messages");
    }

    [Fact]
    public void Interrupt_cancels_a_long_library_loop_and_the_kernel_keeps_working()
    {
        // 100 000 steps of 10 ms would take 17 minutes: only the interrupt can end this cell in time.
        var code = """
            var interruptedAt = -1;
            foreach (var i in Progress.Track(Enumerable.Range(0, 100_000), "long loop"))
            {
                interruptedAt = i;
                if (i == 3) Console.WriteLine("loop started");
                Thread.Sleep(10);
            }
            """;
        var result = kernel.Execute(code, new JsonObject { ["interrupt_on"] = "loop started" });
        Assert.True((bool)result["interrupted"]!);
        var reply = ReplyContent(result);
        Assert.Equal("error", (string?)reply["status"]);
        Assert.Equal("OperationCanceledException", (string?)reply["ename"]);
        Assert.Contains(OfType(result, "display_data"), m => ((string?)m["content"]!["data"]!["text/plain"])!.Contains("long loop"));

        var after = kernel.Execute("interruptedAt < 100_000 ? \"stopped early\" : \"ran to the end\"");
        Assert.Equal("ok", (string?)ReplyContent(after)["status"]);
        Assert.Equal("stopped early", (string?)OfType(after, "execute_result").Single()["content"]!["data"]!["text/plain"]);
    }

    [Fact]
    public void A_cell_error_shows_a_readable_trace_and_the_next_cell_works()
    {
        kernel.Execute("var survivor = 41;");
        var failed = kernel.Execute("int Divide(int a, int b) => a / b;\nvar zero = 0;\nDivide(1, zero)");
        var reply = ReplyContent(failed);
        Assert.Equal("error", (string?)reply["status"]);
        Assert.Equal("DivideByZeroException", (string?)reply["ename"]);
        var trace = string.Join('\n', reply["traceback"]!.AsArray().Select(l => (string?)l));
        Assert.Contains("at Divide(Int32 a, Int32 b) in cell", trace);
        Assert.Matches(@"<cell> in cell\d+:line 3", trace);
        Assert.DoesNotContain("Microsoft.CodeAnalysis", trace);
        Assert.Single(OfType(failed, "error"));

        var compileError = ReplyContent(kernel.Execute("undefinedName + 1"));
        Assert.Equal("CompilationError", (string?)compileError["ename"]);
        Assert.Contains("CS0103", (string?)compileError["evalue"]);

        var next = kernel.Execute("survivor + 1");
        Assert.Equal("42", (string?)OfType(next, "execute_result").Single()["content"]!["data"]!["text/plain"]);
    }

    [Fact]
    public void A_message_with_a_bad_signature_is_dropped()
    {
        var result = kernel.Send(new JsonObject { ["op"] = "bad_signature", ["wait"] = 1.5 });
        Assert.False((bool)result["answered"]!);
        Assert.Contains(kernel.Log, l => l.Contains("invalid message signature"));
        Assert.Equal("ok", (string?)ReplyContent(kernel.Send(new JsonObject { ["op"] = "kernel_info" }))["status"]);
    }

    [Fact]
    public void Output_of_child_processes_and_native_code_reaches_the_cell()
    {
        var result = kernel.Execute("""
            Console.WriteLine("managed before");
            System.Diagnostics.Process.Start("/bin/sh", ["-c", "echo from a child process; echo child error >&2"])!.WaitForExit();
            """);
        Assert.Equal("ok", (string?)ReplyContent(result)["status"]);
        var stdout = Stdout(result);
        Assert.Contains("managed before\n", stdout);
        Assert.Contains("from a child process\n", stdout);
        var stderr = string.Concat(OfType(result, "stream").Where(m => (string?)m["content"]!["name"] == "stderr").Select(m => (string?)m["content"]!["text"]));
        Assert.Contains("child error", stderr);
    }

    [Fact]
    public void Display_and_update_display_share_a_display_id()
    {
        var result = kernel.Execute("var handle = display(\"first\");\nhandle.Update(\"second\");");
        var shown = OfType(result, "display_data").Single()["content"]!;
        var updated = OfType(result, "update_display_data").Single()["content"]!;
        Assert.Equal("first", (string?)shown["data"]!["text/plain"]);
        Assert.Equal("second", (string?)updated["data"]!["text/plain"]);
        Assert.False(string.IsNullOrEmpty((string?)shown["transient"]!["display_id"]));
        Assert.Equal((string?)shown["transient"]!["display_id"], (string?)updated["transient"]!["display_id"]);
        Assert.Empty(OfType(result, "execute_result"));
    }

    [Fact]
    public void Figures_and_records_render_with_rich_mime_types()
    {
        var result = kernel.Execute("""
            record Row(string Name, int Count);
            display(new Figure("demo").Bar(["a", "b"], [1.0, 2.0]));
            new[] { new Row("x<y", 1), new Row("z", 2) }
            """);
        var figure = OfType(result, "display_data").Single()["content"]!["data"]!;
        Assert.Equal("bar", (string?)figure["application/vnd.plotly.v1+json"]!["data"]![0]!["type"]);
        Assert.Contains("Plotly.newPlot", (string?)figure["text/html"]);
        var table = OfType(result, "execute_result").Single()["content"]!["data"]!;
        Assert.Contains("<th", (string?)table["text/html"]);
        Assert.Contains("x&lt;y", (string?)table["text/html"]);
        Assert.Contains("Name", (string?)table["text/plain"]);
    }

    [Fact]
    public void Completion_inspection_and_is_complete_use_roslyn_and_the_session_state()
    {
        kernel.Execute("var numbers = new List<int> { 3, 1, 2 };");
        var code = "numbers.Cou";
        var completion = ReplyContent(kernel.Send(new JsonObject { ["op"] = "complete", ["code"] = code, ["cursor_pos"] = code.Length }));
        Assert.Contains("Count", completion["matches"]!.AsArray().Select(m => (string?)m));
        Assert.Equal(8, (int)completion["cursor_start"]!);
        Assert.Equal(code.Length, (int)completion["cursor_end"]!);

        var statics = ReplyContent(kernel.Send(new JsonObject { ["op"] = "complete", ["code"] = "Figure.Sub", ["cursor_pos"] = 10 }));
        Assert.Equal(["Subplots"], statics["matches"]!.AsArray().Select(m => (string?)m));

        var inspect = ReplyContent(kernel.Send(new JsonObject { ["op"] = "inspect", ["code"] = "Charts.PrCurves(", ["cursor_pos"] = 9 }));
        Assert.True((bool)inspect["found"]!);
        Assert.Contains("Precision against recall", (string?)inspect["data"]!["text/plain"]);

        Assert.Equal("incomplete", (string?)ReplyContent(kernel.Send(new JsonObject { ["op"] = "is_complete", ["code"] = "if (true) {" }))["status"]);
        Assert.Equal("complete", (string?)ReplyContent(kernel.Send(new JsonObject { ["op"] = "is_complete", ["code"] = "var a = 1;" }))["status"]);
        Assert.Equal("ok", (string?)ReplyContent(kernel.Send(new JsonObject { ["op"] = "comm_info" }))["status"]);
    }

    [Fact]
    public void Hash_r_references_a_compiled_assembly()
    {
        var dll = Path.Combine(kernel.Home, $"Extra{Guid.NewGuid():N}.dll");
        var compilation = CSharpCompilation.Create(Path.GetFileNameWithoutExtension(dll),
            [CSharpSyntaxTree.ParseText("namespace Extra { public static class Answer { public static int Value => 42; } }")],
            [MetadataReference.CreateFromFile(typeof(object).Assembly.Location)],
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary));
        var emitted = compilation.Emit(dll);
        Assert.True(emitted.Success, string.Join('\n', emitted.Diagnostics));

        var result = kernel.Execute($"#r \"{dll}\"\nExtra.Answer.Value");
        Assert.Equal("ok", (string?)ReplyContent(result)["status"]);
        Assert.Equal("42", (string?)OfType(result, "execute_result").Single()["content"]!["data"]!["text/plain"]);
    }
}

/// <summary>Input, queued cells after an error, and restart (last: it resets the shared kernel's state).</summary>
[Collection("kernel")]
public sealed class ProtocolLifecycleTests(KernelFixture kernel)
{
    [Fact]
    public void Console_readline_asks_the_front_end_through_stdin()
    {
        var result = kernel.Send(new JsonObject { ["op"] = "execute_with_input", ["code"] = "var answer = Console.ReadLine();\n$\"got {answer}\"", ["answer"] = "yes" });
        Assert.Equal("input_request", (string?)result["input_request"]!["msg_type"]);
        Assert.Equal("got yes", (string?)OfType(result, "execute_result").Single()["content"]!["data"]!["text/plain"]);
    }

    [Fact]
    public void Cells_queued_behind_a_failing_cell_are_aborted_and_later_cells_run()
    {
        var result = kernel.Send(new JsonObject
        {
            ["op"] = "execute_queued",
            ["codes"] = new JsonArray("Thread.Sleep(300); throw new Exception(\"first fails\");", "Console.WriteLine(\"must not run\");"),
        });
        var statuses = result["replies"]!.AsArray().Select(r => (string?)r!["content"]!["status"]).ToList();
        Assert.Equal(["error", "aborted"], statuses);
        Assert.Equal("ok", (string?)ReplyContent(kernel.Execute("1 + 1"))["status"]);
    }

    [Fact]
    public void Interrupting_a_cell_that_ignores_cancellation_says_so_and_the_cell_finishes()
    {
        // The cell never checks the token; it waits for a file the client creates once the kernel
        // has told the user that the interrupt did not stop it.
        var flag = Path.Combine(kernel.Home, $"flag-{Guid.NewGuid():N}");
        var code = $$"""
            Console.WriteLine("busy loop started");
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (!File.Exists(@"{{flag}}") && DateTime.UtcNow < deadline) Thread.Sleep(10);
            Console.WriteLine(File.Exists(@"{{flag}}") ? "finished" : "never told");
            """;
        var result = kernel.Execute(code, new JsonObject
        {
            ["interrupt_on"] = "busy loop started",
            ["touch_on"] = new JsonObject { ["text"] = "has not stopped", ["path"] = flag },
        });
        Assert.True((bool)result["interrupted"]! && (bool)result["touched"]!);
        Assert.Equal("ok", (string?)ReplyContent(result)["status"]);
        Assert.EndsWith("finished\n", Stdout(result));
    }

    [Fact]
    public void Restart_gives_a_fresh_kernel()
    {
        kernel.Execute("var beforeRestart = 1;");
        var restarted = kernel.Send(new JsonObject { ["op"] = "restart" });
        Assert.True((bool)restarted["alive"]!);
        var after = ReplyContent(kernel.Execute("beforeRestart"));
        Assert.Equal("CompilationError", (string?)after["ename"]);
        Assert.Equal("ok", (string?)ReplyContent(kernel.Execute("var fresh = 2;"))["status"]);
    }
}
