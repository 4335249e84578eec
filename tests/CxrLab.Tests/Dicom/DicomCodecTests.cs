using CxrLab.Dicom;

namespace CxrLab.Tests.Dicom;

/// <summary>The native shim's decoders on streams written by other encoders than GDCM's: pydicom's RLE encoder
/// (run lengths, literal runs and segment padding of its own), DCMTK's JPEG and JPEG-LS encoders, gdcmconv's JPEG-LS,
/// a small JPEG Lossless encoder and spliced JPEG-LS streams with restart intervals; odd sizes, signed and unsigned, several frames. The expected values are the array encoded.</summary>
public sealed class DicomCodecTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("cxr-dicom-codec-").FullName;

    const string WriteRle = """
        import numpy as np, sys
        from pydicom.uid import RLELossless
        out, bits, signed = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
        rng = np.random.default_rng(bits + signed)
        rows, cols, frames = 37, 53, 2
        dtype = {(8, 0): np.uint8, (8, 1): np.int8, (16, 0): np.uint16, (16, 1): np.int16}[(bits, int(signed))]
        info = np.iinfo(dtype)
        arr = rng.integers(info.min, info.max, (frames, rows, cols), endpoint=True).astype(dtype)
        arr[:, 5:9, :] = 7                      # a run longer than 128 bytes, across rows
        arr[:, 20, :] = np.arange(cols) // 3    # short runs
        ds = dataset_of(arr, bits, signed=signed)
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
        RunScript(WriteRle, "rle", stem, bits, signed ? 1 : 0);
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
        from pydicom.pixel_data_handlers import gdcm_handler
        stem = sys.argv[1]
        rng = np.random.default_rng(3)
        rows, cols, frames = 301, 257, 2
        y, x = np.mgrid[0:rows, 0:cols]
        arr = np.stack([np.clip(120 + 80 * np.sin(x / (9 + f)) * np.cos(y / 13) + rng.normal(0, 12, (rows, cols)), 0, 255) for f in range(frames)]).astype(np.uint8)
        ds = dataset_of(arr, 8, photometric="MONOCHROME1")
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
        RunScript(WriteJpeg, "jpeg", stem);
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
        RunScript(WriteJpeg, "jpeg", stem);
        var bytes = File.ReadAllBytes(stem + ".dcm");
        // The second frame's fragment: cut its entropy-coded data short by overwriting it with an EOI marker.
        var (begin, end) = FrameRange(bytes, 1);
        var middle = begin + (end - begin) / 2;
        bytes[middle] = 0xFF;
        bytes[middle + 1] = 0xD9;
        AssertDamageIsReported(stem + ".dcm", bytes, "libjpeg-turbo", 1, "JPEG", "premature end");
    }

    // A CXR-like image (smooth + noise) with the extreme jumps that give difference category 16 (32768, no extra bits)
    // in 16-bit images, 37 x 53 (odd), 2 frames, encoded by DCMTK (not GDCM) with the predictor/point transform given.
    const string WriteJpegLossless = """
        import numpy as np, subprocess, sys, pydicom
        stem, bits, signed, options, pt = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4].split(), int(sys.argv[5])
        rng = np.random.default_rng(bits * 10 + len(options))
        rows, cols, frames = 37, 53, 2
        lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
        y, x = np.mgrid[0:rows, 0:cols]
        smooth = np.stack([(lo + hi) / 2 + (hi - lo) / 3 * np.sin(x / 7 + f) * np.cos(y / 5) + rng.normal(0, (hi - lo) / 50, (rows, cols)) for f in range(frames)])
        arr = np.clip(smooth, lo, hi).astype({(8, 0): np.uint8}.get((bits, int(signed)), np.int16 if signed else np.uint16))
        arr[0, 3, 5:8] = [hi, lo, hi]
        arr[1, 10, 10:20] = [lo, hi, lo, hi, (lo + hi + 1) // 2, lo, hi, lo + 1, hi - 1, lo]
        ds = dataset_of(arr, bits, signed=signed)
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
        var written = RunScript(WriteJpegLossless, "ljpeg", stem, bits, signed ? 1 : 0, options, pointTransform);
        Assert.Equal(syntax, written.Trim());
        AssertDecodesTo(stem);
    }

    // Restart intervals (DRI, RSTn), which DCMTK's encoder does not write: this small encoder of ours writes them, and
    // pydicom with GDCM must decode its stream to the array too, so the stream is valid to an independent decoder.
    // It also uses the second of two Huffman tables, codes of 12..16 bits (past our lookup table), fill bytes and APPn/COM.
    const string WriteJpegLosslessRestarts = """
        import numpy as np, sys, pydicom
        from pydicom.encaps import encapsulate
        from pydicom.pixel_data_handlers import gdcm_handler
        """ + "\n" + EncodeLossless + """

        stem, bits, predictor, pt, restart_rows = sys.argv[1], *map(int, sys.argv[2:6])
        rng = np.random.default_rng(bits * 100 + predictor)
        rows, cols, frames = 31, 23, 2
        hi = (1 << bits) - 1
        arr = rng.integers(0, hi, (frames, rows, cols), endpoint=True).astype(np.uint16 if bits > 8 else np.uint8)
        arr[0, 2, :8] = [0, hi, 0, hi, hi // 2 + 1, 0, hi, 1]
        ds = dataset_of(arr, bits, "1.2.840.10008.1.2.4.57")
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
        RunScript(WriteJpegLosslessRestarts, "rst", stem, bits, predictor, pointTransform, restartRows);
        AssertDecodesTo(stem);
    }

    static void AssertDecodesTo(string stem, string decoder = "jpeg-lossless")
    {
        using var dicom = DicomImage.Open(stem + ".dcm");
        Assert.Equal(decoder, dicom.Decoder);
        var ours = dicom.ReadPixels(PixelStage.Raw, DicomImage.AllFrames);
        var (theirs, shape) = NpyFile.Read(stem + ".npy");
        Assert.Equal(shape, ours.Shape());
        Assert.Equal(theirs.GetType(), ours.Data.GetType());
        Assert.Equal(theirs.Cast<object>(), ours.Data.Cast<object>());
    }

    /// <summary>Defined for every script: a minimal single-sample data set for <c>arr</c> (rows × cols, or frames × rows × cols)
    /// with <c>bits</c> stored bits, in the given transfer syntax (the pixel data is the caller's).</summary>
    const string DatasetOf = """
        from pydicom.dataset import Dataset, FileMetaDataset
        from pydicom.uid import ExplicitVRLittleEndian
        def dataset_of(arr, bits, transfer_syntax=ExplicitVRLittleEndian, signed=False, photometric="MONOCHROME2"):
            meta = FileMetaDataset(); meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"; meta.MediaStorageSOPInstanceUID = "1.2.3"
            meta.TransferSyntaxUID = transfer_syntax
            ds = Dataset(); ds.file_meta = meta; ds.is_little_endian = True; ds.is_implicit_VR = False
            ds.SOPClassUID = meta.MediaStorageSOPClassUID; ds.SOPInstanceUID = "1.2.3"; ds.Modality = "OT"
            ds.Rows, ds.Columns, ds.SamplesPerPixel = arr.shape[-2], arr.shape[-1], 1
            if arr.ndim == 3: ds.NumberOfFrames = arr.shape[0]
            ds.PhotometricInterpretation = photometric; ds.BitsAllocated = arr.itemsize * 8; ds.BitsStored = bits; ds.HighBit = bits - 1
            ds.PixelRepresentation = int(signed)
            return ds
        """;

    /// <summary>Runs a reference script (after <see cref="DatasetOf"/>) with <c>sys.argv</c> set to <paramref name="argv"/>
    /// (as strings); returns its stdout.</summary>
    static string RunScript(string script, params object[] argv) =>
        PythonReference.Run("import sys\nsys.argv = " +
                            System.Text.Json.JsonSerializer.Serialize(argv.Select(a => Convert.ToString(a, System.Globalization.CultureInfo.InvariantCulture))) +
                            "\n" + DatasetOf + "\n" + script);

    /// <summary>Byte range of encapsulated JPEG frame <paramref name="frame"/> in a two-frame file: from its SOI to the next
    /// SOI (or the end of the file).</summary>
    static (int Begin, int End) FrameRange(byte[] bytes, int frame)
    {
        var starts = new List<int>();
        for (var i = 0; i + 2 < bytes.Length; i++)
            if (bytes[i] == 0xFF && bytes[i + 1] == 0xD8 && bytes[i + 2] == 0xFF) starts.Add(i);
        Assert.Equal(2, starts.Count);
        return frame == 0 ? (starts[0], starts[1]) : (starts[1], bytes.Length);
    }

    /// <summary>Writes the damaged bytes, opens the file with <paramref name="decoder"/> and asserts that decoding fails with a
    /// DicomException naming the frame, the codec and the reason.</summary>
    void AssertDamageIsReported(string file, byte[] bytes, string decoder, int frame, string codec, string reason)
    {
        File.WriteAllBytes(file, bytes);
        using var dicom = DicomImage.Open(file);
        Assert.Equal(decoder, dicom.Decoder);
        var e = Assert.Throws<DicomException>(() => dicom.ReadRaw(DicomImage.AllFrames));
        Assert.Contains($"frame {frame}", e.Reason);
        Assert.Contains(codec, e.Reason);
        Assert.Contains(reason, e.Reason);
    }

    [Theory]
    [InlineData("eoi", 1, "ends inside row")]             // frame 1 cut short by an EOI marker in its middle
    [InlineData("rst", 0, "restart marker")]              // a restart marker in a stream without a restart interval
    [InlineData("ones", 1, "no Huffman code")]            // 64 one bits: never a code (the all-ones code is reserved)
    [InlineData("size", 1, "the DICOM header says")]      // the frame header's width disagrees with Columns
    public void Jpeg_lossless_with_a_damaged_stream_is_a_DicomException(string damage, int frame, string reason)
    {
        var stem = Path.Combine(dir, "ljpeg_damaged_" + damage);
        RunScript(WriteJpegLossless, "ljpeg", stem, 12, 0, "+el +sv 1", 0);
        var bytes = File.ReadAllBytes(stem + ".dcm");
        var (begin, end) = FrameRange(bytes, frame);
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
        AssertDamageIsReported(stem + ".dcm", bytes, "jpeg-lossless", frame, "JPEG Lossless", reason);
    }

    // JPEG-LS from encoders other than ours: DCMTK's dcmcjpls (lossless, near-lossless, custom T1/T2/T3/RESET) and
    // gdcmconv. A CXR-like 37 x 53 (odd) image, 2 frames: flat patches (run mode, run interruptions), a smooth
    // gradient with noise (regular mode), a strip of full-range noise (escape codes, modulo reduction). The expected
    // values are pydicom + GDCM's (CharLS) decode; for lossless also the array written, for near-lossless within NEAR.
    const string WriteJpegLs = """
        import numpy as np, subprocess, sys, pydicom
        from pydicom.pixel_data_handlers import gdcm_handler
        stem, bits, tool, options, near = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4].split(), int(sys.argv[5])
        rows, cols, frames = int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8])
        rng = np.random.default_rng(bits * 10 + len(options))
        hi = (1 << bits) - 1
        y, x = np.mgrid[0:rows, 0:cols]
        def frame(f):
            a = hi / 2 + hi / 4 * np.sin(x / 9 + f) * np.cos(y / 6) + rng.normal(0, hi / 200 + 1, (rows, cols))
            a[2:9, 3:30] = hi // 3 + f                                  # flat: runs across whole and part lines
            a[12:14, :] = hi // 5                                       # runs to the end of the line
            a[20:23, 5:40] = rng.integers(0, hi, (3, 35), endpoint=True)  # full-range noise
            a[25, ::2] = hi                                             # run interruptions every other sample
            a[25, 1::2] = hi - 1 - near
            return a
        # gdcmconv writes a 16-bit stream (P = 16, MAXVAL 65535) whatever Bits Stored says, so its near-lossless values may
        # overshoot 2^bits - 1, bits that pydicom shows and DICOM (and we) mask off: keep its samples NEAR from the ends.
        margin = near if tool == "gdcmconv" else 0
        arr = np.clip(np.stack([frame(f) for f in range(frames)]), margin, hi - margin).astype(np.uint8 if bits <= 8 else np.uint16)
        ds = dataset_of(arr, bits)
        ds.PixelData = arr.tobytes()
        ds.save_as(stem + "_native.dcm", write_like_original=False)
        # gdcmconv warns about lossy syntaxes on stdout, which is this script's answer
        subprocess.run([tool, *options, stem + "_native.dcm", stem + ".dcm"], check=True, stdout=subprocess.DEVNULL)
        pydicom.config.pixel_data_handlers = [gdcm_handler]
        ds = pydicom.dcmread(stem + ".dcm")
        reference = ds.pixel_array.reshape(arr.shape)
        deviation = int(np.abs(reference.astype(np.int64) - arr).max())
        assert deviation <= near, f"GDCM's decode deviates by {deviation} > NEAR {near}"
        np.save(stem + ".npy", reference.astype(arr.dtype))
        print(ds.file_meta.TransferSyntaxUID, deviation)
        """;

    [Theory]
    [InlineData(8, "dcmcjpls", "+el", 0, "1.2.840.10008.1.2.4.80")]
    [InlineData(12, "dcmcjpls", "+el", 0, "1.2.840.10008.1.2.4.80")]
    [InlineData(16, "dcmcjpls", "+el", 0, "1.2.840.10008.1.2.4.80")]
    [InlineData(12, "dcmcjpls", "+el +pc", 0, "1.2.840.10008.1.2.4.80")]                     // DCMTK's "cooked" encoder
    [InlineData(12, "dcmcjpls", "+el +t1 5 +t2 40 +t3 300 +rs 17", 0, "1.2.840.10008.1.2.4.80")] // custom presets (LSE)
    [InlineData(8, "dcmcjpls", "+en +md 1", 1, "1.2.840.10008.1.2.4.81")]
    [InlineData(12, "dcmcjpls", "+en +md 3", 3, "1.2.840.10008.1.2.4.81")]
    [InlineData(16, "dcmcjpls", "+en +md 7 +t1 20 +t2 90 +t3 700 +rs 200", 7, "1.2.840.10008.1.2.4.81")]
    [InlineData(12, "gdcmconv", "--jpegls", 0, "1.2.840.10008.1.2.4.80")]
    [InlineData(10, "gdcmconv", "--jpegls --lossy -e 2", 2, "1.2.840.10008.1.2.4.81")] // (gdcmconv ignores the long --allowed-error)
    public void Jpeg_ls_from_dcmtk_and_gdcm_decodes_to_the_samples_gdcm_gives_pydicom(int bits, string tool, string options, int near, string syntax)
    {
        var stem = Path.Combine(dir, $"jls_{bits}_{tool}_{options.Replace(' ', '_')}");
        var written = RunScript(WriteJpegLs, "jls", stem, bits, tool, options, near, 37, 53, 2);
        var fields = written.Trim().Split(' ');
        Assert.Equal(syntax, fields[0]);
        if (near > 0) Assert.NotEqual("0", fields[1]); // truly near-lossless: the test would not see a wrong NEAR otherwise
        AssertDecodesTo(stem, "jpeg-ls");
    }

    // Restart intervals (DRI, RSTn), which neither DCMTK nor GDCM writes: each interval of R lines is encoded by DCMTK as
    // an image of its own (an interval starts afresh: contexts reset, a zero line above — T.87 as for a new image),
    // and the codestreams are spliced with RSTn markers between them and a DRI in the header. pydicom with GDCM must
    // decode the spliced stream to the array too, so it is valid to an independent decoder.
    const string WriteJpegLsRestarts = """
        import numpy as np, subprocess, sys, pydicom
        from pydicom.encaps import encapsulate, generate_pixel_data_frame
        from pydicom.pixel_data_handlers import gdcm_handler
        stem, bits, restart_rows, options = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4].split()
        rng = np.random.default_rng(bits * 100 + restart_rows)
        rows, cols, frames = 31, 23, 2
        hi = (1 << bits) - 1
        arr = rng.integers(0, hi, (frames, rows, cols), endpoint=True).astype(np.uint16 if bits > 8 else np.uint8)
        arr[:, 4:12, 3:20] = hi // 2                      # runs
        def encode(strip):
            ds = dataset_of(strip, bits); ds.PixelData = strip.tobytes()
            ds.save_as(stem + "_strip.dcm", write_like_original=False)
            subprocess.run(["dcmcjpls", *options, stem + "_strip.dcm", stem + "_strip_ls.dcm"], check=True)
            return next(generate_pixel_data_frame(pydicom.dcmread(stem + "_strip_ls.dcm").PixelData))
        def splice(a):
            out = bytearray()
            for k, y in enumerate(range(0, rows, restart_rows)):
                s = encode(a[y:y + restart_rows])
                p = 2
                while s[p + 1] != 0xDA: p += 2 + (s[p + 2] << 8 | s[p + 3])
                sos_end = p + 2 + (s[p + 2] << 8 | s[p + 3])
                end = s.rindex(b"\xff\xd9")
                while s[end - 1] == 0xFF and s[end] != 0 and end - 1 >= sos_end and (end - 1 == sos_end or s[end - 2] != 0xFF): end -= 1
                if k == 0:
                    header = bytearray(s[:p])
                    q = 2
                    while q < p:
                        if header[q + 1] == 0xF7: header[q + 5:q + 7] = rows.to_bytes(2, "big")
                        q += 2 + (header[q + 2] << 8 | header[q + 3])
                    out += header + bytes([0xFF, 0xDD, 0, 4]) + restart_rows.to_bytes(2, "big") + s[p:sos_end]
                else:
                    out += bytes([0xFF, 0xD0 + (k - 1) % 8])
                out += s[sos_end:end]
            return bytes(out + b"\xff\xd9")
        ds = dataset_of(arr, bits, "1.2.840.10008.1.2.4.80" if "+el" in options else "1.2.840.10008.1.2.4.81")
        ds.PixelData = encapsulate([splice(arr[f]) for f in range(frames)])
        ds["PixelData"].is_undefined_length = True
        ds.save_as(stem + ".dcm", write_like_original=False)
        pydicom.config.pixel_data_handlers = [gdcm_handler]
        reference = pydicom.dcmread(stem + ".dcm").pixel_array
        if "+el" in options: assert np.array_equal(reference, arr), "GDCM decodes the spliced stream differently"
        np.save(stem + ".npy", reference)
        """;

    [Theory]
    [InlineData(8, 3, "+el")]
    [InlineData(12, 1, "+el")]   // every line its own interval: 30 RST markers, RST0..RST7 cycling
    [InlineData(16, 7, "+el")]
    [InlineData(12, 5, "+en +md 2")]
    public void Jpeg_ls_with_restart_intervals_decodes_to_the_samples_gdcm_gives_pydicom(int bits, int restartRows, string options)
    {
        var stem = Path.Combine(dir, $"jls_rst_{bits}_{restartRows}_{options.Replace(' ', '_')}");
        RunScript(WriteJpegLsRestarts, "rst", stem, bits, restartRows, options);
        AssertDecodesTo(stem, "jpeg-ls");
    }

    [Theory]
    [InlineData("eoi", 1, "ends inside")]               // frame 1 cut short by an EOI marker in its middle
    [InlineData("rst", 0, "restart marker")]            // a restart marker in a stream without a restart interval
    [InlineData("zeros", 1, "longer than LIMIT")]       // 128 zero bits: a unary code past LIMIT
    [InlineData("size", 1, "the DICOM header says")]    // the frame header's width disagrees with Columns
    [InlineData("components", 0, "component")]          // a three-component frame header
    public void Jpeg_ls_with_a_damaged_stream_is_a_DicomException(string damage, int frame, string reason)
    {
        var stem = Path.Combine(dir, "jls_damaged_" + damage);
        RunScript(WriteJpegLs, "jls", stem, 12, "dcmcjpls", "+el", 0, 61, 67, 2);
        var bytes = File.ReadAllBytes(stem + ".dcm");
        var (begin, end) = FrameRange(bytes, frame);
        var middle = begin + (end - begin) / 2;
        var sof = bytes.AsSpan(begin).IndexOf([(byte)0xFF, (byte)0xF7]) + begin;
        switch (damage)
        {
            case "eoi": bytes[middle] = 0xFF; bytes[middle + 1] = 0xD9; break;
            case "rst": bytes[middle] = 0xFF; bytes[middle + 1] = 0xD3; break;
            case "zeros": Array.Clear(bytes, middle, 16); break;
            case "size": bytes[sof + 8]++; break; // low byte of the width (SOF55: FF F7, length, P, Y, X)
            default: bytes[sof + 9] = 3; break;  // Nf
        }
        AssertDamageIsReported(stem + ".dcm", bytes, "jpeg-ls", frame, "JPEG-LS", reason);
    }

    // What our decoder leaves to CharLS (here a point transform in the scan header; mapping tables likewise) goes to
    // CharLS, chosen from frame 0's header. CharLS 2.4 refuses it too, so the frame is a DicomException in CharLS's words.
    [Fact]
    public void Jpeg_ls_with_a_point_transform_goes_to_charls()
    {
        var stem = Path.Combine(dir, "jls_point_transform");
        RunScript(WriteJpegLs, "jls", stem, 8, "dcmcjpls", "+el", 0, 31, 41, 2);
        var bytes = File.ReadAllBytes(stem + ".dcm");
        var changed = 0;
        for (var i = 0; i + 10 < bytes.Length; i++)
            if (bytes[i] == 0xFF && bytes[i + 1] == 0xDA && bytes[i + 2] == 0 && bytes[i + 3] == 8)
            {
                bytes[i + 9] = 1; // Al: the last byte of the 8-byte SOS segment
                changed++;
            }
        Assert.Equal(2, changed);
        File.WriteAllBytes(stem + ".dcm", bytes);
        using var dicom = DicomImage.Open(stem + ".dcm");
        Assert.Equal("charls", dicom.Decoder);
        var e = Assert.Throws<DicomException>(() => dicom.ReadRaw(DicomImage.AllFrames));
        Assert.Contains("frame 0", e.Reason);
        Assert.Contains("not supported by the CharLS decoder", e.Reason);
    }

    public void Dispose() => Directory.Delete(dir, recursive: true);
}
