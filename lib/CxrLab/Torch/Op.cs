using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using CxrLab.Interop;

namespace CxrLab.Torch;

/// <summary>Memory layout requests (c10::MemoryFormat codes).</summary>
public enum MemoryFormat { Contiguous = 0, Preserve = 1, ChannelsLast = 2 }

/// <summary>One argument of a boxed dispatcher call. Converts implicitly from the C# value that
/// matches the schema type: <see cref="Tensor"/> (null = None), long/int (int, Scalar), double
/// (float, Scalar), bool, long[] (int[]), double[] (float[]), Tensor[] (Tensor[]),
/// <see cref="ScalarType"/>, <see cref="Device"/>, string (str).</summary>
public readonly struct Arg
{
    internal readonly ArgKind Kind;
    internal readonly long I;
    internal readonly double D;
    internal readonly object? Obj;

    Arg(ArgKind kind, long i = 0, double d = 0, object? obj = null) { Kind = kind; I = i; D = d; Obj = obj; }

    /// <summary>Python's <c>None</c> for an optional argument.</summary>
    public static readonly Arg None = new(ArgKind.None);

    public static implicit operator Arg(Tensor? t) => t is null ? None : new(ArgKind.Tensor, obj: t);
    public static implicit operator Arg(long v) => new(ArgKind.Int, i: v);
    public static implicit operator Arg(int v) => new(ArgKind.Int, i: v);
    public static implicit operator Arg(double v) => new(ArgKind.Double, d: v);
    public static implicit operator Arg(bool v) => new(ArgKind.Bool, i: v ? 1 : 0);
    public static implicit operator Arg(long[]? v) => v is null ? None : new(ArgKind.IntList, obj: v);
    public static implicit operator Arg(double[]? v) => v is null ? None : new(ArgKind.DoubleList, obj: v);
    public static implicit operator Arg(bool[]? v) => v is null ? None : new(ArgKind.BoolList, obj: v);
    public static implicit operator Arg(Tensor[]? v) => v is null ? None : new(ArgKind.TensorList, obj: v);
    public static implicit operator Arg(ScalarType v) => new(ArgKind.ScalarType, i: (long)v);
    public static implicit operator Arg(ScalarType? v) => v is { } s ? new(ArgKind.ScalarType, i: (long)s) : None;
    public static implicit operator Arg(Device v) => new(ArgKind.Device, i: (long)v.Type, d: v.Index);
    public static implicit operator Arg(Device? v) => v is { } d ? d : None;
    public static implicit operator Arg(string? v) => v is null ? None : new(ArgKind.String, obj: v);
    public static implicit operator Arg(MemoryFormat v) => new(ArgKind.MemoryFormat, i: (long)v);
    public static implicit operator Arg(MemoryFormat? v) => v is { } m ? m : None;
    public static implicit operator Arg(Scalar v) => v.IsFloating ? new(ArgKind.Double, d: v.Double) : v.IsBool ? new(ArgKind.Bool, i: v.Long) : new(ArgKind.Int, i: v.Long);
    public static implicit operator Arg(Scalar? v) => v is { } s ? s : None;

    /// <summary>An optional int (<c>int?</c> in a schema).</summary>
    public static Arg Opt(long? v) => v is { } x ? x : None;
    /// <summary>An optional float.</summary>
    public static Arg Opt(double? v) => v is { } x ? x : None;
    /// <summary>A <c>Tensor?[]</c> list (e.g. aten::index), nulls standing for None.</summary>
    public static Arg OptTensors(Tensor?[] v) => new(ArgKind.OptTensorList, obj: v);
}

/// <summary>A number passed where a schema says <c>Scalar</c>: integral, floating or boolean.</summary>
public readonly struct Scalar
{
    public readonly long Long;
    public readonly double Double;
    public readonly bool IsFloating;
    public readonly bool IsBool;
    Scalar(long l, double d, bool floating, bool isBool) { Long = l; Double = d; IsFloating = floating; IsBool = isBool; }
    public static implicit operator Scalar(long v) => new(v, v, false, false);
    public static implicit operator Scalar(int v) => new(v, v, false, false);
    public static implicit operator Scalar(double v) => new((long)v, v, true, false);
    public static implicit operator Scalar(float v) => new((long)v, v, true, false);
    public static implicit operator Scalar(bool v) => new(v ? 1 : 0, v ? 1 : 0, false, true);
    public override string ToString() => IsFloating ? Double.ToString("R") : IsBool ? (Long != 0).ToString() : Long.ToString();
}

/// <summary>A libtorch operator called through the dispatcher by name and overload, e.g.
/// <c>new Op("aten::add", "Tensor")</c>. The lookup happens once, on first call; keep instances in
/// static fields. Every schema argument must be passed, in schema order (defaults are not filled in).
/// Autograd, inference mode and device dispatch apply exactly as for a Python caller.</summary>
public sealed class Op
{
    readonly string name;
    readonly string overload;
    IntPtr handle;

    public Op(string name, string overload = "")
    {
        this.name = name.Contains("::") ? name : "aten::" + name;
        this.overload = overload;
    }

    /// <summary>"aten::add.Tensor".</summary>
    public string QualifiedName => overload.Length == 0 ? name : name + "." + overload;

    IntPtr Handle
    {
        get
        {
            if (handle != IntPtr.Zero) return handle;
            TorchRuntime.EnsureInitialized();
            var h = Shim.CheckHandle(Shim.cxr_op_find(name, overload));
            var previous = Interlocked.CompareExchange(ref handle, h, IntPtr.Zero);
            return previous == IntPtr.Zero ? h : previous; // the loser's handle is a harmless small leak
        }
    }

    /// <summary>The operator's schema as libtorch prints it.</summary>
    public string Schema
    {
        get
        {
            var length = Shim.Check(Shim.cxr_op_schema(Handle, null, 0));
            var buffer = new byte[length + 1];
            Shim.Check(Shim.cxr_op_schema(Handle, buffer, buffer.Length));
            return Encoding.UTF8.GetString(buffer, 0, (int)length);
        }
    }

    /// <summary>Calls an operator returning one tensor.</summary>
    public Tensor Call(params ReadOnlySpan<Arg> args)
    {
        Span<NativeArg> rets = stackalloc NativeArg[1];
        var n = Invoke(args, rets);
        if (n != 1 || rets[0].Kind != (int)ArgKind.Tensor)
        {
            ReleaseReturns(rets[..n]);
            throw new InvalidOperationException($"{QualifiedName} did not return exactly one tensor");
        }
        return new Tensor(rets[0].P);
    }

    /// <summary>Calls an in-place operator (schema returns <c>Tensor(a!)</c>); the returned alias is released.</summary>
    public void CallInPlace(params ReadOnlySpan<Arg> args)
    {
        Span<NativeArg> rets = stackalloc NativeArg[4];
        var n = Invoke(args, rets);
        ReleaseReturns(rets[..n]);
    }

    /// <summary>Calls an operator returning several tensors (e.g. values and indices).</summary>
    public Tensor[] CallMany(params ReadOnlySpan<Arg> args)
    {
        Span<NativeArg> rets = stackalloc NativeArg[8];
        var n = Invoke(args, rets);
        var result = new Tensor[n];
        for (var k = 0; k < n; k++)
        {
            if (rets[k].Kind != (int)ArgKind.Tensor)
            {
                ReleaseReturns(rets[k..n]);
                foreach (var t in result.AsSpan(0, k)) t.Dispose();
                throw new InvalidOperationException($"{QualifiedName} returned a non-tensor (or undefined) value at position {k}");
            }
            result[k] = new Tensor(rets[k].P);
        }
        return result;
    }

    /// <summary>Calls an operator returning a tensor list (<c>Tensor[]</c>).</summary>
    public unsafe Tensor[] CallList(params ReadOnlySpan<Arg> args)
    {
        Span<NativeArg> rets = stackalloc NativeArg[1];
        var n = Invoke(args, rets);
        if (n != 1 || rets[0].Kind != (int)ArgKind.TensorList)
        {
            ReleaseReturns(rets[..n]);
            throw new InvalidOperationException($"{QualifiedName} did not return a tensor list");
        }
        var handles = (IntPtr*)rets[0].P;
        var result = new Tensor[rets[0].N];
        for (var k = 0; k < result.Length; k++) result[k] = new Tensor(handles[k]);
        return result;
    }

    /// <summary>Calls an operator returning an int, float or bool (as a double).</summary>
    public double CallNumber(params ReadOnlySpan<Arg> args)
    {
        Span<NativeArg> rets = stackalloc NativeArg[1];
        var n = Invoke(args, rets);
        if (n != 1) { ReleaseReturns(rets[..n]); throw new InvalidOperationException($"{QualifiedName} did not return one value"); }
        return (ArgKind)rets[0].Kind switch
        {
            ArgKind.Int or ArgKind.Bool => rets[0].I,
            ArgKind.Double => rets[0].D,
            _ => throw new InvalidOperationException($"{QualifiedName} did not return a number"),
        };
    }

    static unsafe void ReleaseReturns(Span<NativeArg> rets)
    {
        foreach (ref var r in rets)
        {
            if (r.Kind == (int)ArgKind.Tensor) Shim.cxr_tensor_free(r.P);
            else if (r.Kind == (int)ArgKind.TensorList)
                for (var k = 0; k < r.N; k++) Shim.cxr_tensor_free(((IntPtr*)r.P)[k]);
        }
    }

    // List arguments are copied into a per-thread native scratch area (no pinning, no allocation).
    [ThreadStatic] static Arena? arena;

    sealed unsafe class Arena
    {
        public byte* Base = (byte*)NativeMemory.Alloc(Size);
        public const int Size = 1 << 20;
        public int Used;
        public void* Take(long bytes)
        {
            var aligned = (int)((bytes + 15) & ~15L);
            if (Used + aligned > Size) throw new InvalidOperationException($"boxed call arguments exceed {Size} bytes of list data");
            var p = Base + Used;
            Used += aligned;
            return p;
        }
        ~Arena() => NativeMemory.Free(Base);
    }

    internal unsafe int Invoke(ReadOnlySpan<Arg> args, Span<NativeArg> rets)
    {
        var op = Handle;
        var scratch = arena ??= new Arena();
        scratch.Used = 0;
        var native = stackalloc NativeArg[args.Length];
        for (var k = 0; k < args.Length; k++) native[k] = Lower(args[k], scratch);
        int n;
        fixed (NativeArg* r = rets) n = Shim.cxr_op_call(op, native, args.Length, r, rets.Length);
        // The tensors must outlive the native call: keep every argument reachable until here.
        for (var k = 0; k < args.Length; k++) GC.KeepAlive(args[k].Obj);
        return n < 0 ? throw Shim.LastError() : n;
    }

    static unsafe NativeArg Lower(in Arg a, Arena scratch)
    {
        var r = new NativeArg { Kind = (int)a.Kind, I = a.I, D = a.D };
        switch (a.Kind)
        {
            case ArgKind.Tensor:
                r.P = ((Tensor)a.Obj!).Handle;
                break;
            case ArgKind.Device:
                r.N = (long)a.D;
                break;
            case ArgKind.IntList:
            {
                var v = (long[])a.Obj!;
                var p = (long*)scratch.Take(v.Length * 8L);
                v.AsSpan().CopyTo(new Span<long>(p, v.Length));
                r.P = (IntPtr)p; r.N = v.Length;
                break;
            }
            case ArgKind.DoubleList:
            {
                var v = (double[])a.Obj!;
                var p = (double*)scratch.Take(v.Length * 8L);
                v.AsSpan().CopyTo(new Span<double>(p, v.Length));
                r.P = (IntPtr)p; r.N = v.Length;
                break;
            }
            case ArgKind.BoolList:
            {
                var v = (bool[])a.Obj!;
                var p = (byte*)scratch.Take(v.Length);
                for (var k = 0; k < v.Length; k++) p[k] = v[k] ? (byte)1 : (byte)0;
                r.P = (IntPtr)p; r.N = v.Length;
                break;
            }
            case ArgKind.TensorList:
            case ArgKind.OptTensorList:
            {
                var v = (Tensor?[])a.Obj!;
                var p = (IntPtr*)scratch.Take(v.Length * 8L);
                for (var k = 0; k < v.Length; k++)
                {
                    if (v[k] is null && a.Kind == ArgKind.TensorList) throw new ArgumentNullException(nameof(a), "a Tensor[] argument holds null");
                    p[k] = v[k]?.Handle ?? IntPtr.Zero;
                }
                r.P = (IntPtr)p; r.N = v.Length;
                break;
            }
            case ArgKind.String:
            {
                var s = (string)a.Obj!;
                var bytes = Encoding.UTF8.GetByteCount(s);
                var p = (byte*)scratch.Take(bytes + 1);
                Encoding.UTF8.GetBytes(s, new Span<byte>(p, bytes));
                p[bytes] = 0;
                r.P = (IntPtr)p;
                break;
            }
        }
        return r;
    }

    public override string ToString() => QualifiedName;
}
