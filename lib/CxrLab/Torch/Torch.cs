using CxrLab.Interop;

namespace CxrLab.Torch;

/// <summary>PyTorch's <c>torch</c> namespace: tensor creation, joining, functional ops, autograd and
/// runtime switches. Every tensor function is one boxed dispatcher call.</summary>
#pragma warning disable CS8981 // PyTorch spelling on purpose: ports read torch.zeros(...)
public static partial class torch
#pragma warning restore CS8981
{
    static class A
    {
        public static readonly Op zeros = new("zeros"), ones = new("ones"), full = new("full"), empty = new("empty", "memory_format");
        public static readonly Op arange = new("arange", "start_step"), linspace = new("linspace"), rand = new("rand"), randn = new("randn"), randint = new("randint", "low");
        public static readonly Op randperm = new("randperm");
        public static readonly Op cat = new("cat"), stack = new("stack"), where = new("where", "self"), where_so = new("where", "ScalarOther"), meshgrid = new("meshgrid", "indexing");
        public static readonly Op conv2d = new("conv2d"), conv2d_pad = new("conv2d", "padding"), conv_transpose2d = new("conv_transpose2d", "input");
        public static readonly Op batch_norm = new("batch_norm"), group_norm = new("group_norm"), layer_norm = new("layer_norm"), linear = new("linear"), dropout = new("dropout");
        public static readonly Op max_pool2d = new("max_pool2d"), avg_pool2d = new("avg_pool2d"), adaptive_avg_pool2d = new("adaptive_avg_pool2d");
        public static readonly Op up_nearest = new("upsample_nearest2d", "vec"), up_bilinear = new("upsample_bilinear2d", "vec"), grid_sampler = new("grid_sampler");
        public static readonly Op pad = new("pad"), silu = new("silu"), leaky_relu = new("leaky_relu"), hardswish = new("hardswish"), hardsigmoid = new("hardsigmoid"), gelu = new("gelu");
        public static readonly Op softplus = new("softplus"), one_hot = new("one_hot");
        public static readonly Op zeros_like = new("zeros_like"), ones_like = new("ones_like"), full_like = new("full_like"), rand_like = new("rand_like"), randn_like = new("randn_like");
        public static readonly Op stack_ = new("stack");
    }

    static readonly ScalarType? NoType = null;
    static readonly Device? NoDevice = null;

    // ---------------------------------------------------------------- creation

    /// <summary>Default element type of float factories (float32, as PyTorch).</summary>
    public static ScalarType DefaultFloat => ScalarType.Float32;

    public static Tensor zeros(long[] size, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) =>
        Grad(A.zeros.Call(size, dtype ?? DefaultFloat, Arg.None, device, Arg.None), requires_grad);
    public static Tensor ones(long[] size, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) =>
        Grad(A.ones.Call(size, dtype ?? DefaultFloat, Arg.None, device, Arg.None), requires_grad);
    /// <summary>Filled with <paramref name="value"/>; dtype defaults to float32 for floats, int64 for integers, bool for bools.</summary>
    public static Tensor full(long[] size, Scalar value, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) =>
        Grad(A.full.Call(size, value, dtype ?? (value.IsFloating ? DefaultFloat : value.IsBool ? ScalarType.Bool : ScalarType.Int64), Arg.None, device, Arg.None), requires_grad);
    public static Tensor empty(long[] size, ScalarType? dtype = null, Device? device = null) =>
        A.empty.Call(size, dtype ?? DefaultFloat, Arg.None, device, Arg.None, (MemoryFormat?)null);
    public static Tensor zeros(params long[] size) => zeros(size, null);
    public static Tensor ones(params long[] size) => ones(size, null);

    /// <summary>[start, end) in steps; int64 when all bounds are integers, else float32 (as PyTorch).</summary>
    public static Tensor arange(Scalar start, Scalar end, Scalar? step = null, ScalarType? dtype = null, Device? device = null) =>
        A.arange.Call(start, end, step ?? 1, dtype ?? (start.IsFloating || end.IsFloating || (step?.IsFloating ?? false) ? DefaultFloat : ScalarType.Int64), Arg.None, device, Arg.None);
    public static Tensor arange(Scalar end, ScalarType? dtype = null, Device? device = null) => arange(0, end, 1, dtype, device);
    public static Tensor linspace(double start, double end, long steps, ScalarType? dtype = null, Device? device = null) =>
        A.linspace.Call(start, end, steps, dtype ?? DefaultFloat, Arg.None, device, Arg.None);
    /// <summary>Uniform [0, 1).</summary>
    public static Tensor rand(long[] size, ScalarType? dtype = null, Device? device = null) => A.rand.Call(size, dtype ?? DefaultFloat, Arg.None, device, Arg.None);
    /// <summary>Standard normal.</summary>
    public static Tensor randn(long[] size, ScalarType? dtype = null, Device? device = null) => A.randn.Call(size, dtype ?? DefaultFloat, Arg.None, device, Arg.None);
    public static Tensor rand(params long[] size) => rand(size, null);
    public static Tensor randn(params long[] size) => randn(size, null);
    /// <summary>Integers in [low, high).</summary>
    public static Tensor randint(long low, long high, long[] size, ScalarType? dtype = null, Device? device = null) =>
        A.randint.Call(low, high, size, dtype ?? ScalarType.Int64, Arg.None, device, Arg.None);
    public static Tensor randperm(long n, Device? device = null) => A.randperm.Call(n, ScalarType.Int64, Arg.None, device, Arg.None);
    public static Tensor zeros_like(Tensor t, ScalarType? dtype = null) => A.zeros_like.Call(t, dtype, Arg.None, NoDevice, Arg.None, (MemoryFormat?)null);
    public static Tensor ones_like(Tensor t, ScalarType? dtype = null) => A.ones_like.Call(t, dtype, Arg.None, NoDevice, Arg.None, (MemoryFormat?)null);
    public static Tensor full_like(Tensor t, Scalar value, ScalarType? dtype = null) => A.full_like.Call(t, value, dtype, Arg.None, NoDevice, Arg.None, (MemoryFormat?)null);
    public static Tensor rand_like(Tensor t) => A.rand_like.Call(t, NoType, Arg.None, NoDevice, Arg.None, (MemoryFormat?)null);
    public static Tensor randn_like(Tensor t) => A.randn_like.Call(t, NoType, Arg.None, NoDevice, Arg.None, (MemoryFormat?)null);

    /// <summary>A CPU tensor copied from <paramref name="values"/> (shape defaults to 1-D).</summary>
    public static Tensor tensor<T>(T[] values, params long[] shape) where T : unmanaged => Tensor.From(values, shape);
    public static Tensor tensor<T>(ReadOnlySpan<T> values, params long[] shape) where T : unmanaged => Tensor.From(values, shape);
    /// <summary>A 2-D tensor from a rectangular array.</summary>
    public static Tensor tensor<T>(T[,] values) where T : unmanaged
    {
        var flat = new T[values.Length];
        var k = 0;
        foreach (var v in values) flat[k++] = v;
        return Tensor.From(flat, values.GetLength(0), values.GetLength(1));
    }
    public static Tensor scalar_tensor<T>(T value) where T : unmanaged => Tensor.Scalar(value);

    static Tensor Grad(Tensor t, bool requires)
    {
        if (requires) t.requires_grad = true;
        return t;
    }

    // ---------------------------------------------------------------- joining and selection

    public static Tensor cat(Tensor[] tensors, long dim = 0) => A.cat.Call(tensors, dim);
    public static Tensor cat(IEnumerable<Tensor> tensors, long dim = 0) => A.cat.Call(tensors.ToArray(), dim);
    public static Tensor stack(Tensor[] tensors, long dim = 0) => A.stack.Call(tensors, dim);
    public static Tensor stack(IEnumerable<Tensor> tensors, long dim = 0) => A.stack.Call(tensors.ToArray(), dim);
    /// <summary>Elementwise <c>condition ? x : y</c> with broadcasting.</summary>
    public static Tensor where(Tensor condition, Tensor x, Tensor y) => A.where.Call(condition, x, y);
    public static Tensor where(Tensor condition, Tensor x, Scalar y) => A.where_so.Call(condition, x, y);
    public static Tensor[] meshgrid(Tensor[] tensors, string indexing = "ij") => A.meshgrid.CallList(tensors, indexing);
    public static Tensor[] split(Tensor t, long split_size, long dim = 0) => t.split(split_size, dim);
    public static Tensor[] chunk(Tensor t, long chunks, long dim = 0) => t.chunk(chunks, dim);

    // ---------------------------------------------------------------- nn.functional

    public static Tensor conv2d(Tensor input, Tensor weight, Tensor? bias = null, long[]? stride = null, long[]? padding = null, long[]? dilation = null, long groups = 1) =>
        FlopCounterMode.Conv(A.conv2d.Call(input, weight, bias, stride ?? [1, 1], padding ?? [0, 0], dilation ?? [1, 1], groups), weight);
    /// <summary>conv2d with string padding "same" or "valid".</summary>
    public static Tensor conv2d(Tensor input, Tensor weight, Tensor? bias, long[] stride, string padding, long[] dilation, long groups = 1) =>
        FlopCounterMode.Conv(A.conv2d_pad.Call(input, weight, bias, stride, padding, dilation, groups), weight);
    public static Tensor conv_transpose2d(Tensor input, Tensor weight, Tensor? bias = null, long[]? stride = null, long[]? padding = null, long[]? output_padding = null, long groups = 1, long[]? dilation = null) =>
        FlopCounterMode.ConvTranspose(A.conv_transpose2d.Call(input, weight, bias, stride ?? [1, 1], padding ?? [0, 0], output_padding ?? [0, 0], groups, dilation ?? [1, 1]), input, weight);
    public static Tensor batch_norm(Tensor input, Tensor? running_mean, Tensor? running_var, Tensor? weight, Tensor? bias, bool training, double momentum, double eps) =>
        A.batch_norm.Call(input, weight, bias, running_mean, running_var, training, momentum, eps, true);
    public static Tensor group_norm(Tensor input, long num_groups, Tensor? weight = null, Tensor? bias = null, double eps = 1e-5) =>
        A.group_norm.Call(input, num_groups, weight, bias, eps, true);
    public static Tensor layer_norm(Tensor input, long[] normalized_shape, Tensor? weight = null, Tensor? bias = null, double eps = 1e-5) =>
        A.layer_norm.Call(input, normalized_shape, weight, bias, eps, true);
    public static Tensor linear(Tensor input, Tensor weight, Tensor? bias = null) => FlopCounterMode.Linear(A.linear.Call(input, weight, bias), input, weight);
    public static Tensor dropout(Tensor input, double p = 0.5, bool training = true) => A.dropout.Call(input, p, training);
    public static Tensor max_pool2d(Tensor input, long[] kernel_size, long[]? stride = null, long[]? padding = null, long[]? dilation = null, bool ceil_mode = false) =>
        A.max_pool2d.Call(input, kernel_size, stride ?? kernel_size, padding ?? [0, 0], dilation ?? [1, 1], ceil_mode);
    public static Tensor avg_pool2d(Tensor input, long[] kernel_size, long[]? stride = null, long[]? padding = null, bool ceil_mode = false, bool count_include_pad = true) =>
        A.avg_pool2d.Call(input, kernel_size, stride ?? kernel_size, padding ?? [0, 0], ceil_mode, count_include_pad, Arg.None);
    public static Tensor adaptive_avg_pool2d(Tensor input, long[] output_size) => A.adaptive_avg_pool2d.Call(input, output_size);

    /// <summary>F.interpolate for 4-D input: mode "nearest" or "bilinear"; give <paramref name="size"/> [H, W]
    /// or <paramref name="scale_factor"/>.</summary>
    public static Tensor interpolate(Tensor input, long[]? size = null, double[]? scale_factor = null, string mode = "nearest", bool? align_corners = null)
    {
        if ((size is null) == (scale_factor is null)) throw new ArgumentException("interpolate needs exactly one of size or scale_factor");
        if (scale_factor is { Length: 1 }) scale_factor = [scale_factor[0], scale_factor[0]];
        return mode switch
        {
            "nearest" when align_corners is not null => throw new ArgumentException("align_corners only applies to bilinear interpolation"),
            "nearest" => A.up_nearest.Call(input, size, scale_factor),
            "bilinear" => A.up_bilinear.Call(input, size, align_corners ?? false, scale_factor),
            _ => throw new ArgumentException($"interpolate mode '{mode}' is not supported; use nearest or bilinear"),
        };
    }

    /// <summary>F.grid_sample: mode "bilinear"/"nearest"/"bicubic", padding "zeros"/"border"/"reflection";
    /// grid [N, Hout, Wout, 2] in [-1, 1] (x, y).</summary>
    public static Tensor grid_sample(Tensor input, Tensor grid, string mode = "bilinear", string padding_mode = "zeros", bool align_corners = false)
    {
        long m = mode switch { "bilinear" => 0, "nearest" => 1, "bicubic" => 2, _ => throw new ArgumentException($"grid_sample mode '{mode}' is unknown") };
        long p = padding_mode switch { "zeros" => 0, "border" => 1, "reflection" => 2, _ => throw new ArgumentException($"grid_sample padding_mode '{padding_mode}' is unknown") };
        return A.grid_sampler.Call(input, grid, m, p, align_corners);
    }

    /// <summary>F.pad: <paramref name="pad"/> pairs from the last dimension backwards; mode
    /// "constant", "reflect", "replicate" or "circular".</summary>
    public static Tensor pad(Tensor input, long[] pad, string mode = "constant", double value = 0) =>
        A.pad.Call(input, pad, mode, mode == "constant" ? value : Arg.None);

    public static Tensor relu(Tensor x) => x.relu();
    public static Tensor sigmoid(Tensor x) => x.sigmoid();
    public static Tensor silu(Tensor x) => A.silu.Call(x);
    public static Tensor leaky_relu(Tensor x, double negative_slope = 0.01) => A.leaky_relu.Call(x, negative_slope);
    public static Tensor hardswish(Tensor x) => A.hardswish.Call(x);
    public static Tensor hardsigmoid(Tensor x) => A.hardsigmoid.Call(x);
    public static Tensor gelu(Tensor x) => A.gelu.Call(x, "none");
    public static Tensor softplus(Tensor x, double beta = 1, double threshold = 20) => A.softplus.Call(x, beta, threshold);
    public static Tensor softmax(Tensor x, long dim) => x.softmax(dim);
    public static Tensor log_softmax(Tensor x, long dim) => x.log_softmax(dim);
    public static Tensor one_hot(Tensor x, long num_classes = -1) => A.one_hot.Call(x, num_classes);

    // ---------------------------------------------------------------- autograd and runtime

    /// <summary><c>using (torch.no_grad()) { ... }</c>: no autograd recording on this thread.</summary>
    public static NoGradGuard no_grad() => new(false);
    /// <summary>Re-enables recording inside a no_grad block.</summary>
    public static NoGradGuard enable_grad() => new(true);
    /// <summary><c>using (torch.inference_mode()) { ... }</c>: faster than no_grad for pure evaluation.</summary>
    public static InferenceModeGuard inference_mode(bool enabled = true) => new(enabled);
    public static bool is_grad_enabled() => Shim.cxr_grad_is_enabled() != 0;
    public static bool is_inference_mode_enabled() => Shim.cxr_inference_mode_is_enabled() != 0;

    /// <summary>Opens a dispose scope on this thread (see <see cref="DisposeScope"/>).</summary>
    public static DisposeScope NewDisposeScope() => new();

    /// <summary>Gradients of <paramref name="outputs"/> with respect to <paramref name="inputs"/>
    /// (torch.autograd.grad); null entries for inputs that do not influence the outputs.</summary>
    public static unsafe Tensor?[] grad(Tensor[] outputs, Tensor[] inputs, Tensor?[]? grad_outputs = null, bool retain_graph = false, bool create_graph = false)
    {
        var outs = outputs.Select(t => t.Handle).ToArray();
        var gouts = (grad_outputs ?? new Tensor?[outputs.Length]).Select(t => t?.Handle ?? IntPtr.Zero).ToArray();
        var ins = inputs.Select(t => t.Handle).ToArray();
        var result = new IntPtr[inputs.Length];
        fixed (IntPtr* o = outs, g = gouts, i = ins, r = result)
            Shim.Check(Shim.cxr_autograd_grad(o, g, outs.Length, i, ins.Length, retain_graph ? 1 : 0, create_graph ? 1 : 0, r));
        GC.KeepAlive(outputs); GC.KeepAlive(inputs); GC.KeepAlive(grad_outputs);
        return result.Select(h => h == IntPtr.Zero ? null : new Tensor(h)).ToArray();
    }

    /// <summary>Seeds libtorch's default CPU (and CUDA) generators.</summary>
    public static void manual_seed(ulong seed) { TorchRuntime.EnsureInitialized(); Shim.Check(Shim.cxr_manual_seed(seed)); }

    public static bool cuda_is_available() => Shim.Check(Shim.cxr_cuda_is_available()) != 0;

    /// <summary>Native tensors alive in the process.</summary>
    public static long LiveTensorCount => Tensor.LiveCount;
}
