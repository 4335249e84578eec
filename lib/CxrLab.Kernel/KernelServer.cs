using System.Collections.Concurrent;
using System.Reflection;
using System.Text.Json.Nodes;
using CxrLab.Diagnostics;
using CxrLab.Viz;

namespace CxrLab.Kernel;

/// <summary>The Jupyter kernel: five ZeroMQ sockets on 127.0.0.1 (shell, iopub, stdin, control,
/// heartbeat), each served by its own thread, and the <see cref="ScriptEngine"/> running cells on the
/// shell thread. Control stays responsive while a cell runs, so interrupt (cancelling
/// <see cref="Cancellation.Current"/>) and shutdown work mid-cell. Every shell request publishes
/// status busy → outputs → reply → idle.</summary>
public sealed class KernelServer : IDisposable, IDisplaySink
{
    public const string LanguageVersion = "14";
    static readonly string Version = typeof(KernelServer).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.1";

    readonly ConnectionInfo connection;
    readonly Session session;
    readonly IntPtr context;
    readonly ZmqSocket shell, iopub, stdin, control, heartbeat;
    readonly BlockingCollection<(Message Message, string Topic)> outbox = new();
    readonly ScriptEngine engine;
    TextWriter log;
    readonly OutputCapture stdout, stderr;
    volatile bool stopping;
    volatile Message? currentRequest;
    volatile CancellationTokenSource? currentCancellation;
    int executionCount;
    bool abortQueued;

    public KernelServer(ConnectionInfo connection, TextWriter? log = null)
    {
        this.connection = connection;
        this.log = log ?? Console.Error;
        session = new Session(connection.Key);
        context = ZmqNative.zmq_ctx_new();
        if (context == IntPtr.Zero) throw new InvalidOperationException($"zmq_ctx_new failed: {ZmqNative.LastError()}");
        shell = Bound(ZmqNative.ROUTER, "shell", connection.ShellPort);
        iopub = Bound(ZmqNative.PUB, "iopub", connection.IopubPort);
        stdin = Bound(ZmqNative.ROUTER, "stdin", connection.StdinPort);
        control = Bound(ZmqNative.ROUTER, "control", connection.ControlPort);
        heartbeat = Bound(ZmqNative.REP, "heartbeat", connection.HbPort);
        engine = new ScriptEngine();
        stdout = new OutputCapture("stdout", PublishStream);
        stderr = new OutputCapture("stderr", PublishStream);
    }

    ZmqSocket Bound(int type, string name, int port)
    {
        var socket = new ZmqSocket(context, type, name);
        socket.Bind(connection.Endpoint(port));
        return socket;
    }

    /// <summary>Serves until a shutdown request; returns the process exit code.</summary>
    public int Run()
    {
        // Native writes and child processes: into the cell too (the kernel's log keeps the original stderr).
        if (Environment.GetEnvironmentVariable("CXR_KERNEL_NATIVE_OUTPUT") != "0" && NativeOutput.Capture(PublishNative) is { } original) log = original;
        Console.SetOut(stdout);
        Console.SetError(stderr);
        Console.SetIn(new InputReader(AskInput));
        Display.Sink = this;
        PlotlyJs.ResetSession();

        var threads = new[]
        {
            new Thread(PublishLoop) { Name = "iopub", IsBackground = true },
            new Thread(HeartbeatLoop) { Name = "heartbeat", IsBackground = true },
            new Thread(() => ServeLoop(control, isControl: true)) { Name = "control", IsBackground = true },
            new Thread(FlushLoop) { Name = "stream-flush", IsBackground = true },
        };
        foreach (var t in threads) t.Start();
        Log($"CXR C# kernel {Version} listening on 127.0.0.1 (shell {connection.ShellPort}, iopub {connection.IopubPort}, control {connection.ControlPort})");
        // The shell thread is this one: cells run here, one at a time.
        ServeLoop(shell, isControl: false);

        stopping = true;
        foreach (var t in threads.Skip(1)) t.Join(TimeSpan.FromSeconds(2));
        outbox.CompleteAdding();
        threads[0].Join(TimeSpan.FromSeconds(2));
        return 0;
    }

    void ServeLoop(ZmqSocket socket, bool isControl)
    {
        while (!stopping)
        {
            if (!socket.Poll(100)) continue;
            var frames = socket.Receive();
            Message request;
            try { request = session.Parse(frames); }
            catch (InvalidDataException e)
            {
                Log($"{socket.Name}: message dropped: {e.Message}");
                continue;
            }
            try
            {
                Handle(socket, request, isControl);
                if (!isControl && abortQueued) AbortQueued(socket);
            }
            catch (Exception e)
            {
                // A handler's bug must not take the kernel down; the client sees an error reply.
                Log($"{socket.Name}: {request.Type} failed: {e}");
                TrySend(socket, session.Create(ReplyType(request.Type), new JsonObject
                {
                    ["status"] = "error", ["ename"] = e.GetType().Name, ["evalue"] = e.Message, ["traceback"] = new JsonArray(),
                }, request));
                Publish(Status("idle", request));
            }
        }
    }

    /// <summary>After a failed cell with stop_on_error, the cells already queued behind it (JupyterLab's
    /// "run all") are answered "aborted" without running, as ipykernel does; other requests are served.</summary>
    void AbortQueued(ZmqSocket socket)
    {
        abortQueued = false;
        while (socket.Poll(0))
        {
            Message queued;
            try { queued = session.Parse(socket.Receive()); }
            catch (InvalidDataException e) { Log($"{socket.Name}: message dropped: {e.Message}"); continue; }
            if (queued.Type != "execute_request") { Handle(socket, queued, isControl: false); continue; }
            Publish(Status("busy", queued));
            TrySend(socket, session.Create("execute_reply", new JsonObject { ["status"] = "aborted", ["execution_count"] = executionCount }, queued));
            Publish(Status("idle", queued));
        }
    }

    static string ReplyType(string requestType) => requestType.EndsWith("_request", StringComparison.Ordinal) ? requestType[..^"_request".Length] + "_reply" : requestType + "_reply";

    void Handle(ZmqSocket socket, Message request, bool isControl)
    {
        Publish(Status("busy", request));
        JsonObject? reply = request.Type switch
        {
            "kernel_info_request" => KernelInfo(),
            "execute_request" when !isControl => Execute(request),
            "is_complete_request" => IsComplete(request),
            "complete_request" => Complete(request),
            "inspect_request" => Inspect(request),
            "comm_info_request" => new JsonObject { ["status"] = "ok", ["comms"] = new JsonObject() },
            "history_request" => new JsonObject { ["status"] = "ok", ["history"] = new JsonArray() },
            "interrupt_request" => Interrupt(),
            "shutdown_request" => Shutdown(request),
            "comm_open" or "comm_msg" or "comm_close" => null, // no comm targets: ignored, as the protocol allows
            _ => Unknown(request),
        };
        if (reply is not null) TrySend(socket, session.Create(ReplyType(request.Type), reply, request));
        Publish(Status("idle", request));
    }

    JsonObject? Unknown(Message request)
    {
        Log($"unsupported message type {request.Type}");
        return null;
    }

    JsonObject KernelInfo() => new()
    {
        ["status"] = "ok",
        ["protocol_version"] = Session.ProtocolVersion,
        ["implementation"] = "cxr-csharp",
        ["implementation_version"] = Version,
        ["language_info"] = new JsonObject
        {
            ["name"] = "csharp",
            ["version"] = LanguageVersion,
            ["mimetype"] = "text/x-csharp",
            ["file_extension"] = ".cs",
            ["pygments_lexer"] = "csharp",
            ["codemirror_mode"] = "text/x-csharp",
        },
        ["banner"] = $"CXR Lab C# kernel {Version} (Roslyn scripting, .NET {Environment.Version}); CxrLab namespaces are imported.",
        ["help_links"] = new JsonArray(),
        ["debugger"] = false,
    };

    JsonObject Execute(Message request)
    {
        var code = (string?)request.Content["code"] ?? "";
        var silent = (bool?)request.Content["silent"] ?? false;
        var storeHistory = !silent && ((bool?)request.Content["store_history"] ?? true);
        if (storeHistory) executionCount++;
        var count = executionCount;
        if (!silent) Publish(session.Create("execute_input", new JsonObject { ["code"] = code, ["execution_count"] = count }, request));

        using var cancellation = new CancellationTokenSource();
        currentCancellation = cancellation;
        currentRequest = request;
        CellResult result;
        try
        {
            using (Cancellation.Use(cancellation.Token))
                result = engine.ExecuteAsync(code, $"cell{count}", cancellation.Token).GetAwaiter().GetResult();
        }
        catch (Exception e)
        {
            result = new CellResult(false, null, ScriptEngine.Describe(e));
        }
        finally
        {
            currentCancellation = null;
        }
        NativeOutput.Drain(TimeSpan.FromSeconds(2)); // child processes' and native output, read asynchronously
        FlushStreams();

        if (result.Error is { } error)
        {
            var content = new JsonObject
            {
                ["ename"] = error.Name,
                ["evalue"] = error.Value,
                ["traceback"] = new JsonArray(error.Traceback.Select(l => (JsonNode?)JsonValue.Create(l)).ToArray()),
            };
            if (!silent) Publish(session.Create("error", (JsonObject)content.DeepClone(), request));
            abortQueued = (bool?)request.Content["stop_on_error"] ?? true;
            content["status"] = "error";
            content["execution_count"] = count;
            return content;
        }
        if (result.HasValue && !silent)
        {
            var bundle = Formatters.Format(result.Value);
            Publish(session.Create("execute_result", new JsonObject
            {
                ["execution_count"] = count,
                ["data"] = bundle.DataToJson(),
                ["metadata"] = bundle.Metadata.DeepClone(),
            }, request));
        }
        return new JsonObject
        {
            ["status"] = "ok",
            ["execution_count"] = count,
            ["user_expressions"] = new JsonObject(),
            ["payload"] = new JsonArray(),
        };
    }

    static JsonObject IsComplete(Message request)
    {
        var status = ScriptEngine.IsComplete((string?)request.Content["code"] ?? "");
        var reply = new JsonObject { ["status"] = status };
        if (status == "incomplete") reply["indent"] = "";
        return reply;
    }

    JsonObject Complete(Message request)
    {
        var code = (string?)request.Content["code"] ?? "";
        var cursor = CodePoints.ToUtf16Index(code, (int?)request.Content["cursor_pos"] ?? code.Length);
        var completions = CodeAssist.Complete(engine, code, cursor);
        return new JsonObject
        {
            ["status"] = "ok",
            ["matches"] = new JsonArray(completions.Matches.Select(m => (JsonNode?)JsonValue.Create(m)).ToArray()),
            ["cursor_start"] = CodePoints.FromUtf16Index(code, completions.Start),
            ["cursor_end"] = CodePoints.FromUtf16Index(code, completions.End),
            ["metadata"] = new JsonObject(),
        };
    }

    JsonObject Inspect(Message request)
    {
        var code = (string?)request.Content["code"] ?? "";
        var cursor = CodePoints.ToUtf16Index(code, (int?)request.Content["cursor_pos"] ?? code.Length);
        var text = CodeAssist.Inspect(engine, code, cursor);
        return new JsonObject
        {
            ["status"] = "ok",
            ["found"] = text is not null,
            ["data"] = text is null ? new JsonObject() : new JsonObject { ["text/plain"] = text },
            ["metadata"] = new JsonObject(),
        };
    }

    JsonObject Interrupt()
    {
        var cancellation = currentCancellation;
        try { cancellation?.Cancel(); }
        catch (ObjectDisposedException) { /* the cell finished meanwhile */ }
        Log(cancellation is null ? "interrupt: no cell running" : "interrupt: cancelling the running cell");
        if (cancellation is not null)
        {
            // Interrupts are cooperative: tell the user when the cell does not check the token.
            new Thread(() =>
            {
                Thread.Sleep(5000);
                if (ReferenceEquals(currentCancellation, cancellation))
                    stderr.Write("\n[interrupt] this cell has not stopped: only loops that check CxrLab.Diagnostics.Cancellation " +
                                 "(e.g. Progress.Track) or the CancellationToken global can be interrupted. Restart the kernel to stop it.\n");
            }) { IsBackground = true, Name = "interrupt-watch" }.Start();
        }
        return new JsonObject { ["status"] = "ok" };
    }

    JsonObject Shutdown(Message request)
    {
        var restart = (bool?)request.Content["restart"] ?? false;
        stopping = true;
        try { currentCancellation?.Cancel(); }
        catch (ObjectDisposedException) { }
        Log(restart ? "shutdown for restart" : "shutdown");
        // A cell that ignores cancellation would keep the shell thread (and the process) alive.
        new Thread(() => { Thread.Sleep(3000); Log("cell did not stop; exiting"); Environment.Exit(0); }) { IsBackground = true }.Start();
        return new JsonObject { ["status"] = "ok", ["restart"] = restart };
    }

    // ---- output ----

    Message Status(string state, Message parent) => session.Create("status", new JsonObject { ["execution_state"] = state }, parent);

    void Publish(Message message)
    {
        try { outbox.Add((message, "kernel." + session.Id + "." + message.Type)); }
        catch (InvalidOperationException) { /* shutting down */ }
    }

    void PublishNative(string name, string text)
    {
        // Ordered with managed output: flush what the cell printed before this arrived.
        (name == "stdout" ? stdout : stderr).Write(text);
    }

    void PublishStream(string name, string text)
    {
        var parent = currentRequest;
        if (parent is null) { log.Write(text); return; }
        Publish(session.Create("stream", new JsonObject { ["name"] = name, ["text"] = text }, parent));
    }

    void FlushStreams()
    {
        stdout.Flush();
        stderr.Flush();
    }

    void IDisplaySink.Show(MimeBundle bundle, string? displayId) => PublishDisplay("display_data", bundle, displayId);

    void IDisplaySink.Update(MimeBundle bundle, string displayId) => PublishDisplay("update_display_data", bundle, displayId);

    void PublishDisplay(string type, MimeBundle bundle, string? displayId)
    {
        var parent = currentRequest;
        if (parent is null) return;
        FlushStreams(); // keeps printed text and displays in the order the cell made them
        var content = new JsonObject
        {
            ["data"] = bundle.DataToJson(),
            ["metadata"] = bundle.Metadata.DeepClone(),
            ["transient"] = displayId is null ? new JsonObject() : new JsonObject { ["display_id"] = displayId },
        };
        Publish(session.Create(type, content, parent));
    }

    string AskInput(string prompt, bool password)
    {
        var request = currentRequest;
        if (request is null || !((bool?)request.Content["allow_stdin"] ?? false))
            throw new InvalidOperationException("this front end does not accept input (allow_stdin is false): Console.ReadLine cannot be answered");
        FlushStreams();
        TrySend(stdin, session.Create("input_request", new JsonObject { ["prompt"] = prompt, ["password"] = password }, request));
        while (true)
        {
            Cancellation.ThrowIfRequested();
            if (!stdin.Poll(100)) continue;
            var reply = session.Parse(stdin.Receive());
            if (reply.Type == "input_reply") return (string?)reply.Content["value"] ?? "";
        }
    }

    void PublishLoop()
    {
        foreach (var (message, topic) in outbox.GetConsumingEnumerable())
        {
            try { iopub.Send(session.Serialize(message, topic)); }
            catch (Exception e) { Log($"iopub: send failed: {e.Message}"); }
        }
    }

    void FlushLoop()
    {
        while (!stopping)
        {
            Thread.Sleep(50);
            try { FlushStreams(); }
            catch (Exception e) { Log($"stream flush failed: {e.Message}"); }
        }
    }

    void HeartbeatLoop()
    {
        while (!stopping)
        {
            try
            {
                if (heartbeat.Poll(100)) heartbeat.Send(heartbeat.Receive());
            }
            catch (Exception e) { Log($"heartbeat: {e.Message}"); }
        }
    }

    void TrySend(ZmqSocket socket, Message message)
    {
        try { socket.Send(session.Serialize(message)); }
        catch (Exception e) { Log($"{socket.Name}: send failed: {e.Message}"); }
    }

    void Log(string text)
    {
        lock (log) { log.WriteLine($"[cxr-kernel {DateTime.Now:HH:mm:ss}] {text}"); log.Flush(); }
    }

    public void Dispose()
    {
        stopping = true;
        Display.Sink = null;
        foreach (var s in new[] { shell, iopub, stdin, control, heartbeat }) s.Dispose();
        ZmqNative.zmq_ctx_term(context);
    }
}

/// <summary>Jupyter counts cursor positions in Unicode code points; .NET strings index UTF-16 units.</summary>
public static class CodePoints
{
    public static int ToUtf16Index(string text, int codePoints)
    {
        var index = 0;
        for (var n = 0; n < codePoints && index < text.Length; n++)
            index += char.IsHighSurrogate(text[index]) && index + 1 < text.Length ? 2 : 1;
        return index;
    }

    public static int FromUtf16Index(string text, int index)
    {
        var count = 0;
        for (var i = 0; i < index && i < text.Length; i++)
            if (!char.IsLowSurrogate(text[i])) count++;
        return count;
    }
}
