using CxrLab.Interop;

namespace CxrLab.Dicom;

/// <summary>Who turns the Pixel Data into stored values.</summary>
internal enum PixelCodec
{
    /// <summary>GDCM's ImageReader and Bitmap::GetBuffer (big endian and deflated data, 12-bit JPEG extended, colour,
    /// anything unusual).</summary>
    Gdcm,

    /// <summary>Native (uncompressed) little-endian samples read from the file straight into the typed array: GDCM
    /// parses the header only (ReadUpToTag), so the pixel bytes are read once instead of copied through GDCM.</summary>
    Native,

    /// <summary>RLE Lossless, PS3.5 Annex G: PackBits per byte segment, in the native shim.</summary>
    Rle,

    /// <summary>JPEG baseline and extended with 8-bit samples (processes 1 and 2): libjpeg-turbo in the native shim, the
    /// IJG decoder GDCM bundles with SIMD kernels and the same accurate integer IDCT (the same samples).</summary>
    JpegBaseline,

    /// <summary>JPEG Lossless, process 14 (any predictor, and SV1 = predictor 1), 2..16-bit samples: our own decoder in the
    /// native shim (GDCM's is IJG's 6b lossless patch, several times slower, and fills damaged streams with grey).</summary>
    JpegLossless,

    /// <summary>JPEG-LS lossless and near-lossless (one component, 2..16-bit, default or custom presets, restart intervals):
    /// our own decoder in the native shim (src/dicom_jpegls.cpp), about twice as fast as CharLS and bit for bit the same.</summary>
    JpegLs,

    /// <summary>JPEG-LS with a feature our decoder leaves to CharLS (mapping tables, a point transform, SOF57, LSE 4 —
    /// not seen in DICOM archives): CharLS in the native shim (the library GDCM links). Chosen from frame 0's header.</summary>
    CharLs,

    /// <summary>JPEG 2000 lossless and lossy: OpenJPEG in the native shim (the library GDCM links).</summary>
    Jpeg2000,
}

/// <summary>
/// Decodes single-sample (grayscale) encapsulated frames with the native shim's codecs, reading the fragments
/// from GDCM's parsed data set (GDCM still parses the file; only the codestream → samples step is ours).
/// Why: GDCM's RLE decoder is slower than pydicom's, its JPEG baseline and lossless decoders are IJG's without SIMD
/// or table-driven lossless decoding, every GDCM path copies the frame through string streams,
/// and GDCM's JPEG 2000 path corrupts the heap (aborting the process) on some damaged streams; here a damaged
/// stream is a <see cref="DicomException"/>. Colour and unusual layouts stay with GDCM.
/// </summary>
internal static class DicomCodecs
{
    public static PixelCodec For(string transferSyntaxUid) => transferSyntaxUid switch
    {
        "1.2.840.10008.1.2" or "1.2.840.10008.1.2.1" => PixelCodec.Native,
        "1.2.840.10008.1.2.5" => PixelCodec.Rle,
        "1.2.840.10008.1.2.4.50" or "1.2.840.10008.1.2.4.51" => PixelCodec.JpegBaseline,
        "1.2.840.10008.1.2.4.57" or "1.2.840.10008.1.2.4.70" => PixelCodec.JpegLossless,
        "1.2.840.10008.1.2.4.80" or "1.2.840.10008.1.2.4.81" => PixelCodec.JpegLs,
        "1.2.840.10008.1.2.4.90" or "1.2.840.10008.1.2.4.91" => PixelCodec.Jpeg2000,
        _ => PixelCodec.Gdcm,
    };

    /// <summary>The codec for a file whose header CxrLab walked itself (no GDCM parse): every uncompressed syntax is read
    /// natively (little or big endian, inflated or not); the compressed ones as <see cref="For"/>.</summary>
    public static PixelCodec ForOwnHeader(string transferSyntaxUid) => transferSyntaxUid switch
    {
        "1.2.840.10008.1.2.2" or "1.2.840.10008.1.2.1.99" => PixelCodec.Native,
        var ts => For(ts),
    };

    /// <summary><see cref="ChooseJpegLs(gdcm.DataSet, int, int, int)"/> for frame 0's stream read by the own header walk.</summary>
    public static unsafe PixelCodec ChooseJpegLs(ReadOnlySpan<byte> frame0, int rows, int columns, int bitsAllocated)
    {
        if (rows <= 0 || columns <= 0 || bitsAllocated is not (8 or 16) || frame0.IsEmpty) return PixelCodec.JpegLs;
        fixed (byte* data = frame0)
            return Shim.cxr_dicom_jpegls_own_supports(data, frame0.Length, rows, columns, bitsAllocated / 8) == 0 ? PixelCodec.CharLs : PixelCodec.JpegLs;
    }

    /// <summary>For JPEG-LS: <see cref="PixelCodec.JpegLs"/> (ours) unless frame 0's header uses a feature only CharLS
    /// decodes. A header that cannot be read here stays with ours, which reports the damage when the frame is decoded.</summary>
    public static unsafe PixelCodec ChooseJpegLs(gdcm.DataSet dataSet, int rows, int columns, int bitsAllocated)
    {
        if (rows <= 0 || columns <= 0 || bitsAllocated is not (8 or 16)) return PixelCodec.JpegLs;
        using var tag = DicomTags.PixelData.ToGdcm();
        using var element = dataSet.GetDataElement(tag);
        using var sequence = element.GetSequenceOfFragments();
        if (sequence is null || sequence.GetNumberOfFragments() == 0) return PixelCodec.JpegLs;
        var (data, length) = FragmentBytesCore(sequence, 0);
        var supported = data == IntPtr.Zero ? -1 : Shim.cxr_dicom_jpegls_own_supports((byte*)data, length, rows, columns, bitsAllocated / 8);
        GC.KeepAlive(sequence);
        GC.KeepAlive(dataSet);
        return supported == 0 ? PixelCodec.CharLs : PixelCodec.JpegLs;
    }

    /// <summary>Whether our codec decodes this layout exactly as GDCM and pydicom do: one sample, monochrome,
    /// 8/16(/32 for RLE and native)-bit, and frames that map onto fragments one to one (or one frame in several fragments).</summary>
    public static bool Supports(PixelCodec codec, int samples, string photometric, int rows, int columns, int bitsAllocated, int bitsStored,
        int frames, int fragments)
    {
        if (codec == PixelCodec.Gdcm || samples != 1 || photometric is not ("MONOCHROME1" or "MONOCHROME2")) return false;
        if (rows <= 0 || columns <= 0 || frames <= 0 || bitsStored <= 0 || bitsStored > bitsAllocated) return false;
        if (codec == PixelCodec.Native) return bitsAllocated is 8 or 16 or 32;
        var bits = codec switch
        {
            PixelCodec.Rle => bitsAllocated is 8 or 16 or 32,
            PixelCodec.JpegBaseline => bitsAllocated == 8, // 12-bit extended JPEG stays with GDCM's 12-bit libjpeg
            _ => bitsAllocated is 8 or 16,
        };
        return bits && fragments > 0 && (fragments == frames || frames == 1);
    }

    /// <summary>Decodes every frame into <paramref name="target"/> (frames × rows × cols samples of
    /// <paramref name="bytesPerSample"/> bytes, little endian). Throws <see cref="DicomException"/> on a damaged stream.</summary>
    public static unsafe void Decode(string path, gdcm.DataSet dataSet, PixelCodec codec, int rows, int columns, int frames,
        int bytesPerSample, Span<byte> target)
    {
        var frameBytes = (long)rows * columns * bytesPerSample;
        if (target.Length != frameBytes * frames) throw new ArgumentException("target size does not match the frames", nameof(target));
        fixed (byte* output = target)
        {
            var start = output;
            ForEachFrame(path, dataSet, frames, (data, length, f) =>
                DecodeFrame(path, codec, data, length, rows, columns, bytesPerSample, start + f * frameBytes, frameBytes, f));
        }
    }

    /// <summary><see cref="Decode(string, gdcm.DataSet, PixelCodec, int, int, int, int, Span{byte})"/> for fragments read by the
    /// own header walk: <paramref name="blob"/> holds them one after the other, <paramref name="fragments"/> says where.</summary>
    public static unsafe void Decode(string path, byte[] blob, IReadOnlyList<(int Start, int Length)> fragments, PixelCodec codec, int rows, int columns,
        int frames, int bytesPerSample, Span<byte> target)
    {
        var frameBytes = (long)rows * columns * bytesPerSample;
        if (target.Length != frameBytes * frames) throw new ArgumentException("target size does not match the frames", nameof(target));
        fixed (byte* output = target)
        fixed (byte* source = blob)
        {
            var start = (IntPtr)output;
            var data = (IntPtr)source;
            ForEachFrame(path, fragments.Count, i => (data + fragments[i].Start, fragments[i].Length), frames, (frame, length, f) =>
                DecodeFrame(path, codec, frame, length, rows, columns, bytesPerSample, (byte*)start + f * frameBytes, frameBytes, f));
        }
    }

    /// <summary>Checks each JPEG 2000 frame's main header against the DICOM header before GDCM decodes it (colour
    /// frames): GDCM 3.0 overruns its buffer, aborting the process, when the codestream's geometry is not the header's.</summary>
    public static unsafe void CheckJpeg2000Headers(string path, gdcm.DataSet dataSet, int rows, int columns, int frames, int samples, int bitsAllocated)
    {
        ForEachFrame(path, dataSet, frames, (data, length, f) =>
        {
            if (Shim.cxr_dicom_j2k_check(data, length, rows, columns, samples, bitsAllocated) < 0)
            {
                var error = Shim.LastError();
                throw new DicomException(path, $"frame {f}: {error.Message}", error);
            }
        });
    }

    unsafe delegate void FrameAction(byte* data, long length, int frame);

    /// <summary>Each frame's codestream from GDCM's parsed fragments.</summary>
    static void ForEachFrame(string path, gdcm.DataSet dataSet, int frames, FrameAction action)
    {
        using var tag = DicomTags.PixelData.ToGdcm();
        using var element = dataSet.GetDataElement(tag);
        using var sequence = element.GetSequenceOfFragments();
        if (sequence is null) throw new DicomException(path, "Pixel Data is not encapsulated although the transfer syntax is compressed");
        ForEachFrame(path, (int)sequence.GetNumberOfFragments(), i => FragmentBytes(path, sequence, i), frames, action);
        GC.KeepAlive(sequence);
        GC.KeepAlive(dataSet);
    }

    /// <summary>Each frame's codestream: one fragment per frame, or all fragments joined when one frame spans several (PS3.5 A.4).</summary>
    static unsafe void ForEachFrame(string path, int fragments, Func<int, (IntPtr Data, long Length)> fragment, int frames, FrameAction action)
    {
        if (fragments == 0 || (fragments != frames && frames != 1))
            throw new DicomException(path, $"{fragments} Pixel Data fragment(s) for {frames} frame(s)");
        if (fragments == frames)
        {
            for (var f = 0; f < frames; f++)
            {
                var (data, length) = fragment(f);
                action((byte*)data, length, f);
            }
        }
        else
        {
            var total = 0L;
            for (var i = 0; i < fragments; i++) total += fragment(i).Length;
            var joined = GC.AllocateUninitializedArray<byte>(checked((int)total));
            var at = 0L;
            for (var i = 0; i < fragments; i++)
            {
                var (data, length) = fragment(i);
                new ReadOnlySpan<byte>((void*)data, checked((int)length)).CopyTo(joined.AsSpan((int)at));
                at += length;
            }
            fixed (byte* data = joined) action(data, total, 0);
        }
    }

    static (IntPtr Data, long Length) FragmentBytesCore(gdcm.SequenceOfFragments sequence, int index)
    {
        using var fragment = sequence.GetFragment((uint)index);
        using var value = fragment.GetByteValue();
        if (value is null) return (IntPtr.Zero, 0);
        using var length = value.GetLength();
        return (DicomImage.NativeAddress(value.GetVoidPointer()), length.GetValueLength());
    }

    static (IntPtr Data, long Length) FragmentBytes(string path, gdcm.SequenceOfFragments sequence, int index)
    {
        var (data, length) = FragmentBytesCore(sequence, index);
        if (length > 0 && data == IntPtr.Zero) throw new DicomException(path, $"Pixel Data fragment {index} could not be read");
        return (data, length);
    }

    /// <summary>Ours; CharLS for a frame whose stream uses a feature ours leaves to it (the own decoder returns 1, output untouched).</summary>
    static unsafe int DecodeJpegLs(byte* data, long length, int rows, int columns, int bytesPerSample, byte* output, long outputBytes)
    {
        var status = Shim.cxr_dicom_jpegls_decode_own(data, length, rows, columns, bytesPerSample, output, outputBytes);
        return status == 1 ? Shim.cxr_dicom_jpegls_decode(data, length, rows, columns, bytesPerSample, output, outputBytes) : status;
    }

    static unsafe void DecodeFrame(string path, PixelCodec codec, byte* data, long length, int rows, int columns, int bytesPerSample,
        byte* output, long outputBytes, int frame)
    {
        var status = codec switch
        {
            PixelCodec.Rle => Shim.cxr_dicom_rle_decode(data, length, rows, columns, bytesPerSample, output, outputBytes),
            PixelCodec.JpegBaseline => Shim.cxr_dicom_jpeg_decode(data, length, rows, columns, output, outputBytes),
            PixelCodec.JpegLossless => Shim.cxr_dicom_jpeg_lossless_decode(data, length, rows, columns, bytesPerSample, output, outputBytes),
            PixelCodec.JpegLs => DecodeJpegLs(data, length, rows, columns, bytesPerSample, output, outputBytes),
            PixelCodec.CharLs => Shim.cxr_dicom_jpegls_decode(data, length, rows, columns, bytesPerSample, output, outputBytes),
            PixelCodec.Jpeg2000 => Shim.cxr_dicom_j2k_decode(data, length, rows, columns, bytesPerSample, DicomImage.Jpeg2000Threads, output, outputBytes),
            _ => throw new ArgumentOutOfRangeException(nameof(codec)),
        };
        if (status < 0)
        {
            var error = Shim.LastError();
            throw new DicomException(path, $"frame {frame}: {error.Message}", error);
        }
    }
}
