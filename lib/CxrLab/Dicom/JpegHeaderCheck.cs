using System.Buffers.Binary;

namespace CxrLab.Dicom;

/// <summary>
/// Checks the marker segments of each encapsulated JPEG frame (SOI up to the first SOS) before GDCM sees the file.
/// Why: GDCM 3.0 reads the JPEG header while its ImageReader reads the file, and it asserts (aborting the process)
/// when libjpeg reports any warning there — bytes between markers, an unknown JFIF major version, an unknown Adobe
/// colour transform — or when the frame's component count or precision is one it does not expect. Those streams
/// become a <see cref="DicomException"/> here. This reads marker lengths only (no entropy-coded data): libjpeg's
/// errors past the header are caught by GDCM and reported as a failed decode.
/// </summary>
internal static class JpegHeaderCheck
{
    /// <summary>JPEG baseline, extended, and lossless (process 14, SV1), plus the retired JPEG process UIDs GDCM reads.</summary>
    static bool IsJpeg(string uid) => uid.StartsWith("1.2.840.10008.1.2.4.", StringComparison.Ordinal)
        && int.TryParse(uid.AsSpan("1.2.840.10008.1.2.4.".Length), out var n) && n is >= 50 and <= 70;

    /// <summary>Most headers end well inside this; a longer one is read in full.</summary>
    const int Prefix = 64 * 1024;

    public static void Validate(string path, PreflightResult layout)
    {
        if (!IsJpeg(layout.TransferSyntaxUid) || !layout.Encapsulated || layout.Fragments is not { Count: > 0 } fragments) return;
        using var handle = File.OpenHandle(path);
        for (var i = 0; i < fragments.Count; i++)
        {
            var (offset, length) = fragments[i];
            if (length < 2) continue;
            // A frame starts with SOI; continuation fragments of a frame hold entropy-coded data only.
            var head = new byte[Math.Min(length, Prefix)];
            if (RandomAccess.Read(handle, head, offset) != head.Length)
                throw new DicomException(path, $"JPEG fragment at byte {offset} is cut short");
            if (head[0] != 0xFF || head[1] != 0xD8)
            {
                if (i == 0) throw new DicomException(path, $"the first JPEG fragment (byte {offset}) does not start with an SOI marker");
                continue;
            }
            var problem = Check(head, length > head.Length);
            if (problem == NeedMore)
            {
                var all = new byte[length];
                if (RandomAccess.Read(handle, all, offset) != all.Length) throw new DicomException(path, $"JPEG fragment at byte {offset} is cut short");
                problem = Check(all, false);
            }
            if (problem is not null) throw new DicomException(path, $"JPEG frame at byte {offset}: {problem}");
        }
    }

    const string NeedMore = "<need more>";

    /// <summary>Null when the header is one GDCM handles; else the reason (or <see cref="NeedMore"/> when the bytes
    /// end before SOS and <paramref name="truncated"/> says more are in the file).</summary>
    internal static string? Check(ReadOnlySpan<byte> s, bool truncated)
    {
        var pos = 2; // after SOI
        int components = 0;
        int? adobeTransform = null;
        var sawFrame = false;
        while (true)
        {
            if (pos >= s.Length) return truncated ? NeedMore : "the header ends before the start of scan (SOS)";
            // libjpeg warns (and GDCM then aborts) when anything but 0xFF precedes a marker.
            if (s[pos] != 0xFF) return $"byte {pos} is 0x{s[pos]:X2} where a marker must start (corrupt header)";
            while (pos < s.Length && s[pos] == 0xFF) pos++; // fill bytes are allowed
            if (pos >= s.Length) return truncated ? NeedMore : "the header ends before the start of scan (SOS)";
            var marker = s[pos++];
            if (marker == 0x00) return $"stuffed zero at byte {pos - 1} inside the header (corrupt header)";
            if (marker is 0xD8) return "a second SOI marker inside the header";
            if (marker is 0xD9) return "end of image (EOI) before any scan";
            if (marker is >= 0xD0 and <= 0xD7 or 0x01) continue; // RSTn, TEM: no segment
            if (pos + 2 > s.Length) return truncated ? NeedMore : "a marker segment is cut short";
            var length = BinaryPrimitives.ReadUInt16BigEndian(s[pos..]);
            if (length < 2) return $"marker 0xFF{marker:X2} declares a segment of {length} bytes";
            if (pos + length > s.Length) return truncated ? NeedMore : $"marker 0xFF{marker:X2} segment ({length} bytes) runs past the frame";
            var body = s.Slice(pos + 2, length - 2);
            switch (marker)
            {
                case >= 0xC0 and <= 0xCF when marker is not (0xC4 or 0xC8 or 0xCC):
                    if (marker is not (0xC0 or 0xC1 or 0xC2 or 0xC3)) return $"JPEG process SOF{marker - 0xC0} is not supported";
                    if (sawFrame) return "a second frame header (SOF)";
                    sawFrame = true;
                    if (body.Length < 6) return "the frame header (SOF) is too short";
                    var precision = body[0];
                    components = body[5];
                    if (body.Length != 6 + 3 * components) return "the frame header (SOF) length does not match its component count";
                    if (marker == 0xC3 ? precision is < 2 or > 16 : precision is not (8 or 12))
                        return $"precision {precision} is not valid for JPEG process SOF{marker - 0xC0}";
                    if (components is not (1 or 3)) return $"{components} components (GDCM decodes 1 or 3)";
                    if (BinaryPrimitives.ReadUInt16BigEndian(body[1..]) == 0 || BinaryPrimitives.ReadUInt16BigEndian(body[3..]) == 0)
                        return "the frame header (SOF) has a zero width or height";
                    break;
                case 0xE0 when body.Length >= 7 && body[..5].SequenceEqual("JFIF\0"u8):
                    if (body[5] != 1) return $"JFIF major version {body[5]} (libjpeg knows 1)";
                    break;
                case 0xEE when body.Length >= 12 && body[..5].SequenceEqual("Adobe"u8):
                    adobeTransform = body[11];
                    break;
                case 0xDA:
                    if (!sawFrame) return "start of scan (SOS) before the frame header (SOF)";
                    if (body.Length < 1 || body[0] is < 1 or > 4 || body.Length != 4 + 2 * body[0]) return "the scan header (SOS) is malformed";
                    if (components == 3 && adobeTransform is { } t && t > 1) return $"Adobe colour transform {t} with 3 components";
                    return null;
            }
            pos += length;
        }
    }
}
