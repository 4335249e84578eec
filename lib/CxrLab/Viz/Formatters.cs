using System.Collections;
using System.Collections.Concurrent;
using System.Globalization;
using CxrLab.Imaging;
using CxrLab.Torch;

namespace CxrLab.Viz;

/// <summary>The formatter registry: maps a value to the MIME bundle a notebook shows for it. A
/// formatter registered for a type also serves its subclasses and implementers; the most derived
/// registration wins, and later registrations replace earlier ones for the same type. Built in:
/// <see cref="MimeBundle"/> (as is), <see cref="Figure"/> (Plotly JSON + HTML), <see cref="PngImage"/>
/// and <see cref="Image"/> (PNG), <see cref="HtmlTable"/>, <see cref="Progress"/>, <see cref="Html"/>,
/// <see cref="Tensor"/> (shape, dtype, leading values), <see cref="BoxOverlay"/> (PNG), <see cref="Data.Target"/>
/// (table of boxes), sequences of records (HTML table).
/// Every bundle carries text/plain.</summary>
public static class Formatters
{
    static readonly ConcurrentDictionary<Type, Func<object, MimeBundle>> registry = new();

    static Formatters()
    {
        Register<MimeBundle>(b => b);
        Register<Figure>(f => f.ToMimeBundle());
        Register<PngImage>(p => p.ToMimeBundle());
        Register<Image>(i =>
        {
            var png = PngImage.FromImage(i);
            return MimeBundle.Png(png.Bytes, i.ToString(), png.Width, png.Height);
        });
        Register<HtmlTable>(t => t.ToMimeBundle());
        Register<BoxOverlay>(o => o.ToPng().ToMimeBundle());
        Register<Data.Target>(FormatTarget);
        Register<Progress>(p => MimeBundle.Html(p.ToHtml(), p.ToString()));
        Register<Html>(h => MimeBundle.Html(h.Content, h.PlainText));
        Register<Tensor>(FormatTensor);
    }

    /// <summary>Registers (or replaces) the formatter for <typeparamref name="T"/> and its subtypes.</summary>
    public static void Register<T>(Func<T, MimeBundle> formatter) => registry[typeof(T)] = v => formatter((T)v);

    /// <summary>Removes the formatter registered for exactly <typeparamref name="T"/>.</summary>
    public static bool Unregister<T>() => registry.TryRemove(typeof(T), out _);

    /// <summary>Formats a value; never throws for a formatter's failure (the bundle then says what failed).</summary>
    public static MimeBundle Format(object? value)
    {
        if (value is null) return MimeBundle.Text("null");
        MimeBundle bundle;
        try
        {
            var formatter = Find(value.GetType());
            if (formatter is not null) bundle = formatter(value);
            else if (HtmlTable.IsRecordSequence(value.GetType())) bundle = HtmlTable.From((IEnumerable)value).ToMimeBundle();
            else bundle = MimeBundle.Text(PlainText(value));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            bundle = MimeBundle.Text($"{PlainTextSafe(value)}\n(formatter for {value.GetType().Name} failed: {e.GetType().Name}: {e.Message})");
        }
        if (!bundle.Has(MimeTypes.PlainText)) bundle.With(MimeTypes.PlainText, PlainTextSafe(value));
        return bundle;
    }

    /// <summary>Plain-text form: strings as they are, scalars invariant, sequences of scalars as [a, b, …].</summary>
    public static string PlainText(object? value) => value switch
    {
        null => "null",
        string s => s,
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        IDictionary d => "{" + string.Join(", ", d.Keys.Cast<object>().Take(20).Select(k => $"{PlainText(k)}: {PlainText(d[k])}")) + (d.Count > 20 ? ", …" : "") + "}",
        IEnumerable e when !HasOwnToString(value.GetType()) => SequenceText(e),
        _ => value.ToString() ?? value.GetType().Name,
    };

    static string PlainTextSafe(object value)
    {
        try { return PlainText(value); }
        catch (Exception) { return value.GetType().Name; }
    }

    static string SequenceText(IEnumerable e)
    {
        var items = e.Cast<object?>().Take(101).ToList();
        var shown = string.Join(", ", items.Take(100).Select(PlainText));
        return "[" + shown + (items.Count > 100 ? ", …" : "") + "]";
    }

    static bool HasOwnToString(Type type)
    {
        var method = type.GetMethod("ToString", Type.EmptyTypes);
        return method is not null && method.DeclaringType != typeof(object) && method.DeclaringType?.Namespace?.StartsWith("System", StringComparison.Ordinal) != true;
    }

    static Func<object, MimeBundle>? Find(Type type)
    {
        for (var t = type; t is not null; t = t.BaseType)
            if (registry.TryGetValue(t, out var f)) return f;
        foreach (var i in type.GetInterfaces())
            if (registry.TryGetValue(i, out var f)) return f;
        return null;
    }

    static MimeBundle FormatTarget(Data.Target target)
    {
        var names = ClassColors.VinBigData;
        var table = HtmlTable.From(target.Boxes.Select((b, i) => new TargetRow(
            target.Labels[i], target.Labels[i] >= 0 && target.Labels[i] < names.Count ? names[target.Labels[i]] : "", b.X1, b.Y1, b.X2, b.Y2)));
        return MimeBundle.Html(table.ToHtml(), $"Target({target.Width}×{target.Height}, {target.Count} boxes)\n{table}");
    }

    static MimeBundle FormatTensor(Tensor tensor)
    {
        var text = tensor.ToString();
        if (text == "Tensor(disposed)") return MimeBundle.Text(text);
        var count = tensor.NumberOfElements;
        // Values are copied to the host for the preview; skip it for big tensors.
        if (count > 1_000_000) return MimeBundle.Text(text);
        string? values = tensor.DType switch
        {
            ScalarType.Float32 => Preview(tensor.ToArray<float>()),
            ScalarType.Float64 => Preview(tensor.ToArray<double>()),
            ScalarType.Int64 => Preview(tensor.ToArray<long>()),
            ScalarType.Int32 => Preview(tensor.ToArray<int>()),
            _ => null,
        };
        return MimeBundle.Text(values is null ? text : $"{text}\n{values}");

        string Preview<T>(T[] all) where T : IFormattable =>
            "[" + string.Join(", ", all.Take(20).Select(v => v.ToString(null, CultureInfo.InvariantCulture))) + (count > 20 ? $", … ({count} values)" : "") + "]";
    }
}

/// <summary>One row of a target's table (label id, VinBigData name, xyxy box).</summary>
public sealed record TargetRow(int Label, string Name, float X1, float Y1, float X2, float Y2);

/// <summary>Raw HTML to show as is (with a plain-text fallback).</summary>
public sealed record Html(string Content, string PlainText = "<HTML>");
