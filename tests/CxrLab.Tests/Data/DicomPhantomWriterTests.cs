using CxrLab.Data.Phantom;

namespace CxrLab.Tests.Data;

public class DicomPhantomWriterTests
{
    [Theory]
    [InlineData(DicomCompression.None, false, 12)]
    [InlineData(DicomCompression.JpegLsLossless, true, 12)]
    [InlineData(DicomCompression.Jpeg2000Lossless, false, 12)]
    [InlineData(DicomCompression.Rle, true, 12)]
    [InlineData(DicomCompression.None, false, 8)]
    public void PydicomReadsBackTheStoredValuesAndTags(DicomCompression compression, bool monochrome1, int bits)
    {
        const int rows = 24, cols = 20;
        var stored = new ushort[rows * cols];
        var max = (1 << bits) - 1;
        for (var i = 0; i < stored.Length; i++) stored[i] = (ushort)(i * 37 % (max + 1));
        var path = Path.Combine(Path.GetTempPath(), $"cxr-phantom-{Guid.NewGuid():N}.dicom");
        try
        {
            var encoding = new DicomEncoding(monochrome1, bits, RescaleSlope: 2, RescaleIntercept: -100, WindowCenter: 1500.5, WindowWidth: 3000, Compression: compression);
            DicomPhantomWriter.Write(path, stored, rows, cols, encoding, new DicomIdentity("abc123", "2.25.1", "2.25.2", "2.25.3", "M", "045Y"));
            var output = PythonReference.Run($$"""
                import pydicom, numpy as np
                d = pydicom.dcmread('{{path}}')
                a = d.pixel_array
                print(d.file_meta.TransferSyntaxUID, d.PhotometricInterpretation, d.BitsAllocated, d.BitsStored,
                      float(d.RescaleSlope), float(d.RescaleIntercept), float(d.WindowCenter), float(d.WindowWidth),
                      d.PatientID, d.SOPInstanceUID, d.Rows, d.Columns)
                print(','.join(str(int(v)) for v in a.ravel()))
                """);
            var lines = output.Trim().Split('\n');
            var tags = lines[0].Split(' ');
            var expectedSyntax = compression switch
            {
                DicomCompression.JpegLsLossless => "1.2.840.10008.1.2.4.80",
                DicomCompression.Jpeg2000Lossless => "1.2.840.10008.1.2.4.90",
                DicomCompression.Rle => "1.2.840.10008.1.2.5",
                _ => "1.2.840.10008.1.2.1",
            };
            Assert.Equal(expectedSyntax, tags[0]);
            Assert.Equal(monochrome1 ? "MONOCHROME1" : "MONOCHROME2", tags[1]);
            Assert.Equal(bits <= 8 ? "8" : "16", tags[2]);
            Assert.Equal(bits.ToString(), tags[3]);
            Assert.Equal(["2.0", "-100.0", "1500.5", "3000.0", "abc123", "2.25.3", "24", "20"], tags[4..]);
            Assert.Equal(stored.Select(v => (int)v), lines[1].Split(',').Select(int.Parse));
        }
        finally { File.Delete(path); }
    }
}
