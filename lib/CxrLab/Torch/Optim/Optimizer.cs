namespace CxrLab.Torch.Optim;

/// <summary>A set of parameters sharing hyperparameters (lr, weight_decay, momentum, …), as PyTorch's
/// param_groups. Options not set on the group fall back to the optimizer's defaults.</summary>
public sealed class ParamGroup
{
    public ParamGroup(IEnumerable<Tensor> parameters, Dictionary<string, double>? options = null)
    {
        Params = parameters.ToList();
        Options = options is null ? [] : new Dictionary<string, double>(options);
    }

    public List<Tensor> Params { get; }
    public Dictionary<string, double> Options { get; }

    public double this[string name]
    {
        get => Options.TryGetValue(name, out var v) ? v : throw new KeyNotFoundException($"parameter group has no option '{name}'");
        set => Options[name] = value;
    }

    /// <summary>The group's learning rate (schedulers set it each step).</summary>
    public double lr { get => this["lr"]; set => this["lr"] = value; }
}

/// <summary>Optimizer state for exact resume: per-parameter tensors keyed "{paramIndex}.{name}" (index over
/// all groups in order) and each group's options.</summary>
public sealed record OptimizerState(Dictionary<string, Tensor> Tensors, List<Dictionary<string, double>> Groups) : IDisposable
{
    public void Dispose() { foreach (var t in Tensors.Values) t.Dispose(); }
}

/// <summary>Base of SGD/Adam/AdamW: parameter groups, per-parameter state, zero_grad, state_dict.</summary>
public abstract class Optimizer : IDisposable
{
    readonly List<ParamGroup> groups = [];
    /// <summary>Per-parameter state tensors (momentum_buffer, exp_avg, exp_avg_sq, step), by parameter identity.</summary>
    protected readonly Dictionary<Tensor, Dictionary<string, Tensor>> State = new(ReferenceEqualityComparer.Instance);

    protected Optimizer(IEnumerable<ParamGroup> paramGroups, Dictionary<string, double> defaults)
    {
        foreach (var g in paramGroups)
        {
            foreach (var (k, v) in defaults) g.Options.TryAdd(k, v);
            groups.Add(g);
        }
        if (groups.Count == 0 || groups.All(g => g.Params.Count == 0)) throw new ArgumentException("optimizer got an empty parameter list");
    }

    public IReadOnlyList<ParamGroup> param_groups => groups;

    /// <summary>Clears every gradient (set to None, PyTorch's default).</summary>
    public void zero_grad() { foreach (var g in groups) foreach (var p in g.Params) p.grad = null; }

    /// <summary>One update of every parameter that has a gradient.</summary>
    public void step()
    {
        using var _ = torch.no_grad();
        foreach (var g in groups)
            foreach (var p in g.Params)
            {
                using var grad = p.grad;
                if (grad is null) continue;
                if (!State.TryGetValue(p, out var s)) State[p] = s = new Dictionary<string, Tensor>();
                using var scope = torch.NewDisposeScope();
                Update(g, p, grad, s);
            }
    }

    /// <summary>Updates one parameter in place; <paramref name="state"/> tensors must be detached from the
    /// dispose scope open around this call.</summary>
    protected abstract void Update(ParamGroup group, Tensor param, Tensor grad, Dictionary<string, Tensor> state);

    protected static Tensor Keep(Tensor t) => t.DetachFromDisposeScope();

    /// <summary>A copy of the optimizer's state (clone tensors; the caller disposes the result).</summary>
    public OptimizerState state_dict()
    {
        var tensors = new Dictionary<string, Tensor>();
        var index = 0;
        foreach (var g in groups)
            foreach (var p in g.Params)
            {
                if (State.TryGetValue(p, out var s))
                    foreach (var (name, t) in s) tensors[$"{index}.{name}"] = t.detach().clone().DetachFromDisposeScope();
                index++;
            }
        return new OptimizerState(tensors, groups.Select(g => new Dictionary<string, double>(g.Options)).ToList());
    }

    /// <summary>Restores state saved by <see cref="state_dict"/> from an optimizer over the same parameters.</summary>
    public void load_state_dict(OptimizerState state)
    {
        if (state.Groups.Count != groups.Count)
            throw new ArgumentException($"optimizer state has {state.Groups.Count} parameter groups, this optimizer has {groups.Count}");
        for (var k = 0; k < groups.Count; k++)
            foreach (var (name, v) in state.Groups[k]) groups[k].Options[name] = v;
        foreach (var s in State.Values) foreach (var t in s.Values) t.Dispose();
        State.Clear();
        var all = groups.SelectMany(g => g.Params).ToList();
        foreach (var (key, t) in state.Tensors)
        {
            var dot = key.IndexOf('.');
            var index = int.Parse(key[..dot], System.Globalization.CultureInfo.InvariantCulture);
            if (index >= all.Count) throw new ArgumentException($"optimizer state key '{key}' refers to parameter {index}, the optimizer has {all.Count}");
            if (!State.TryGetValue(all[index], out var s)) State[all[index]] = s = new Dictionary<string, Tensor>();
            s[key[(dot + 1)..]] = t.detach().clone().DetachFromDisposeScope();
        }
    }

    public void Dispose()
    {
        foreach (var s in State.Values) foreach (var t in s.Values) t.Dispose();
        State.Clear();
        GC.SuppressFinalize(this);
    }

    protected static IEnumerable<ParamGroup> OneGroup(IEnumerable<Tensor> parameters) => [new ParamGroup(parameters)];
}

/// <summary>Stochastic gradient descent with momentum, dampening, Nesterov and L2 weight decay (torch.optim.SGD).</summary>
public sealed class SGD : Optimizer
{
    public SGD(IEnumerable<Tensor> parameters, double lr, double momentum = 0, double dampening = 0, double weight_decay = 0, bool nesterov = false)
        : this(OneGroup(parameters), lr, momentum, dampening, weight_decay, nesterov) { }

    public SGD(IEnumerable<ParamGroup> groups, double lr, double momentum = 0, double dampening = 0, double weight_decay = 0, bool nesterov = false)
        : base(groups, new() { ["lr"] = lr, ["momentum"] = momentum, ["dampening"] = dampening, ["weight_decay"] = weight_decay, ["nesterov"] = nesterov ? 1 : 0 })
    {
        if (nesterov && (momentum <= 0 || dampening != 0)) throw new ArgumentException("Nesterov momentum requires a momentum and zero dampening");
    }

    protected override void Update(ParamGroup g, Tensor p, Tensor grad, Dictionary<string, Tensor> state)
    {
        var d = grad;
        var wd = g["weight_decay"];
        if (wd != 0) d = d.add(p, wd);
        var momentum = g["momentum"];
        if (momentum != 0)
        {
            if (!state.TryGetValue("momentum_buffer", out var buf)) state["momentum_buffer"] = buf = Keep(d.clone());
            else buf.mul_(momentum).add_(d, 1 - g["dampening"]);
            d = g["nesterov"] != 0 ? d.add(buf, momentum) : buf;
        }
        p.add_(d, -g.lr);
    }
}

/// <summary>Adam (torch.optim.Adam; L2 weight decay added to the gradient), or AdamW's decoupled decay for
/// the <see cref="AdamW"/> subclass.</summary>
public class Adam : Optimizer
{
    readonly bool decoupled;

    public Adam(IEnumerable<Tensor> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weight_decay = 0)
        : this(OneGroup(parameters), lr, beta1, beta2, eps, weight_decay, false) { }

    public Adam(IEnumerable<ParamGroup> groups, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weight_decay = 0)
        : this(groups, lr, beta1, beta2, eps, weight_decay, false) { }

    protected Adam(IEnumerable<ParamGroup> groups, double lr, double beta1, double beta2, double eps, double weight_decay, bool decoupled)
        : base(groups, new() { ["lr"] = lr, ["beta1"] = beta1, ["beta2"] = beta2, ["eps"] = eps, ["weight_decay"] = weight_decay }) => this.decoupled = decoupled;

    protected override void Update(ParamGroup g, Tensor p, Tensor grad, Dictionary<string, Tensor> state)
    {
        var (lr, b1, b2, eps, wd) = (g.lr, g["beta1"], g["beta2"], g["eps"], g["weight_decay"]);
        if (!state.ContainsKey("step"))
        {
            state["step"] = Keep(torch.zeros([], ScalarType.Float64));
            state["exp_avg"] = Keep(torch.zeros_like(p));
            state["exp_avg_sq"] = Keep(torch.zeros_like(p));
        }
        var stepT = state["step"].add_(1);
        var step = stepT.item<double>();
        if (wd != 0)
        {
            if (decoupled) p.mul_(1 - lr * wd);
            else grad = grad.add(p, wd);
        }
        var m = state["exp_avg"].mul_(b1).add_(grad, 1 - b1);
        var v = state["exp_avg_sq"].mul_(b2).addcmul_(grad, grad, 1 - b2);
        var bc1 = 1 - Math.Pow(b1, step);
        var bc2Sqrt = Math.Sqrt(1 - Math.Pow(b2, step));
        var denom = (v.sqrt() / bc2Sqrt).add_(eps);
        p.addcdiv_(m, denom, -lr / bc1);
    }
}

/// <summary>AdamW (torch.optim.AdamW): decoupled weight decay, default 0.01.</summary>
public sealed class AdamW : Adam
{
    public AdamW(IEnumerable<Tensor> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weight_decay = 1e-2)
        : base(OneGroup(parameters), lr, beta1, beta2, eps, weight_decay, true) { }

    public AdamW(IEnumerable<ParamGroup> groups, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weight_decay = 1e-2)
        : base(groups, lr, beta1, beta2, eps, weight_decay, true) { }
}

/// <summary>Gradient clipping (torch.nn.utils).</summary>
public static class GradClip
{
    /// <summary>Scales all gradients so their joint p-norm is at most <paramref name="max_norm"/>; returns the norm before clipping.</summary>
    public static double clip_grad_norm_(IEnumerable<Tensor> parameters, double max_norm, double norm_type = 2)
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var grads = parameters.Select(p => p.grad).Where(g => g is not null).Select(g => g!).ToArray();
        if (grads.Length == 0) return 0;
        Tensor total;
        if (double.IsPositiveInfinity(norm_type)) total = torch.stack(grads.Select(g => g.abs().max()).ToArray()).max();
        else total = torch.stack(grads.Select(g => g.norm(norm_type, Enumerable.Range(0, g.Dim).Select(i => (long)i).ToArray())).ToArray()).norm(norm_type, [0]);
        var coef = (max_norm / (total + 1e-6)).clamp_max(1.0);
        foreach (var g in grads) g.mul_(coef);
        return total.item<double>();
    }

    /// <summary>Clamps every gradient element to [−clip_value, clip_value].</summary>
    public static void clip_grad_value_(IEnumerable<Tensor> parameters, double clip_value)
    {
        using var _ = torch.no_grad();
        foreach (var p in parameters) { using var g = p.grad; g?.clamp_(-clip_value, clip_value); }
    }
}
