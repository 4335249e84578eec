using System.Buffers.Binary;
using System.IO.Compression;
using Microsoft.Win32.SafeHandles;

namespace CxrLab.Dicom;

/// <summary>What <see cref="DicomPreflight"/> learned about a file's layout.</summary>
/// <param name="TransferSyntaxUid">From the file meta, else guessed from the first element.</param>
/// <param name="FileBytes">Bytes on disk.</param>
/// <param name="PixelDataBytes">Value length of the top-level Pixel Data (sum of fragments when encapsulated); -1 when absent.</param>
/// <param name="Encapsulated">Pixel data in fragments (a compressed transfer syntax).</param>
/// <param name="HasNumberOfFrames">(0028,0008) is present at the top level.</param>
/// <param name="HasFrameIncrementPointer">(0028,0009) is present at the top level.</param>
/// <param name="Fragments">File offsets and lengths of the encapsulated pixel data fragments after the offset table
/// (offsets into the inflated data set for deflated files).</param>
/// <param name="PixelDataOffset">Offset of the top-level native (not encapsulated) Pixel Data value: in the file, or in
/// <paramref name="Inflated"/> for a deflated data set; -1 when there is none.</param>
/// <param name="Header">Every element value the walk passed (file meta and data set, sequences included, Pixel Data
/// excluded): what <see cref="DicomImage"/> reads a plain file's attributes from without GDCM.</param>
/// <param name="BigEndian">The data set is big endian (explicit VR big endian).</param>
/// <param name="Inflated">The inflated data set of a deflated file (null otherwise).</param>
internal sealed record PreflightResult(string TransferSyntaxUid, long FileBytes, long PixelDataBytes, bool Encapsulated,
    bool HasNumberOfFrames = false, bool HasFrameIncrementPointer = false, IReadOnlyList<(long Offset, long Length)>? Fragments = null,
    long PixelDataOffset = -1, DicomDataSet? Header = null, bool BigEndian = false, byte[]? Inflated = null);

/// <summary>
/// Walks a file's element headers (tag, VR, length — never the values) and checks every declared
/// length against the bytes that are really there, before GDCM reads the file.
/// Why: GDCM allocates a value's buffer from its length field before reading it, so a crafted length
/// (up to 4 GiB) in a small file would allocate that much; deep nesting would recurse without bound.
/// The walk also keeps the values it passes (<see cref="PreflightResult.Header"/>, at most
/// <see cref="DicomHeader.MaxValueBytes"/> each): a plain file is then read without GDCM (<see cref="DicomImage"/>).
/// </summary>
internal static class DicomPreflight
{
    /// <summary>A deflated data set is inflated (for the check) up to this size.</summary>
    public const long MaxInflatedBytes = 1L << 30;

    /// <summary>Sequences nested deeper than this are refused (real files nest a few levels).</summary>
    public const int MaxDepth = 32;

    const uint Undefined = 0xFFFFFFFF;
    const string ImplicitLittle = "1.2.840.10008.1.2";
    const string ExplicitBig = "1.2.840.10008.1.2.2";
    const string Deflated = "1.2.840.10008.1.2.1.99";

    static readonly HashSet<string> KnownVrs =
    [
        "AE", "AS", "AT", "CS", "DA", "DS", "DT", "FL", "FD", "IS", "LO", "LT", "OB", "OD", "OF", "OL", "OV", "OW",
        "PN", "SH", "SL", "SQ", "SS", "ST", "SV", "TM", "UC", "UI", "UL", "UN", "UR", "US", "UT", "UV",
    ];

    /// <summary>Image attributes GDCM's ImageReader reads through gdcm::Attribute, which asserts (aborting the process)
    /// when the VR or length is not the dictionary's. Checked here so a corrupt header is an exception instead.</summary>
    static readonly Dictionary<uint, string> ImageAttributeVrs = new()
    {
        [0x00280002] = "US", [0x00280004] = "CS", [0x00280006] = "US", [0x00280008] = "IS", [0x00280009] = "AT",
        [0x00280010] = "US", [0x00280011] = "US", [0x00280030] = "DS", [0x00280034] = "IS", [0x00280100] = "US",
        [0x00280101] = "US", [0x00280102] = "US", [0x00280103] = "US", [0x00281050] = "DS", [0x00281051] = "DS",
        [0x00281052] = "DS", [0x00281053] = "DS", [0x00281054] = "LO", [0x00200032] = "DS", [0x00200037] = "DS",
        [0x00180050] = "DS", [0x00181164] = "DS", [0x00080060] = "CS", [0x00080016] = "UI", [0x00080008] = "CS",
    };

    static readonly HashSet<string> LongVrs = ["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"];

    public static PreflightResult Check(string path)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        var source = new FileSource(handle);
        return Check(source, path);
    }

    static PreflightResult Check(Source source, string path)
    {
        var walker = new Walker(source, path);
        long pos = 0;
        string? ts = null;
        Span<byte> head = stackalloc byte[132];
        if (source.Length >= 132 && source.Read(0, head) && head[128] == 'D' && head[129] == 'I' && head[130] == 'C' && head[131] == 'M')
            pos = 132;
        else if (source.Length < 8)
            throw new DicomException(path, $"not a DICOM file: only {source.Length} bytes");

        // File meta (group 0002): explicit VR little endian by the standard; some writers use implicit.
        (pos, ts) = walker.ReadMeta(pos);

        if (ts == Deflated)
        {
            var inflated = Inflate(source, pos, path);
            var inner = new Walker(new MemorySource(inflated), path, walker.Top) { Explicit = true, BigEndian = false };
            inner.WalkDataSet(0, inflated.Length, 0, inner.Top, topLevel: true);
            inner.CheckPixelFormat(ts);
            return new PreflightResult(ts, source.Length, inner.PixelDataBytes, inner.Encapsulated, inner.HasNumberOfFrames, inner.HasFrameIncrementPointer, inner.Fragments,
                inner.Encapsulated ? -1 : inner.PixelDataOffset, inner.Top, false, inflated);
        }

        if (pos >= source.Length)
            throw new DicomException(path, "no data set after the file meta information (truncated?)");
        if (pos == 0 && ts is null) walker.CheckLooksLikeDataSet();
        walker.BigEndian = ts == ExplicitBig;
        walker.Explicit = ts != ImplicitLittle;
        walker.SniffEncoding(pos, ts is null);
        walker.WalkDataSet(pos, source.Length, 0, walker.Top, topLevel: true);
        walker.CheckPixelFormat(ts);
        ts ??= walker.Explicit ? (walker.BigEndian ? ExplicitBig : "1.2.840.10008.1.2.1") : ImplicitLittle;
        return new PreflightResult(ts, source.Length, walker.PixelDataBytes, walker.Encapsulated, walker.HasNumberOfFrames, walker.HasFrameIncrementPointer, walker.Fragments,
            walker.Encapsulated ? -1 : walker.PixelDataOffset, walker.Top, walker.BigEndian);
    }

    static byte[] Inflate(Source source, long start, string path)
    {
        var compressed = new byte[source.Length - start];
        if (!source.Read(start, compressed)) throw new DicomException(path, "could not read the deflated data set");
        using var input = new DeflateStream(new MemoryStream(compressed), CompressionMode.Decompress);
        using var output = new MemoryStream();
        var buffer = new byte[81920];
        try
        {
            int n;
            while ((n = input.Read(buffer, 0, buffer.Length)) > 0)
            {
                if (output.Length + n > MaxInflatedBytes)
                    throw new DicomException(path, $"deflated data set inflates beyond {MaxInflatedBytes >> 20} MiB; refusing");
                output.Write(buffer, 0, n);
            }
        }
        catch (InvalidDataException e)
        {
            throw new DicomException(path, $"deflated data set is corrupt: {e.Message}", e);
        }
        return output.ToArray();
    }

    sealed class Walker(Source source, string path, DicomDataSet? top = null)
    {
        /// <summary>Where the top-level values go (the file meta's too).</summary>
        public DicomDataSet Top { get; } = top ?? new DicomDataSet();

        public bool Explicit { get; set; } = true;
        public bool BigEndian { get; set; }
        public long PixelDataBytes { get; private set; } = -1;
        public long PixelDataOffset { get; private set; } = -1;
        public bool Encapsulated { get; private set; }
        public bool HasNumberOfFrames { get; private set; }
        public bool HasFrameIncrementPointer { get; private set; }
        public List<(long Offset, long Length)> Fragments { get; } = [];

        readonly byte[] header = new byte[12];

        DicomException Fail(string reason) => new(path, reason);

        ushort U16(ReadOnlySpan<byte> b, bool big) => big ? BinaryPrimitives.ReadUInt16BigEndian(b) : BinaryPrimitives.ReadUInt16LittleEndian(b);
        uint U32(ReadOnlySpan<byte> b, bool big) => big ? BinaryPrimitives.ReadUInt32BigEndian(b) : BinaryPrimitives.ReadUInt32LittleEndian(b);

        void ReadHeader(long pos, int count, string what)
        {
            if (pos + count > source.Length || !source.Read(pos, header.AsSpan(0, count)))
                throw Fail($"truncated: {what} at byte {pos} runs past the end of the file ({source.Length} bytes)");
        }

        static bool IsVr(byte a, byte b) => a is >= (byte)'A' and <= (byte)'Z' && b is >= (byte)'A' and <= (byte)'Z';

        public (long Pos, string? Ts) ReadMeta(long pos)
        {
            string? ts = null;
            while (pos + 8 <= source.Length)
            {
                ReadHeader(pos, 8, "file meta element");
                var group = U16(header, false);
                if (group != 0x0002) break;
                var element = U16(header.AsSpan(2), false);
                long length, valueStart;
                if (IsVr(header[4], header[5]) && KnownVrs.Contains($"{(char)header[4]}{(char)header[5]}"))
                {
                    var vr = $"{(char)header[4]}{(char)header[5]}";
                    if (LongVrs.Contains(vr))
                    {
                        ReadHeader(pos, 12, "file meta element");
                        length = U32(header.AsSpan(8), false);
                        valueStart = pos + 12;
                    }
                    else
                    {
                        length = U16(header.AsSpan(6), false);
                        valueStart = pos + 8;
                    }
                }
                else
                {
                    // GDCM 3.0 fails an assertion (aborting the process) on a meta element without a VR.
                    throw Fail($"file meta element (0002,{element:X4}) at byte {pos} has no valid VR (the file meta must be explicit VR)");
                }
                if (length == Undefined || valueStart + length > source.Length)
                    throw Fail($"file meta element (0002,{element:X4}) at byte {pos} declares {length} bytes, beyond the end of the file ({source.Length} bytes)");
                Keep(Top, 0x0002, element, $"{(char)header[4]}{(char)header[5]}", valueStart, length, false);
                if (element == 0x0010)
                {
                    if (length > 64) throw Fail($"transfer syntax UID (0002,0010) is {length} bytes long; a UID has at most 64");
                    var value = new byte[length];
                    if (!source.Read(valueStart, value)) throw Fail("could not read the transfer syntax UID");
                    ts = System.Text.Encoding.ASCII.GetString(value).TrimEnd('\0', ' ');
                }
                pos = valueStart + length;
            }
            return (pos, ts);
        }

        /// <summary>A file without preamble and meta must at least start like a data set (group 0008 or so, either byte order).</summary>
        public void CheckLooksLikeDataSet()
        {
            ReadHeader(0, 8, "first element");
            var little = U16(header, false);
            var big = U16(header, true);
            if (little is < 0x0002 or > 0x0010 && big is < 0x0002 or > 0x0010)
                throw Fail("not a DICOM file: no 'DICM' preamble and it does not start with a DICOM element");
        }

        /// <summary>Checks the declared encoding against the first data set element; writers do get this wrong
        /// (and GDCM copes), so the walk follows what the bytes say.</summary>
        public void SniffEncoding(long pos, bool guessByteOrder)
        {
            if (pos + 8 > source.Length) return;
            ReadHeader(pos, 8, "first data set element");
            if (guessByteOrder)
            {
                // The first group is small (0x0008 typically): pick the byte order that says so.
                BigEndian = U16(header, true) < U16(header, false);
            }
            var looksExplicit = IsVr(header[4], header[5]) && KnownVrs.Contains($"{(char)header[4]}{(char)header[5]}");
            Explicit = looksExplicit;
        }

        /// <summary>Keeps an element's value in <paramref name="into"/> (not read when longer than DicomHeader.MaxValueBytes).</summary>
        void Keep(DicomDataSet? into, ushort group, ushort element, string? vr, long valueStart, long length, bool bigEndian, List<DicomDataSet>? items = null)
        {
            if (into is null) return;
            byte[]? value = null;
            if (items is null && length <= DicomHeader.MaxValueBytes)
            {
                value = length == 0 ? [] : new byte[length];
                if (!source.Read(valueStart, value)) throw Fail($"could not read element ({group:X4},{element:X4}) at byte {valueStart}");
            }
            into.Elements[(uint)group << 16 | element] = new DicomElement(vr, value, bigEndian, items);
        }

        public long WalkDataSet(long pos, long end, int depth, DicomDataSet? into, bool topLevel = false, bool untilItemEnd = false)
        {
            if (depth > MaxDepth) throw Fail($"sequences nested deeper than {MaxDepth} levels at byte {pos}");
            while (pos < end)
            {
                if (pos + 8 > end)
                {
                    if (topLevel && untilItemEnd == false && end - pos < 8 && AllZero(pos, end)) return end; // trailing padding
                    throw Fail($"truncated: element header at byte {pos} runs past the end of its {(topLevel ? "file" : "item")} (byte {end})");
                }
                ReadHeader(pos, 8, "element header");
                var group = U16(header, BigEndian);
                var element = U16(header.AsSpan(2), BigEndian);
                if (group == 0xFFFE)
                {
                    // Delimiters carry a 4-byte length (always 0) in every encoding.
                    if (element == 0xE00D && untilItemEnd) return pos + 8;
                    if (element == 0xE0DD && topLevel) return pos + 8; // stray sequence delimiter, tolerated by readers
                    if (element is 0xE00D or 0xE0DD) { pos += 8; continue; }
                    throw Fail($"unexpected item tag (FFFE,{element:X4}) at byte {pos} outside a sequence");
                }
                string? vr = null;
                long length, valueStart;
                if (Explicit && IsVr(header[4], header[5]))
                {
                    vr = $"{(char)header[4]}{(char)header[5]}";
                    if (!KnownVrs.Contains(vr)) throw Fail($"element ({group:X4},{element:X4}) at byte {pos} has an unknown VR '{vr}'");
                    if (LongVrs.Contains(vr))
                    {
                        ReadHeader(pos, 12, "element header");
                        length = U32(header.AsSpan(8), BigEndian);
                        valueStart = pos + 12;
                    }
                    else
                    {
                        length = U16(header.AsSpan(6), BigEndian);
                        valueStart = pos + 8;
                    }
                }
                else if (Explicit)
                {
                    throw Fail($"element ({group:X4},{element:X4}) at byte {pos} has no valid VR in an explicit-VR data set");
                }
                else
                {
                    length = U32(header.AsSpan(4), BigEndian);
                    valueStart = pos + 8;
                }

                var isPixelData = group == 0x7FE0 && element == 0x0010 && depth == 0;
                if (depth == 0 && group == 0x0028 && element == 0x0008) HasNumberOfFrames = true;
                if (depth == 0 && group == 0x0028 && element == 0x0009) HasFrameIncrementPointer = true;
                if (length == Undefined)
                {
                    if (group == 0x7FE0 && element == 0x0010)
                    {
                        // GDCM asserts on encapsulated pixel data with any other VR.
                        if (vr is not (null or "OB" or "OW" or "UN"))
                            throw Fail($"encapsulated Pixel Data at byte {pos} has VR {vr}; it must be OB");
                        var (after, total) = WalkFragments(valueStart, end, isPixelData ? Fragments : null);
                        if (isPixelData) { PixelDataBytes = total; Encapsulated = true; }
                        pos = after;
                    }
                    else if (vr is null or "SQ" or "UN")
                    {
                        List<DicomDataSet>? items = into is null ? null : [];
                        Keep(into, group, element, vr, valueStart, 0, BigEndian, items);
                        // An undefined-length UN is a sequence encoded implicit VR little endian (PS3.5 6.2.2).
                        if (vr == "UN") pos = WithEncoding(false, false, () => WalkSequence(valueStart, end, true, depth + 1, items));
                        else pos = WalkSequence(valueStart, end, true, depth + 1, items);
                    }
                    else throw Fail($"element ({group:X4},{element:X4}) at byte {pos} has an undefined length, which VR {vr} does not allow");
                    continue;
                }
                if (valueStart + length > end)
                    throw Fail($"element ({group:X4},{element:X4}) at byte {pos} declares {length} bytes but only {Math.Max(0, end - valueStart)} remain " +
                               $"in the {(topLevel ? "file" : "enclosing item")} (truncated or corrupt length)");
                if (isPixelData) { PixelDataBytes = length; PixelDataOffset = valueStart; }
                if (depth == 0 && ImageAttributeVrs.TryGetValue((uint)group << 16 | element, out var expectedVr))
                    CheckImageAttribute(pos, group, element, vr, expectedVr, valueStart, length);
                if (vr == "SQ" || (vr is null or "UN" && length >= 8 && StartsWithItem(valueStart)))
                {
                    List<DicomDataSet>? items = into is null ? null : [];
                    Keep(into, group, element, vr, valueStart, length, BigEndian, items);
                    if (vr == "UN") WithEncoding(false, false, () => WalkSequence(valueStart, valueStart + length, false, depth + 1, items));
                    else WalkSequence(valueStart, valueStart + length, false, depth + 1, items);
                }
                else if (!isPixelData) Keep(into, group, element, vr, valueStart, length, BigEndian);
                pos = valueStart + length;
            }
            if (untilItemEnd) throw Fail("truncated: an item of undefined length has no item delimiter before the end of the file");
            return pos;
        }

        void CheckImageAttribute(long pos, ushort group, ushort element, string? vr, string expectedVr, long valueStart, long length)
        {
            Seen.Add((uint)group << 16 | element);
            if (vr is not null && vr != expectedVr && vr != "UN")
                throw Fail($"element ({group:X4},{element:X4}) at byte {pos} has VR {vr}; the standard says {expectedVr} (corrupt header)");
            if (expectedVr == "US" && length != 2)
                throw Fail($"element ({group:X4},{element:X4}) at byte {pos} holds {length} bytes; one US value is 2");
            if (expectedVr == "AT" && (length == 0 || length % 4 != 0))
                throw Fail($"element ({group:X4},{element:X4}) at byte {pos} holds {length} bytes; AT values are 4 bytes each");
            if (group == 0x0028 && element == 0x1053 && length is > 0 and <= 64)
            {
                // GDCM asserts that a rescale slope is not zero.
                Span<byte> text = stackalloc byte[(int)length];
                if (source.Read(valueStart, text) &&
                    double.TryParse(System.Text.Encoding.ASCII.GetString(text).Trim(' ', '\0'), System.Globalization.NumberStyles.Float,
                        System.Globalization.CultureInfo.InvariantCulture, out var slope) && slope == 0)
                    throw Fail("Rescale Slope (0028,1053) is 0; the modality values would all be the intercept");
            }
            if (expectedVr == "US")
            {
                Span<byte> value = stackalloc byte[2];
                if (!source.Read(valueStart, value)) throw Fail($"could not read ({group:X4},{element:X4})");
                UsValues[(uint)group << 16 | element] = U16(value, BigEndian);
            }
        }

        /// <summary>Image attributes present at the top level.</summary>
        public HashSet<uint> Seen { get; } = [];

        /// <summary>US values of the image attributes seen at the top level.</summary>
        public Dictionary<uint, ushort> UsValues { get; } = [];

        /// <summary>The pixel format rules GDCM's codecs assume (and assert on): PS3.3 C.7.6.3.</summary>
        public void CheckPixelFormat(string? transferSyntax)
        {
            ushort? Value(uint tag) => UsValues.TryGetValue(tag, out var v) ? v : null;
            if (Seen.Contains(0x00281052) && !Seen.Contains(0x00281053))
                throw Fail("Rescale Intercept (0028,1052) without Rescale Slope (0028,1053); GDCM 3.0 aborts on this, so it is refused");
            if (Value(0x00280002) is { } samples && samples is not (1 or 3 or 4))
                throw Fail($"Samples per Pixel (0028,0002) is {samples}; it must be 1, 3 or 4");
            var allocated = Value(0x00280100);
            var stored = Value(0x00280101);
            if (allocated is { } a && a is not (1 or 8 or 16 or 32))
                throw Fail($"Bits Allocated (0028,0100) is {a}; CxrLab reads 1, 8, 16 or 32");
            if (stored is { } b && (b == 0 || (allocated is { } a2 && b > a2)))
                throw Fail($"Bits Stored (0028,0101) is {b} with Bits Allocated {allocated}; it must be 1..Bits Allocated");
            if (Value(0x00280102) is { } high && allocated is { } a3 && high >= a3)
                throw Fail($"High Bit (0028,0102) is {high} with Bits Allocated {a3}");
            if (Value(0x00280006) is { } planar && planar > 1)
                throw Fail($"Planar Configuration (0028,0006) is {planar}; it must be 0 or 1");
            if (Value(0x00280103) is { } representation && representation > 1)
                throw Fail($"Pixel Representation (0028,0103) is {representation}; it must be 0 or 1");
            if (transferSyntax is { } ts && ts.StartsWith("1.2.840.10008.1.2.4.", StringComparison.Ordinal) && stored is > 16)
                throw Fail($"Bits Stored {stored} in a JPEG-family transfer syntax ({ts}); at most 16");
        }

        long WithEncoding(bool isExplicit, bool bigEndian, Func<long> walk)
        {
            var (e, b) = (Explicit, BigEndian);
            (Explicit, BigEndian) = (isExplicit, bigEndian);
            try { return walk(); }
            finally { (Explicit, BigEndian) = (e, b); }
        }

        bool AllZero(long pos, long end)
        {
            Span<byte> rest = stackalloc byte[8];
            var n = (int)(end - pos);
            return source.Read(pos, rest[..n]) && !rest[..n].ContainsAnyExcept((byte)0);
        }

        bool StartsWithItem(long pos)
        {
            Span<byte> b = stackalloc byte[4];
            if (!source.Read(pos, b)) return false;
            return U16(b, BigEndian) == 0xFFFE && U16(b[2..], BigEndian) == 0xE000;
        }

        long WalkSequence(long pos, long end, bool undefinedLength, int depth, List<DicomDataSet>? items)
        {
            if (depth > MaxDepth) throw Fail($"sequences nested deeper than {MaxDepth} levels at byte {pos}");
            while (true)
            {
                if (!undefinedLength && pos >= end) return end;
                if (pos + 8 > end) throw Fail($"truncated: sequence item at byte {pos} runs past the end of its {(undefinedLength ? "file" : "sequence")}");
                ReadHeader(pos, 8, "sequence item");
                var group = U16(header, BigEndian);
                var element = U16(header.AsSpan(2), BigEndian);
                var length = U32(header.AsSpan(4), BigEndian);
                if (group == 0xFFFE && element == 0xE0DD) return pos + 8;
                if (group != 0xFFFE || element != 0xE000)
                    throw Fail($"expected a sequence item (FFFE,E000) at byte {pos}, found ({group:X4},{element:X4})");
                var item = items is null ? null : new DicomDataSet();
                items?.Add(item!);
                if (length == Undefined)
                {
                    pos = WalkDataSet(pos + 8, end, depth, item, untilItemEnd: true);
                }
                else
                {
                    if (pos + 8 + length > end)
                        throw Fail($"sequence item at byte {pos} declares {length} bytes but only {end - pos - 8} remain (truncated or corrupt length)");
                    WalkDataSet(pos + 8, pos + 8 + length, depth, item);
                    pos += 8 + length;
                }
            }
        }

        (long After, long Total) WalkFragments(long pos, long end, List<(long, long)>? fragments)
        {
            long total = 0;
            var index = 0;
            while (true)
            {
                if (pos + 8 > end) throw Fail($"truncated: encapsulated pixel data fragment at byte {pos} runs past the end of the file");
                ReadHeader(pos, 8, "pixel data fragment");
                var group = U16(header, BigEndian);
                var element = U16(header.AsSpan(2), BigEndian);
                var length = U32(header.AsSpan(4), BigEndian);
                if (group == 0xFFFE && element == 0xE0DD) return (pos + 8, total);
                if (group != 0xFFFE || element != 0xE000)
                    throw Fail($"expected a pixel data fragment (FFFE,E000) at byte {pos}, found ({group:X4},{element:X4})");
                if (length == Undefined || pos + 8 + length > end)
                    throw Fail($"pixel data fragment at byte {pos} declares {length} bytes but only {end - pos - 8} remain (truncated or corrupt length)");
                total += length;
                if (index++ > 0 && fragments is { Count: < 1_000_000 }) fragments.Add((pos + 8, length)); // the first item is the offset table
                pos += 8 + length;
            }
        }
    }

    abstract class Source
    {
        public abstract long Length { get; }
        public abstract bool Read(long offset, Span<byte> destination);
    }

    /// <summary>Positional reads with one cached 64 KiB window (headers cluster at the start of the file).</summary>
    sealed class FileSource(SafeFileHandle handle) : Source
    {
        readonly byte[] window = new byte[65536];
        long windowStart = -1;
        int windowLength;

        public override long Length { get; } = RandomAccess.GetLength(handle);

        public override bool Read(long offset, Span<byte> destination)
        {
            if (offset < 0 || offset + destination.Length > Length) return false;
            if (destination.Length > window.Length)
                return RandomAccess.Read(handle, destination, offset) == destination.Length;
            if (windowStart < 0 || offset < windowStart || offset + destination.Length > windowStart + windowLength)
            {
                windowStart = offset;
                windowLength = RandomAccess.Read(handle, window, offset);
                if (offset + destination.Length > windowStart + windowLength) return false;
            }
            window.AsSpan((int)(offset - windowStart), destination.Length).CopyTo(destination);
            return true;
        }
    }

    sealed class MemorySource(byte[] bytes) : Source
    {
        public override long Length => bytes.Length;

        public override bool Read(long offset, Span<byte> destination)
        {
            if (offset < 0 || offset + destination.Length > bytes.Length) return false;
            bytes.AsSpan((int)offset, destination.Length).CopyTo(destination);
            return true;
        }
    }
}
