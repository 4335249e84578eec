namespace CxrLab.Torch;

// Tensor methods, each one boxed dispatcher call. Argument lists follow the aten schemas exactly
// (every argument passed); defaults follow PyTorch's Python API.
public sealed partial class Tensor
{
    internal static class A
    {
        public static readonly Op add = new("add", "Tensor"), add_s = new("add", "Scalar"), add_ = new("add_", "Tensor"), add_s_ = new("add_", "Scalar");
        public static readonly Op sub = new("sub", "Tensor"), sub_s = new("sub", "Scalar"), sub_ = new("sub_", "Tensor"), sub_s_ = new("sub_", "Scalar");
        public static readonly Op rsub_s = new("rsub", "Scalar");
        public static readonly Op mul = new("mul", "Tensor"), mul_s = new("mul", "Scalar"), mul_ = new("mul_", "Tensor"), mul_s_ = new("mul_", "Scalar");
        public static readonly Op div = new("div", "Tensor"), div_s = new("div", "Scalar"), div_ = new("div_", "Tensor"), div_s_ = new("div_", "Scalar");
        public static readonly Op div_mode = new("div", "Tensor_mode");
        public static readonly Op neg = new("neg"), abs = new("abs"), exp = new("exp"), log = new("log"), log1p = new("log1p"), sqrt = new("sqrt"), rsqrt = new("rsqrt");
        public static readonly Op sigmoid = new("sigmoid"), tanh = new("tanh"), relu = new("relu"), floor = new("floor"), ceil = new("ceil"), round = new("round"), sign = new("sign");
        public static readonly Op reciprocal = new("reciprocal"), square = new("square"), erf = new("erf");
        public static readonly Op pow_s = new("pow", "Tensor_Scalar"), pow_t = new("pow", "Tensor_Tensor"), fmod = new("fmod", "Scalar"), remainder = new("remainder", "Scalar");
        public static readonly Op eq = new("eq", "Tensor"), eq_s = new("eq", "Scalar"), ne = new("ne", "Tensor"), ne_s = new("ne", "Scalar");
        public static readonly Op lt = new("lt", "Tensor"), lt_s = new("lt", "Scalar"), le = new("le", "Tensor"), le_s = new("le", "Scalar");
        public static readonly Op gt = new("gt", "Tensor"), gt_s = new("gt", "Scalar"), ge = new("ge", "Tensor"), ge_s = new("ge", "Scalar");
        public static readonly Op logical_and = new("logical_and"), logical_or = new("logical_or"), logical_not = new("logical_not"), logical_xor = new("logical_xor");
        public static readonly Op isnan = new("isnan"), isfinite = new("isfinite");
        public static readonly Op maximum = new("maximum"), minimum = new("minimum");
        public static readonly Op sum = new("sum"), sum_dim = new("sum", "dim_IntList"), mean = new("mean"), mean_dim = new("mean", "dim");
        public static readonly Op max = new("max"), max_dim = new("max", "dim"), min = new("min"), min_dim = new("min", "dim"), amax = new("amax"), amin = new("amin");
        public static readonly Op argmax = new("argmax"), argmin = new("argmin"), all = new("all"), any = new("any"), all_dim = new("all", "dim"), any_dim = new("any", "dim");
        public static readonly Op std_dim = new("std", "dim"), var_dim = new("var", "dim"), prod = new("prod"), cumsum = new("cumsum"), norm_dim = new("norm", "ScalarOpt_dim");
        public static readonly Op view = new("view"), reshape = new("reshape"), permute = new("permute"), transpose = new("transpose", "int"), flatten = new("flatten", "using_ints");
        public static readonly Op squeeze = new("squeeze"), squeeze_dim = new("squeeze", "dim"), unsqueeze = new("unsqueeze"), expand = new("expand"), expand_as = new("expand_as");
        public static readonly Op contiguous = new("contiguous"), clone = new("clone"), detach = new("detach"), t = new("t"), narrow = new("narrow"), select = new("select", "int");
        public static readonly Op slice = new("slice", "Tensor"), unbind = new("unbind", "int"), flip = new("flip"), repeat = new("repeat"), roll = new("roll");
        public static readonly Op split = new("split", "Tensor"), split_sizes = new("split_with_sizes"), chunk = new("chunk");
        public static readonly Op gather = new("gather"), scatter = new("scatter", "src"), scatter_v = new("scatter", "value"), scatter_add = new("scatter_add"), index_select = new("index_select");
        public static readonly Op index = new("index", "Tensor"), index_put_ = new("index_put_"), masked_fill = new("masked_fill", "Scalar"), masked_fill_ = new("masked_fill_", "Scalar");
        public static readonly Op masked_select = new("masked_select"), nonzero = new("nonzero"), index_add = new("index_add");
        public static readonly Op topk = new("topk"), sort = new("sort", "stable"), argsort = new("argsort");
        public static readonly Op clamp = new("clamp"), clamp_t = new("clamp", "Tensor"), clamp_ = new("clamp_"), clamp_min = new("clamp_min"), clamp_max = new("clamp_max");
        public static readonly Op softmax = new("softmax", "int"), log_softmax = new("log_softmax", "int");
        public static readonly Op matmul = new("matmul"), mm = new("mm"), bmm = new("bmm");
        public static readonly Op to_dtype = new("to", "dtype"), to_device = new("to", "device");
        public static readonly Op copy_ = new("copy_"), fill_ = new("fill_", "Scalar"), zero_ = new("zero_"), normal_ = new("normal_"), uniform_ = new("uniform_");
        public static readonly Op addcmul_ = new("addcmul_"), addcdiv_ = new("addcdiv_"), lerp_ = new("lerp_", "Scalar"), sqrt_ = new("sqrt_"), exp_ = new("exp_"), relu_ = new("relu_");
        public static readonly Op bernoulli_ = new("bernoulli_", "float");
        public static readonly Op type_as = new("type_as"), zeros_like = new("zeros_like"), ones_like = new("ones_like"), full_like = new("full_like"), empty_like = new("empty_like");
        public static readonly Op rand_like = new("rand_like"), randn_like = new("randn_like");
    }

    static ScalarType? NoDType => null;

    // ---------------------------------------------------------------- arithmetic

    public Tensor add(Tensor other, Scalar? alpha = null) => A.add.Call(this, other, alpha ?? 1);
    public Tensor add(Scalar other, Scalar? alpha = null) => A.add_s.Call(this, other, alpha ?? 1);
    /// <summary><c>a + alpha * b</c> with broadcasting (aten::add).</summary>
    public Tensor Add(Tensor other, double alpha = 1) => A.add.Call(this, other, AlphaFor(other, alpha));
    public Tensor sub(Tensor other, Scalar? alpha = null) => A.sub.Call(this, other, alpha ?? 1);
    public Tensor sub(Scalar other) => A.sub_s.Call(this, other, 1);
    public Tensor mul(Tensor other) => Binary(2, this, other);
    public Tensor mul(Scalar other) => A.mul_s.Call(this, other);
    public Tensor div(Tensor other) => A.div.Call(this, other);
    public Tensor div(Scalar other) => A.div_s.Call(this, other);
    /// <summary>Division with rounding: "trunc" or "floor" (null = true division).</summary>
    public Tensor div(Tensor other, string? rounding_mode) => A.div_mode.Call(this, other, rounding_mode);
    public Tensor neg() => A.neg.Call(this);
    public Tensor pow(Scalar exponent) => A.pow_s.Call(this, exponent);
    public Tensor pow(Tensor exponent) => A.pow_t.Call(this, exponent);
    public Tensor fmod(Scalar other) => A.fmod.Call(this, other);
    public Tensor remainder(Scalar other) => A.remainder.Call(this, other);

    // Integer tensors only accept an integral alpha: a whole-number double is passed as an int.
    Scalar AlphaFor(Tensor other, double alpha)
    {
        if (alpha == Math.Truncate(alpha) && !DType.IsFloating() && !other.DType.IsFloating()) return (long)alpha;
        return alpha;
    }

    // The arithmetic operators take a direct (unboxed) native path: they are the hottest calls in
    // training code, and skipping the boxed stack keeps per-op overhead at or below PyTorch's.
    static Tensor Binary(int op, Tensor a, Tensor b)
    {
        var r = new Tensor(CxrLab.Interop.Shim.cxr_tensor_binary(op, a.Handle, b.Handle));
        GC.KeepAlive(a); GC.KeepAlive(b);
        return r;
    }

    static Tensor Binary(int op, Tensor a, Scalar b)
    {
        if (b.IsBool) return op switch { 0 => A.add_s.Call(a, b, 1), 1 => A.sub_s.Call(a, b, 1), 2 => A.mul_s.Call(a, b), _ => A.div_s.Call(a, b) };
        var r = new Tensor(CxrLab.Interop.Shim.cxr_tensor_binary_scalar(op, a.Handle, b.IsFloating ? b.Double : b.Long, b.IsFloating ? 0 : 1));
        GC.KeepAlive(a);
        return r;
    }

    public static Tensor operator +(Tensor a, Tensor b) => Binary(0, a, b);
    public static Tensor operator +(Tensor a, Scalar b) => Binary(0, a, b);
    public static Tensor operator +(Scalar a, Tensor b) => Binary(0, b, a);
    public static Tensor operator -(Tensor a, Tensor b) => Binary(1, a, b);
    public static Tensor operator -(Tensor a, Scalar b) => Binary(1, a, b);
    public static Tensor operator -(Scalar a, Tensor b) => A.rsub_s.Call(b, a, 1);
    public static Tensor operator *(Tensor a, Tensor b) => Binary(2, a, b);
    public static Tensor operator *(Tensor a, Scalar b) => Binary(2, a, b);
    public static Tensor operator *(Scalar a, Tensor b) => Binary(2, b, a);
    public static Tensor operator /(Tensor a, Tensor b) => Binary(3, a, b);
    public static Tensor operator /(Tensor a, Scalar b) => Binary(3, a, b);
    public static Tensor operator /(Scalar a, Tensor b) { using var r = A.reciprocal.Call(b); return A.mul_s.Call(r, a); }
    public static Tensor operator -(Tensor a) => A.neg.Call(a);
    public static Tensor operator &(Tensor a, Tensor b) => A.logical_and.Call(a, b);
    public static Tensor operator |(Tensor a, Tensor b) => A.logical_or.Call(a, b);
    public static Tensor operator ^(Tensor a, Tensor b) => A.logical_xor.Call(a, b);
    public static Tensor operator ~(Tensor a) => A.logical_not.Call(a);
    public static Tensor operator <(Tensor a, Tensor b) => A.lt.Call(a, b);
    public static Tensor operator >(Tensor a, Tensor b) => A.gt.Call(a, b);
    public static Tensor operator <=(Tensor a, Tensor b) => A.le.Call(a, b);
    public static Tensor operator >=(Tensor a, Tensor b) => A.ge.Call(a, b);
    public static Tensor operator <(Tensor a, Scalar b) => A.lt_s.Call(a, b);
    public static Tensor operator >(Tensor a, Scalar b) => A.gt_s.Call(a, b);
    public static Tensor operator <=(Tensor a, Scalar b) => A.le_s.Call(a, b);
    public static Tensor operator >=(Tensor a, Scalar b) => A.ge_s.Call(a, b);

    // ---------------------------------------------------------------- comparisons and logic

    public Tensor eq(Tensor other) => A.eq.Call(this, other);
    public Tensor eq(Scalar other) => A.eq_s.Call(this, other);
    public Tensor ne(Tensor other) => A.ne.Call(this, other);
    public Tensor ne(Scalar other) => A.ne_s.Call(this, other);
    public Tensor lt(Tensor other) => A.lt.Call(this, other);
    public Tensor lt(Scalar other) => A.lt_s.Call(this, other);
    public Tensor le(Tensor other) => A.le.Call(this, other);
    public Tensor le(Scalar other) => A.le_s.Call(this, other);
    public Tensor gt(Tensor other) => A.gt.Call(this, other);
    public Tensor gt(Scalar other) => A.gt_s.Call(this, other);
    public Tensor ge(Tensor other) => A.ge.Call(this, other);
    public Tensor ge(Scalar other) => A.ge_s.Call(this, other);
    public Tensor logical_and(Tensor other) => A.logical_and.Call(this, other);
    public Tensor logical_or(Tensor other) => A.logical_or.Call(this, other);
    public Tensor logical_not() => A.logical_not.Call(this);
    public Tensor isnan() => A.isnan.Call(this);
    public Tensor isfinite() => A.isfinite.Call(this);
    public Tensor maximum(Tensor other) => A.maximum.Call(this, other);
    public Tensor minimum(Tensor other) => A.minimum.Call(this, other);

    // ---------------------------------------------------------------- elementwise math

    public Tensor abs() => A.abs.Call(this);
    public Tensor exp() => A.exp.Call(this);
    public Tensor log() => A.log.Call(this);
    public Tensor log1p() => A.log1p.Call(this);
    public Tensor sqrt() => A.sqrt.Call(this);
    public Tensor rsqrt() => A.rsqrt.Call(this);
    public Tensor sigmoid() => A.sigmoid.Call(this);
    public Tensor tanh() => A.tanh.Call(this);
    public Tensor relu() => A.relu.Call(this);
    public Tensor floor() => A.floor.Call(this);
    public Tensor ceil() => A.ceil.Call(this);
    public Tensor round() => A.round.Call(this);
    public Tensor sign() => A.sign.Call(this);
    public Tensor reciprocal() => A.reciprocal.Call(this);
    public Tensor square() => A.square.Call(this);
    public Tensor erf() => A.erf.Call(this);
    public Tensor clamp(Scalar? min = null, Scalar? max = null) => A.clamp.Call(this, min, max);
    public Tensor clamp(Tensor? min, Tensor? max) => A.clamp_t.Call(this, min, max);
    public Tensor clamp_min(Scalar min) => A.clamp_min.Call(this, min);
    public Tensor clamp_max(Scalar max) => A.clamp_max.Call(this, max);
    public Tensor softmax(long dim, ScalarType? dtype = null) => A.softmax.Call(this, dim, dtype);
    public Tensor log_softmax(long dim, ScalarType? dtype = null) => A.log_softmax.Call(this, dim, dtype);
    public Tensor matmul(Tensor other) => A.matmul.Call(this, other);
    public Tensor mm(Tensor other) => A.mm.Call(this, other);
    public Tensor bmm(Tensor other) => A.bmm.Call(this, other);

    // ---------------------------------------------------------------- reductions

    public Tensor sum(ScalarType? dtype = null) => A.sum.Call(this, dtype);
    public Tensor sum(long[] dim, bool keepdim = false, ScalarType? dtype = null) => A.sum_dim.Call(this, dim, keepdim, dtype);
    public Tensor sum(long dim, bool keepdim = false) => A.sum_dim.Call(this, new[] { dim }, keepdim, NoDType);
    public Tensor mean(ScalarType? dtype = null) => A.mean.Call(this, dtype);
    public Tensor mean(long[] dim, bool keepdim = false, ScalarType? dtype = null) => A.mean_dim.Call(this, dim, keepdim, dtype);
    public Tensor mean(long dim, bool keepdim = false) => A.mean_dim.Call(this, new[] { dim }, keepdim, NoDType);
    public Tensor max() => A.max.Call(this);
    public Tensor min() => A.min.Call(this);
    /// <summary>Maximum along <paramref name="dim"/>: (values, indices).</summary>
    public (Tensor values, Tensor indices) max(long dim, bool keepdim = false) { var r = A.max_dim.CallMany(this, dim, keepdim); return (r[0], r[1]); }
    public (Tensor values, Tensor indices) min(long dim, bool keepdim = false) { var r = A.min_dim.CallMany(this, dim, keepdim); return (r[0], r[1]); }
    public Tensor amax(long[] dim, bool keepdim = false) => A.amax.Call(this, dim, keepdim);
    public Tensor amin(long[] dim, bool keepdim = false) => A.amin.Call(this, dim, keepdim);
    public Tensor argmax(long? dim = null, bool keepdim = false) => A.argmax.Call(this, Arg.Opt(dim), keepdim);
    public Tensor argmin(long? dim = null, bool keepdim = false) => A.argmin.Call(this, Arg.Opt(dim), keepdim);
    public Tensor all() => A.all.Call(this);
    public Tensor any() => A.any.Call(this);
    public Tensor all(long dim, bool keepdim = false) => A.all_dim.Call(this, dim, keepdim);
    public Tensor any(long dim, bool keepdim = false) => A.any_dim.Call(this, dim, keepdim);
    public Tensor std(long[]? dim = null, bool unbiased = true, bool keepdim = false) => A.std_dim.Call(this, dim, unbiased, keepdim);
    public Tensor var(long[]? dim = null, bool unbiased = true, bool keepdim = false) => A.var_dim.Call(this, dim, unbiased, keepdim);
    public Tensor prod(ScalarType? dtype = null) => A.prod.Call(this, dtype);
    public Tensor cumsum(long dim, ScalarType? dtype = null) => A.cumsum.Call(this, dim, dtype);
    /// <summary>p-norm over <paramref name="dim"/>.</summary>
    public Tensor norm(double p, long[] dim, bool keepdim = false) => A.norm_dim.Call(this, (Scalar)p, dim, keepdim);

    // ---------------------------------------------------------------- views and shape

    public Tensor view(params long[] shape) => A.view.Call(this, shape);
    public Tensor reshape(params long[] shape) => A.reshape.Call(this, shape);
    public Tensor permute(params long[] dims) => A.permute.Call(this, dims);
    public Tensor transpose(long dim0, long dim1) => A.transpose.Call(this, dim0, dim1);
    public Tensor t() => A.t.Call(this);
    public Tensor flatten(long start_dim = 0, long end_dim = -1) => A.flatten.Call(this, start_dim, end_dim);
    public Tensor squeeze() => A.squeeze.Call(this);
    public Tensor squeeze(long dim) => A.squeeze_dim.Call(this, dim);
    public Tensor unsqueeze(long dim) => A.unsqueeze.Call(this, dim);
    public Tensor expand(params long[] size) => A.expand.Call(this, size, false);
    public Tensor expand_as(Tensor other) => A.expand_as.Call(this, other);
    public Tensor contiguous() => A.contiguous.Call(this, MemoryFormat.Contiguous);
    public Tensor clone() => A.clone.Call(this, (MemoryFormat?)null);
    /// <summary>A second handle to this same tensor (same storage and autograd identity); dispose each independently.</summary>
    public Tensor alias() => new(CxrLab.Interop.Shim.cxr_tensor_alias(Handle));
    /// <summary>Same data, cut from the autograd graph.</summary>
    public Tensor detach() => A.detach.Call(this);
    public Tensor narrow(long dim, long start, long length) => A.narrow.Call(this, dim, start, length);
    public Tensor select(long dim, long index) => A.select.Call(this, dim, index);
    /// <summary>Elements <paramref name="start"/> ≤ i &lt; <paramref name="end"/> (step) along <paramref name="dim"/>; null = open end.</summary>
    public Tensor slice(long dim, long? start, long? end, long step = 1) => A.slice.Call(this, dim, Arg.Opt(start), Arg.Opt(end), step);
    public Tensor[] unbind(long dim = 0) => A.unbind.CallList(this, dim);
    public Tensor flip(params long[] dims) => A.flip.Call(this, dims);
    public Tensor repeat(params long[] repeats) => A.repeat.Call(this, repeats);
    public Tensor roll(long[] shifts, long[] dims) => A.roll.Call(this, shifts, dims);
    public Tensor[] split(long split_size, long dim = 0) => A.split.CallList(this, split_size, dim);
    public Tensor[] split(long[] split_sizes, long dim = 0) => A.split_sizes.CallList(this, split_sizes, dim);
    public Tensor[] chunk(long chunks, long dim = 0) => A.chunk.CallList(this, chunks, dim);

    // ---------------------------------------------------------------- gather / scatter / index

    public Tensor gather(long dim, Tensor index) => A.gather.Call(this, dim, index, false);
    public Tensor scatter(long dim, Tensor index, Tensor src) => A.scatter.Call(this, dim, index, src);
    public Tensor scatter(long dim, Tensor index, Scalar value) => A.scatter_v.Call(this, dim, index, value);
    public Tensor scatter_add(long dim, Tensor index, Tensor src) => A.scatter_add.Call(this, dim, index, src);
    public Tensor index_select(long dim, Tensor index) => A.index_select.Call(this, dim, index);
    public Tensor index_add(long dim, Tensor index, Tensor source, Scalar? alpha = null) => A.index_add.Call(this, dim, index, source, alpha ?? 1);
    /// <summary>Advanced indexing <c>t[i0, i1, …]</c> with index tensors (long or bool); null = full slice.</summary>
    public Tensor index(params Tensor?[] indices) => A.index.Call(this, Arg.OptTensors(indices));
    /// <summary><c>t[indices] = values</c> in place (accumulate adds instead).</summary>
    public Tensor index_put_(Tensor?[] indices, Tensor values, bool accumulate = false) { A.index_put_.CallInPlace(this, Arg.OptTensors(indices), values, accumulate); return this; }
    public Tensor masked_fill(Tensor mask, Scalar value) => A.masked_fill.Call(this, mask, value);
    public Tensor masked_fill_(Tensor mask, Scalar value) { A.masked_fill_.CallInPlace(this, mask, value); return this; }
    public Tensor masked_select(Tensor mask) => A.masked_select.Call(this, mask);
    /// <summary>Indices of non-zero elements, shape [n, dim].</summary>
    public Tensor nonzero() => A.nonzero.Call(this);
    public (Tensor values, Tensor indices) topk(long k, long dim = -1, bool largest = true, bool sorted = true) { var r = A.topk.CallMany(this, k, dim, largest, sorted); return (r[0], r[1]); }
    public (Tensor values, Tensor indices) sort(long dim = -1, bool descending = false, bool stable = false) { var r = A.sort.CallMany(this, stable, dim, descending); return (r[0], r[1]); }
    public Tensor argsort(long dim = -1, bool descending = false) => A.argsort.Call(this, dim, descending);

    // ---------------------------------------------------------------- conversion

    public Tensor to(ScalarType dtype, bool copy = false) => A.to_dtype.Call(this, dtype, false, copy, (MemoryFormat?)null);
    public Tensor to(Device device, bool copy = false) => A.to_device.Call(this, device, DType, false, copy, (MemoryFormat?)null);
    public Tensor to(Device device, ScalarType dtype, bool copy = false) => A.to_device.Call(this, device, dtype, false, copy, (MemoryFormat?)null);
    public Tensor cpu() => to(Device.CPU);
    public Tensor cuda() => to(Device.CUDA);
    public Tensor type_as(Tensor other) => A.type_as.Call(this, other);

    // ---------------------------------------------------------------- in place (return this)

    public Tensor add_(Tensor other, Scalar? alpha = null) { A.add_.CallInPlace(this, other, alpha ?? 1); return this; }
    public Tensor add_(Scalar other) { A.add_s_.CallInPlace(this, other, 1); return this; }
    public Tensor sub_(Tensor other, Scalar? alpha = null) { A.sub_.CallInPlace(this, other, alpha ?? 1); return this; }
    public Tensor mul_(Tensor other) { A.mul_.CallInPlace(this, other); return this; }
    public Tensor mul_(Scalar other) { A.mul_s_.CallInPlace(this, other); return this; }
    public Tensor div_(Tensor other) { A.div_.CallInPlace(this, other); return this; }
    public Tensor div_(Scalar other) { A.div_s_.CallInPlace(this, other); return this; }
    public Tensor copy_(Tensor src) { A.copy_.CallInPlace(this, src, false); return this; }
    public Tensor fill_(Scalar value) { A.fill_.CallInPlace(this, value); return this; }
    public Tensor zero_() { A.zero_.CallInPlace(this); return this; }
    public Tensor clamp_(Scalar? min = null, Scalar? max = null) { A.clamp_.CallInPlace(this, min, max); return this; }
    public Tensor normal_(double mean = 0, double std = 1) { A.normal_.CallInPlace(this, mean, std, Arg.None); return this; }
    public Tensor uniform_(double from = 0, double to = 1) { A.uniform_.CallInPlace(this, from, to, Arg.None); return this; }
    public Tensor bernoulli_(double p) { A.bernoulli_.CallInPlace(this, p, Arg.None); return this; }
    public Tensor addcmul_(Tensor tensor1, Tensor tensor2, Scalar? value = null) { A.addcmul_.CallInPlace(this, tensor1, tensor2, value ?? 1); return this; }
    public Tensor addcdiv_(Tensor tensor1, Tensor tensor2, Scalar? value = null) { A.addcdiv_.CallInPlace(this, tensor1, tensor2, value ?? 1); return this; }
    public Tensor lerp_(Tensor end, Scalar weight) { A.lerp_.CallInPlace(this, end, weight); return this; }
    public Tensor sqrt_() { A.sqrt_.CallInPlace(this); return this; }
    public Tensor relu_() { A.relu_.CallInPlace(this); return this; }
}
