using System.Collections.Immutable;
using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;
using CxrLab.Viz;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Scripting;
using Microsoft.CodeAnalysis.Scripting;

namespace CxrLab.Kernel;

/// <summary>What one cell produced: its value (when the cell ends in an expression) or its error.</summary>
public sealed record CellResult(bool HasValue, object? Value, CellError? Error);

/// <summary>A cell's failure as Jupyter shows it: exception type, message, readable trace lines.</summary>
public sealed record CellError(string Name, string Value, IReadOnlyList<string> Traceback);

/// <summary>Runs C# cells with Roslyn scripting. State (variables, types, usings, #r references)
/// carries from cell to cell; CxrLab and its namespaces are referenced and imported up front;
/// a cell's exception is returned as a <see cref="CellError"/>, never thrown.</summary>
public sealed partial class ScriptEngine
{
    /// <summary>Namespaces imported before the first cell, besides every public CxrLab.* namespace.</summary>
    public static readonly string[] BaseImports =
        ["System", "System.Collections.Generic", "System.IO", "System.Linq", "System.Text", "System.Threading", "System.Threading.Tasks"];

    readonly KernelGlobals globals = new();
    readonly Task<ScriptState<object>> warmUp;
    ScriptState<object>? state;
    int cellNumber;

    public ScriptEngine()
    {
        Options = CreateOptions();
        // Roslyn's first compilation takes seconds (JIT): start it while the front end connects.
        warmUp = Task.Run(() => CSharpScript.RunAsync<object>("0", Options, globals, typeof(KernelGlobals)));
    }

    public ScriptOptions Options { get; }

    ScriptState<object> State => state ??= warmUp.GetAwaiter().GetResult();

    /// <summary>Compiles and runs one cell. <paramref name="cellName"/> names it in traces (e.g. "cell3").</summary>
    public async Task<CellResult> ExecuteAsync(string code, string cellName, CancellationToken cancellation)
    {
        var current = State;
        cellNumber++;
        ScriptState<object> next;
        try
        {
            next = await current.ContinueWithAsync<object>(code, Options.WithFilePath(cellName), _ => true, cancellation);
        }
        catch (CompilationErrorException e)
        {
            var errors = e.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).Select(d => d.ToString()).ToList();
            return new CellResult(false, null, new CellError("CompilationError", errors.FirstOrDefault() ?? e.Message, errors));
        }
        catch (OperationCanceledException e)
        {
            return new CellResult(false, null, Describe(e));
        }
        state = next;
        if (next.Exception is not null) return new CellResult(false, null, Describe(next.Exception));
        var hasValue = EndsInExpression(next.Script.GetCompilation()) && next.ReturnValue is not DisplayHandle;
        return new CellResult(hasValue && next.ReturnValue is not null, next.ReturnValue, null);
    }

    /// <summary>True when the cell's last statement is an expression without a semicolon (its value is shown).</summary>
    static bool EndsInExpression(Compilation compilation) =>
        compilation.SyntaxTrees.LastOrDefault()?.GetRoot() is Microsoft.CodeAnalysis.CSharp.Syntax.CompilationUnitSyntax unit
        && unit.Members.LastOrDefault() is Microsoft.CodeAnalysis.CSharp.Syntax.GlobalStatementSyntax { Statement: Microsoft.CodeAnalysis.CSharp.Syntax.ExpressionStatementSyntax e }
        && e.SemicolonToken.IsMissing;

    /// <summary>"complete", "incomplete" (unclosed braces, a statement not ended) or "invalid".</summary>
    public static string IsComplete(string code)
    {
        var tree = CSharpSyntaxTree.ParseText(code, ParseOptions);
        if (!SyntaxFactory.IsCompleteSubmission(tree)) return "incomplete";
        return tree.GetDiagnostics().Any(d => d.Severity == DiagnosticSeverity.Error) ? "invalid" : "complete";
    }

    internal static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.Latest, kind: SourceCodeKind.Script);

    /// <summary>The compilation of <paramref name="code"/> as the next cell (for completion and inspection).</summary>
    internal Compilation CompileNext(string code) => State.Script.ContinueWith(code, Options).GetCompilation();

    static ScriptOptions CreateOptions()
    {
        var cwd = Environment.CurrentDirectory;
        var cxrLab = typeof(Figure).Assembly;
        var imports = BaseImports.Concat(cxrLab.GetExportedTypes()
                .Select(t => t.Namespace)
                .OfType<string>()
                .Where(n => n.StartsWith("CxrLab.", StringComparison.Ordinal) && n != "CxrLab.Interop")
                .Distinct()
                .Order());
        return ScriptOptions.Default
            .WithReferences(References())
            .WithImports(imports)
            .WithLanguageVersion(LanguageVersion.Latest)
            .WithOptimizationLevel(OptimizationLevel.Release)
            .WithEmitDebugInformation(true)
            .WithFileEncoding(Encoding.UTF8)
            .WithAllowUnsafe(true)
            .WithMetadataResolver(ScriptMetadataResolver.Default.WithBaseDirectory(cwd))
            .WithSourceResolver(new SourceFileResolver(ImmutableArray<string>.Empty, cwd));
    }

    /// <summary>The runtime's framework assemblies (Roslyn scripting binds to them; the SDK's reference
    /// pack does not work for scripts), CxrLab, this kernel and the libraries shipped beside them.
    /// XML docs come from beside each assembly, else from the SDK's reference pack when present.</summary>
    static IEnumerable<MetadataReference> References()
    {
        var runtimeDir = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        var framework = ((string?)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES") ?? "")
            .Split(Path.PathSeparator)
            .Where(p => Path.GetDirectoryName(p) == runtimeDir && Path.GetExtension(p) == ".dll");
        var here = AppContext.BaseDirectory;
        var project = new[] { typeof(Figure).Assembly.Location, typeof(KernelGlobals).Assembly.Location }
            .Concat(new[] { "gdcm-sharp.dll", "CsvHelper.dll", "YamlDotNet.dll" }.Select(n => Path.Combine(here, n)).Where(File.Exists));
        var docs = ReferencePackDocs();
        foreach (var path in framework.Concat(project).Distinct())
        {
            var xml = Path.ChangeExtension(path, ".xml");
            var name = Path.GetFileNameWithoutExtension(path);
            if (!File.Exists(xml) && docs is not null)
                xml = Path.Combine(docs, (name == "System.Private.CoreLib" ? "System.Runtime" : name) + ".xml");
            MetadataReference reference;
            try
            {
                reference = MetadataReference.CreateFromFile(path, documentation: File.Exists(xml) ? new XmlDocs(xml) : null);
            }
            catch (BadImageFormatException) { continue; } // a native library among the managed ones
            yield return reference;
        }
    }

    /// <summary>The SDK's reference-pack folder (XML docs of the framework) for this runtime, if installed.</summary>
    static string? ReferencePackDocs()
    {
        var runtime = Environment.Version;
        var dotnetRoot = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(typeof(object).Assembly.Location)!, "..", "..", ".."));
        var packs = Path.Combine(dotnetRoot, "packs", "Microsoft.NETCore.App.Ref");
        if (!Directory.Exists(packs)) return null;
        return Directory.GetDirectories(packs)
            .Select(d => (Dir: d, Ok: Version.TryParse(Path.GetFileName(d), out var v), V: v))
            .Where(x => x.Ok && x.V!.Major == runtime.Major)
            .OrderByDescending(x => x.V)
            .Select(x => Path.Combine(x.Dir, "ref", $"net{runtime.Major}.0"))
            .FirstOrDefault(Directory.Exists);
    }

    /// <summary>Type, message and a trace reduced to the cell's and the library's frames
    /// (Roslyn's and the async machinery's frames are dropped), inner exceptions after.</summary>
    public static CellError Describe(Exception exception)
    {
        var root = exception is AggregateException { InnerExceptions.Count: 1 } a ? a.InnerException! : exception;
        var name = root.GetType().Name;
        var value = root is OperationCanceledException ? $"{root.Message} (interrupted)" : root.Message;
        var lines = new List<string>();
        for (var e = root; e is not null; e = e.InnerException)
        {
            lines.Add((e == root ? "" : "---> ") + $"\u001b[0;31m{e.GetType().FullName}\u001b[0m: {e.Message}");
            foreach (var frame in (e.StackTrace ?? "").Split('\n'))
            {
                var line = frame.TrimEnd('\r');
                if (line.Length == 0 || NoiseFrame().IsMatch(line)) continue;
                line = SubmissionEntry().Replace(line, "<cell>");
                line = SubmissionPrefix().Replace(line, "");
                line = CellPath().Replace(line, " in $1:");
                lines.Add(line);
            }
        }
        return new CellError(name, value, lines);
    }

    [GeneratedRegex(@"End of stack trace from previous location|at Microsoft\.CodeAnalysis\.Scripting|at System\.Runtime\.CompilerServices|at System\.Runtime\.ExceptionServices|at System\.Threading\.ExecutionContext|at System\.Threading\.Tasks\.|at CxrLab\.Kernel\.")]
    private static partial Regex NoiseFrame();

    [GeneratedRegex(@"Submission#\d+\.<<Initialize>>d__\d+\.MoveNext\(\)")]
    private static partial Regex SubmissionEntry();

    [GeneratedRegex(@" in \S*/(cell\d+):")]
    private static partial Regex CellPath();

    [GeneratedRegex(@"Submission#\d+\.")]
    private static partial Regex SubmissionPrefix();
}
