using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using CxrLab.Interop;

namespace CxrLab.Torch;

/// <summary>Owns one native libtorch tensor handle, released on dispose or by the finalizer.</summary>
internal sealed class TensorHandle : SafeHandle
{
    public TensorHandle(IntPtr handle) : base(IntPtr.Zero, ownsHandle: true) => SetHandle(handle);
    public override bool IsInvalid => handle == IntPtr.Zero;
    protected override bool ReleaseHandle() { Shim.cxr_tensor_free(handle); return true; }
}

/// <summary>A libtorch tensor. Method names follow PyTorch (<c>view</c>, <c>sum</c>, <c>softmax</c>) so
/// ports stay mechanical. Disposing releases its native memory at once; a disposed tensor throws
/// <see cref="ObjectDisposedException"/> when used. Tensors created while a <see cref="DisposeScope"/>
/// is open on this thread are disposed with that scope unless moved out.</summary>
public sealed partial class Tensor : IDisposable
{
    readonly TensorHandle handle;
    internal DisposeScope? Scope;

    internal Tensor(IntPtr native)
    {
        handle = new TensorHandle(Shim.CheckHandle(native));
        if (DisposeScope.Current is { } scope) { Scope = scope; scope.Attach(this); }
    }

    internal IntPtr Handle
    {
        get
        {
            ObjectDisposedException.ThrowIf(handle.IsClosed, this);
            return handle.DangerousGetHandle();
        }
    }

    /// <summary>True once disposed (directly or by its scope).</summary>
    public bool IsDisposed => handle.IsClosed;

    /// <summary>Native tensor handles alive in this process (all threads); flat across a scoped loop.</summary>
    public static long LiveCount => Shim.cxr_tensor_live_count();

    public void Dispose()
    {
        if (Scope is { } s) { Scope = null; s.Forget(this); }
        handle.Dispose();
    }

    /// <summary>Moves this tensor out of its dispose scope into the enclosing one (or none).</summary>
    public Tensor MoveToOuterScope() => Scope is { } s ? s.MoveToOuter(this) : this;

    /// <summary>Removes this tensor from any dispose scope; the caller owns it.</summary>
    public Tensor DetachFromDisposeScope() => Scope is { } s ? s.Detach(this) : this;

    // ---------------------------------------------------------------- creation from host memory

    /// <summary>Copies <paramref name="values"/> (row-major) into a new CPU tensor of the given shape
    /// (default: 1-D of the values' length).</summary>
    public static unsafe Tensor From<T>(ReadOnlySpan<T> values, params long[] shape) where T : unmanaged
    {
        if (shape.Length == 0) shape = [values.Length];
        fixed (T* data = values) return FromRaw(data, values.Length * (long)sizeof(T), ScalarTypes.Of<T>(), shape);
    }

    public static Tensor From<T>(T[] values, params long[] shape) where T : unmanaged => From((ReadOnlySpan<T>)values, shape);

    /// <summary>A 0-dimensional tensor holding one value.</summary>
    public static unsafe Tensor Scalar<T>(T value) where T : unmanaged => FromRaw(&value, sizeof(T), ScalarTypes.Of<T>(), []);

    /// <summary>Creates a CPU tensor from contiguous row-major little-endian bytes (the checkpoint
    /// readers' <c>StoredTensor</c> layout).</summary>
    public static unsafe Tensor FromBytes(ReadOnlySpan<byte> data, ScalarType dtype, params long[] shape)
    {
        fixed (byte* p = data) return FromRaw(p, data.Length, dtype, shape);
    }

    static unsafe Tensor FromRaw(void* data, long bytes, ScalarType dtype, long[] shape)
    {
        TorchRuntime.EnsureInitialized();
        long count = 1;
        foreach (var d in shape)
        {
            if (d < 0) throw new ArgumentException($"shape [{string.Join(", ", shape)}] has a negative dimension", nameof(shape));
            count *= d;
        }
        var size = dtype.ElementSize();
        if (count * size != bytes)
            throw new ArgumentException($"shape [{string.Join(", ", shape)}] holds {count} values but {bytes / size} were given", nameof(shape));
        fixed (long* dims = shape)
            return new Tensor(Shim.cxr_tensor_from_buffer(data, (int)dtype, dims, shape.Length));
    }

    // ---------------------------------------------------------------- metadata

    public unsafe long[] Shape
    {
        get
        {
            var shape = new long[Shim.Check(Shim.cxr_tensor_ndim(Handle))];
            fixed (long* p = shape) Shim.Check(Shim.cxr_tensor_shape(Handle, p));
            return shape;
        }
    }

    /// <summary>PyTorch spelling of <see cref="Shape"/>.</summary>
    public long[] shape => Shape;

    public unsafe long[] Strides
    {
        get
        {
            var strides = new long[Dim];
            fixed (long* p = strides) Shim.Check(Shim.cxr_tensor_strides(Handle, p));
            return strides;
        }
    }

    public int Dim => Shim.Check(Shim.cxr_tensor_ndim(Handle));
    public int dim() => Dim;

    /// <summary>Size of dimension <paramref name="d"/> (negative counts from the end).</summary>
    public long size(int d)
    {
        var s = Shape;
        var k = d < 0 ? d + s.Length : d;
        if (k < 0 || k >= s.Length) throw new ArgumentOutOfRangeException(nameof(d), $"dimension {d} out of range for a {s.Length}-D tensor");
        return s[k];
    }

    public ScalarType DType => (ScalarType)Shim.Check(Shim.cxr_tensor_dtype(Handle));
    public ScalarType dtype => DType;

    public long NumberOfElements => Shim.Check(Shim.cxr_tensor_numel(Handle));
    public long numel() => NumberOfElements;

    public unsafe Device device
    {
        get
        {
            int index;
            var type = Shim.Check(Shim.cxr_tensor_device(Handle, &index));
            return new Device((DeviceType)type, index);
        }
    }

    public bool is_contiguous() => Shim.Check(Shim.cxr_tensor_is_contiguous(Handle)) != 0;

    /// <summary>Address of the first element (CPU, contiguous use only; valid while this tensor lives).</summary>
    public IntPtr DataPointer => Shim.CheckHandle(Shim.cxr_tensor_data_ptr(Handle));

    // ---------------------------------------------------------------- autograd

    /// <summary>Whether autograd records operations on this tensor.</summary>
    public bool requires_grad
    {
        get => Shim.Check(Shim.cxr_tensor_requires_grad(Handle)) != 0;
        set => Shim.Check(Shim.cxr_tensor_set_requires_grad(Handle, value ? 1 : 0));
    }

    public Tensor requires_grad_(bool value = true) { requires_grad = value; return this; }

    public bool is_leaf => Shim.Check(Shim.cxr_tensor_is_leaf(Handle)) != 0;

    public void retain_grad() => Shim.Check(Shim.cxr_tensor_retain_grad(Handle));

    /// <summary>The accumulated gradient (a new handle each read; dispose it or let a scope do so),
    /// or null. Setting null clears it like <c>p.grad = None</c>.</summary>
    public unsafe Tensor? grad
    {
        get
        {
            IntPtr g;
            return Shim.Check(Shim.cxr_tensor_grad(Handle, &g)) == 0 ? null : new Tensor(g);
        }
        set
        {
            Shim.Check(Shim.cxr_tensor_set_grad(Handle, value?.Handle ?? IntPtr.Zero));
            GC.KeepAlive(value);
        }
    }

    /// <summary>Backpropagates from this tensor; <paramref name="gradient"/> is required unless it is a scalar.</summary>
    public void backward(Tensor? gradient = null, bool retain_graph = false, bool create_graph = false)
    {
        Shim.Check(Shim.cxr_tensor_backward(Handle, gradient?.Handle ?? IntPtr.Zero, retain_graph ? 1 : 0, create_graph ? 1 : 0));
        GC.KeepAlive(gradient);
    }

    // ---------------------------------------------------------------- host copies

    /// <summary>Copies the values to a new array; <typeparamref name="T"/> must match <see cref="DType"/>.</summary>
    public unsafe T[] ToArray<T>() where T : unmanaged
    {
        var expected = ScalarTypes.Of<T>();
        if (expected != DType) throw new InvalidOperationException($"tensor holds {DType}, not {expected}; convert it first (t.to(ScalarType.{expected}))");
        var result = new T[NumberOfElements];
        fixed (T* p = result) Shim.Check(Shim.cxr_tensor_copy_to(Handle, p, (long)result.Length * sizeof(T)));
        return result;
    }

    /// <summary>Contiguous row-major little-endian bytes of the values (for checkpoint writers).</summary>
    public unsafe byte[] ToBytes()
    {
        var result = new byte[NumberOfElements * DType.ElementSize()];
        fixed (byte* p = result) Shim.Check(Shim.cxr_tensor_copy_to(Handle, p, result.Length));
        return result;
    }

    /// <summary>The single value of a one-element tensor, converted to <typeparamref name="T"/>.</summary>
    public T item<T>() where T : unmanaged
    {
        if (NumberOfElements != 1) throw new InvalidOperationException($"item() needs exactly one element, the tensor has shape [{string.Join(", ", Shape)}]");
        var target = ScalarTypes.Of<T>();
        if (target == DType) return ToArray<T>()[0];
        using var converted = to(target);
        return converted.ToArray<T>()[0];
    }

    /// <summary>Shape, dtype, device and up to <paramref name="maxValues"/> leading values.</summary>
    public string ToString(int maxValues)
    {
        if (handle.IsClosed) return "Tensor(disposed)";
        var sb = new StringBuilder("Tensor(shape=[").Append(string.Join(", ", Shape)).Append("], dtype=").Append(DType);
        var dev = device;
        if (dev.Type != DeviceType.CPU) sb.Append(", device=").Append(dev);
        if (requires_grad) sb.Append(", requires_grad");
        var n = NumberOfElements;
        if (maxValues > 0 && n > 0)
        {
            using var flat = detach().reshape(-1);
            using var head = flat.slice(0, 0, Math.Min(n, maxValues)).to(ScalarType.Float64);
            var values = head.ToArray<double>();
            sb.Append(", values=[").Append(string.Join(", ", values.Select(v => v.ToString("G6", CultureInfo.InvariantCulture))));
            if (n > maxValues) sb.Append(", …");
            sb.Append(']');
        }
        return sb.Append(')').ToString();
    }

    public override string ToString() => ToString(6);
}
