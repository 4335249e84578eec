using System.Runtime.InteropServices;
using CxrLab.Interop;

namespace CxrLab.Torch;

/// <summary>Owns one native libtorch tensor handle, released on dispose or by the finalizer.</summary>
internal sealed class TensorHandle : SafeHandle
{
    public TensorHandle(IntPtr handle) : base(IntPtr.Zero, ownsHandle: true) => SetHandle(handle);
    public override bool IsInvalid => handle == IntPtr.Zero;
    protected override bool ReleaseHandle() { Shim.cxr_tensor_free(handle); return true; }
}

/// <summary>A libtorch tensor. Disposing releases its native memory at once; a disposed tensor
/// throws <see cref="ObjectDisposedException"/> when used.</summary>
public sealed class Tensor : IDisposable
{
    readonly TensorHandle handle;

    internal Tensor(IntPtr native)
    {
        handle = new TensorHandle(Shim.CheckHandle(native));
    }

    internal IntPtr Handle
    {
        get
        {
            ObjectDisposedException.ThrowIf(handle.IsClosed, this);
            return handle.DangerousGetHandle();
        }
    }

    /// <summary>Copies <paramref name="values"/> (row-major) into a new CPU tensor of the given shape.</summary>
    public static unsafe Tensor From<T>(ReadOnlySpan<T> values, params long[] shape) where T : unmanaged
    {
        TorchRuntime.EnsureInitialized();
        if (shape.Length == 0) shape = [values.Length];
        long count = 1;
        foreach (var d in shape)
        {
            if (d < 0) throw new ArgumentException($"shape [{string.Join(", ", shape)}] has a negative dimension", nameof(shape));
            count *= d;
        }
        if (count != values.Length)
            throw new ArgumentException($"shape [{string.Join(", ", shape)}] holds {count} values but {values.Length} were given", nameof(shape));
        fixed (T* data = values)
        fixed (long* dims = shape)
            return new Tensor(Shim.cxr_tensor_from_buffer(data, (int)ScalarTypes.Of<T>(), dims, shape.Length));
    }

    public static Tensor From<T>(T[] values, params long[] shape) where T : unmanaged => From((ReadOnlySpan<T>)values, shape);

    public unsafe long[] Shape
    {
        get
        {
            var shape = new long[Shim.Check(Shim.cxr_tensor_ndim(Handle))];
            fixed (long* p = shape) Shim.Check(Shim.cxr_tensor_shape(Handle, p));
            return shape;
        }
    }

    public ScalarType DType => (ScalarType)Shim.Check(Shim.cxr_tensor_dtype(Handle));

    public long NumberOfElements => Shim.Check(Shim.cxr_tensor_numel(Handle));

    /// <summary>Copies the values to a new array; <typeparamref name="T"/> must match <see cref="DType"/>.</summary>
    public unsafe T[] ToArray<T>() where T : unmanaged
    {
        var expected = ScalarTypes.Of<T>();
        if (expected != DType) throw new InvalidOperationException($"tensor holds {DType}, not {expected}; convert it first");
        var result = new T[NumberOfElements];
        fixed (T* p = result) Shim.Check(Shim.cxr_tensor_copy_to(Handle, p, (long)result.Length * sizeof(T)));
        return result;
    }

    /// <summary><c>a + alpha * b</c> with broadcasting (aten::add).</summary>
    public Tensor Add(Tensor other, double alpha = 1) => new(Shim.cxr_tensor_add(Handle, other.Handle, alpha));

    public static Tensor operator +(Tensor a, Tensor b) => a.Add(b);

    public void Dispose() => handle.Dispose();

    public override string ToString() =>
        handle.IsClosed ? "Tensor(disposed)" : $"Tensor(shape=[{string.Join(", ", Shape)}], dtype={DType})";
}
