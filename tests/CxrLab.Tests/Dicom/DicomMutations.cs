namespace CxrLab.Tests.Dicom;

/// <summary>Deterministic corruptions of a DICOM file for the fuzz test: bit flips (mostly in the first 2 KiB, which
/// for the small fixtures covers the header and much of the compressed stream), truncations, and length fields
/// overwritten with large values. Bit flips inside compressed streams are included for every syntax: grayscale RLE,
/// JPEG-LS and JPEG 2000 decode in the native shim, and JPEG headers are checked before GDCM reads them
/// (<c>JpegHeaderCheck</c>), which removed the GDCM aborts earlier versions had to leave out.</summary>
public static class DicomMutations
{
    public enum Kind { BitFlips, Truncation, LengthField }

    public static (byte[] Bytes, Kind Kind) Mutate(byte[] original, int seed, bool bitFlips = true)
    {
        var random = new Random(seed);
        var bytes = (byte[])original.Clone();
        var header = Math.Min(bytes.Length, 2048);
        if (!bitFlips)
        {
            // Keep out of the compressed stream: stop at the Pixel Data tag (7FE0,0010).
            var pixelData = bytes.AsSpan().LastIndexOf([(byte)0xE0, (byte)0x7F, (byte)0x10, (byte)0x00]);
            if (pixelData > 16) header = Math.Min(header, pixelData);
        }
        var kind = (Kind)random.Next(3);
        if (kind == Kind.BitFlips && !bitFlips) kind = random.Next(2) == 0 ? Kind.Truncation : Kind.LengthField;
        switch (kind)
        {
            case Kind.BitFlips:
                for (int i = 0, n = random.Next(1, 9); i < n; i++)
                {
                    var at = random.NextDouble() < 0.8 ? random.Next(header) : random.Next(bytes.Length);
                    bytes[at] ^= (byte)(1 << random.Next(8));
                }
                return (bytes, kind);
            case Kind.Truncation:
                return (bytes[..random.Next(bytes.Length)], kind);
            default:
                // Lengths sit 4, 6 or 8 bytes after a tag; any aligned spot in the header is a fair target.
                var offset = random.Next(Math.Max(1, header - 4)) & ~1;
                uint[] values = [0xFFFFFFFF, 0xFFFFFFF0, 0x7FFFFFFF, 0x10000000, 0x00FFFFFF, (uint)bytes.Length * 2];
                var value = values[random.Next(values.Length)];
                if (random.Next(3) == 0) BitConverter.TryWriteBytes(bytes.AsSpan(offset, 2), (ushort)value);
                else if (offset + 4 <= bytes.Length) BitConverter.TryWriteBytes(bytes.AsSpan(offset, 4), value);
                return (bytes, kind);
        }
    }

    /// <summary>The files the fuzz test mutates and whether bit flips are used on them (all: see the class summary):
    /// the signed 12-bit fixture in each syntax, the multi-frame fixture in the compressed ones, and vendor files
    /// (grayscale and colour, JPEG, JPEG-LS, JPEG 2000, RLE).</summary>
    public static IReadOnlyList<(string Path, bool BitFlips)> Sources() =>
    [
        .. Directory.GetFiles(FixtureFile.PathOf("dicom"), "mono2_s12_linear_exact__*.dcm").Order(StringComparer.Ordinal).Select(f => (f, true)),
        .. Directory.GetFiles(FixtureFile.PathOf("dicom"), "mono1_u12_frames__j*.dcm").Order(StringComparer.Ordinal).Select(f => (f, true)),
        .. new[] { "CT_small.dcm", "MR_small_RLE.dcm", "SC_rgb_jpeg_gdcm.dcm", "JPEG-lossy.dcm", "JPEG2000.dcm", "MR_small_jpeg_ls_lossless.dcm",
                   "SC_rgb_jpeg_app14_dcmd.dcm", "SC_rgb_rle.dcm", "GDCMJ2K_TextGBR.dcm" }
            .Select(f => (Path.Combine(DicomReferenceSet.PydicomTestFiles, f), true)),
    ];
}
