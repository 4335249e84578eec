using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace CxrLab.Dicom;

/// <summary>One element kept by the header walk: its VR as written (null in implicit VR), its value bytes as in the file
/// (null when longer than <see cref="DicomHeader.MaxValueBytes"/>), the byte order they are in, and the items of a sequence.</summary>
internal sealed record DicomElement(string? Vr, byte[]? Value, bool BigEndian, List<DicomDataSet>? Items);

/// <summary>The elements of one data set (the file meta and the top level together, or one sequence item).</summary>
internal sealed class DicomDataSet
{
    public Dictionary<uint, DicomElement> Elements { get; } = [];

    public DicomElement? this[DicomTag tag] => Elements.GetValueOrDefault((uint)tag.Group << 16 | tag.Element);

    /// <summary>16-bit words of a binary value in host order (LUT Descriptor, LUT Data), or null when absent or not kept.</summary>
    public ushort[]? Words(DicomTag tag)
    {
        if (this[tag] is not { Value: { } bytes } element) return null;
        var words = new ushort[bytes.Length / 2];
        for (var i = 0; i < words.Length; i++)
            words[i] = element.BigEndian ? BinaryPrimitives.ReadUInt16BigEndian(bytes.AsSpan(2 * i)) : BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(2 * i));
        return words;
    }
}

/// <summary>
/// The header as <see cref="DicomPreflight"/>'s bounded walk read it (every value up to the Pixel Data, nested sequences
/// included), so a plain file's attributes and pixels need no GDCM parse. Values are formatted as GDCM's string filter
/// prints them (text as written, numbers of binary VRs in decimal joined by '\') for the VRs known here; anything else
/// (an unusual VR, an implicit-VR tag outside <see cref="ImplicitVrs"/>) answers <see cref="HeaderLookup.Unknown"/> and
/// the caller asks GDCM.
/// </summary>
internal static class DicomHeader
{
    /// <summary>Values longer than this are not kept (overlays, private blobs); a 65,536-entry LUT is 128 KiB.</summary>
    public const int MaxValueBytes = 1 << 20;

    /// <summary>VRs of the attributes CxrLab reads by name, for implicit VR files (PS3.6). LUT Descriptor and LUT Data
    /// (US or SS / OW) are read as raw words, whatever their VR.</summary>
    static readonly Dictionary<uint, string> ImplicitVrs = new()
    {
        [0x00020010] = "UI", [0x00080016] = "UI", [0x00080018] = "UI", [0x00080060] = "CS", [0x00100020] = "LO",
        [0x00100040] = "CS", [0x00101010] = "AS", [0x00181164] = "DS", [0x00185101] = "CS", [0x0020000D] = "UI",
        [0x0020000E] = "UI", [0x00280002] = "US", [0x00280004] = "CS", [0x00280006] = "US", [0x00280008] = "IS",
        [0x00280010] = "US", [0x00280011] = "US", [0x00280030] = "DS", [0x00280100] = "US", [0x00280101] = "US",
        [0x00280102] = "US", [0x00280103] = "US", [0x00281050] = "DS", [0x00281051] = "DS", [0x00281052] = "DS",
        [0x00281053] = "DS", [0x00281054] = "LO", [0x00281055] = "LO", [0x00281056] = "CS", [0x00283000] = "SQ",
        [0x00283003] = "LO", [0x00283004] = "LO", [0x00283010] = "SQ", [0x00080008] = "CS", [0x00080020] = "DA",
        [0x00080030] = "TM", [0x00100010] = "PN", [0x00100030] = "DA", [0x00200013] = "IS",
    };

    static readonly HashSet<string> TextVrs = ["AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT"];

    /// <summary>The VR to interpret a value with: as written, else (implicit VR, or UN) the dictionary's.</summary>
    public static string? VrOf(DicomTag tag, DicomElement element) =>
        element.Vr is { } vr && vr != "UN" ? vr : ImplicitVrs.GetValueOrDefault((uint)tag.Group << 16 | tag.Element);

    /// <summary>The value as text (see the class comment), trimmed of padding.</summary>
    public static HeaderLookup TryFormat(DicomDataSet set, DicomTag tag, out string text)
    {
        text = "";
        if (set[tag] is not { } element) return HeaderLookup.Absent;
        if (element.Value is not { } bytes || VrOf(tag, element) is not { } vr) return HeaderLookup.Unknown;
        if (TextVrs.Contains(vr))
        {
            text = Encoding.UTF8.GetString(bytes).Trim(' ', '\0');
            return HeaderLookup.Found;
        }
        var size = vr switch { "US" or "SS" => 2, "UL" or "SL" or "FL" => 4, "FD" => 8, _ => 0 };
        if (size == 0) return HeaderLookup.Unknown;
        var values = new string[bytes.Length / size];
        var big = element.BigEndian;
        for (var i = 0; i < values.Length; i++)
        {
            var b = bytes.AsSpan(i * size, size);
            values[i] = vr switch
            {
                "US" => (big ? BinaryPrimitives.ReadUInt16BigEndian(b) : BinaryPrimitives.ReadUInt16LittleEndian(b)).ToString(CultureInfo.InvariantCulture),
                "SS" => (big ? BinaryPrimitives.ReadInt16BigEndian(b) : BinaryPrimitives.ReadInt16LittleEndian(b)).ToString(CultureInfo.InvariantCulture),
                "UL" => (big ? BinaryPrimitives.ReadUInt32BigEndian(b) : BinaryPrimitives.ReadUInt32LittleEndian(b)).ToString(CultureInfo.InvariantCulture),
                "SL" => (big ? BinaryPrimitives.ReadInt32BigEndian(b) : BinaryPrimitives.ReadInt32LittleEndian(b)).ToString(CultureInfo.InvariantCulture),
                "FL" => (big ? BinaryPrimitives.ReadSingleBigEndian(b) : BinaryPrimitives.ReadSingleLittleEndian(b)).ToString("R", CultureInfo.InvariantCulture),
                _ => (big ? BinaryPrimitives.ReadDoubleBigEndian(b) : BinaryPrimitives.ReadDoubleLittleEndian(b)).ToString("R", CultureInfo.InvariantCulture),
            };
        }
        text = string.Join('\\', values);
        return HeaderLookup.Found;
    }
}

/// <summary>What a lookup in the walked header found.</summary>
internal enum HeaderLookup
{
    /// <summary>The tag is not in the data set.</summary>
    Absent,

    /// <summary>The value, formatted.</summary>
    Found,

    /// <summary>Present, but its VR is not one formatted here (or its value was not kept): ask GDCM.</summary>
    Unknown,
}
