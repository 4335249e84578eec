using System.Globalization;
using YamlDotNet.RepresentationModel;

namespace CxrLab.Augment;

/// <summary>Builds pipelines from YAML. A pipeline is a list of steps (run in order); a step is a transform
/// name, or a one-key mapping <c>name: {parameters}</c>. Ranges are <c>[min, max]</c> or one number.
/// <code>
/// box_policy: {min_area: 4, min_side: 1, min_visibility: 0.25}
/// pipeline:
///   - one_of:
///       - affine: {scale_x: [0.98, 1.04], scale_y: [0.98, 1.04], translate_x: [-0.03, 0.03], translate_y: [-0.05, 0.05], rotate: [-2, 2], shear: [-1, 1]}
///       - piecewise_affine: {scale: [0.002, 0.03]}
///   - sometimes: {p: 0.5, then: hflip}
///   - when_classes: {classes: [1, 12], then: [clahe, equalize]}
/// </code>
/// Names: identity, hflip, vflip, flip, rotate90, rotate, zoom, affine, piecewise_affine, random_resized_crop,
/// letterbox, resize, multiply, contrast, gamma, gaussian_blur, sharpen, clahe, equalize, gaussian_noise,
/// cutmix, mosaic, mixup; composition: sequential, one_of, some_of, sometimes, when_classes.
/// Errors name the source, line and key.</summary>
public static class PipelineYaml
{
    /// <summary>Reads a pipeline file: a mapping with <c>pipeline</c> (and optional <c>box_policy</c>) or a bare list of steps.</summary>
    public static Pipeline Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"augmentation config not found: {path}", path);
        return Parse(File.ReadAllText(path), path);
    }

    public static Pipeline Parse(string yaml, string sourceName = "<yaml>")
    {
        var root = ReadRoot(yaml, sourceName);
        if (root is YamlSequenceNode) return new Pipeline(Steps(root, sourceName));
        var map = new Args(Expect<YamlMappingNode>(root, sourceName, "the document"), sourceName, "document");
        var pipeline = new Pipeline(map.Has("pipeline") ? Steps(map.Node("pipeline"), sourceName) : new Identity(),
            map.Has("box_policy") ? Policy(map.Node("box_policy"), sourceName) : null);
        map.RejectUnknown("pipeline", "box_policy");
        return pipeline;
    }

    public static YamlNode ReadRoot(string yaml, string sourceName)
    {
        var stream = new YamlStream();
        try { stream.Load(new StringReader(yaml)); }
        catch (YamlDotNet.Core.YamlException e) { throw new FormatException($"{sourceName}:{e.Start.Line}: invalid YAML: {e.Message}", e); }
        if (stream.Documents.Count == 0) throw new FormatException($"{sourceName}: empty YAML document");
        return stream.Documents[0].RootNode;
    }

    /// <summary>Reads <c>{min_area, min_side, min_visibility}</c>.</summary>
    public static BoxPolicy Policy(YamlNode node, string sourceName)
    {
        var a = new Args(Expect<YamlMappingNode>(node, sourceName, "box_policy"), sourceName, "box_policy");
        var d = BoxPolicy.Default;
        var policy = new BoxPolicy((float)a.Number("min_area", d.MinArea), (float)a.Number("min_side", d.MinSide), (float)a.Number("min_visibility", d.MinVisibility));
        a.RejectUnknown("min_area", "min_side", "min_visibility");
        return policy;
    }

    /// <summary>A list of steps (a Sequential) or a single step.</summary>
    public static ITransform Steps(YamlNode node, string sourceName)
    {
        if (node is YamlSequenceNode list)
        {
            var steps = list.Children.Select(c => Step(c, sourceName)).ToList();
            return steps.Count == 1 ? steps[0] : new Sequential(steps);
        }
        return Step(node, sourceName);
    }

    static ITransform Step(YamlNode node, string src)
    {
        string name;
        YamlNode? body;
        if (node is YamlScalarNode scalar) { name = scalar.Value ?? ""; body = null; }
        else if (node is YamlMappingNode map && map.Children.Count == 1)
        {
            var entry = map.Children.First();
            name = ((YamlScalarNode)entry.Key).Value ?? "";
            body = entry.Value is YamlScalarNode { Value: "" or null } ? null : entry.Value;
        }
        else throw Error(src, node, "a step is a transform name or a one-key mapping `name: {parameters}`");

        // Composition: bodies are step lists or mappings.
        switch (name)
        {
            case "sequential": return new Sequential(StepList(body, src, node, name));
            case "one_of":
                if (body is YamlMappingNode oneMap)
                {
                    var a = new Args(oneMap, src, name);
                    var t = new OneOf(StepList(a.Node("choices"), src, node, name)) { Weights = a.Has("weights") ? a.Numbers("weights") : null };
                    a.RejectUnknown("choices", "weights");
                    return t;
                }
                return new OneOf(StepList(body, src, node, name));
            case "some_of":
            {
                var a = new Args(Expect<YamlMappingNode>(body, src, name), src, name);
                var n = a.Ints("n");
                if (n.Length is < 1 or > 2) throw Error(src, a.Node("n"), "some_of.n is a count or [min, max]");
                var t = new SomeOf(n[0], n[^1], StepList(a.Node("of"), src, node, name)) { RandomOrder = a.Bool("random_order", true) };
                a.RejectUnknown("n", "of", "random_order");
                return t;
            }
            case "sometimes":
            {
                var a = new Args(Expect<YamlMappingNode>(body, src, name), src, name);
                var t = new Sometimes(a.Number("p"), Steps(a.Node("then"), src), a.Has("else") ? Steps(a.Node("else"), src) : null);
                if (t.P is < 0 or > 1) throw Error(src, a.Node("p"), "sometimes.p must be in [0, 1]");
                a.RejectUnknown("p", "then", "else");
                return t;
            }
            case "when_classes":
            {
                var a = new Args(Expect<YamlMappingNode>(body, src, name), src, name);
                var t = new WhenClasses(a.Ints("classes"), Steps(a.Node("then"), src));
                a.RejectUnknown("classes", "then");
                return t;
            }
        }

        var p = new Args(body is null ? new YamlMappingNode() : Expect<YamlMappingNode>(body, src, name), src, name);
        ITransform transform = name switch
        {
            "identity" => new Identity(),
            "hflip" => new Flip(true, false),
            "vflip" => new Flip(false, true),
            "flip" => new Flip(p.Bool("horizontal", true), p.Bool("vertical", false)),
            "rotate90" => new Rotate90(p.Has("k") ? p.Ints("k") : [1]),
            "rotate" => new Rotate(p.Range("degrees")),
            "zoom" => new Zoom(p.Range("factor", (0.9, 1.1))),
            "affine" => new Affine
            {
                ScaleX = p.Range("scale_x", (0.98, 1.04)), ScaleY = p.Range("scale_y", (0.98, 1.04)),
                TranslateX = p.Range("translate_x", (-0.03, 0.03)), TranslateY = p.Range("translate_y", (-0.05, 0.05)),
                Rotate = p.Range("rotate", (-2, 2)), Shear = p.Range("shear", (-1, 1)),
            },
            "piecewise_affine" => new PiecewiseAffine { Scale = p.Range("scale", (0.002, 0.03)), Rows = p.Int("rows", 4), Cols = p.Int("cols", 4) },
            "random_resized_crop" => new RandomResizedCrop(p.Int("width"), p.Int("height")) { Scale = p.Range("scale", (0.5, 1.0)), Ratio = p.Range("ratio", (0.75, 4.0 / 3)) },
            "letterbox" => new Letterbox(p.Int("width"), p.Int("height"), p.Bool("centre", false)),
            "resize" => new Resize(p.Int("width"), p.Int("height")),
            "multiply" => new Multiply(p.Range("factor", (0.85, 1.15))),
            "contrast" => new ContrastNormalization(p.Range("alpha", (0.85, 1.15))),
            "gamma" => new GammaContrast(p.Range("gamma", (0.8, 1.25))),
            "gaussian_blur" => new GaussianBlur(p.Range("sigma", (0.0, 0.12))),
            "sharpen" => new Sharpen(p.Range("alpha", (0.0, 0.12))) { Lightness = p.Range("lightness", 1.0) },
            "clahe" => new Clahe(p.Number("clip_limit", 2.0), p.Int("tiles", 8), p.Int("bits", 8)),
            "equalize" => new EqualizeHist(),
            "gaussian_noise" => new GaussianNoise(p.Range("sigma", (0.0, 0.02))),
            "cutmix" => new CutMix
            {
                Area = p.Range("area", (0.1, 0.3)), DonorClasses = p.Has("donor_classes") ? p.Ints("donor_classes") : null,
                Margin = p.Number("margin", 0.1), SameLocation = p.Bool("same_location", true),
            },
            "mosaic" => new Mosaic { Centre = p.Range("centre", (0.3, 0.7)), DonorClasses = p.Has("donor_classes") ? p.Ints("donor_classes") : null },
            "mixup" => new MixUp(p.Range("ratio", (0.4, 0.6))),
            _ => throw Error(src, node, $"unknown transform '{name}'"),
        };
        p.RejectUnknown();
        if (transform is not GeometricTransform && (p.Has("fill") || p.Has("interpolation")))
            throw Error(src, node, $"'{name}' takes no fill or interpolation (only geometric transforms do)");
        if (transform is GeometricTransform g && (p.Has("fill") || p.Has("interpolation")))
            transform = g with { Fill = p.Number("fill", 0), Interpolation = p.Has("interpolation") ? Enum.Parse<Imaging.Interpolation>(p.Text("interpolation"), true) : g.Interpolation };
        return transform;
    }

    static List<ITransform> StepList(YamlNode? body, string src, YamlNode at, string name)
    {
        if (body is not YamlSequenceNode list) throw Error(src, body ?? at, $"{name} takes a list of steps");
        return list.Children.Select(c => Step(c, src)).ToList();
    }

    static T Expect<T>(YamlNode? node, string src, string what) where T : YamlNode =>
        node as T ?? throw new FormatException($"{src}:{node?.Start.Line ?? 0}: {what} must be a {(typeof(T) == typeof(YamlMappingNode) ? "mapping" : "list")}");

    internal static FormatException Error(string src, YamlNode node, string message) => new($"{src}:{node.Start.Line}: {message}");

    /// <summary>Typed access to a mapping's keys with line-numbered errors; tracks which keys were read so unknown keys are reported.</summary>
    internal sealed class Args(YamlMappingNode map, string src, string owner)
    {
        readonly HashSet<string> used = [];

        public bool Has(string key) => map.Children.ContainsKey(new YamlScalarNode(key));

        public YamlNode Node(string key)
        {
            used.Add(key);
            return map.Children.TryGetValue(new YamlScalarNode(key), out var node)
                ? node
                : throw new FormatException($"{src}:{map.Start.Line}: {owner} needs '{key}'");
        }

        public string Text(string key) => Node(key) is YamlScalarNode { Value: { } v } ? v : throw Error(src, Node(key), $"{owner}.{key} must be a value");

        public string Text(string key, string fallback) => Has(key) ? Text(key) : Mark(key, fallback);

        public double Number(string key)
        {
            var node = Node(key);
            return node is YamlScalarNode { Value: { } v } && double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var d)
                ? d : throw Error(src, node, $"{owner}.{key} must be a number");
        }

        public double Number(string key, double fallback) => Has(key) ? Number(key) : Mark(key, fallback);

        public int Int(string key)
        {
            var d = Number(key);
            return d == Math.Floor(d) && Math.Abs(d) < int.MaxValue ? (int)d : throw Error(src, Node(key), $"{owner}.{key} must be a whole number");
        }

        public int Int(string key, int fallback) => Has(key) ? Int(key) : Mark(key, fallback);

        public bool Bool(string key, bool fallback)
        {
            if (!Has(key)) return Mark(key, fallback);
            var node = Node(key);
            return node is YamlScalarNode { Value: { } v } && bool.TryParse(v, out var b) ? b : throw Error(src, node, $"{owner}.{key} must be true or false");
        }

        public double[] Numbers(string key)
        {
            var node = Node(key);
            if (node is YamlScalarNode) return [Number(key)];
            if (node is not YamlSequenceNode list) throw Error(src, node, $"{owner}.{key} must be a number or a list of numbers");
            return list.Children.Select(c => c is YamlScalarNode { Value: { } v } && double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var d)
                ? d : throw Error(src, c, $"{owner}.{key} must hold numbers")).ToArray();
        }

        public int[] Ints(string key)
        {
            var values = Numbers(key);
            return values.All(v => v == Math.Floor(v)) ? values.Select(v => (int)v).ToArray() : throw Error(src, Node(key), $"{owner}.{key} must hold whole numbers");
        }

        public Interval Range(string key)
        {
            var values = Numbers(key);
            if (values.Length == 1) return Interval.Constant(values[0]);
            if (values.Length != 2 || values[0] > values[1]) throw Error(src, Node(key), $"{owner}.{key} must be a number or [min, max] with min ≤ max");
            return new Interval(values[0], values[1]);
        }

        public Interval Range(string key, Interval fallback) => Has(key) ? Range(key) : Mark(key, fallback);

        T Mark<T>(string key, T value) { used.Add(key); return value; }

        /// <summary>Throws for keys that were never read (typos), naming the line and the known keys.</summary>
        public void RejectUnknown(params string[] alsoKnown)
        {
            foreach (var k in alsoKnown) used.Add(k);
            foreach (var (keyNode, _) in map.Children)
            {
                var key = ((YamlScalarNode)keyNode).Value ?? "";
                if (!used.Contains(key) && !(key is "fill" or "interpolation"))
                    throw Error(src, keyNode, $"unknown key '{key}' for {owner} (known: {string.Join(", ", used.Order())})");
            }
        }
    }
}
