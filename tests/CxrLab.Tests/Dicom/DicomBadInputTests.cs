using System.Text;
using CxrLab.Dicom;

namespace CxrLab.Tests.Dicom;

/// <summary>Bad files give a <see cref="DicomException"/> naming the file and the reason: never a crash, a hang
/// or a huge allocation.</summary>
public sealed class DicomBadInputTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("cxr-dicom-bad-").FullName;

    static string Fixture(string name) => FixtureFile.PathOf(Path.Combine("dicom", name));

    string Write(string name, byte[] bytes)
    {
        var path = Path.Combine(dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    static DicomException Fails(string path, string reasonPart)
    {
        var e = Assert.Throws<DicomException>(() =>
        {
            using var dicom = DicomImage.Open(path);
            dicom.ReadRaw(DicomImage.AllFrames);
        });
        Assert.Equal(path, e.Path);
        Assert.Contains(path, e.Message);
        Assert.Contains(reasonPart, e.Reason, StringComparison.OrdinalIgnoreCase);
        return e;
    }

    [Fact]
    public void Missing_file() => Fails(Path.Combine(dir, "absent.dcm"), "not found");

    [Fact]
    public void Not_dicom() => Fails(Write("notes.dcm", Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("hello, this is not an image\n", 20)))), "not a DICOM file");

    [Fact]
    public void Tiny_file() => Fails(Write("tiny.dcm", [1, 2, 3]), "not a DICOM file");

    [Fact]
    public void Truncated_file()
    {
        var bytes = File.ReadAllBytes(Fixture("mono2_u12_window__explicit_le.dcm"));
        Fails(Write("truncated.dcm", bytes[..(bytes.Length / 2)]), "remain");
    }

    [Fact]
    public void No_pixel_data() => Fails(Path.Combine(DicomReferenceSet.PydicomTestFiles, "rtplan.dcm"), "no pixel data");

    [Fact]
    public void Unsupported_transfer_syntax()
    {
        var bytes = File.ReadAllBytes(Fixture("mono2_u12_window__jpeg_lossless_sv1.dcm"));
        // Same length as "1.2.840.10008.1.2.4.70": a UID no codec knows.
        var at = IndexOf(bytes, "1.2.840.10008.1.2.4.70");
        Encoding.ASCII.GetBytes("1.2.840.10008.1.2.4.99").CopyTo(bytes, at);
        Fails(Write("unknown-syntax.dcm", bytes), "GDCM could not");
    }

    [Theory]
    [InlineData(0xFFFFFFF0u)]
    [InlineData(0x7FFFFFFFu)]
    [InlineData(0x10000000u)]
    public void Length_beyond_the_file_is_refused_without_allocating_it(uint length)
    {
        var bytes = File.ReadAllBytes(Fixture("mono2_u12_window__explicit_le.dcm"));
        // Explicit VR LE pixel data header: E0 7F 10 00 'O' 'W' 00 00 <length:4>
        var at = bytes.AsSpan().LastIndexOf([(byte)0xE0, (byte)0x7F, (byte)0x10, (byte)0x00]);
        Assert.True(at > 0);
        BitConverter.GetBytes(length).CopyTo(bytes, at + 8);
        var path = Write($"huge-{length:X}.dcm", bytes);
        var before = GC.GetAllocatedBytesForCurrentThread();
        Fails(path, "declares");
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 4 << 20, "allocated more than 4 MiB for a 6 KiB file");
    }

    [Fact]
    public void Frame_out_of_range()
    {
        using var dicom = DicomImage.Open(Fixture("mono1_u12_frames__explicit_le.dcm"));
        Assert.Equal(3, dicom.NumberOfFrames);
        var e = Assert.Throws<DicomException>(() => dicom.ReadRaw(3));
        Assert.Contains("frame 3", e.Reason);
    }

    [Fact]
    public void Rle_header_with_no_segments_is_refused_before_gdcm_divides_by_it()
    {
        var bytes = File.ReadAllBytes(Fixture("mono2_u12_window__rle.dcm"));
        // Fragment 1 (after the empty offset table item) starts with the RLE header: segment count first.
        var pixelData = bytes.AsSpan().LastIndexOf([(byte)0xE0, (byte)0x7F, (byte)0x10, (byte)0x00]);
        var firstFragment = pixelData + 12 + 8 + BitConverter.ToInt32(bytes, pixelData + 12 + 4) + 8;
        Assert.Equal(2u, BitConverter.ToUInt32(bytes, firstFragment)); // 16-bit grayscale: two byte segments
        BitConverter.GetBytes(0u).CopyTo(bytes, firstFragment);
        Fails(Write("rle-zero-segments.dcm", bytes), "segments");
    }

    static int IndexOf(byte[] bytes, string ascii)
    {
        var at = bytes.AsSpan().IndexOf(Encoding.ASCII.GetBytes(ascii));
        Assert.True(at >= 0, $"'{ascii}' not found");
        return at;
    }

    public void Dispose()
    {
        try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
    }
}
