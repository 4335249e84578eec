namespace CxrLab.Torch.Nn;

/// <summary>Base of every layer and model, as torch.nn.Module: named parameters, buffers and
/// children registered in order, train/eval, device moves, and <c>state_dict</c> with PyTorch's dotted
/// keys ("layer1.0.conv1.weight"). A subclass registers what it owns in its constructor:
/// <code>
/// conv1 = register_module("conv1", new Conv2d(3, 64, 7, stride: 2, padding: 3, bias: false));
/// register_parameter("weight", torch.empty([n]));  register_buffer("running_mean", torch.zeros(n));
/// </code>
/// and reads them back with <see cref="param"/>/<see cref="buffer"/> (moves and loads replace or
/// overwrite the registered tensors, so do not cache parameter tensors in fields). The module owns its
/// tensors: disposing it disposes them; tensors returned by state_dict()/parameters() are not copies.</summary>
public abstract class Module : IDisposable
{
    readonly List<string> parameterOrder = [], bufferOrder = [], childOrder = [];
    readonly Dictionary<string, Tensor?> parameters_ = [];
    readonly Dictionary<string, Tensor?> buffers_ = [];
    readonly HashSet<string> nonPersistent = [];
    readonly Dictionary<string, Module> children_ = [];

    /// <summary>True in training mode (dropout active, batch norm uses batch statistics).</summary>
    public bool training { get; private set; } = true;

    // ---------------------------------------------------------------- registration

    /// <summary>Registers a parameter (requires_grad is set); null registers a None slot (e.g. no bias).</summary>
    protected Tensor? register_parameter(string name, Tensor? value)
    {
        CheckName(name);
        if (value is not null) { value.DetachFromDisposeScope(); if (!value.requires_grad) value.requires_grad = true; }
        if (!parameters_.ContainsKey(name)) parameterOrder.Add(name);
        parameters_[name] = value;
        return value;
    }

    /// <summary>Registers a buffer (state that is not trained: running statistics, anchors); non-persistent
    /// buffers stay out of state_dict.</summary>
    protected Tensor? register_buffer(string name, Tensor? value, bool persistent = true)
    {
        CheckName(name);
        value?.DetachFromDisposeScope();
        if (!buffers_.ContainsKey(name)) bufferOrder.Add(name);
        buffers_[name] = value;
        if (!persistent) nonPersistent.Add(name);
        return value;
    }

    /// <summary>Registers a child module under <paramref name="name"/> (its keys get the "name." prefix).</summary>
    protected T register_module<T>(string name, T module) where T : Module
    {
        CheckName(name);
        if (!children_.ContainsKey(name)) childOrder.Add(name);
        else if (!ReferenceEquals(children_[name], module)) children_[name].Dispose();
        children_[name] = module;
        return module;
    }

    void CheckName(string name)
    {
        if (string.IsNullOrEmpty(name) || name.Contains('.')) throw new ArgumentException($"module member name '{name}' must be non-empty and contain no '.'");
    }

    /// <summary>The registered parameter <paramref name="name"/> (throws if absent or None).</summary>
    public Tensor param(string name) =>
        parameters_.TryGetValue(name, out var p) && p is not null ? p : throw new KeyNotFoundException($"{GetType().Name} has no parameter '{name}'");
    /// <summary>The registered parameter, or null for a None slot.</summary>
    public Tensor? param_or_null(string name) => parameters_.TryGetValue(name, out var p) ? p : null;
    public Tensor buffer(string name) =>
        buffers_.TryGetValue(name, out var b) && b is not null ? b : throw new KeyNotFoundException($"{GetType().Name} has no buffer '{name}'");
    public Module child(string name) => children_.TryGetValue(name, out var c) ? c : throw new KeyNotFoundException($"{GetType().Name} has no child module '{name}'");

    // ---------------------------------------------------------------- traversal

    public IEnumerable<(string name, Module module)> named_children() => childOrder.Select(n => (n, children_[n]));
    public IEnumerable<Module> children() => childOrder.Select(n => children_[n]);

    /// <summary>This module ("") and every descendant with its dotted path.</summary>
    public IEnumerable<(string name, Module module)> named_modules(string prefix = "")
    {
        yield return (prefix, this);
        foreach (var n in childOrder)
            foreach (var item in children_[n].named_modules(prefix.Length == 0 ? n : prefix + "." + n))
                yield return item;
    }

    public IEnumerable<Module> modules() => named_modules().Select(m => m.module);

    public IEnumerable<(string name, Tensor parameter)> named_parameters(bool recurse = true)
    {
        foreach (var (path, m) in recurse ? named_modules() : [("", this)])
            foreach (var n in m.parameterOrder)
                if (m.parameters_[n] is { } p) yield return (Join(path, n), p);
    }

    public IEnumerable<Tensor> parameters(bool recurse = true) => named_parameters(recurse).Select(p => p.parameter);

    public IEnumerable<(string name, Tensor buffer)> named_buffers(bool recurse = true)
    {
        foreach (var (path, m) in recurse ? named_modules() : [("", this)])
            foreach (var n in m.bufferOrder)
                if (m.buffers_[n] is { } b) yield return (Join(path, n), b);
    }

    static string Join(string prefix, string name) => prefix.Length == 0 ? name : prefix + "." + name;

    // ---------------------------------------------------------------- modes and devices

    /// <summary>Sets training mode on this module and every descendant.</summary>
    public virtual Module train(bool mode = true)
    {
        training = mode;
        foreach (var c in children()) c.train(mode);
        return this;
    }

    public Module eval() => train(false);

    /// <summary>Moves every parameter and buffer to <paramref name="device"/> (parameters stay leaves that require grad).</summary>
    public Module to(Device device) => Apply(t => t.device.Type == device.Type && (device.Index < 0 || t.device.Index == device.Index) ? null : t.to(device));

    /// <summary>Converts floating parameters and buffers to <paramref name="dtype"/>.</summary>
    public Module to(ScalarType dtype) => Apply(t => t.DType.IsFloating() && t.DType != dtype ? t.to(dtype) : null);

    Module Apply(Func<Tensor, Tensor?> convert)
    {
        using var _ = torch.no_grad();
        foreach (var m in modules())
        {
            foreach (var n in m.parameterOrder)
                if (m.parameters_[n] is { } p && convert(p) is { } q)
                {
                    q.DetachFromDisposeScope();
                    q.requires_grad = p.requires_grad;
                    m.parameters_[n] = q;
                    p.Dispose();
                }
            foreach (var n in m.bufferOrder)
                if (m.buffers_[n] is { } b && convert(b) is { } c)
                {
                    c.DetachFromDisposeScope();
                    m.buffers_[n] = c;
                    b.Dispose();
                }
        }
        return this;
    }

    /// <summary>Clears every parameter's gradient (sets it to None, as PyTorch's default).</summary>
    public void zero_grad()
    {
        foreach (var p in parameters()) p.grad = null;
    }

    // ---------------------------------------------------------------- state dict

    /// <summary>Parameters and persistent buffers by dotted key, in registration order (PyTorch's order).
    /// The tensors are the module's own; do not dispose them.</summary>
    public Dictionary<string, Tensor> state_dict()
    {
        var result = new Dictionary<string, Tensor>();
        foreach (var (path, m) in named_modules())
        {
            foreach (var n in m.parameterOrder) if (m.parameters_[n] is { } p) result[Join(path, n)] = p;
            foreach (var n in m.bufferOrder) if (!m.nonPersistent.Contains(n) && m.buffers_[n] is { } b) result[Join(path, n)] = b;
        }
        return result;
    }

    /// <summary>Keys a module accepts in a checkpoint without owning them (e.g. FrozenBatchNorm2d's
    /// num_batches_tracked). <paramref name="localKey"/> has no module prefix.</summary>
    protected virtual bool IgnoresStateKey(string localKey) => false;

    /// <summary>Copies checkpoint tensors into this module's parameters and buffers (in place, so optimizers
    /// keep their references). With <paramref name="strict"/>, any missing, unexpected or wrongly shaped key
    /// throws <see cref="StateDictMismatchException"/> listing all of them with advice; without it, those
    /// keys are skipped (reported in the result) and the rest is loaded.</summary>
    public LoadStateDictResult load_state_dict(IReadOnlyDictionary<string, Tensor> state, bool strict = true)
    {
        var own = state_dict();
        var missing = own.Keys.Where(k => !state.ContainsKey(k)).ToList();
        var unexpected = state.Keys.Where(k => !own.ContainsKey(k) && !IsIgnored(k)).ToList();
        var mismatched = new List<ShapeMismatch>();
        foreach (var (key, target) in own)
        {
            if (!state.TryGetValue(key, out var source)) continue;
            var (s, t) = (source.Shape, target.Shape);
            if (!s.SequenceEqual(t)) mismatched.Add(new ShapeMismatch(key, s, t));
        }
        var result = new LoadStateDictResult(missing, unexpected, mismatched);
        if (strict && !result.IsExact) throw new StateDictMismatchException(result, GetType().Name);
        using (torch.no_grad())
        {
            var skip = mismatched.Select(m => m.Key).ToHashSet();
            foreach (var (key, target) in own)
                if (state.TryGetValue(key, out var source) && !skip.Contains(key)) target.copy_(source);
        }
        return result;
    }

    bool IsIgnored(string key)
    {
        var dot = key.LastIndexOf('.');
        var (prefix, local) = dot < 0 ? ("", key) : (key[..dot], key[(dot + 1)..]);
        foreach (var (path, m) in named_modules())
            if (path == prefix) return m.IgnoresStateKey(local);
        return false;
    }

    // ---------------------------------------------------------------- lifetime

    bool disposed;

    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        foreach (var p in parameters_.Values) p?.Dispose();
        foreach (var b in buffers_.Values) b?.Dispose();
        foreach (var c in children_.Values) c.Dispose();
        GC.SuppressFinalize(this);
    }

    public override string ToString() => GetType().Name;
}

/// <summary>A module with one input and one output; <see cref="forward"/> is the computation.</summary>
public abstract class Module<TIn, TOut> : Module
{
    public abstract TOut forward(TIn input);

    /// <summary>Same as <see cref="forward"/> (PyTorch's <c>module(x)</c>).</summary>
    public TOut call(TIn input) => forward(input);
}

/// <summary>A checkpoint key whose tensor shape differs from the model's.</summary>
public sealed record ShapeMismatch(string Key, long[] CheckpointShape, long[] ModelShape);

/// <summary>What load_state_dict found: keys the checkpoint lacks, keys the model lacks, and shape mismatches.</summary>
public sealed record LoadStateDictResult(IReadOnlyList<string> Missing, IReadOnlyList<string> Unexpected, IReadOnlyList<ShapeMismatch> Mismatched)
{
    public bool IsExact => Missing.Count == 0 && Unexpected.Count == 0 && Mismatched.Count == 0;
}

/// <summary>A checkpoint does not fit the model; the message lists every offending key with both shapes
/// and says what to do.</summary>
public sealed class StateDictMismatchException(LoadStateDictResult result, string modelName) : Exception(Describe(result, modelName))
{
    public LoadStateDictResult Result { get; } = result;

    static string Shape(long[] s) => "[" + string.Join(", ", s) + "]";

    static bool LooksLikeClassifier(string key) =>
        key.Contains("cls") || key.Contains("class") || key.Contains("fc.") || key.Contains("predictor") || key.Contains("logits") || key.Contains("head");

    internal static string Describe(LoadStateDictResult r, string modelName)
    {
        var lines = new List<string> { $"the checkpoint does not match {modelName}:" };
        foreach (var m in r.Mismatched)
        {
            var line = $"  {m.Key}: checkpoint {Shape(m.CheckpointShape)} vs model {Shape(m.ModelShape)}";
            if (LooksLikeClassifier(m.Key) && m.CheckpointShape.Length > 0 && m.ModelShape.Length == m.CheckpointShape.Length
                && m.CheckpointShape.Skip(1).SequenceEqual(m.ModelShape.Skip(1)))
                line += $" — the checkpoint was trained with {m.CheckpointShape[0]} classes; load with strict: false and skip these keys, " +
                        $"or build the model with numClasses: {m.CheckpointShape[0]} then ReplaceHead({m.ModelShape[0]})";
            lines.Add(line);
        }
        if (r.Missing.Count > 0) lines.Add($"  missing from the checkpoint ({r.Missing.Count}): {string.Join(", ", r.Missing.Take(20))}{(r.Missing.Count > 20 ? ", …" : "")}");
        if (r.Unexpected.Count > 0) lines.Add($"  not in the model ({r.Unexpected.Count}): {string.Join(", ", r.Unexpected.Take(20))}{(r.Unexpected.Count > 20 ? ", …" : "")}");
        lines.Add("What to do: load with strict: false to skip these keys (they keep their initial values); " +
                  (r.Unexpected.Count > 0 && r.Missing.Count > 0 ? "if the names differ only by a prefix (e.g. 'module.' or 'model.'), remap the keys first; " : "") +
                  "or build the model with the checkpoint's configuration.");
        return string.Join(Environment.NewLine, lines);
    }
}
