using System.Text;
using System.Xml.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace CxrLab.Kernel;

/// <summary>Completion candidates replacing code[Start..End] (UTF-16 indices).</summary>
public sealed record Completions(int Start, int End, IReadOnlyList<string> Matches);

/// <summary>Roslyn-based completion and inspection for the next cell, against the state of the cells
/// run so far: members after a dot (instance, static, extension methods), names in scope otherwise.</summary>
public static class CodeAssist
{
    static readonly string[] Keywords =
    [
        "abstract", "as", "async", "await", "bool", "break", "byte", "case", "catch", "char", "class", "const", "continue",
        "decimal", "default", "delegate", "do", "double", "else", "enum", "false", "finally", "fixed", "float", "for",
        "foreach", "if", "in", "int", "interface", "is", "lock", "long", "new", "null", "object", "out", "override",
        "params", "private", "public", "readonly", "record", "ref", "return", "sizeof", "static", "string", "struct",
        "switch", "this", "throw", "true", "try", "typeof", "uint", "ulong", "using", "var", "void", "while", "yield",
    ];

    public static Completions Complete(ScriptEngine engine, string code, int cursor)
    {
        cursor = Math.Clamp(cursor, 0, code.Length);
        var start = cursor;
        while (start > 0 && (char.IsLetterOrDigit(code[start - 1]) || code[start - 1] == '_')) start--;
        var prefix = code[start..cursor];

        var compilation = engine.CompileNext(code);
        var tree = compilation.SyntaxTrees.Last();
        var model = compilation.GetSemanticModel(tree);
        IEnumerable<ISymbol> symbols;
        var keywords = Enumerable.Empty<string>();

        var dot = start - 1;
        while (dot >= 0 && char.IsWhiteSpace(code[dot])) dot--;
        if (dot >= 0 && code[dot] == '.' && tree.GetRoot().FindToken(dot).Parent is { } parent && LeftOf(parent) is { } left)
        {
            var symbol = model.GetSymbolInfo(left).Symbol;
            if (symbol is INamespaceOrTypeSymbol container && left is not ThisExpressionSyntax)
                symbols = model.LookupSymbols(dot + 1, container).Where(s => s.IsStatic || s is INamespaceOrTypeSymbol);
            else if (model.GetTypeInfo(left).Type is { } type)
                symbols = model.LookupSymbols(dot + 1, type, includeReducedExtensionMethods: true).Where(s => !s.IsStatic || s is IMethodSymbol { MethodKind: MethodKind.ReducedExtension });
            else symbols = [];
        }
        else
        {
            symbols = model.LookupSymbols(start);
            keywords = Keywords;
        }

        var matches = symbols
            .Where(s => s.CanBeReferencedByName && !s.Name.StartsWith('<'))
            .Select(s => s.Name)
            .Concat(keywords)
            .Where(n => n.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            .Distinct()
            .OrderBy(n => !n.StartsWith(prefix, StringComparison.Ordinal))
            .ThenBy(n => n, StringComparer.OrdinalIgnoreCase)
            .ToList();
        return new Completions(start, cursor, matches);
    }

    static ExpressionSyntax? LeftOf(SyntaxNode node) => node switch
    {
        MemberAccessExpressionSyntax m => m.Expression,
        QualifiedNameSyntax q => q.Left,
        MemberBindingExpressionSyntax => null,
        _ => null,
    };

    /// <summary>The signature(s) and documentation summary of the symbol at <paramref name="cursor"/>
    /// (or of the method whose argument list holds the cursor); null when there is none.</summary>
    public static string? Inspect(ScriptEngine engine, string code, int cursor)
    {
        cursor = Math.Clamp(cursor, 0, code.Length);
        var compilation = engine.CompileNext(code);
        var tree = compilation.SyntaxTrees.Last();
        var model = compilation.GetSemanticModel(tree);
        var root = tree.GetRoot();
        var token = root.FindToken(Math.Max(0, cursor > 0 && (cursor == code.Length || !char.IsLetterOrDigit(code[cursor])) ? cursor - 1 : cursor));

        var symbols = new List<ISymbol>();
        if (token.Parent is IdentifierNameSyntax or GenericNameSyntax or PredefinedTypeSyntax)
            symbols.AddRange(SymbolsOf(model, token.Parent));
        if (symbols.Count == 0)
        {
            // Inside an argument list: the method being called (all its overloads).
            var invocation = token.Parent?.AncestorsAndSelf().OfType<InvocationExpressionSyntax>().FirstOrDefault();
            if (invocation is not null) symbols.AddRange(SymbolsOf(model, invocation.Expression));
            var creation = token.Parent?.AncestorsAndSelf().OfType<ObjectCreationExpressionSyntax>().FirstOrDefault();
            if (symbols.Count == 0 && creation is not null) symbols.AddRange(SymbolsOf(model, creation));
        }
        if (symbols.Count == 0) return null;

        var text = new StringBuilder();
        foreach (var symbol in symbols.Distinct<ISymbol>(SymbolEqualityComparer.Default).Take(12))
        {
            text.AppendLine(symbol.ToDisplayString(SymbolDisplayFormat.CSharpShortErrorMessageFormat));
            var summary = Summary(symbol);
            if (summary.Length > 0) text.AppendLine("    " + summary);
        }
        var type = symbols[0] switch
        {
            ILocalSymbol l => l.Type, IFieldSymbol f => f.Type, IPropertySymbol p => p.Type, _ => null,
        };
        if (type is not null) text.AppendLine($"type: {type.ToDisplayString()}");
        return text.ToString().TrimEnd();
    }

    static IEnumerable<ISymbol> SymbolsOf(SemanticModel model, SyntaxNode node)
    {
        var info = model.GetSymbolInfo(node);
        if (info.Symbol is not null) return [info.Symbol];
        if (info.CandidateSymbols.Length > 0) return info.CandidateSymbols;
        return model.GetMemberGroup(node);
    }

    static string Summary(ISymbol symbol)
    {
        var xml = symbol.GetDocumentationCommentXml(expandIncludes: true);
        if (string.IsNullOrWhiteSpace(xml)) xml = (symbol.OriginalDefinition ?? symbol).GetDocumentationCommentXml();
        if (string.IsNullOrWhiteSpace(xml)) return "";
        try
        {
            var summary = XElement.Parse(xml).Element("summary");
            if (summary is null) return "";
            foreach (var reference in summary.Descendants().Where(e => e.Name == "see" || e.Name == "paramref" || e.Name == "typeparamref").ToList())
                reference.ReplaceWith(((string?)reference.Attribute("cref") ?? (string?)reference.Attribute("name") ?? (string?)reference.Attribute("langword") ?? "").Split(':').Last());
            return string.Join(' ', summary.Value.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
        }
        catch (System.Xml.XmlException) { return ""; }
    }
}
