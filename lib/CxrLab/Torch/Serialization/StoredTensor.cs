namespace CxrLab.Torch.Serialization;

/// <summary>A tensor as stored in a checkpoint file: dtype, shape and its values as contiguous
/// row-major little-endian bytes (strided views are already gathered).</summary>
public sealed record StoredTensor(ScalarType DType, long[] Shape, byte[] Data)
{
    public long NumberOfElements => Shape.Aggregate(1L, (a, b) => a * b);

    /// <summary>Values reinterpreted as <typeparamref name="T"/>, which must match <see cref="DType"/>.</summary>
    public T[] ToArray<T>() where T : unmanaged
    {
        if (ScalarTypes.Of<T>() != DType) throw new InvalidOperationException($"stored tensor holds {DType}, not {typeof(T).Name}");
        var result = new T[NumberOfElements];
        System.Runtime.InteropServices.MemoryMarshal.Cast<byte, T>(Data).CopyTo(result);
        return result;
    }

    public static StoredTensor From<T>(ReadOnlySpan<T> values, params long[] shape) where T : unmanaged
    {
        if (shape.Length == 0) shape = [values.Length];
        return new(ScalarTypes.Of<T>(), shape, System.Runtime.InteropServices.MemoryMarshal.AsBytes(values).ToArray());
    }

    public override string ToString() => $"StoredTensor({DType}, [{string.Join(", ", Shape)}])";
}

/// <summary>A checkpoint file is malformed, unsupported, or not what the caller asked for.</summary>
public sealed class CheckpointException(string message, Exception? inner = null) : Exception(message, inner);
