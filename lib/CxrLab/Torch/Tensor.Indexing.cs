namespace CxrLab.Torch;

/// <summary>One position of a <c>t[...]</c> index: an integer (selects, drops the dimension), a range
/// or <see cref="Slice"/> (keeps it), a tensor (long indices or a bool mask), <see cref="Ellipsis"/>
/// or <see cref="NewAxis"/>. C# ranges work: <c>t[.., 1..^1]</c>.</summary>
public readonly struct TensorIndex
{
    internal enum Kinds { Single, Slice, Tensor, Ellipsis, NewAxis }
    internal readonly Kinds Kind;
    internal readonly long Index;
    internal readonly long? Start, Stop;
    internal readonly long Step;
    internal readonly Tensor? Tensor;

    TensorIndex(Kinds kind, long index = 0, long? start = null, long? stop = null, long step = 1, Tensor? tensor = null)
    { Kind = kind; Index = index; Start = start; Stop = stop; Step = step; Tensor = tensor; }

    public static readonly TensorIndex Ellipsis = new(Kinds.Ellipsis);
    public static readonly TensorIndex NewAxis = new(Kinds.NewAxis);
    /// <summary>Python's <c>start:stop:step</c>; null = open end; negative counts from the end.</summary>
    public static TensorIndex Slice(long? start = null, long? stop = null, long step = 1) => new(Kinds.Slice, start: start, stop: stop, step: step);
    public static implicit operator TensorIndex(long i) => new(Kinds.Single, index: i);
    public static implicit operator TensorIndex(int i) => new(Kinds.Single, index: i);
    public static implicit operator TensorIndex(Tensor t) => new(Kinds.Tensor, tensor: t);
    public static implicit operator TensorIndex(Range r)
    {
        long? start = r.Start.IsFromEnd ? (r.Start.Value == 0 ? long.MaxValue : -r.Start.Value) : r.Start.Value;
        long? stop = r.End.IsFromEnd ? (r.End.Value == 0 ? null : -r.End.Value) : r.End.Value;
        if (start == 0) start = null;
        return new(Kinds.Slice, start: start, stop: stop);
    }
}

public sealed partial class Tensor
{
    /// <summary>PyTorch indexing: <c>t[0, .., mask]</c>. Basic indices give views; tensor indices copy.
    /// Setting copies (broadcasting) the value into the indexed elements.</summary>
    public Tensor this[params TensorIndex[] indices]
    {
        get
        {
            var (view, tensorIndices) = BasicIndex(indices);
            if (tensorIndices is null) return view;
            try { return view.index(tensorIndices); }
            finally { if (!ReferenceEquals(view, this)) view.Dispose(); }
        }
        set
        {
            var (view, tensorIndices) = BasicIndex(indices);
            try
            {
                if (tensorIndices is null) view.copy_(value);
                else view.index_put_(tensorIndices, value);
            }
            finally { if (!ReferenceEquals(view, this)) view.Dispose(); }
        }
    }

    /// <summary><c>t[indices] = value</c> for a number.</summary>
    public Tensor index_fill_(TensorIndex[] indices, Scalar value)
    {
        using var v = torch.full([], value, DType, device);
        this[indices] = v;
        return this;
    }

    // Applies integer/slice/newaxis/ellipsis positions as views; collects tensor positions.
    (Tensor view, Tensor?[]? tensorIndices) BasicIndex(TensorIndex[] indices)
    {
        var ndim = Dim;
        var consuming = 0;
        foreach (var ix in indices)
            consuming += ix.Kind switch
            {
                TensorIndex.Kinds.Single or TensorIndex.Kinds.Slice => 1,
                TensorIndex.Kinds.Tensor => ix.Tensor!.DType == ScalarType.Bool ? ix.Tensor.Dim : 1,
                _ => 0,
            };
        if (consuming > ndim) throw new IndexOutOfRangeException($"too many indices ({consuming}) for a {ndim}-D tensor of shape [{string.Join(", ", Shape)}]");
        var current = this;
        var dim = 0L;
        var maskExtra = 0L;
        List<Tensor?>? tensors = null;
        void Replace(Tensor next) { if (!ReferenceEquals(current, this)) current.Dispose(); current = next; }
        try
        {
            foreach (var ix in indices)
            {
                switch (ix.Kind)
                {
                    case TensorIndex.Kinds.Single:
                        Replace(current.select(dim, ix.Index));
                        break;
                    case TensorIndex.Kinds.Slice:
                        var start = ix.Start == long.MaxValue ? current.size((int)dim) : ix.Start;
                        if (start is not null || ix.Stop is not null || ix.Step != 1) Replace(current.slice(dim, start, ix.Stop, ix.Step));
                        dim++;
                        break;
                    case TensorIndex.Kinds.NewAxis:
                        Replace(current.unsqueeze(dim));
                        dim++;
                        break;
                    case TensorIndex.Kinds.Ellipsis:
                        dim += ndim - consuming;
                        break;
                    case TensorIndex.Kinds.Tensor:
                        // aten::index lists one entry per index; a k-D bool mask is one entry covering k dims.
                        tensors ??= [];
                        while (tensors.Count < dim - maskExtra) tensors.Add(null);
                        tensors.Add(ix.Tensor);
                        var span = ix.Tensor!.DType == ScalarType.Bool ? ix.Tensor.Dim : 1;
                        maskExtra += span - 1;
                        dim += span;
                        break;
                }
            }
            return (current, tensors?.ToArray());
        }
        catch
        {
            if (!ReferenceEquals(current, this)) current.Dispose();
            throw;
        }
    }
}
