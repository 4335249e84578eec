namespace CxrLab.Dicom;

/// <summary>
/// Arrays of decoded pixels given back by their users, kept by exact element type and length for the next image of
/// the same size. Why: a fresh 2–30 MB array comes from newly committed pages (the GC returns large free blocks to the
/// OS), and faulting them in costs about as much as reading the pixels (measured ~0.5 ms per 2 MB); pydicom's arrays
/// come from malloc, which reuses freed memory. Bounded by <see cref="MaxBytes"/>; beyond it a returned array is dropped.
/// </summary>
internal static class PixelBuffers
{
    /// <summary>Bytes kept at most (a few real-size radiographs per core).</summary>
    public const long MaxBytes = 512L << 20;

    static readonly Dictionary<(Type, int), Stack<Array>> free = [];
    static long held;

    /// <summary>An array of exactly <paramref name="length"/> elements whose contents are undefined.</summary>
    public static T[] Rent<T>(int length) where T : unmanaged
    {
        lock (free)
            if (free.TryGetValue((typeof(T), length), out var stack) && stack.TryPop(out var array))
            {
                held -= (long)length * System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
                return (T[])array;
            }
        return GC.AllocateUninitializedArray<T>(length);
    }

    public static void Return(Array array)
    {
        var element = array.GetType().GetElementType();
        if (array.Rank != 1 || element is null || !element.IsPrimitive || array.Length < 4096) return;
        var bytes = Buffer.ByteLength(array);
        lock (free)
        {
            if (held + bytes > MaxBytes) return;
            if (!free.TryGetValue((element, array.Length), out var stack)) free[(element, array.Length)] = stack = new Stack<Array>();
            if (stack.Any(a => ReferenceEquals(a, array))) return; // returned twice
            stack.Push(array);
            held += bytes;
        }
    }
}
