using CxrLab.Dicom;

namespace CxrLab.Tests.Dicom;

/// <summary>The native shim's decoders on streams written by other encoders than GDCM's: pydicom's RLE encoder
/// (run lengths, literal runs and segment padding of its own), DCMTK's JPEG encoders, a small JPEG Lossless encoder
/// with restart intervals; odd sizes, signed and unsigned, several frames. The expected values are the array encoded.</summary>
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

    // A CXR-like image (smooth + noise) with the extreme jumps that give difference category 16 (32768, no extra bits)
    // in 16-bit images, 37 x 53 (odd), 2 frames, encoded by DCMTK (not GDCM) with the predictor/point transform given.
    const string WriteJpegLossless = """
        import numpy as np, subprocess, sys, pydicom
        from pydicom.dataset import Dataset, FileMetaDataset
        from pydicom.uid import ExplicitVRLittleEndian
        stem, bits, signed, options, pt = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4].split(), int(sys.argv[5])
        rng = np.random.default_rng(bits * 10 + len(options))
        rows, cols, frames = 37, 53, 2
        lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
        y, x = np.mgrid[0:rows, 0:cols]
        smooth = np.stack([(lo + hi) / 2 + (hi - lo) / 3 * np.sin(x / 7 + f) * np.cos(y / 5) + rng.normal(0, (hi - lo) / 50, (rows, cols)) for f in range(frames)])
        arr = np.clip(smooth, lo, hi).astype({(8, 0): np.uint8}.get((bits, int(signed)), np.int16 if signed else np.uint16))
        arr[0, 3, 5:8] = [hi, lo, hi]
        arr[1, 10, 10:20] = [lo, hi, lo, hi, (lo + hi + 1) // 2, lo, hi, lo + 1, hi - 1, lo]
        meta = FileMetaDataset(); meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"; meta.MediaStorageSOPInstanceUID = "1.2.3"
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset(); ds.file_meta = meta; ds.is_little_endian = True; ds.is_implicit_VR = False
        ds.SOPClassUID = meta.MediaStorageSOPClassUID; ds.SOPInstanceUID = "1.2.3"; ds.Modality = "OT"
        ds.Rows, ds.Columns, ds.NumberOfFrames, ds.SamplesPerPixel = rows, cols, frames, 1
        ds.PhotometricInterpretation = "MONOCHROME2"; ds.BitsAllocated = arr.itemsize * 8; ds.BitsStored = bits; ds.HighBit = bits - 1
        ds.PixelRepresentation = int(signed)
        ds.PixelData = arr.tobytes()
        ds.save_as(stem + "_native.dcm", write_like_original=False)
        subprocess.run(["dcmcjpeg", *options, stem + "_native.dcm", stem + ".dcm"], check=True)
        print(pydicom.dcmread(stem + ".dcm", stop_before_pixels=True).file_meta.TransferSyntaxUID)
        np.save(stem + ".npy", (arr >> pt) << pt)   # lossless, but for the low bits a point transform drops
        """;

    [Theory]
    [InlineData(8, false, "+e1", 0, "1.2.840.10008.1.2.4.70")] // SV1: predictor 1
    [InlineData(8, false, "+el +sv 7", 0, "1.2.840.10008.1.2.4.57")]
    [InlineData(12, false, "+el +sv 4", 0, "1.2.840.10008.1.2.4.57")]
    [InlineData(12, false, "+el +sv 6 +pt 2", 2, "1.2.840.10008.1.2.4.57")]
    [InlineData(16, false, "+el +sv 5", 0, "1.2.840.10008.1.2.4.57")]
    [InlineData(16, false, "+el +sv 2 +pt 3", 3, "1.2.840.10008.1.2.4.57")]
    [InlineData(16, true, "+el +sv 3", 0, "1.2.840.10008.1.2.4.57")]
    [InlineData(12, true, "+e1", 0, "1.2.840.10008.1.2.4.70")]
    public void Jpeg_lossless_from_dcmtks_encoder_decodes_to_the_encoded_values(int bits, bool signed, string options, int pointTransform, string syntax)
    {
        var stem = Path.Combine(dir, $"ljpeg_{bits}_{signed}_{options.Replace(' ', '_')}");
        var written = PythonReference.Run($"import sys\nsys.argv = ['ljpeg', {Json(stem)}, '{bits}', '{(signed ? 1 : 0)}', {Json(options)}, '{pointTransform}']\n" + WriteJpegLossless);
        Assert.Equal(syntax, written.Trim());
        AssertDecodesTo(stem);
    }

    // Restart intervals (DRI, RSTn), which DCMTK's encoder does not write: this small encoder of ours writes them, and
    // pydicom with GDCM must decode its stream to the array too, so the stream is valid to an independent decoder.
    // It also uses the second of two Huffman tables, codes of 12..16 bits (past our lookup table), fill bytes and APPn/COM.
    const string WriteJpegLosslessRestarts = """
        import numpy as np, sys, pydicom
        from pydicom.dataset import Dataset, FileMetaDataset
        from pydicom.encaps import encapsulate
        from pydicom.pixel_data_handlers import gdcm_handler
        """ + "\n" + EncodeLossless + """

        stem, bits, predictor, pt, restart_rows = sys.argv[1], *map(int, sys.argv[2:6])
        rng = np.random.default_rng(bits * 100 + predictor)
        rows, cols, frames = 31, 23, 2
        hi = (1 << bits) - 1
        arr = rng.integers(0, hi, (frames, rows, cols), endpoint=True).astype(np.uint16 if bits > 8 else np.uint8)
        arr[0, 2, :8] = [0, hi, 0, hi, hi // 2 + 1, 0, hi, 1]
        meta = FileMetaDataset(); meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"; meta.MediaStorageSOPInstanceUID = "1.2.3"
        meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.57"
        ds = Dataset(); ds.file_meta = meta; ds.is_little_endian = True; ds.is_implicit_VR = False
        ds.SOPClassUID = meta.MediaStorageSOPClassUID; ds.SOPInstanceUID = "1.2.3"; ds.Modality = "OT"
        ds.Rows, ds.Columns, ds.NumberOfFrames, ds.SamplesPerPixel = rows, cols, frames, 1
        ds.PhotometricInterpretation = "MONOCHROME2"; ds.BitsAllocated = arr.itemsize * 8; ds.BitsStored = bits; ds.HighBit = bits - 1
        ds.PixelRepresentation = 0
        ds.PixelData = encapsulate([encode_lossless(arr[f], bits, predictor, pt, restart_rows) for f in range(frames)])
        ds["PixelData"].is_undefined_length = True
        ds.save_as(stem + ".dcm", write_like_original=False)
        expected = (arr >> pt) << pt
        pydicom.config.pixel_data_handlers = [gdcm_handler]
        assert np.array_equal(pydicom.dcmread(stem + ".dcm").pixel_array, expected), "GDCM decodes the stream differently"
        np.save(stem + ".npy", expected)
        """;

    const string EncodeLossless = """
        import numpy as np

        def encode_lossless(a, bits, predictor, pt, restart_rows):
            # A minimal process-14 encoder (one component): restart intervals, two Huffman tables (the scan uses table 1,
            # some codes longer than 11 bits), fill bytes before markers, APPn/COM segments.
            rows, cols = a.shape
            v = (a.astype(np.int64) & 0xFFFF) >> pt
            ra = np.zeros_like(v); ra[:, 1:] = v[:, :-1]
            rb = np.zeros_like(v); rb[1:, :] = v[:-1, :]
            rc = np.zeros_like(v); rc[1:, 1:] = v[:-1, :-1]
            pred = {1: ra, 2: rb, 3: rc, 4: ra + rb - rc, 5: ra + ((rb - rc) >> 1), 6: rb + ((ra - rc) >> 1), 7: (ra + rb) >> 1}[predictor].copy()
            first = np.arange(rows) % restart_rows == 0          # first row of the scan or of a restart interval
            pred[first, 1:] = v[first, :-1]                      # predictor 1 along that row
            pred[first, 0] = 1 << (bits - pt - 1)
            pred[~first, 0] = v[np.flatnonzero(~first) - 1, 0]   # Rb down the first column
            d = (v - pred) & 0xFFFF
            d = np.where(d > 32768, d - 65536, d)                # -32767 .. 32768
            # table 1: code lengths 2..16 for categories [5,4,6,3,7,2,8,1,9,10,11,0,12,13,14,15,16]
            counts = [0, 0, 1, 4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1]   # index = length
            symbols = [5, 4, 6, 3, 7, 2, 8, 1, 9, 10, 11, 0, 12, 13, 14, 15, 16]
            codes, code, k = {}, 0, 0
            for length in range(1, 17):
                for _ in range(counts[length]):
                    codes[symbols[k]] = (code, length); code += 1; k += 1
                code <<= 1
            out = bytearray(b"\xff\xd8")
            out += b"\xff\xe0\x00\x06CXR\x00" + b"\xff\xfe\x00\x05odd"     # APP0, COM
            out += bytes([0xFF, 0xC3, 0, 11, bits, rows >> 8, rows & 255, cols >> 8, cols & 255, 1, 7, 0x11, 0])
            decoy = bytes([0x00] + [0, 1, 5, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0]) + bytes(range(17))   # table 0, never used
            table = bytes([0x01] + counts[1:]) + bytes(symbols)
            body = decoy + table
            out += bytes([0xFF, 0xC4, (len(body) + 2) >> 8, (len(body) + 2) & 255]) + body
            interval = restart_rows * cols
            out += bytes([0xFF, 0xFF, 0xDD, 0, 4, interval >> 8, interval & 255])   # a fill byte before DRI
            out += bytes([0xFF, 0xDA, 0, 8, 1, 7, 0x10, predictor, 0, pt])
            acc, n = 0, 0
            def flush(pad):
                nonlocal acc, n
                if pad and n % 8: acc = (acc << (8 - n % 8)) | ((1 << (8 - n % 8)) - 1); n += 8 - n % 8
                while n >= 8:
                    byte = (acc >> (n - 8)) & 255; n -= 8; acc &= (1 << n) - 1
                    out.append(byte)
                    if byte == 0xFF: out.append(0)
            for y in range(rows):
                if y and y % restart_rows == 0:
                    flush(True)
                    out += bytes([0xFF, 0xD0 + (y // restart_rows - 1) % 8])
                for x in range(cols):
                    diff = int(d[y, x]); s = 16 if diff == 32768 else abs(diff).bit_length()
                    c, l = codes[s]
                    acc = (acc << l) | c; n += l
                    if 0 < s < 16:
                        acc = (acc << s) | (diff if diff > 0 else diff + (1 << s) - 1); n += s
                    flush(False)
            flush(True)
            out += b"\xff\xff\xd9"
            return bytes(out)
        """;

    [Theory]
    [InlineData(8, 1, 0, 3)]
    [InlineData(12, 4, 1, 5)]
    [InlineData(16, 6, 0, 7)]
    [InlineData(16, 5, 2, 2)]
    [InlineData(10, 1, 0, 1)]  // every row its own interval: 31 RST markers, RST0..RST7 four times over
    [InlineData(14, 7, 0, 2)]
    [InlineData(16, 3, 1, 100)] // one interval longer than the image: no RST marker at all
    public void Jpeg_lossless_with_restart_intervals_decodes_to_the_encoded_values(int bits, int predictor, int pointTransform, int restartRows)
    {
        var stem = Path.Combine(dir, $"ljpeg_rst_{bits}_{predictor}_{pointTransform}_{restartRows}");
        PythonReference.Run($"import sys\nsys.argv = ['rst', {Json(stem)}, '{bits}', '{predictor}', '{pointTransform}', '{restartRows}']\n" + WriteJpegLosslessRestarts);
        AssertDecodesTo(stem);
    }

    static void AssertDecodesTo(string stem)
    {
        using var dicom = DicomImage.Open(stem + ".dcm");
        Assert.Equal("jpeg-lossless", dicom.Decoder);
        var ours = dicom.ReadPixels(PixelStage.Raw, DicomImage.AllFrames);
        var (theirs, shape) = NpyFile.Read(stem + ".npy");
        Assert.Equal(shape, ours.Shape());
        Assert.Equal(theirs.GetType(), ours.Data.GetType());
        Assert.Equal(theirs.Cast<object>(), ours.Data.Cast<object>());
    }

    static string Json(string text) => System.Text.Json.JsonSerializer.Serialize(text);

    [Theory]
    [InlineData("eoi", 1, "ends inside row")]             // frame 1 cut short by an EOI marker in its middle
    [InlineData("rst", 0, "restart marker")]              // a restart marker in a stream without a restart interval
    [InlineData("ones", 1, "no Huffman code")]            // 64 one bits: never a code (the all-ones code is reserved)
    [InlineData("size", 1, "the DICOM header says")]      // the frame header's width disagrees with Columns
    public void Jpeg_lossless_with_a_damaged_stream_is_a_DicomException(string damage, int frame, string reason)
    {
        var stem = Path.Combine(dir, "ljpeg_damaged_" + damage);
        PythonReference.Run($"import sys\nsys.argv = ['ljpeg', {Json(stem)}, '12', '0', '+el +sv 1', '0']\n" + WriteJpegLossless);
        var bytes = File.ReadAllBytes(stem + ".dcm");
        var starts = new List<int>();
        for (var i = 0; i + 2 < bytes.Length; i++)
            if (bytes[i] == 0xFF && bytes[i + 1] == 0xD8 && bytes[i + 2] == 0xFF) starts.Add(i);
        Assert.Equal(2, starts.Count);
        var (begin, end) = frame == 0 ? (starts[0], starts[1]) : (starts[1], bytes.Length);
        var middle = begin + (end - begin) / 2;
        switch (damage)
        {
            case "eoi": bytes[middle] = 0xFF; bytes[middle + 1] = 0xD9; break;
            case "rst": bytes[middle] = 0xFF; bytes[middle + 1] = 0xD3; break;
            case "ones":
                for (var i = 0; i < 16; i += 2) { bytes[middle + i] = 0xFF; bytes[middle + i + 1] = 0x00; }
                break;
            default:
                var sof = bytes.AsSpan(begin).IndexOf([(byte)0xFF, (byte)0xC3]) + begin;
                bytes[sof + 8]++; // low byte of the width (SOF3: FF C3, length, P, Y, X)
                break;
        }
        File.WriteAllBytes(stem + ".dcm", bytes);
        using var dicom = DicomImage.Open(stem + ".dcm");
        Assert.Equal("jpeg-lossless", dicom.Decoder);
        var e = Assert.Throws<DicomException>(() => dicom.ReadRaw(DicomImage.AllFrames));
        Assert.Contains($"frame {frame}", e.Reason);
        Assert.Contains("JPEG Lossless", e.Reason);
        Assert.Contains(reason, e.Reason);
    }

    public void Dispose() => Directory.Delete(dir, recursive: true);
}
