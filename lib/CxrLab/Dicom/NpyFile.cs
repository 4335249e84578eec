using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;

namespace CxrLab.Dicom;

/// <summary>NumPy .npy files (format 1.0, little endian, C order) for the numeric arrays the pixel pipeline
/// produces, so anyone can compare with <c>numpy.load</c>. Writes are atomic.</summary>
public static partial class NpyFile
{
    static readonly byte[] Magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0];

    /// <summary>NumPy dtype string of a supported element type.</summary>
    public static string DescrOf(Type element) =>
        element == typeof(byte) ? "|u1" :
        element == typeof(sbyte) ? "|i1" :
        element == typeof(ushort) ? "<u2" :
        element == typeof(short) ? "<i2" :
        element == typeof(uint) ? "<u4" :
        element == typeof(int) ? "<i4" :
        element == typeof(float) ? "<f4" :
        element == typeof(double) ? "<f8" :
        throw new NotSupportedException($".npy writing of {element.Name} is not supported");

    /// <summary>Writes <paramref name="data"/> (a 1-D array of a supported element type) with the given shape.</summary>
    public static void Write(string path, Array data, IReadOnlyList<int> shape)
    {
        Imaging.ImageCodecs.WriteAtomically(path, Encode(data, shape));
    }

    public static byte[] Encode(Array data, IReadOnlyList<int> shape)
    {
        var element = data.GetType().GetElementType()!;
        long count = 1;
        foreach (var d in shape) count *= d;
        if (count != data.Length) throw new ArgumentException($"shape ({string.Join(", ", shape)}) holds {count} values, the array {data.Length}");
        var shapeText = shape.Count == 1 ? $"({shape[0]},)" : $"({string.Join(", ", shape)})";
        var header = $"{{'descr': '{DescrOf(element)}', 'fortran_order': False, 'shape': {shapeText}, }}";
        // Magic (8) + header length (2) + header + '\n' is padded to a multiple of 64 bytes.
        var total = (Magic.Length + 2 + header.Length + 1 + 63) / 64 * 64;
        header = header.PadRight(total - Magic.Length - 2 - 1) + "\n";
        var elementSize = Buffer.ByteLength(data) / Math.Max(1, data.Length);
        var output = new byte[total + (long)data.Length * elementSize];
        Magic.CopyTo(output, 0);
        BitConverter.TryWriteBytes(output.AsSpan(8), (ushort)header.Length);
        Encoding.ASCII.GetBytes(header, output.AsSpan(10));
        Buffer.BlockCopy(data, 0, output, total, Buffer.ByteLength(data));
        return output;
    }

    /// <summary>Reads a .npy written by NumPy or <see cref="Write"/> (little endian, C order).</summary>
    public static (Array Data, int[] Shape) Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < 10 || !bytes.AsSpan(0, 6).SequenceEqual(Magic.AsSpan(0, 6)))
            throw new InvalidDataException($"{path}: not a .npy file");
        int headerLength, start;
        if (bytes[6] == 1) { headerLength = BitConverter.ToUInt16(bytes, 8); start = 10; }
        else { headerLength = BitConverter.ToInt32(bytes, 8); start = 12; }
        var header = Encoding.ASCII.GetString(bytes, start, headerLength);
        var descr = DescrPattern().Match(header).Groups[1].Value;
        if (FortranPattern().IsMatch(header)) throw new InvalidDataException($"{path}: Fortran-order arrays are not supported");
        var shape = ShapePattern().Match(header).Groups[1].Value
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(int.Parse).ToArray();
        var payload = bytes.AsSpan(start + headerLength);
        Array data = descr switch
        {
            "|u1" or "<u1" => payload.ToArray(),
            "|i1" or "<i1" => MemoryMarshal.Cast<byte, sbyte>(payload).ToArray(),
            "<u2" => MemoryMarshal.Cast<byte, ushort>(payload).ToArray(),
            "<i2" => MemoryMarshal.Cast<byte, short>(payload).ToArray(),
            "<u4" => MemoryMarshal.Cast<byte, uint>(payload).ToArray(),
            "<i4" => MemoryMarshal.Cast<byte, int>(payload).ToArray(),
            "<f4" => MemoryMarshal.Cast<byte, float>(payload).ToArray(),
            "<f8" => MemoryMarshal.Cast<byte, double>(payload).ToArray(),
            _ => throw new InvalidDataException($"{path}: dtype '{descr}' is not supported"),
        };
        return (data, shape);
    }

    [GeneratedRegex(@"'descr'\s*:\s*'([^']*)'")]
    private static partial Regex DescrPattern();

    [GeneratedRegex(@"'fortran_order'\s*:\s*True")]
    private static partial Regex FortranPattern();

    [GeneratedRegex(@"'shape'\s*:\s*\(([^)]*)\)")]
    private static partial Regex ShapePattern();
}
