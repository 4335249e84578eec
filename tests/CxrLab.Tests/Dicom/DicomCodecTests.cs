using CxrLab.Dicom;

namespace CxrLab.Tests.Dicom;

/// <summary>The native shim's RLE decoder on streams written by another encoder than GDCM's: pydicom's RLE encoder
/// (run lengths, literal runs and segment padding of its own), odd sizes, signed and unsigned, several frames.
/// The expected values are the array pydicom encoded.</summary>
public sealed class DicomCodecTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("cxr-dicom-codec-").FullName;

    const string WriteRle = """
        import numpy as np, sys
        from pydicom.dataset import Dataset, FileMetaDataset
        from pydicom.uid import ExplicitVRLittleEndian, RLELossless
        out, bits, signed = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
        rng = np.random.default_rng(bits + signed)
        rows, cols, frames = 37, 53, 2
        dtype = {(8, 0): np.uint8, (8, 1): np.int8, (16, 0): np.uint16, (16, 1): np.int16}[(bits, int(signed))]
        info = np.iinfo(dtype)
        arr = rng.integers(info.min, info.max, (frames, rows, cols), endpoint=True).astype(dtype)
        arr[:, 5:9, :] = 7                      # a run longer than 128 bytes, across rows
        arr[:, 20, :] = np.arange(cols) // 3    # short runs
        meta = FileMetaDataset(); meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"; meta.MediaStorageSOPInstanceUID = "1.2.3"
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset(); ds.file_meta = meta; ds.is_little_endian = True; ds.is_implicit_VR = False
        ds.SOPClassUID = meta.MediaStorageSOPClassUID; ds.SOPInstanceUID = "1.2.3"; ds.Modality = "OT"
        ds.Rows, ds.Columns, ds.NumberOfFrames, ds.SamplesPerPixel = rows, cols, frames, 1
        ds.PhotometricInterpretation = "MONOCHROME2"; ds.BitsAllocated = bits; ds.BitsStored = bits; ds.HighBit = bits - 1
        ds.PixelRepresentation = int(signed)
        ds.compress(RLELossless, arr, encoding_plugin="pydicom")
        ds.save_as(out + ".dcm", write_like_original=False)
        np.save(out + ".npy", arr)
        """;

    [Theory]
    [InlineData(8, false)]
    [InlineData(16, false)]
    [InlineData(16, true)]
    public void Rle_from_pydicoms_encoder_decodes_to_the_encoded_values(int bits, bool signed)
    {
        var stem = Path.Combine(dir, $"rle_{bits}_{signed}");
        PythonReference.Run($"import sys\nsys.argv = ['rle', {System.Text.Json.JsonSerializer.Serialize(stem)}, '{bits}', '{(signed ? 1 : 0)}']\n" + WriteRle);
        using var dicom = DicomImage.Open(stem + ".dcm");
        Assert.Equal("rle", dicom.Decoder);
        var ours = dicom.ReadPixels(PixelStage.Raw, DicomImage.AllFrames);
        var (theirs, shape) = NpyFile.Read(stem + ".npy");
        Assert.Equal(shape, ours.Shape());
        Assert.Equal(theirs.GetType(), ours.Data.GetType());
        Assert.Equal(theirs.Cast<object>(), ours.Data.Cast<object>());
    }

    [Fact]
    public void Jpeg2000_on_several_threads_equals_one_thread()
    {
        foreach (var file in Directory.GetFiles(FixtureFile.PathOf("dicom"), "*__j2k_*.dcm").Order(StringComparer.Ordinal))
        {
            Array Read(int threads)
            {
                DicomImage.Jpeg2000Threads = threads;
                try
                {
                    using var dicom = DicomImage.Open(file);
                    Assert.Equal("openjpeg", dicom.Decoder);
                    return dicom.ReadRaw(DicomImage.AllFrames);
                }
                finally { DicomImage.Jpeg2000Threads = 1; }
            }
            Assert.Equal(Read(1).Cast<object>(), Read(2).Cast<object>());
        }
    }

    public void Dispose() => Directory.Delete(dir, recursive: true);
}
