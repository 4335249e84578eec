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

    const string WriteJpeg = """
        import numpy as np, subprocess, sys, pydicom
        from pydicom.dataset import Dataset, FileMetaDataset
        from pydicom.uid import ExplicitVRLittleEndian
        from pydicom.pixel_data_handlers import gdcm_handler
        stem = sys.argv[1]
        rng = np.random.default_rng(3)
        rows, cols, frames = 301, 257, 2
        y, x = np.mgrid[0:rows, 0:cols]
        arr = np.stack([np.clip(120 + 80 * np.sin(x / (9 + f)) * np.cos(y / 13) + rng.normal(0, 12, (rows, cols)), 0, 255) for f in range(frames)]).astype(np.uint8)
        meta = FileMetaDataset(); meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"; meta.MediaStorageSOPInstanceUID = "1.2.3"
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset(); ds.file_meta = meta; ds.is_little_endian = True; ds.is_implicit_VR = False
        ds.SOPClassUID = meta.MediaStorageSOPClassUID; ds.SOPInstanceUID = "1.2.3"; ds.Modality = "OT"
        ds.Rows, ds.Columns, ds.NumberOfFrames, ds.SamplesPerPixel = rows, cols, frames, 1
        ds.PhotometricInterpretation = "MONOCHROME1"; ds.BitsAllocated = 8; ds.BitsStored = 8; ds.HighBit = 7; ds.PixelRepresentation = 0
        ds.PixelData = arr.tobytes()
        ds.save_as(stem + "_native.dcm", write_like_original=False)
        # DCMTK's encoder (not GDCM's), JPEG baseline (process 1)
        subprocess.run(["dcmcjpeg", "+eb", "+q", "85", stem + "_native.dcm", stem + ".dcm"], check=True)
        pydicom.config.pixel_data_handlers = [gdcm_handler]
        decoded = pydicom.dcmread(stem + ".dcm")
        assert decoded.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.50"
        np.save(stem + ".npy", decoded.pixel_array)
        """;

    [Fact]
    public void Jpeg_baseline_decodes_to_the_samples_gdcm_gives_pydicom()
    {
        var stem = Path.Combine(dir, "jpeg_baseline");
        PythonReference.Run($"import sys\nsys.argv = ['jpeg', {System.Text.Json.JsonSerializer.Serialize(stem)}]\n" + WriteJpeg);
        using var dicom = DicomImage.Open(stem + ".dcm");
        Assert.Equal("libjpeg-turbo", dicom.Decoder);
        var ours = dicom.ReadPixels(PixelStage.Raw, DicomImage.AllFrames);
        var (theirs, shape) = NpyFile.Read(stem + ".npy");
        Assert.Equal(shape, ours.Shape());
        Assert.Equal((byte[])theirs, (byte[])ours.Data);
    }

    [Fact]
    public void Jpeg_baseline_with_a_damaged_stream_is_a_DicomException()
    {
        var stem = Path.Combine(dir, "jpeg_damaged");
        PythonReference.Run($"import sys\nsys.argv = ['jpeg', {System.Text.Json.JsonSerializer.Serialize(stem)}]\n" + WriteJpeg);
        var bytes = File.ReadAllBytes(stem + ".dcm");
        // The second frame's fragment: cut its entropy-coded data short by overwriting it with an EOI marker.
        var soi = 0;
        for (var found = 0; found < 2; soi++)
            if (bytes[soi] == 0xFF && bytes[soi + 1] == 0xD8 && bytes[soi + 2] == 0xFF) found++;
        var middle = soi + (bytes.Length - soi) / 2;
        bytes[middle] = 0xFF;
        bytes[middle + 1] = 0xD9;
        File.WriteAllBytes(stem + ".dcm", bytes);
        using var dicom = DicomImage.Open(stem + ".dcm");
        var e = Assert.Throws<DicomException>(() => dicom.ReadRaw(DicomImage.AllFrames));
        Assert.Contains("frame 1", e.Reason);
        Assert.Contains("JPEG", e.Reason);
    }

    public void Dispose() => Directory.Delete(dir, recursive: true);
}
