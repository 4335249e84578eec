using System.Collections;
using System.Globalization;
using System.Reflection;
using System.Text;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace CxrLab.Training;

/// <summary>A config problem, naming the file, line and key and what to write instead.</summary>
public sealed class ConfigException(string message) : Exception(message);

/// <summary>Reads <see cref="ExperimentConfig"/> from YAML, applies <c>--set key=value</c> overrides,
/// and validates. Unknown keys, wrong types and out-of-range values are errors that say where
/// (<c>experiments/a.yaml:12 optimizer.lr</c> or <c>--set optimizer.lr</c>) and what is allowed;
/// nothing is silently ignored.</summary>
public static class ExperimentConfigLoader
{
    public static ExperimentConfig LoadFile(string path, IEnumerable<string>? overrides = null)
    {
        if (!File.Exists(path)) throw new ConfigException($"config file not found: {path}");
        return Load(File.ReadAllText(path), path, overrides);
    }

    /// <summary>Parses YAML text; <paramref name="source"/> names it in errors. A <c>base:</c> key names another
    /// experiment file (relative to <paramref name="source"/>'s folder) whose keys this one overrides, section by section.</summary>
    public static ExperimentConfig Load(string yaml, string source = "<config>", IEnumerable<string>? overrides = null)
    {
        var origins = new Dictionary<YamlNode, string>(ReferenceEqualityComparer.Instance);
        var root = Parse(yaml, source);
        root = WithBases(root, source, origins, [Path.GetFullPath(source)]);
        foreach (var item in overrides ?? []) ApplyOverride(root, item, origins);
        var binder = new Binder(source, origins);
        var config = (ExperimentConfig)binder.Bind(root, typeof(ExperimentConfig), "");
        config.Data.Category = ResolveFromWriter(root, ["data", "category"], config.Data.Category, source, origins);
        Validate(config, binder.Where);
        return config;
    }

    static YamlMappingNode Parse(string yaml, string source)
    {
        try
        {
            var stream = new YamlStream();
            stream.Load(new StringReader(yaml));
            return stream.Documents.Count == 0 ? new YamlMappingNode()
                : stream.Documents[0].RootNode as YamlMappingNode
                  ?? throw new ConfigException($"{source}: the top level must be a mapping of keys (name:, model:, …)");
        }
        catch (YamlException e)
        {
            throw new ConfigException($"{source}:{e.Start.Line} YAML syntax error: {e.Message}");
        }
    }

    /// <summary><paramref name="root"/> laid over its <c>base:</c> chain (MMDetection's <c>_base_</c>): mappings merge key by
    /// key, anything else is replaced. Nodes from a base remember their file, so errors name the right file and line.</summary>
    static YamlMappingNode WithBases(YamlMappingNode root, string source, Dictionary<YamlNode, string> origins, List<string> chain)
    {
        var baseKey = new YamlScalarNode("base");
        if (!root.Children.TryGetValue(baseKey, out var baseNode)) return root;
        var name = (baseNode as YamlScalarNode)?.Value
                   ?? throw new ConfigException($"{source}:{baseNode.Start.Line} base: expected a file name, e.g. base: vinbig_base.yaml");
        root.Children.Remove(baseKey);
        if (name.Length == 0) return root;
        var folder = Path.GetDirectoryName(Path.GetFullPath(source)) ?? ".";
        var path = Path.GetFullPath(Path.Combine(folder, name));
        if (!File.Exists(path)) throw new ConfigException($"{source}:{baseNode.Start.Line} base: {name} not found (looked in {folder})");
        if (chain.Contains(path)) throw new ConfigException($"{source}:{baseNode.Start.Line} base: {name} includes itself ({string.Join(" → ", chain.Select(Path.GetFileName))} → {Path.GetFileName(path)})");
        var shown = Path.GetRelativePath(Directory.GetCurrentDirectory(), path);
        var parent = Parse(File.ReadAllText(path), shown);
        foreach (var node in parent.AllNodes) origins[node] = $"{shown}:{node.Start.Line}";
        parent = WithBases(parent, shown, origins, [.. chain, path]);
        Merge(parent, root);
        return parent;
    }

    static void Merge(YamlMappingNode target, YamlMappingNode overrides)
    {
        foreach (var (key, value) in overrides.Children)
        {
            if (target.Children.TryGetValue(key, out var existing) && existing is YamlMappingNode a && value is YamlMappingNode b) Merge(a, b);
            else
            {
                target.Children.Remove(key);
                target.Children[key] = value;
            }
        }
    }

    /// <summary>Writes the config with every value resolved (defaults included), as YAML.</summary>
    public static string ToYaml(ExperimentConfig config) =>
        new SerializerBuilder()
            .WithNamingConvention(UnderscoredNamingConvention.Instance)
            .WithEnumNamingConvention(LowerCaseNamingConvention.Instance)
            .ConfigureDefaultValuesHandling(DefaultValuesHandling.OmitNull)  // unset nullable keys mean "the family's default"
            .Build()
            .Serialize(config);

    /// <summary>Applies <c>a.b.c=value</c>; the value is read as YAML (<c>0.01</c>, <c>true</c>, <c>[8, 11]</c>).</summary>
    static void ApplyOverride(YamlMappingNode root, string item, Dictionary<YamlNode, string> origins)
    {
        var eq = item.IndexOf('=');
        if (eq <= 0) throw new ConfigException($"--set {item}: expected key=value, e.g. --set optimizer.lr=0.005");
        var key = item[..eq].Trim();
        var text = item[(eq + 1)..];
        YamlNode value;
        try
        {
            var stream = new YamlStream();
            stream.Load(new StringReader("v: " + (text.Length == 0 ? "''" : text)));
            value = ((YamlMappingNode)stream.Documents[0].RootNode).Children[new YamlScalarNode("v")];
        }
        catch (YamlException e)
        {
            throw new ConfigException($"--set {key}: cannot read value '{text}': {e.Message}");
        }
        MarkOrigin(value, $"--set {key}", origins);

        var parts = key.Split('.');
        var node = root;
        for (var i = 0; i < parts.Length - 1; i++)
        {
            var child = new YamlScalarNode(parts[i]);
            if (!node.Children.TryGetValue(child, out var next))
            {
                next = new YamlMappingNode();
                origins[next] = $"--set {key}";
                node.Children[child] = next;
            }
            node = next as YamlMappingNode
                   ?? throw new ConfigException($"--set {key}: '{string.Join('.', parts[..(i + 1)])}' is a value, not a section");
        }
        var leaf = new YamlScalarNode(parts[^1]);
        origins[leaf] = $"--set {key}";
        node.Children.Remove(leaf);
        node.Children[leaf] = value;
    }

    /// <summary>A relative path read from a file is relative to that file's folder (as <c>base:</c>), so an experiment
    /// names its dataset category the same way from any working directory; from <c>--set</c> it is relative to the
    /// working directory.</summary>
    static string ResolveFromWriter(YamlMappingNode root, string[] keys, string value, string source, Dictionary<YamlNode, string> origins)
    {
        if (value.Length == 0 || Path.IsPathRooted(value)) return value;
        YamlNode node = root;
        foreach (var k in keys)
            if (node is not YamlMappingNode map || !map.Children.TryGetValue(new YamlScalarNode(k), out node!)) return value;
        var writer = origins.TryGetValue(node, out var origin) ? origin : $"{source}:0";
        if (writer.StartsWith("--set", StringComparison.Ordinal)) return Path.GetFullPath(value);
        var file = writer[..writer.LastIndexOf(':')];
        return Path.GetFullPath(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(file)) ?? ".", value));
    }

    static void MarkOrigin(YamlNode node, string origin, Dictionary<YamlNode, string> origins)
    {
        origins[node] = origin;
        foreach (var child in node.AllNodes) origins[child] = origin;
    }

    static void Validate(ExperimentConfig c, Func<string, string> where)
    {
        void Require(bool ok, string key, string message)
        {
            if (!ok) throw new ConfigException($"{where(key)}: {message}");
        }
        Require(c.Name.Length > 0 && c.Name.IndexOfAny(Path.GetInvalidFileNameChars()) < 0 && c.Name != "." && c.Name != "..",
            "name", $"'{c.Name}' must be a plain folder name (letters, digits, - and _)");
        Require(c.Model.Arch.Length > 0, "model.arch", "give a zoo name (./cxr models lists them), e.g. fasterrcnn_resnet50_fpn");
        var known = CxrLab.Models.DetectorZoo.Entries.Select(e => e.Arch).ToList();
        Require(known.Contains(c.Model.Arch), "model.arch",
            $"'{c.Model.Arch}' is not in the zoo" + (known.Count > 0 ? $" (did you mean '{known.MinBy(k => Distance(k, c.Model.Arch))}'?); `./cxr models` lists: {string.Join(", ", known)}" : ""));
        Require(c.Model.NumClasses >= 1, "model.num_classes", $"{c.Model.NumClasses} must be ≥ 1: task classes, background not counted (VinBigData: 14, RSNA: 1)");
        Require(c.Model.InputSize == 0 || c.Model.InputSize >= 32, "model.input_size", $"{c.Model.InputSize} must be ≥ 32 pixels (or 0 for the arch's default)");
        Require(c.Model.MaxSize == 0 || c.Model.MaxSize >= Math.Max(32, c.Model.InputSize), "model.max_size", $"{c.Model.MaxSize} must be ≥ model.input_size ({c.Model.InputSize}) and ≥ 32 (or 0 for the arch's default)");
        Require(c.Model.MaxDetections is null or >= 1, "model.max_detections", "must be ≥ 1");
        Require(c.Model.ScoreThresh is null or (>= 0 and < 1), "model.score_thresh", $"{c.Model.ScoreThresh} must be in [0, 1)");
        Require(c.Model.NmsThresh is null or (> 0 and <= 1), "model.nms_thresh", $"{c.Model.NmsThresh} must be in (0, 1]");
        Require(c.Model.NormLayer is "" or "frozen" or "batchnorm", "model.norm_layer",
            $"'{c.Model.NormLayer}' must be frozen (FrozenBatchNorm2d, for pretrained weights) or batchnorm (BatchNorm2d, from scratch); leave it out to choose by model.weights");
        foreach (var property in typeof(ExperimentConfig).GetProperties())
            if (property.GetValue(c) is CxrLab.Models.IConfigSection section)
                foreach (var (key, message) in section.Problems())
                    Require(false, $"{SnakeCase(property.Name)}.{key}", message);
        Require(c.Data.Folds >= 2, "data.folds", $"{c.Data.Folds} must be ≥ 2");
        Require(c.Data.Fold >= 0 && c.Data.Fold < c.Data.Folds, "data.fold", $"{c.Data.Fold} must be in 0..{c.Data.Folds - 1}");
        Require(c.Data.HoldoutFold == -1 || (c.Data.HoldoutFold >= 0 && c.Data.HoldoutFold < c.Data.Folds && c.Data.HoldoutFold != c.Data.Fold && c.Data.Folds >= 3),
            "data.holdout_fold", $"{c.Data.HoldoutFold} must be -1 (none) or a fold in 0..{c.Data.Folds - 1} other than data.fold ({c.Data.Fold}), with data.folds ≥ 3 so some fold is left to train on");
        Require(c.Data.FusionIou is > 0 and <= 1, "data.fusion_iou", $"{c.Data.FusionIou} must be in (0, 1]");
        Require(c.Data.CacheSize >= 32, "data.cache_size", $"{c.Data.CacheSize} must be ≥ 32 pixels");
        Require(c.Data.Limit >= 0, "data.limit", "must be ≥ 0 (0 = all images)");
        Require(c.Data.Resampling is "none" or "repeat_factor" or "per_class", "data.resampling",
            $"'{c.Data.Resampling}' must be none, repeat_factor (with data.repeat_threshold) or per_class (with data.class_min_images / data.class_max_images)");
        Require(c.Data.RepeatThreshold is > 0 and <= 1, "data.repeat_threshold", $"{c.Data.RepeatThreshold} must be a fraction of images in (0, 1]");
        foreach (var (key, map) in new[] { ("data.class_min_images", c.Data.ClassMinImages), ("data.class_max_images", c.Data.ClassMaxImages) })
            foreach (var (cls, count) in map)
                Require(int.TryParse(cls, NumberStyles.Integer, CultureInfo.InvariantCulture, out var id) && id >= 0 && id < c.Model.NumClasses + 1
                        && int.TryParse(count, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n >= 0,
                    key, $"'{cls}: {count}' must map a class id (0..{c.Model.NumClasses}) to a number of images ≥ 0, e.g. {{1: 200, 12: 200}}");
        Require(c.Data.Resampling == "per_class" || (c.Data.ClassMinImages.Count == 0 && c.Data.ClassMaxImages.Count == 0), "data.resampling",
            "data.class_min_images / data.class_max_images are read only with resampling: per_class");
        Require(c.Data.Category.Length == 0 || File.Exists(c.Data.Category), "data.category",
            $"'{c.Data.Category}' not found (a path in a file is relative to that file, e.g. datasets/vinbig-B.yaml from experiments/; from --set, to the working directory)");
        Require(c.Data.Category.Length == 0 || c.Data.Dataset == "vinbigdata", "data.category",
            $"categories are VinBigData dataset definitions; data.dataset is '{c.Data.Dataset}'");
        for (var i = 0; i < c.Augment.Count; i++)
        {
            Require(c.Augment[i].Name.Length > 0, $"augment[{i}].name", "every augmentation step needs a name");
            Require(c.Augment[i].P is >= 0 and <= 1, $"augment[{i}].p", $"{c.Augment[i].P} must be in [0, 1]");
        }
        Require(c.Optimizer.Lr > 0, "optimizer.lr", $"{c.Optimizer.Lr} must be > 0");
        Require(c.Optimizer.Momentum is >= 0 and < 1, "optimizer.momentum", $"{c.Optimizer.Momentum} must be in [0, 1)");
        Require(c.Optimizer.WeightDecay >= 0, "optimizer.weight_decay", "must be ≥ 0");
        Require(c.Optimizer.Betas.Count == 2 && c.Optimizer.Betas.All(b => b is >= 0 and < 1), "optimizer.betas", "must be two numbers in [0, 1), e.g. [0.9, 0.999]");
        Require(!c.Optimizer.Nesterov || c.Optimizer.Momentum > 0, "optimizer.nesterov", "needs optimizer.momentum > 0");
        Require(c.Schedule.WarmupIters >= 0, "schedule.warmup_iters", "must be ≥ 0");
        Require(c.Schedule.WarmupFactor is >= 0 and <= 1, "schedule.warmup_factor", $"{c.Schedule.WarmupFactor} must be in [0, 1] (0: from zero, as YOLOX)");
        Require(c.Schedule.Gamma is > 0 and <= 1, "schedule.gamma", $"{c.Schedule.Gamma} must be in (0, 1]");
        Require(c.Schedule.FinalLrRatio is >= 0 and <= 1, "schedule.final_lr_ratio", $"{c.Schedule.FinalLrRatio} must be in [0, 1]");
        Require(c.Schedule.Milestones.Zip(c.Schedule.Milestones.Skip(1)).All(p => p.First < p.Second) && c.Schedule.Milestones.All(m => m > 0),
            "schedule.milestones", $"[{string.Join(", ", c.Schedule.Milestones)}] must be increasing positive epochs");
        Require(c.Train.Epochs >= 1, "train.epochs", $"{c.Train.Epochs} must be ≥ 1");
        Require(c.Train.BatchSize >= 1, "train.batch_size", $"{c.Train.BatchSize} must be ≥ 1");
        Require(c.Train.Accumulate >= 1, "train.accumulate", $"{c.Train.Accumulate} must be ≥ 1");
        Require(c.Train.ClipGradNorm >= 0, "train.clip_grad_norm", "must be ≥ 0 (0 = off)");
        Require(c.Train.EmaDecay is > 0 and < 1, "train.ema_decay", $"{c.Train.EmaDecay} must be in (0, 1)");
        Require(c.Train.ValEvery >= 1, "train.val_every", "must be ≥ 1");
        Require(c.Train.EarlyStoppingPatience >= 0, "train.early_stopping_patience", "must be ≥ 0 (0 = off)");
        Require(c.Train.LogEvery >= 1, "train.log_every", "must be ≥ 1");
        Require(c.Train.Device == "cpu" || c.Train.Device == "cuda" || c.Train.Device.StartsWith("cuda:", StringComparison.Ordinal),
            "train.device", $"'{c.Train.Device}' must be cpu, cuda or cuda:N");
    }

    /// <summary>Maps YAML nodes onto settable properties (snake_case keys), remembering where each key was written.</summary>
    sealed class Binder(string source, Dictionary<YamlNode, string> origins)
    {
        readonly Dictionary<string, string> locations = [];

        /// <summary>"file:line key" for a dotted key (or just the key when it was a default).</summary>
        public string Where(string key) => locations.TryGetValue(key, out var at) ? at : $"{source} {key} (default)";

        string Locate(YamlNode node, string key) =>
            !origins.TryGetValue(node, out var origin) ? $"{source}:{node.Start.Line} {key}"
            : origin.StartsWith("--set", StringComparison.Ordinal) ? origin : $"{origin} {key}";

        public object Bind(YamlNode node, Type type, string key)
        {
            if (key.Length > 0) locations[key] = Locate(node, key);
            var nullable = Nullable.GetUnderlyingType(type);
            if (nullable is not null)
            {
                // An optional value left empty (`score_thresh:` or `~`) means "not set": the family's default.
                if (node is YamlScalarNode { Style: ScalarStyle.Plain, Value: null or "" or "~" or "null" }) return null!;
                type = nullable;
            }

            if (type == typeof(string) || type.IsPrimitive || type.IsEnum)
                return BindScalar(node, type, key);
            if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(List<>))
            {
                var itemType = type.GetGenericArguments()[0];
                var seq = node as YamlSequenceNode
                          ?? throw new ConfigException($"{Locate(node, key)}: expected a list, e.g. [1, 2]");
                var list = (IList)Activator.CreateInstance(type)!;
                for (var i = 0; i < seq.Children.Count; i++) list.Add(Bind(seq.Children[i], itemType, $"{key}[{i}]"));
                return list;
            }
            if (type == typeof(Dictionary<string, string>))
            {
                var map = node as YamlMappingNode
                          ?? throw new ConfigException($"{Locate(node, key)}: expected a mapping of name: value");
                var dict = new Dictionary<string, string>();
                foreach (var (k, v) in map.Children)
                    dict[ScalarText(k, key)] = v is YamlScalarNode s ? s.Value ?? "" : v.ToString();
                return dict;
            }
            return BindObject(node, type, key);
        }

        object BindObject(YamlNode node, Type type, string key)
        {
            var instance = Activator.CreateInstance(type)!;
            if (node is YamlScalarNode { Value: null or "" or "~" or "null" }) return instance;
            var map = node as YamlMappingNode
                      ?? throw new ConfigException($"{Locate(node, key)}: expected a section of keys ({string.Join(", ", KeysOf(type))})");
            var properties = type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite)
                .ToDictionary(p => SnakeCase(p.Name));
            foreach (var (k, v) in map.Children)
            {
                var name = ScalarText(k, key);
                var childKey = key.Length == 0 ? name : $"{key}.{name}";
                if (!properties.TryGetValue(name, out var property))
                {
                    var hint = properties.Keys.OrderBy(p => Distance(p, name)).First();
                    throw new ConfigException(
                        $"{Locate(k, childKey)}: unknown key '{name}'" +
                        (Distance(hint, name) <= 3 ? $" (did you mean '{hint}'?)" : "") +
                        $"; {(key.Length == 0 ? "top-level" : $"'{key}'")} keys are: {string.Join(", ", properties.Keys)}");
                }
                property.SetValue(instance, Bind(v, property.PropertyType, childKey));
            }
            return instance;
        }

        object BindScalar(YamlNode node, Type type, string key)
        {
            var scalar = node as YamlScalarNode
                         ?? throw new ConfigException($"{Locate(node, key)}: expected a single value, not a {(node is YamlSequenceNode ? "list" : "section")}");
            var text = scalar.Value ?? "";
            if (type == typeof(string))
                return scalar.Style == ScalarStyle.Plain && text is "~" or "null" ? "" : text;
            if (type.IsEnum)
            {
                foreach (var value in Enum.GetValues(type))
                    if (string.Equals(value.ToString(), text.Replace("_", ""), StringComparison.OrdinalIgnoreCase))
                        return value;
                throw new ConfigException(
                    $"{Locate(node, key)}: '{text}' is not one of: {string.Join(", ", Enum.GetNames(type).Select(n => n.ToLowerInvariant()))}");
            }
            var inv = CultureInfo.InvariantCulture;
            object? result = Type.GetTypeCode(type) switch
            {
                TypeCode.Boolean => text.ToLowerInvariant() switch { "true" or "yes" or "on" => true, "false" or "no" or "off" => false, _ => null },
                TypeCode.Int32 => int.TryParse(text, NumberStyles.Integer, inv, out var i) ? i : null,
                TypeCode.Int64 => long.TryParse(text, NumberStyles.Integer, inv, out var l) ? l : null,
                TypeCode.Double => double.TryParse(text, NumberStyles.Float, inv, out var d) && double.IsFinite(d) ? d : null,
                TypeCode.Single => float.TryParse(text, NumberStyles.Float, inv, out var f) && float.IsFinite(f) ? f : null,
                _ => throw new InvalidOperationException($"config type {type} is not supported"),
            };
            return result ?? throw new ConfigException($"{Locate(node, key)}: '{text}' is not {Describe(type)}");
        }

        string ScalarText(YamlNode node, string key) =>
            (node as YamlScalarNode)?.Value ?? throw new ConfigException($"{Locate(node, key)}: keys must be plain names");

        static string Describe(Type type) => Type.GetTypeCode(type) switch
        {
            TypeCode.Boolean => "true or false",
            TypeCode.Int32 or TypeCode.Int64 => "a whole number",
            _ => "a number",
        };

        static IEnumerable<string> KeysOf(Type type) =>
            type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite).Select(p => SnakeCase(p.Name));
    }

    /// <summary><c>WeightDecay</c> → <c>weight_decay</c>. Enum values match with or without underscores
    /// (<c>multistep</c> = <c>multi_step</c>, <c>adamw</c> = <c>adam_w</c>).</summary>
    static string SnakeCase(string name)
    {
        var sb = new StringBuilder();
        for (var i = 0; i < name.Length; i++)
        {
            if (char.IsUpper(name[i]) && i > 0) sb.Append('_');
            sb.Append(char.ToLowerInvariant(name[i]));
        }
        return sb.ToString();
    }

    static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (var j = 0; j <= b.Length; j++) d[0, j] = j;
        for (var i = 1; i <= a.Length; i++)
        for (var j = 1; j <= b.Length; j++)
            d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
        return d[a.Length, b.Length];
    }
}
