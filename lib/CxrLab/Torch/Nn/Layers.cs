namespace CxrLab.Torch.Nn;

/// <summary>2-D convolution (torch.nn.Conv2d) with groups, dilation and padding modes
/// "zeros", "reflect", "replicate", "circular". Weight [out, in/groups, kH, kW]; PyTorch's default init.</summary>
public sealed class Conv2d : Module<Tensor, Tensor>
{
    public long InChannels { get; }
    public long OutChannels { get; }
    public long[] KernelSize { get; }
    public long[] Stride { get; }
    public long[] Padding { get; }
    public long[] Dilation { get; }
    public long Groups { get; }
    public string PaddingMode { get; }

    public Conv2d(long in_channels, long out_channels, long kernel_size, long stride = 1, long padding = 0, long dilation = 1, long groups = 1, bool bias = true, string padding_mode = "zeros")
        : this(in_channels, out_channels, [kernel_size, kernel_size], [stride, stride], [padding, padding], [dilation, dilation], groups, bias, padding_mode) { }

    public Conv2d(long in_channels, long out_channels, long[] kernel_size, long[] stride, long[] padding, long[] dilation, long groups = 1, bool bias = true, string padding_mode = "zeros")
    {
        if (in_channels % groups != 0 || out_channels % groups != 0)
            throw new ArgumentException($"Conv2d: in_channels ({in_channels}) and out_channels ({out_channels}) must be divisible by groups ({groups})");
        if (padding_mode is not ("zeros" or "reflect" or "replicate" or "circular"))
            throw new ArgumentException($"Conv2d: padding_mode '{padding_mode}' is unknown; use zeros, reflect, replicate or circular");
        (InChannels, OutChannels, KernelSize, Stride, Padding, Dilation, Groups, PaddingMode) = (in_channels, out_channels, kernel_size, stride, padding, dilation, groups, padding_mode);
        var w = register_parameter("weight", torch.empty([out_channels, in_channels / groups, kernel_size[0], kernel_size[1]]))!;
        Init.kaiming_uniform_(w, a: Math.Sqrt(5));
        if (bias)
        {
            var bound = 1 / Math.Sqrt(Init.Fans(w).fanIn);
            Init.uniform_(register_parameter("bias", torch.empty([out_channels]))!, -bound, bound);
        }
        else register_parameter("bias", null);
    }

    public Tensor weight => param("weight");
    public Tensor? bias => param_or_null("bias");

    public override Tensor forward(Tensor input)
    {
        if (PaddingMode == "zeros") return torch.conv2d(input, weight, bias, Stride, Padding, Dilation, Groups);
        using var padded = torch.pad(input, [Padding[1], Padding[1], Padding[0], Padding[0]], PaddingMode == "reflect" ? "reflect" : PaddingMode);
        return torch.conv2d(padded, weight, bias, Stride, [0, 0], Dilation, Groups);
    }
}

/// <summary>Transposed 2-D convolution (torch.nn.ConvTranspose2d). Weight [in, out/groups, kH, kW].</summary>
public sealed class ConvTranspose2d : Module<Tensor, Tensor>
{
    readonly long[] stride, padding, outputPadding, dilation;
    readonly long groups;

    public ConvTranspose2d(long in_channels, long out_channels, long kernel_size, long stride = 1, long padding = 0, long output_padding = 0, long groups = 1, bool bias = true, long dilation = 1)
    {
        (this.stride, this.padding, outputPadding, this.dilation, this.groups) = ([stride, stride], [padding, padding], [output_padding, output_padding], [dilation, dilation], groups);
        var w = register_parameter("weight", torch.empty([in_channels, out_channels / groups, kernel_size, kernel_size]))!;
        Init.kaiming_uniform_(w, a: Math.Sqrt(5));
        if (bias)
        {
            var bound = 1 / Math.Sqrt(Init.Fans(w).fanIn);
            Init.uniform_(register_parameter("bias", torch.empty([out_channels]))!, -bound, bound);
        }
        else register_parameter("bias", null);
    }

    public Tensor weight => param("weight");
    public Tensor? bias => param_or_null("bias");

    public override Tensor forward(Tensor input) => torch.conv_transpose2d(input, weight, bias, stride, padding, outputPadding, groups, dilation);
}

/// <summary>Batch normalisation over channels of [N, C, H, W] (torch.nn.BatchNorm2d): batch statistics and
/// running-average updates in training, running statistics in eval.</summary>
public sealed class BatchNorm2d : Module<Tensor, Tensor>
{
    public double Eps { get; }
    /// <summary>Running-average factor; null = cumulative average (PyTorch's momentum=None).</summary>
    public double? Momentum { get; }
    readonly bool trackRunningStats;

    public BatchNorm2d(long num_features, double eps = 1e-5, double? momentum = 0.1, bool affine = true, bool track_running_stats = true)
    {
        (Eps, Momentum, trackRunningStats) = (eps, momentum, track_running_stats);
        register_parameter("weight", affine ? torch.ones(num_features) : null);
        register_parameter("bias", affine ? torch.zeros(num_features) : null);
        if (track_running_stats)
        {
            register_buffer("running_mean", torch.zeros(num_features));
            register_buffer("running_var", torch.ones(num_features));
            register_buffer("num_batches_tracked", torch.zeros([], ScalarType.Int64));
        }
    }

    /// <summary>Set by <see cref="Distributed.SyncBatchNorm.convert_sync_batchnorm"/>: in training, statistics over
    /// every rank of this group's batch (SyncBatchNorm); null = this process's batch only.</summary>
    public Distributed.ProcessGroup? process_group { get; set; }

    public override Tensor forward(Tensor input)
    {
        var momentum = Momentum ?? 0.0;
        if (training && trackRunningStats)
        {
            var n = buffer("num_batches_tracked");
            using (torch.no_grad()) n.add_(1);
            if (Momentum is null) momentum = 1.0 / n.item<long>();
        }
        if (training && process_group is { WorldSize: > 1 } group)
            return Distributed.SyncBatchNorm.forward(input, param_or_null("weight"), param_or_null("bias"),
                trackRunningStats ? buffer("running_mean") : null, trackRunningStats ? buffer("running_var") : null, momentum, Eps, group);
        var useBatch = training || !trackRunningStats;
        return torch.batch_norm(input, trackRunningStats ? buffer("running_mean") : null, trackRunningStats ? buffer("running_var") : null,
            param_or_null("weight"), param_or_null("bias"), useBatch, momentum, Eps);
    }
}

/// <summary>Batch norm with fixed statistics and affine parameters, all buffers (torchvision.ops.FrozenBatchNorm2d):
/// y = (x − mean) / √(var + eps) · weight + bias. Accepts and ignores num_batches_tracked in checkpoints.</summary>
public sealed class FrozenBatchNorm2d : Module<Tensor, Tensor>
{
    readonly double eps;

    public FrozenBatchNorm2d(long num_features, double eps = 1e-5)
    {
        this.eps = eps;
        register_buffer("weight", torch.ones(num_features));
        register_buffer("bias", torch.zeros(num_features));
        register_buffer("running_mean", torch.zeros(num_features));
        register_buffer("running_var", torch.ones(num_features));
    }

    protected override bool IgnoresStateKey(string localKey) => localKey == "num_batches_tracked";

    public override Tensor forward(Tensor input)
    {
        using var rv = buffer("running_var") + eps;
        using var inv = rv.rsqrt();
        using var scale = buffer("weight") * inv;
        using var shift0 = buffer("running_mean") * scale;
        using var shift = buffer("bias") - shift0;
        using var s = scale.reshape(1, -1, 1, 1);
        using var b = shift.reshape(1, -1, 1, 1);
        using var scaled = input * s;
        return scaled + b;
    }
}

/// <summary>Group normalisation (torch.nn.GroupNorm).</summary>
public sealed class GroupNorm : Module<Tensor, Tensor>
{
    readonly long groups;
    readonly double eps;

    public GroupNorm(long num_groups, long num_channels, double eps = 1e-5, bool affine = true)
    {
        if (num_channels % num_groups != 0) throw new ArgumentException($"GroupNorm: num_channels ({num_channels}) must be divisible by num_groups ({num_groups})");
        (groups, this.eps) = (num_groups, eps);
        register_parameter("weight", affine ? torch.ones(num_channels) : null);
        register_parameter("bias", affine ? torch.zeros(num_channels) : null);
    }

    public override Tensor forward(Tensor input) => torch.group_norm(input, groups, param_or_null("weight"), param_or_null("bias"), eps);
}

/// <summary>y = x Wᵀ + b (torch.nn.Linear). Weight [out, in].</summary>
public sealed class Linear : Module<Tensor, Tensor>
{
    public Linear(long in_features, long out_features, bool bias = true)
    {
        var w = register_parameter("weight", torch.empty([out_features, in_features]))!;
        Init.kaiming_uniform_(w, a: Math.Sqrt(5));
        if (bias)
        {
            var bound = in_features > 0 ? 1 / Math.Sqrt(in_features) : 0;
            Init.uniform_(register_parameter("bias", torch.empty([out_features]))!, -bound, bound);
        }
        else register_parameter("bias", null);
    }

    public Tensor weight => param("weight");
    public Tensor? bias => param_or_null("bias");

    public override Tensor forward(Tensor input) => torch.linear(input, weight, bias);
}

public sealed class Dropout(double p = 0.5) : Module<Tensor, Tensor>
{
    public override Tensor forward(Tensor input) => torch.dropout(input, p, training);
}

public sealed class MaxPool2d(long kernel_size, long? stride = null, long padding = 0, long dilation = 1, bool ceil_mode = false) : Module<Tensor, Tensor>
{
    public override Tensor forward(Tensor input) =>
        torch.max_pool2d(input, [kernel_size, kernel_size], [stride ?? kernel_size, stride ?? kernel_size], [padding, padding], [dilation, dilation], ceil_mode);
}

public sealed class AdaptiveAvgPool2d(long[] output_size) : Module<Tensor, Tensor>
{
    public AdaptiveAvgPool2d(long output_size) : this([output_size, output_size]) { }
    public override Tensor forward(Tensor input) => torch.adaptive_avg_pool2d(input, output_size);
}

/// <summary>torch.nn.Upsample: "nearest" or "bilinear", by size or scale factor.</summary>
public sealed class Upsample(long[]? size = null, double? scale_factor = null, string mode = "nearest", bool? align_corners = null) : Module<Tensor, Tensor>
{
    public override Tensor forward(Tensor input) =>
        torch.interpolate(input, size, scale_factor is { } s ? [s, s] : null, mode, align_corners);
}

public sealed class ReLU : Module<Tensor, Tensor> { public override Tensor forward(Tensor input) => input.relu(); }
public sealed class SiLU : Module<Tensor, Tensor> { public override Tensor forward(Tensor input) => torch.silu(input); }
public sealed class Sigmoid : Module<Tensor, Tensor> { public override Tensor forward(Tensor input) => input.sigmoid(); }
public sealed class Hardswish : Module<Tensor, Tensor> { public override Tensor forward(Tensor input) => torch.hardswish(input); }
public sealed class LeakyReLU(double negative_slope = 0.01) : Module<Tensor, Tensor>
{
    public override Tensor forward(Tensor input) => torch.leaky_relu(input, negative_slope);
}

/// <summary>Returns its input unchanged (a new handle to the same tensor, so callers may dispose either).</summary>
public sealed class Identity : Module<Tensor, Tensor> { public override Tensor forward(Tensor input) => input.alias(); }

/// <summary>Runs children in order; keys are "0.weight", "1.running_mean", … as in PyTorch. Intermediate
/// outputs are disposed as soon as the next layer has consumed them.</summary>
public sealed class Sequential : Module<Tensor, Tensor>
{
    readonly List<Module<Tensor, Tensor>> layers = [];

    public Sequential(params Module<Tensor, Tensor>[] modules) { foreach (var m in modules) Add(m); }

    /// <summary>Named children (e.g. torchvision's "conv", "bn" inside a Sequential).</summary>
    public Sequential((string name, Module<Tensor, Tensor> module)[] modules)
    {
        foreach (var (n, m) in modules) { register_module(n, m); layers.Add(m); }
    }

    public Sequential Add(Module<Tensor, Tensor> module)
    {
        register_module(layers.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), module);
        layers.Add(module);
        return this;
    }

    public int Count => layers.Count;
    public Module<Tensor, Tensor> this[int index] => layers[index];

    public override Tensor forward(Tensor input)
    {
        var x = input;
        foreach (var layer in layers)
        {
            var y = layer.forward(x);
            if (!ReferenceEquals(x, input)) x.Dispose();
            x = y;
        }
        return ReferenceEquals(x, input) ? input.alias() : x;
    }
}

/// <summary>An indexed list of child modules (keys "0.", "1.", …).</summary>
public sealed class ModuleList<T> : Module, IReadOnlyList<T> where T : Module
{
    readonly List<T> items = [];
    public ModuleList(params T[] modules) { foreach (var m in modules) Add(m); }
    public void Add(T module) { register_module(items.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), module); items.Add(module); }
    public T this[int index] => items[index];
    public int Count => items.Count;
    public IEnumerator<T> GetEnumerator() => items.GetEnumerator();
    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>Child modules by name, in insertion order.</summary>
public sealed class ModuleDict<T> : Module where T : Module
{
    readonly Dictionary<string, T> items = [];
    readonly List<string> order = [];
    public void Add(string name, T module) { register_module(name, module); if (!items.ContainsKey(name)) order.Add(name); items[name] = module; }
    public T this[string name] => items[name];
    public IEnumerable<string> Keys => order;
    public IEnumerable<(string name, T module)> Items => order.Select(n => (n, items[n]));
    public int Count => items.Count;
}
