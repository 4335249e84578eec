using System.Globalization;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using CxrLab.Imaging;

namespace CxrLab.Dicom;

/// <summary>
/// A DICOM image read by GDCM: header attributes as typed properties, any tag through
/// <see cref="Get{T}"/>/<see cref="TryGet{T}"/>, and pixels at each stage of the pipeline
/// (<see cref="PixelStage"/>). Decoding happens on the first pixel read and is kept for later reads.
/// Every failure is a <see cref="DicomException"/> naming the file.
/// </summary>
public sealed class DicomImage : IDisposable
{
    /// <summary>Pass as the frame to read every frame (frames × rows × cols).</summary>
    public const int AllFrames = -1;

    /// <summary>A compressed image may not claim to decode to more than this many times its compressed bytes
    /// (plus 1 MiB): a corrupt header must not make us allocate gigabytes.</summary>
    public const long MaxCompressionRatio = 1000;

    gdcm.Reader? reader; // a gdcm.ImageReader when GDCM decodes; null when the own header walk read the file (until a lookup needs GDCM)
    readonly gdcm.Image? image; // null when our codec decodes (PixelCodec)
    readonly PixelCodec codec;
    gdcm.DataSet? dataSet;
    gdcm.StringFilter? strings;
    readonly DicomDataSet? own; // the header as DicomPreflight walked it, when GDCM did not parse the file
    readonly PreflightResult layout;
    readonly int decodedBitsAllocated;
    Array? decoded; // typed stored values of all frames, bits normalised
    bool decodedWithoutCodec; // not decoded by GDCM's Bitmap::GetBuffer (native data or our codec): safe to decode again

    bool disposed;

    static DicomImage()
    {
        // GDCM prints warnings and errors on stderr (garbling progress bars); the reasons that matter reach the
        // caller as DicomException. CXR_GDCM_WARNINGS=1 keeps GDCM's own messages for debugging.
        if (Environment.GetEnvironmentVariable("CXR_GDCM_WARNINGS") != "1")
        {
            gdcm.Trace.WarningOff();
            gdcm.Trace.ErrorOff();
        }
    }

    /// <summary>Reads the attributes from GDCM's parse (<paramref name="reader"/>), or from the own header walk
    /// (<paramref name="reader"/> null: <see cref="PreflightResult.Header"/>, GDCM not involved).</summary>
    DicomImage(string path, gdcm.Reader? reader, PreflightResult layout)
    {
        Path = path;
        this.reader = reader;
        this.layout = layout;
        if (reader is null) own = layout.Header ?? throw new ArgumentException("the own header walk kept no values", nameof(layout));
        else AttachStrings(reader);
        TransferSyntaxUID = GetOrDefault(DicomTags.TransferSyntaxUID, "") is { Length: > 0 } ts ? ts : layout.TransferSyntaxUid;

        if (reader is gdcm.ImageReader imageReader)
        {
            image = imageReader.GetImage();
            codec = PixelCodec.Gdcm;
            var format = image.GetPixelFormat();
            Rows = checked((int)image.GetRows());
            Columns = checked((int)image.GetColumns());
            NumberOfFrames = image.GetNumberOfDimensions() > 2 ? checked((int)image.GetDimension(2)) : 1;
            SamplesPerPixel = format.GetSamplesPerPixel();
            // The decoded buffer's layout is GDCM's; what the stored values mean is the header's
            // (a JPEG 2000 stream may disagree with it, and pydicom follows the header too).
            decodedBitsAllocated = format.GetBitsAllocated();
            BitsAllocated = GetOrDefault(DicomTags.BitsAllocated, (int)decodedBitsAllocated);
            BitsStored = GetOrDefault(DicomTags.BitsStored, (int)format.GetBitsStored());
            HighBit = GetOrDefault(DicomTags.HighBit, (int)format.GetHighBit());
            PixelRepresentation = GetOrDefault(DicomTags.PixelRepresentation, (int)format.GetPixelRepresentation());
            PhotometricInterpretation = GetOrDefault(DicomTags.PhotometricInterpretation, "") is { Length: > 0 } pi
                ? pi : image.GetPhotometricInterpretation().GetString().Trim();
            DecodedPhotometricInterpretation = image.GetPhotometricInterpretation().GetString().Trim();
        }
        else
        {
            // Our codec decodes: the layout is the header's (Open checked DicomCodecs.Supports first).
            codec = own is null ? DicomCodecs.For(layout.TransferSyntaxUid) : DicomCodecs.ForOwnHeader(layout.TransferSyntaxUid);
            Rows = GetOrDefault(DicomTags.Rows, 0);
            Columns = GetOrDefault(DicomTags.Columns, 0);
            NumberOfFrames = Math.Max(1, GetOrDefault(DicomTags.NumberOfFrames, 1)); // pydicom: `NumberOfFrames or 1`
            SamplesPerPixel = GetOrDefault(DicomTags.SamplesPerPixel, 0);
            decodedBitsAllocated = GetOrDefault(DicomTags.BitsAllocated, 0);
            BitsAllocated = decodedBitsAllocated;
            BitsStored = GetOrDefault(DicomTags.BitsStored, BitsAllocated);
            HighBit = GetOrDefault(DicomTags.HighBit, BitsStored - 1);
            PixelRepresentation = GetOrDefault(DicomTags.PixelRepresentation, 0);
            PhotometricInterpretation = GetOrDefault(DicomTags.PhotometricInterpretation, "");
            DecodedPhotometricInterpretation = PhotometricInterpretation;
            if (codec == PixelCodec.JpegLs)
                codec = own is null ? DicomCodecs.ChooseJpegLs(dataSet!, Rows, Columns, BitsAllocated)
                    : DicomCodecs.ChooseJpegLs(ReadFragments().Blob.AsSpan(0, layout.Fragments is { Count: > 0 } f ? (int)f[0].Length : 0), Rows, Columns, BitsAllocated);
        }

        RescaleSlope = TryGet<double>(DicomTags.RescaleSlope, out var slope) ? slope : null;
        RescaleIntercept = TryGet<double>(DicomTags.RescaleIntercept, out var intercept) ? intercept : null;
        Windows = ReadWindows();
        VoiFunction = GetOrDefault(DicomTags.VOILUTFunction, "LINEAR").ToUpperInvariant() switch
        {
            "LINEAR" or "" => VoiFunction.Linear,
            "LINEAR_EXACT" => VoiFunction.LinearExact,
            "SIGMOID" => VoiFunction.Sigmoid,
            var other => throw new DicomException(path, $"VOI LUT Function (0028,1056) '{other}' is not LINEAR, LINEAR_EXACT or SIGMOID"),
        };
        VoiLuts = ReadLuts(DicomTags.VOILUTSequence);
        ModalityLut = ReadLuts(DicomTags.ModalityLUTSequence).FirstOrDefault();
    }

    /// <summary>Opens and parses a DICOM file (pixel data is read but decoded only when asked for).</summary>
    public static DicomImage Open(string path)
    {
        if (!File.Exists(path)) throw new DicomException(path, "file not found");
        var layout = DicomPreflight.Check(path);
        if (layout.PixelDataBytes < 0) throw new DicomException(path, "no pixel data (7FE0,0010): not an image");
        ValidateRle(path, layout);
        JpegHeaderCheck.Validate(path, layout);
        // GDCM 3.0's ImageReader fails an assertion (aborting the process) on a Frame Increment Pointer without Number
        // of Frames; pydicom reads such a file as one frame, and so does the own header walk.
        var gdcmAborts = layout.HasFrameIncrementPointer && !layout.HasNumberOfFrames;
        if (TryOpenWithOwnHeader(path, layout, gdcmAborts) is { } walked) return walked;
        if (gdcmAborts)
            throw new DicomException(path, "Frame Increment Pointer (0028,0009) without Number of Frames (0028,0008) in a layout CxrLab's own " +
                                           "reader does not decode (colour or compressed): GDCM 3.0 aborts on such files, so CxrLab refuses them");
        if (TryOpenForOwnCodec(path, layout) is { } own) return own;
        var reader = new gdcm.ImageReader();
        try
        {
            reader.SetFileName(path);
            if (!reader.Read())
                throw new DicomException(path, $"GDCM could not read the image (transfer syntax {layout.TransferSyntaxUid}; " +
                                               "corrupt header, unsupported encoding or inconsistent pixel attributes)");
            var result = new DicomImage(path, reader, layout);
            result.Validate();
            return result;
        }
        catch
        {
            reader.Dispose();
            throw;
        }
    }

    /// <summary>Opens the file when CxrLab reads it entirely itself (the own header walk, then pixels from the file or our
    /// codecs: no GDCM code runs, so a damaged file cannot crash the process); null when GDCM would be needed — then
    /// <see cref="Open"/> (or an isolated worker) reads it. Bad input is a <see cref="DicomException"/> as with Open.</summary>
    public static DicomImage? OpenWithoutGdcm(string path)
    {
        if (!File.Exists(path)) throw new DicomException(path, "file not found");
        var layout = DicomPreflight.Check(path);
        if (layout.PixelDataBytes < 0) throw new DicomException(path, "no pixel data (7FE0,0010): not an image");
        ValidateRle(path, layout);
        JpegHeaderCheck.Validate(path, layout);
        return TryOpenWithOwnHeader(path, layout, layout.HasFrameIncrementPointer && !layout.HasNumberOfFrames);
    }

    /// <summary>Syntaxes whose pixels the own header walk reaches without GDCM: uncompressed little and big endian, deflated.</summary>
    static readonly HashSet<string> PlainSyntaxes = ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"];

    /// <summary>A plain file (<see cref="PlainSyntaxes"/>; or, with <paramref name="anyOwnCodec"/>, any syntax our codecs decode)
    /// read entirely by CxrLab: attributes from <see cref="DicomPreflight"/>'s bounded walk, pixels straight from the file
    /// at the offset it found. Null when the layout is one only GDCM decodes (colour, 1-bit, a value the walk did not
    /// keep...), and GDCM reads the file as before.</summary>
    static DicomImage? TryOpenWithOwnHeader(string path, PreflightResult layout, bool anyOwnCodec)
    {
        if (layout.Header is null) return null;
        var codec = DicomCodecs.ForOwnHeader(layout.TransferSyntaxUid);
        if (codec == PixelCodec.Gdcm || (codec != PixelCodec.Native && !anyOwnCodec)) return null;
        if (codec == PixelCodec.Native ? layout.Encapsulated || layout.PixelDataOffset < 0 : !layout.Encapsulated || layout.Fragments is not { Count: > 0 }) return null;
        // The pixel description must be plain values the walk kept (GDCM reads anything else, e.g. a UN it has in its dictionary).
        foreach (var tag in (ReadOnlySpan<DicomTag>)[DicomTags.Rows, DicomTags.Columns, DicomTags.BitsAllocated, DicomTags.BitsStored,
                     DicomTags.SamplesPerPixel, DicomTags.PhotometricInterpretation, DicomTags.PixelRepresentation])
            if (DicomHeader.TryFormat(layout.Header, tag, out _) != HeaderLookup.Found) return null;
        DicomImage? result = null;
        try
        {
            result = new DicomImage(path, null, layout);
            if (!DicomCodecs.Supports(codec, result.SamplesPerPixel, result.PhotometricInterpretation, result.Rows, result.Columns,
                    result.BitsAllocated, result.BitsStored, result.NumberOfFrames, layout.Fragments?.Count ?? 0))
            {
                result.Dispose();
                return null;
            }
            result.Validate();
            return result;
        }
        catch
        {
            result?.Dispose();
            throw;
        }
    }

    /// <summary>For a syntax our codecs decode (<see cref="DicomCodecs"/>): the data set read by a plain gdcm.Reader
    /// (GDCM's ImageReader would touch the codestream while reading — decoding RLE once more, running its JPEG 2000
    /// header code), when the header describes a layout our codec handles; else null and GDCM decodes.</summary>
    static DicomImage? TryOpenForOwnCodec(string path, PreflightResult layout)
    {
        var codec = DicomCodecs.For(layout.TransferSyntaxUid);
        var native = codec == PixelCodec.Native;
        if (codec == PixelCodec.Gdcm) return null;
        if (native ? layout.Encapsulated || layout.PixelDataOffset < 0 : !layout.Encapsulated || layout.Fragments is not { Count: > 0 }) return null;
        var fragments = layout.Fragments?.Count ?? 0;
        var reader = new gdcm.Reader();
        DicomImage? result = null;
        try
        {
            reader.SetFileName(path);
            // Native pixel data is read by us from its offset, so GDCM stops at the Pixel Data element.
            using var pixelData = DicomTags.PixelData.ToGdcm();
            if (!(native ? reader.ReadUpToTag(pixelData) : reader.Read()))
                throw new DicomException(path, $"GDCM could not read the file (transfer syntax {layout.TransferSyntaxUid}; corrupt header?)");
            result = new DicomImage(path, reader, layout);
            if (!DicomCodecs.Supports(codec, result.SamplesPerPixel, result.PhotometricInterpretation, result.Rows, result.Columns,
                    result.BitsAllocated, result.BitsStored, result.NumberOfFrames, fragments))
            {
                // GDCM decodes this one (colour, say); a JPEG 2000 stream must first agree with the header.
                if (codec == PixelCodec.Jpeg2000 && result.Rows > 0 && result.Columns > 0 && result.SamplesPerPixel > 0 && result.BitsAllocated > 0
                    && (fragments == result.NumberOfFrames || result.NumberOfFrames == 1))
                    DicomCodecs.CheckJpeg2000Headers(path, result.dataSet!, result.Rows, result.Columns, result.NumberOfFrames,
                        result.SamplesPerPixel, result.BitsAllocated);
                result.Dispose();
                return null;
            }
            result.Validate();
            return result;
        }
        catch
        {
            if (result is not null) result.Dispose();
            else reader.Dispose();
            throw;
        }
    }

    /// <summary>Threads OpenJPEG may use to decode one JPEG 2000 frame (default 1). GDCM — and so pydicom's GDCM
    /// handler — decodes JPEG 2000 on every core; keep 1 where files are already decoded in parallel (<c>cxr convert</c>).</summary>
    public static int Jpeg2000Threads
    {
        get => Volatile.Read(ref jpeg2000Threads);
        set => Volatile.Write(ref jpeg2000Threads, Math.Max(1, value));
    }

    static int jpeg2000Threads = 1;

    /// <summary>Which decoder produces the pixels: "gdcm", "native" (uncompressed samples read from the file), or the native shim's "rle", "libjpeg-turbo" (8-bit JPEG baseline/extended), "jpeg-lossless" (our JPEG Lossless decoder), "jpeg-ls" (our JPEG-LS decoder), "charls" (JPEG-LS with mapping tables or a point transform), "openjpeg" (JPEG 2000).</summary>
    public string Decoder => codec switch
    {
        PixelCodec.Native => "native",
        PixelCodec.Rle => "rle",
        PixelCodec.JpegBaseline => "libjpeg-turbo",
        PixelCodec.JpegLossless => "jpeg-lossless",
        PixelCodec.JpegLs => "jpeg-ls",
        PixelCodec.CharLs => "charls",
        PixelCodec.Jpeg2000 => "openjpeg",
        _ => "gdcm",
    };

    /// <summary>Opens, reads the display stage of frame 0, and closes: the one call the data loaders need.</summary>
    public static Image ReadDisplay(string path, DisplayScaling scaling = DisplayScaling.MinMax)
    {
        using var dicom = Open(path);
        return dicom.ReadDisplay(0, scaling);
    }

    public string Path { get; }

    public string TransferSyntaxUID { get; }
    public string? PatientID => GetOrDefault<string?>(DicomTags.PatientID, null);
    public string? StudyInstanceUID => GetOrDefault<string?>(DicomTags.StudyInstanceUID, null);
    public string? SeriesInstanceUID => GetOrDefault<string?>(DicomTags.SeriesInstanceUID, null);
    public string? SOPInstanceUID => GetOrDefault<string?>(DicomTags.SOPInstanceUID, null);
    public string? Modality => GetOrDefault<string?>(DicomTags.Modality, null);
    public string? ViewPosition => GetOrDefault<string?>(DicomTags.ViewPosition, null);
    public string? PatientSex => GetOrDefault<string?>(DicomTags.PatientSex, null);

    /// <summary>Patient's Age (0010,1010) as written, e.g. "045Y".</summary>
    public string? PatientAge => GetOrDefault<string?>(DicomTags.PatientAge, null);

    /// <summary>Patient's age in years parsed from <see cref="PatientAge"/> ("045Y", "006M", "010W", "003D"), if parseable.</summary>
    public double? PatientAgeYears => ParseAge(PatientAge);

    public int Rows { get; }
    public int Columns { get; }
    public int NumberOfFrames { get; }
    public int SamplesPerPixel { get; }

    /// <summary>Photometric Interpretation as written in the header (MONOCHROME1, MONOCHROME2, RGB, ...).</summary>
    public string PhotometricInterpretation { get; }

    /// <summary>What GDCM's decoded buffer holds (JPEG YBR is decoded to RGB, for instance).</summary>
    public string DecodedPhotometricInterpretation { get; }

    public int BitsAllocated { get; }
    public int BitsStored { get; }
    public int HighBit { get; }

    /// <summary>0 = unsigned, 1 = two's complement.</summary>
    public int PixelRepresentation { get; }

    public double? RescaleSlope { get; }
    public double? RescaleIntercept { get; }

    /// <summary>Every window (center/width pairs, with explanations); the first is the default.</summary>
    public IReadOnlyList<WindowSetting> Windows { get; }

    public VoiFunction VoiFunction { get; }

    /// <summary>The VOI LUT Sequence items; when present the first wins over the windows (as in pydicom).</summary>
    public IReadOnlyList<DicomLut> VoiLuts { get; }

    public DicomLut? ModalityLut { get; }

    /// <summary>Pixel Spacing (0028,0030), row then column spacing in mm.</summary>
    public double[]? PixelSpacing => TryGet<double[]>(DicomTags.PixelSpacing, out var v) ? v : null;

    /// <summary>Imager Pixel Spacing (0018,1164), in mm at the detector (projection radiographs).</summary>
    public double[]? ImagerPixelSpacing => TryGet<double[]>(DicomTags.ImagerPixelSpacing, out var v) ? v : null;

    public bool IsMonochrome1 => DecodedPhotometricInterpretation == "MONOCHROME1";
    public bool IsMonochrome => DecodedPhotometricInterpretation is "MONOCHROME1" or "MONOCHROME2";

    /// <summary>Bytes of the file on disk.</summary>
    public long FileBytes => layout.FileBytes;

    /// <summary>Whether the header has a value for the tag (top-level data set or file meta).</summary>
    public bool Contains(DicomTag tag)
    {
        ThrowIfDisposed();
        if (own is not null) return own[tag] is not null;
        using var t = tag.ToGdcm();
        var found = tag.Group == 0x0002 ? reader!.GetFile().GetHeader().FindDataElement(t) : dataSet!.FindDataElement(t);
        GC.KeepAlive(reader);
        return found;
    }

    /// <summary>A tag's value converted to <typeparamref name="T"/>: string (multi-values joined by '\'),
    /// string[], int, long, double, int[], double[]. Throws a <see cref="DicomException"/> when missing or not convertible.</summary>
    public T Get<T>(DicomTag tag)
    {
        if (!TryGetString(tag, out var text)) throw new DicomException(Path, $"tag {tag} is not present");
        if (!TryConvert<T>(text, out var value))
            throw new DicomException(Path, $"tag {tag} value '{Truncate(text)}' is not a {typeof(T).Name}");
        return value;
    }

    /// <summary>Like <see cref="Get{T}"/> but false when the tag is missing, empty or not convertible.</summary>
    public bool TryGet<T>(DicomTag tag, out T value)
    {
        value = default!;
        return TryGetString(tag, out var text) && text.Length > 0 && TryConvert(text, out value);
    }

    public T GetOrDefault<T>(DicomTag tag, T defaultValue) => TryGet<T>(tag, out var value) ? value : defaultValue;

    /// <summary>The value as GDCM's string filter prints it (numbers of binary VRs in decimal, multi-values joined by '\'),
    /// padding trimmed.</summary>
    public bool TryGetString(DicomTag tag, out string value)
    {
        value = "";
        if (!Contains(tag)) return false;
        if (own is not null)
        {
            var found = DicomHeader.TryFormat(own, tag, out value);
            if (found != HeaderLookup.Unknown) return found == HeaderLookup.Found;
            value = "";
            if (!AttachGdcmForLookups()) return false;
        }
        using var t = tag.ToGdcm();
        value = (strings!.ToString(t) ?? "").Trim(' ', '\0');
        GC.KeepAlive(reader); // the SWIG wrappers borrow the reader's objects; its finalizer must not run mid-call
        return true;
    }

    void AttachStrings(gdcm.Reader parsed)
    {
        var file = parsed.GetFile();
        dataSet = file.GetDataSet();
        strings = new gdcm.StringFilter();
        strings.SetFile(file);
    }

    /// <summary>A file read by the own header walk, asked for a value it does not format (a VR it has no rule for, an
    /// implicit-VR tag outside its small dictionary): GDCM parses the header (up to the Pixel Data) once, for lookups only.</summary>
    bool AttachGdcmForLookups()
    {
        if (strings is not null) return true;
        var parsed = new gdcm.Reader();
        parsed.SetFileName(Path);
        using var pixelData = DicomTags.PixelData.ToGdcm();
        if (!parsed.ReadUpToTag(pixelData))
        {
            parsed.Dispose();
            return false;
        }
        reader = parsed;
        AttachStrings(parsed);
        return true;
    }

    /// <summary>Pixels of one stage for one frame (or <see cref="AllFrames"/>).</summary>
    public DicomPixels ReadPixels(PixelStage stage, int frame = 0)
    {
        var frames = frame == AllFrames ? NumberOfFrames : 1;
        Array data = stage switch
        {
            PixelStage.Raw => ReadRaw(frame),
            PixelStage.Modality => ReadModality(frame),
            PixelStage.Voi => ReadVoi(frame),
            PixelStage.Display => ReadDisplayValues(frame, DisplayScaling.MinMax),
            _ => throw new ArgumentOutOfRangeException(nameof(stage)),
        };
        return new DicomPixels(data, stage, frames, Rows, Columns, SamplesPerPixel);
    }

    /// <summary>Decoded stored values (frame-major, rows × cols × samples interleaved) as byte[], sbyte[], ushort[],
    /// short[], uint[] or int[] following Bits Allocated and Pixel Representation.</summary>
    public Array ReadRaw(int frame = 0)
    {
        var all = Decode();
        // All frames: hand the decoded array over instead of cloning it when decoding again is cheap and safe (the
        // caller owns it; a later read decodes again). Not for Bitmap.GetBuffer: a second decode of a corrupt JPEG
        // stream by the same GDCM image has crashed the process.
        if (frame == AllFrames && decodedWithoutCodec) { decoded = null; return all; }
        if (frame == AllFrames) return (Array)all.Clone();
        var count = PixelsPerFrame;
        var result = Array.CreateInstance(all.GetType().GetElementType()!, count);
        Array.Copy(all, (long)CheckFrame(frame) * count, result, 0, count);
        return result;
    }

    /// <summary>Typed stored values of all frames from GDCM's decoded bytes.</summary>
    Array ToTyped(ReadOnlySpan<byte> bytes)
    {
        var signed = PixelRepresentation == 1;
        if (LayoutBits == 16) return ToTyped16(bytes, signed);
        Array raw = LayoutBits switch
        {
            1 or 8 => signed ? MemoryMarshal.Cast<byte, sbyte>(bytes).ToArray() : bytes.ToArray(),
            16 => signed ? MemoryMarshal.Cast<byte, short>(bytes).ToArray() : MemoryMarshal.Cast<byte, ushort>(bytes).ToArray(),
            32 => signed ? MemoryMarshal.Cast<byte, int>(bytes).ToArray() : MemoryMarshal.Cast<byte, uint>(bytes).ToArray(),
            _ => throw new DicomException(Path, $"Bits Allocated {LayoutBits} is not supported (1, 8, 16 or 32)"),
        };
        if (BitsStored < LayoutBits && LayoutBits > 1) NormalizeStoredBits(raw);
        return raw;
    }

    /// <summary>The common CXR case (16-bit samples) in one vectorised pass: copy and normalise the stored bits together,
    /// into an array that is not zeroed first.</summary>
    Array ToTyped16(ReadOnlySpan<byte> bytes, bool signed)
    {
        var source = MemoryMarshal.Cast<byte, ushort>(bytes);
        var bits = Math.Clamp(BitsStored, 1, 16);
        if (signed)
        {
            var result = GC.AllocateUninitializedArray<short>(source.Length);
            CopyNormalized16(source, MemoryMarshal.Cast<short, ushort>(result.AsSpan()), bits, true);
            return result;
        }
        else
        {
            var result = GC.AllocateUninitializedArray<ushort>(source.Length);
            CopyNormalized16(source, result, bits, false);
            return result;
        }
    }

    /// <summary>Copies 16-bit words keeping the low <paramref name="bits"/> (masked, or sign-extended when signed).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    static void CopyNormalized16(ReadOnlySpan<ushort> source, Span<ushort> target, int bits, bool signed)
    {
        if (bits == 16) { source.CopyTo(target); return; }
        var shift = 16 - bits;
        var mask = (ushort)((1 << bits) - 1);
        var i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var count = Vector256<ushort>.Count;
            var maskVector = Vector256.Create(mask);
            for (; i <= source.Length - count; i += count)
            {
                var v = Vector256.Create(source.Slice(i, count));
                if (signed)
                    v = Vector256.ShiftRightArithmetic(Vector256.ShiftLeft(v.AsInt16(), shift), shift).AsUInt16();
                else v &= maskVector;
                v.CopyTo(target.Slice(i, count));
            }
        }
        for (; i < source.Length; i++)
            target[i] = signed ? (ushort)(short)(((short)source[i] << shift) >> shift) : (ushort)(source[i] & mask);
    }

    /// <summary>Keeps the <see cref="BitsStored"/> low bits of each value: masked when unsigned, sign-extended when
    /// signed (PS3.5 8.1.1: bits above the high bit are not part of the value; a JPEG 2000 decoder may also hand
    /// back a signed image as unsigned codes, which pydicom sign-corrects the same way).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    void NormalizeStoredBits(Array raw)
    {
        var bits = BitsStored;
        var shift = 32 - bits;
        var mask = bits >= 32 ? uint.MaxValue : (1u << bits) - 1;
        switch (raw)
        {
            case var _ when raw.GetType() == typeof(ushort[]):
                foreach (ref var v in ((ushort[])raw).AsSpan()) v = (ushort)(v & mask);
                break;
            case var _ when raw.GetType() == typeof(short[]):
                foreach (ref var v in ((short[])raw).AsSpan()) v = (short)((v << shift) >> shift);
                break;
            case var _ when raw.GetType() == typeof(byte[]):
                foreach (ref var v in ((byte[])raw).AsSpan()) v = (byte)(v & mask);
                break;
            case var _ when raw.GetType() == typeof(sbyte[]):
                foreach (ref var v in ((sbyte[])raw).AsSpan()) v = (sbyte)((v << shift) >> shift);
                break;
            case var _ when raw.GetType() == typeof(uint[]):
                foreach (ref var v in ((uint[])raw).AsSpan()) v &= mask;
                break;
            case var _ when raw.GetType() == typeof(int[]):
                foreach (ref var v in ((int[])raw).AsSpan()) v = (v << shift) >> shift;
                break;
        }
    }

    /// <summary>Modality stage (float32): modality LUT, else rescale slope/intercept.</summary>
    public float[] ReadModality(int frame = 0)
    {
        var all = Decode();
        var values = frame == AllFrames
            ? PixelPipeline.ToFloat(all)
            : PixelPipeline.ToFloat(all, (long)CheckFrame(frame) * PixelsPerFrame, PixelsPerFrame);
        PixelPipeline.ApplyModality(values, RescaleSlope, RescaleIntercept, ModalityLut);
        return values;
    }

    /// <summary>VOI stage (float32, no inversion): VOI LUT <paramref name="index"/> when present (and preferred),
    /// else window <paramref name="index"/>; the modality values unchanged when the file has neither or is colour.</summary>
    public float[] ReadVoi(int frame = 0, int index = 0, bool preferLut = true)
    {
        var values = ReadModality(frame);
        ApplyVoi(values, index, preferLut);
        return values;
    }

    /// <summary>Display stage of one frame as an image in [0, 1], 1 = white.</summary>
    public Image ReadDisplay(int frame = 0, DisplayScaling scaling = DisplayScaling.MinMax)
    {
        if (frame == AllFrames) throw new ArgumentException("an Image holds one frame; use ReadPixels(PixelStage.Display, AllFrames) for all", nameof(frame));
        return new Image(ReadDisplayValues(frame, scaling), Rows, Columns, SamplesPerPixel);
    }

    /// <summary>The VOI used by <see cref="ReadVoi"/> with default arguments, in words (for meta files and logs).</summary>
    public string VoiDescription
    {
        get
        {
            if (!IsMonochrome) return "none (colour)";
            if (VoiLuts.Count > 0) return VoiLuts[0].ToString();
            if (Windows.Count > 0) return $"window {Windows[0]}" + (VoiFunction == VoiFunction.Linear ? "" : $" {VoiFunction}");
            return "none";
        }
    }

    float[] ReadDisplayValues(int frame, DisplayScaling scaling)
    {
        if (DecodedPhotometricInterpretation is "PALETTE COLOR")
            throw new DicomException(Path, "PALETTE COLOR images have no display stage here (read the raw indices instead)");
        if (frame == AllFrames)
        {
            var all = new float[checked(NumberOfFrames * PixelsPerFrame)];
            for (var f = 0; f < NumberOfFrames; f++)
                ReadDisplayValues(f, scaling).CopyTo(all, f * PixelsPerFrame);
            return all;
        }
        if (IsMonochrome && TryDisplayByTable(frame, scaling) is { } mapped) return mapped;
        var values = ReadModality(frame);
        var (min, max) = ApplyVoi(values, 0, true);
        PixelPipeline.ToDisplay(values, IsMonochrome1, scaling, min, max);
        return values;
    }

    /// <summary>The display stage of one frame of 8- or 16-bit stored values through a table: modality, VOI and display are
    /// each a function of the stored value alone (min–max scaling needs only the extremes over the values present), so
    /// the pipeline runs once over the ≤ 65,536 possible values and each pixel is one lookup. The same elementwise
    /// arithmetic on the same inputs: the result equals the per-pixel path bit for bit, at a fraction of its passes over
    /// a real-size image. Null for other layouts (32-bit, colour).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    unsafe float[]? TryDisplayByTable(int frame, DisplayScaling scaling)
    {
        var all = Decode();
        var type = all.GetType();
        int bias, domain;
        if (type == typeof(ushort[])) (bias, domain) = (0, 65536);
        else if (type == typeof(short[])) (bias, domain) = (32768, 65536);
        else if (type == typeof(byte[])) (bias, domain) = (0, 256);
        else if (type == typeof(sbyte[])) (bias, domain) = (128, 256);
        else return null;
        var count = PixelsPerFrame;
        var start = checked(CheckFrame(frame) * count);
        // Table indices (stored value + bias) of this frame's pixels, and which occur.
        var indices = type == typeof(ushort[]) ? null : PixelBuffers.Rent<ushort>(count);
        try
        {
            var index = indices is null ? ((ushort[])all).AsSpan(start, count) : indices.AsSpan(0, count);
            if (indices is null) { } // unsigned 16-bit: the stored values are the indices
            else if (type == typeof(short[]))
            {
                var source = ((short[])all).AsSpan(start, count);
                for (var i = 0; i < count; i++) index[i] = (ushort)(source[i] + 32768);
            }
            else if (type == typeof(byte[]))
            {
                var source = ((byte[])all).AsSpan(start, count);
                for (var i = 0; i < count; i++) index[i] = source[i];
            }
            else
            {
                var source = ((sbyte[])all).AsSpan(start, count);
                for (var i = 0; i < count; i++) index[i] = (ushort)(source[i] + 128);
            }
            var (first, last) = MinMax(index);

            // The per-pixel path's steps on the table: stored value as float, modality, VOI, then display.
            var table = new float[domain];
            for (var i = 0; i < domain; i++) table[i] = i - bias;
            PixelPipeline.ApplyModality(table, RescaleSlope, RescaleIntercept, ModalityLut);
            var (min, max) = ApplyVoi(table, 0, true);
            if (scaling == DisplayScaling.MinMax)
            {
                // The extremes of the mapped values present. Over [first, last] a monotonic table (windows, rescales, most
                // LUTs) has them at its ends; otherwise every present index is looked at.
                float lo = float.PositiveInfinity, hi = float.NegativeInfinity;
                var span = table.AsSpan(first, last - first + 1);
                if (IsMonotonic(span)) (lo, hi) = (Math.Min(span[0], span[^1]), Math.Max(span[0], span[^1]));
                else
                {
                    var present = new bool[domain];
                    foreach (var v in index) present[v] = true;
                    for (var i = first; i <= last; i++)
                        if (present[i]) { var v = table[i]; if (v < lo) lo = v; if (v > hi) hi = v; }
                }
                (min, max) = (lo, hi);
            }
            PixelPipeline.ScaleToDisplay(table, IsMonochrome1, min, max);

            var output = PixelBuffers.Rent<float>(count);
            fixed (float* t = table)
            fixed (ushort* x = index)
            fixed (float* o = output)
                for (var i = 0; i < count; i++) o[i] = t[x[i]]; // x[i] < domain = table.Length
            return output;
        }
        finally
        {
            if (indices is not null) PixelBuffers.Return(indices);
        }
    }

    /// <summary>Smallest and largest of the indices (vectorised).</summary>
    static (int Min, int Max) MinMax(ReadOnlySpan<ushort> values)
    {
        ushort lo = ushort.MaxValue, hi = 0;
        var i = 0;
        if (Vector256.IsHardwareAccelerated && values.Length >= Vector256<ushort>.Count)
        {
            var vlo = Vector256.Create(ushort.MaxValue);
            var vhi = Vector256<ushort>.Zero;
            for (; i <= values.Length - Vector256<ushort>.Count; i += Vector256<ushort>.Count)
            {
                var v = Vector256.Create(values.Slice(i, Vector256<ushort>.Count));
                vlo = Vector256.Min(vlo, v);
                vhi = Vector256.Max(vhi, v);
            }
            for (var k = 0; k < Vector256<ushort>.Count; k++) { lo = Math.Min(lo, vlo[k]); hi = Math.Max(hi, vhi[k]); }
        }
        for (; i < values.Length; i++) { lo = Math.Min(lo, values[i]); hi = Math.Max(hi, values[i]); }
        return (lo, hi);
    }

    /// <summary>Whether the values never decrease, or never increase (ties allowed; false with a NaN).</summary>
    static bool IsMonotonic(ReadOnlySpan<float> values)
    {
        bool up = true, down = true;
        for (var i = 1; i < values.Length && (up || down); i++)
        {
            if (!(values[i] >= values[i - 1])) up = false;
            if (!(values[i] <= values[i - 1])) down = false;
        }
        return up || down;
    }

    /// <summary>Applies the VOI in place; returns its nominal output range (used by <see cref="DisplayScaling.VoiRange"/>).</summary>
    (double Min, double Max) ApplyVoi(Span<float> values, int index, bool preferLut)
    {
        var signed = PixelRepresentation == 1;
        var stored = PixelPipeline.WindowOutputRange(BitsStored, signed, RescaleSlope, RescaleIntercept, ModalityLut);
        if (!IsMonochrome) return (0, Math.Pow(2, BitsStored) - 1);
        if (VoiLuts.Count > 0 && (preferLut || Windows.Count == 0))
        {
            var lut = VoiLuts[CheckIndex(index, VoiLuts.Count, "VOI LUT")];
            PixelPipeline.ApplyLut(values, lut);
            return (0, Math.Pow(2, lut.BitsPerEntry) - 1);
        }
        if (Windows.Count > 0)
        {
            var window = Windows[CheckIndex(index, Windows.Count, "window")];
            try { PixelPipeline.Window(values, window.Center, window.Width, VoiFunction, stored.Min, stored.Max); }
            catch (ArgumentException e) { throw new DicomException(Path, e.Message, e); }
            return stored;
        }
        return stored;
    }

    int CheckIndex(int index, int count, string what) =>
        index >= 0 && index < count ? index : throw new DicomException(Path, $"{what} index {index} is out of range: the file has {count}");

    int PixelsPerFrame => Rows * Columns * SamplesPerPixel;

    /// <summary>Bits per sample in GDCM's decoded buffer (1-bit images are unpacked to one byte per pixel).</summary>
    int LayoutBits => decodedBitsAllocated;

    int FrameBytes => PixelsPerFrame * Math.Max(1, LayoutBits / 8);

    int CheckFrame(int frame) =>
        frame >= 0 && frame < NumberOfFrames ? frame : throw new DicomException(Path, $"frame {frame} is out of range: the image has {NumberOfFrames} frame(s)");

    void Validate()
    {
        if (Rows <= 0 || Columns <= 0) throw new DicomException(Path, $"image size {Rows}×{Columns} is empty");
        if (NumberOfFrames <= 0) throw new DicomException(Path, $"Number of Frames {NumberOfFrames} must be positive");
        if (SamplesPerPixel is not (1 or 3 or 4)) throw new DicomException(Path, $"Samples per Pixel {SamplesPerPixel} is not 1, 3 or 4");
        if (LayoutBits is not (1 or 8 or 16 or 32))
            throw new DicomException(Path, $"Bits Allocated {LayoutBits} is not supported (1, 8, 16 or 32)");
        if (BitsStored <= 0 || BitsStored > Math.Max(BitsAllocated, LayoutBits))
            throw new DicomException(Path, $"Bits Stored {BitsStored} does not fit Bits Allocated {BitsAllocated}");
        var expected = (long)Rows * Columns * SamplesPerPixel * Math.Max(1, LayoutBits / 8) * NumberOfFrames;
        if (expected > Array.MaxLength)
            throw new DicomException(Path, $"decoded pixel data would be {expected} bytes ({Rows}×{Columns}×{NumberOfFrames} frames), beyond what one array holds");
        // GDCM 3.0 reads past its buffer (SIGSEGV) when native pixel data is shorter than the header implies.
        var needed = LayoutBits == 1 ? (expected + 7) / 8
            : PhotometricInterpretation == "YBR_FULL_422" && SamplesPerPixel == 3 ? expected / 3 * 2 // two chroma samples per two pixels
            : expected;
        if (!layout.Encapsulated && layout.PixelDataBytes < needed)
            throw new DicomException(Path, $"Pixel Data holds {layout.PixelDataBytes} bytes; {Rows}×{Columns}×{SamplesPerPixel}, {LayoutBits} bits, " +
                                           $"{NumberOfFrames} frame(s) need {needed} (truncated, or a corrupt size in the header)");
        if (layout.Encapsulated && expected > layout.PixelDataBytes * MaxCompressionRatio + (1 << 20))
            throw new DicomException(Path, $"header claims {expected} decoded bytes from {layout.PixelDataBytes} compressed bytes (ratio > {MaxCompressionRatio}); corrupt header?");
    }

    const string RleLossless = "1.2.840.10008.1.2.5";

    /// <summary>Checks each RLE fragment's 64-byte header (segment count 1–15, offsets inside the fragment) before
    /// GDCM reads the file: GDCM 3.0 divides by the segment count (a SIGFPE that kills the process when it is 0).</summary>
    static void ValidateRle(string path, PreflightResult layout)
    {
        if (layout.TransferSyntaxUid != RleLossless || layout.Fragments is not { } fragments) return;
        using var handle = File.OpenHandle(path);
        Span<byte> header = stackalloc byte[64];
        foreach (var (offset, length) in fragments)
        {
            if (length < 64 || RandomAccess.Read(handle, header, offset) != 64)
                throw new DicomException(path, $"RLE fragment at byte {offset} is {length} bytes, shorter than its 64-byte header");
            var count = BitConverter.ToUInt32(header);
            if (count is < 1 or > 15)
                throw new DicomException(path, $"RLE fragment at byte {offset} declares {count} segments; it must be 1 to 15");
            uint previous = 0;
            for (var i = 0; i < count; i++)
            {
                var start = BitConverter.ToUInt32(header[(4 + 4 * i)..]);
                if (start < 64 || start < previous || start >= length)
                    throw new DicomException(path, $"RLE fragment at byte {offset}: segment {i} starts at {start}, outside the fragment ({length} bytes)");
                previous = start;
            }
        }
    }

    static readonly HashSet<string> NativeLittleEndian = ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.1.99"];

    Array Decode()
    {
        ThrowIfDisposed();
        if (decoded is not null) return decoded;
        var expected = (long)FrameBytes * NumberOfFrames;
        if (this.image is not { } image)
        {
            decodedWithoutCodec = true;
            return decoded = DecodeWithOwnCodec();
        }
        // Native little endian 8/16/32-bit data is already the stored values: copy GDCM's parsed Pixel Data value
        // once, instead of Bitmap::GetBuffer's slower path through a string stream (measured 20–40 ms for 2 MB).
        if (NativeLittleEndian.Contains(TransferSyntaxUID) && LayoutBits is 8 or 16 or 32
            && !(SamplesPerPixel > 1 && image.GetPlanarConfiguration() == 1) && PhotometricInterpretation != "YBR_FULL_422"
            && TryCopyPixelValue(expected) is { } direct)
        {
            decodedWithoutCodec = true;
            return decoded = direct;
        }
        var bytes = DecodeWithCodec(expected);
        return decoded = ToTyped(bytes.AsSpan());
    }

    /// <summary>Our codec decodes every frame straight into the typed array; the stored bits are then normalised in place.</summary>
    Array DecodeWithOwnCodec()
    {
        var count = checked(PixelsPerFrame * NumberOfFrames);
        var signed = PixelRepresentation == 1;
        // From the pool: an array given back (ReturnBuffer, or a disposed image's) reuses its pages instead of faulting in fresh ones.
        Array result = LayoutBits switch
        {
            8 => signed ? PixelBuffers.Rent<sbyte>(count) : PixelBuffers.Rent<byte>(count),
            16 => signed ? PixelBuffers.Rent<short>(count) : PixelBuffers.Rent<ushort>(count),
            _ => signed ? PixelBuffers.Rent<int>(count) : PixelBuffers.Rent<uint>(count),
        };
        var bytes = MemoryMarshal.CreateSpan(ref MemoryMarshal.GetArrayDataReference(result), checked(count * (LayoutBits / 8)));
        if (codec == PixelCodec.Native && LayoutBits == 16)
        {
            ReadNativeSamples(bytes); // 16-bit samples are put in order and normalised chunk by chunk while the chunk is in cache
            GC.KeepAlive(reader);
            return result;
        }
        if (codec == PixelCodec.Native) ReadNativeSamples(bytes);
        else if (own is not null)
        {
            var (blob, fragments) = ReadFragments();
            DicomCodecs.Decode(Path, blob, fragments, codec, Rows, Columns, NumberOfFrames, LayoutBits / 8, bytes);
        }
        else DicomCodecs.Decode(Path, dataSet!, codec, Rows, Columns, NumberOfFrames, LayoutBits / 8, bytes);
        GC.KeepAlive(reader);
        if (LayoutBits == 16)
        {
            var words = MemoryMarshal.Cast<byte, ushort>(bytes);
            CopyNormalized16(words, words, Math.Clamp(BitsStored, 1, 16), signed);
        }
        else if (BitsStored < LayoutBits) NormalizeStoredBits(result);
        return result;
    }

    /// <summary>Bytes read (and then put in order) at a time: small enough that the fix-up pass finds them in cache.</summary>
    const int NativeChunkBytes = 256 * 1024;

    /// <summary>Native samples from the file (or the inflated data set) into <paramref name="target"/> in sequential chunk
    /// reads, each put in host order — and, for 16-bit samples, normalised to Bits Stored — while it is still in cache
    /// (Validate checked that the Pixel Data value holds them). The file may have changed since Open: a short read is an
    /// error, not garbage.</summary>
    void ReadNativeSamples(Span<byte> target)
    {
        var offset = layout.PixelDataOffset;
        using var handle = layout.Inflated is null ? File.OpenHandle(Path, FileMode.Open, FileAccess.Read, FileShare.Read) : null;
        var rest = target;
        while (!rest.IsEmpty)
        {
            var chunk = rest[..Math.Min(rest.Length, NativeChunkBytes)];
            if (layout.Inflated is { } inflated) inflated.AsSpan(checked((int)offset), chunk.Length).CopyTo(chunk);
            else
                for (var filled = 0; filled < chunk.Length;)
                {
                    var n = RandomAccess.Read(handle!, chunk[filled..], offset + filled);
                    if (n <= 0) throw new DicomException(Path, $"the file ended while reading Pixel Data at byte {offset + filled} (changed since it was opened?)");
                    filled += n;
                }
            PutInOrder(chunk);
            rest = rest[chunk.Length..];
            offset += chunk.Length;
        }
    }

    /// <summary>Explicit VR big endian: pydicom reads the samples with a big-endian dtype (8-bit samples stay as they are).
    /// 16-bit samples also keep only their Bits Stored (ReadNativeSamples' caller skips its own pass for them).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    void PutInOrder(Span<byte> chunk)
    {
        if (LayoutBits == 16)
        {
            var words = MemoryMarshal.Cast<byte, ushort>(chunk[..(chunk.Length & ~1)]);
            if (layout.BigEndian) System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(words, words);
            CopyNormalized16(words, words, Math.Clamp(BitsStored, 1, 16), PixelRepresentation == 1);
        }
        else if (layout.BigEndian && LayoutBits == 32)
        {
            var words = MemoryMarshal.Cast<byte, uint>(chunk[..(chunk.Length & ~3)]);
            System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(words, words);
        }
    }

    /// <summary>The encapsulated fragments the own header walk located, read into one array (the offset table excluded).</summary>
    (byte[] Blob, List<(int Start, int Length)> Fragments) ReadFragments()
    {
        var located = layout.Fragments ?? [];
        var total = located.Sum(f => f.Length);
        if (total > Array.MaxLength) throw new DicomException(Path, $"{total} bytes of Pixel Data fragments: more than one array holds");
        var blob = GC.AllocateUninitializedArray<byte>((int)total);
        var fragments = new List<(int, int)>(located.Count);
        var at = 0;
        using var handle = layout.Inflated is null ? File.OpenHandle(Path, FileMode.Open, FileAccess.Read, FileShare.Read) : null;
        foreach (var (offset, length) in located)
        {
            var span = blob.AsSpan(at, (int)length);
            if (layout.Inflated is { } inflated) inflated.AsSpan(checked((int)offset), span.Length).CopyTo(span);
            else if (RandomAccess.Read(handle!, span, offset) != span.Length)
                throw new DicomException(Path, $"the file ended while reading a Pixel Data fragment at byte {offset} (changed since it was opened?)");
            fragments.Add((at, (int)length));
            at += (int)length;
        }
        return (blob, fragments);
    }

    /// <summary>Typed stored values read straight from GDCM's parsed Pixel Data value: one pass from native memory
    /// into the typed array (bits normalised on the way), no intermediate byte[].</summary>
    unsafe Array? TryCopyPixelValue(long expected)
    {
        var image = this.image!;
        using var element = image.GetDataElement();
        using var value = element.GetByteValue();
        if (value is null) return null;
        using var length = value.GetLength();
        if (length.GetValueLength() < expected) return null;
        var address = NativeAddress(value.GetVoidPointer());
        if (address == IntPtr.Zero) return null;
        var bytes = new ReadOnlySpan<byte>((void*)address, checked((int)expected));
        var result = ToTyped(bytes);
        GC.KeepAlive(value);
        GC.KeepAlive(reader);
        return result;
    }

    /// <summary>The address a SWIG void* wrapper holds (gdcm-sharp keeps its getCPtr internal; the field is SWIG's
    /// fixed layout, read once by reflection).</summary>
    internal static IntPtr NativeAddress(gdcm.SWIGTYPE_p_void? pointer) =>
        pointer is null || VoidPointerField?.GetValue(pointer) is not System.Runtime.InteropServices.HandleRef handle ? IntPtr.Zero : handle.Handle;

    static readonly System.Reflection.FieldInfo? VoidPointerField =
        typeof(gdcm.SWIGTYPE_p_void).GetField("swigCPtr", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance);

    ArraySegment<byte> DecodeWithCodec(long expected)
    {
        var image = this.image!;
        var length = (long)image.GetBufferLength();
        // GDCM hands 1-bit images back packed, 8 pixels a byte (least significant bit first).
        var packed = LayoutBits == 1 ? (expected + 7) / 8 : expected;
        if (length != packed)
            throw new DicomException(Path, $"GDCM reports {length} decoded bytes, the header implies {packed} ({Rows}×{Columns}×{SamplesPerPixel}, {LayoutBits} bits, {NumberOfFrames} frames)");
        // A codec may find more bits in its stream than the header promised and "correct" the pixel format while
        // decoding, writing up to 4 bytes a sample into our buffer (seen with JPEG 2000: heap corruption). So a
        // compressed image decodes into room for that, and a changed layout is refused afterwards.
        var room = layout.Encapsulated ? Math.Max(packed, (long)Rows * Columns * SamplesPerPixel * NumberOfFrames * 4) : packed;
        if (room > Array.MaxLength) throw new DicomException(Path, $"decoded pixel data would need {room} bytes");
        var buffer = GC.AllocateUninitializedArray<byte>((int)room);
        var ok = image.GetBuffer(buffer);
        GC.KeepAlive(reader);
        if (!ok)
            throw new DicomException(Path, $"GDCM could not decode the pixel data (transfer syntax {TransferSyntaxUID}: corrupt or unsupported)");
        using (var after = image.GetPixelFormat())
            if (after.GetBitsAllocated() != decodedBitsAllocated || after.GetSamplesPerPixel() != SamplesPerPixel)
                throw new DicomException(Path, $"the compressed stream holds {after.GetBitsAllocated()}-bit samples ({after.GetSamplesPerPixel()} per pixel) " +
                                               $"but the header says {decodedBitsAllocated}-bit ({SamplesPerPixel}); the header is wrong");
        if (LayoutBits == 1) return UnpackBits(buffer, expected);
        if (room != packed && (LayoutBits == 32 && TransferSyntaxUID == "1.2.840.10008.1.2.2" || SamplesPerPixel > 1 && image.GetPlanarConfiguration() == 1))
            Array.Resize(ref buffer, (int)packed);
        else if (room != packed) return new ArraySegment<byte>(buffer, 0, (int)packed); // no copy: the typed array is made from this slice
        if (LayoutBits == 32 && TransferSyntaxUID == "1.2.840.10008.1.2.2") SwapHalfWords(buffer);
        if (SamplesPerPixel > 1 && image.GetPlanarConfiguration() == 1) buffer = Interleave(buffer);
        return buffer;
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    static byte[] UnpackBits(byte[] packed, long count)
    {
        var output = new byte[count];
        for (long i = 0; i < count; i++) output[i] = (byte)((packed[i >> 3] >> (int)(i & 7)) & 1);
        return output;
    }

    /// <summary>GDCM 3.0 byte-swaps explicit big endian pixel data in 16-bit words, so 32-bit samples come back
    /// with their halves exchanged; this puts them right (checked against pydicom on rtdose_expb.dcm).</summary>
    static void SwapHalfWords(byte[] buffer)
    {
        foreach (ref var v in MemoryMarshal.Cast<byte, uint>(buffer.AsSpan())) v = (v >> 16) | (v << 16);
    }

    /// <summary>Planar configuration 1 (RRR…GGG…BBB per frame) to interleaved RGBRGB….</summary>
    byte[] Interleave(byte[] planar)
    {
        var output = new byte[planar.Length];
        var sampleBytes = Math.Max(1, LayoutBits / 8);
        var pixels = Rows * Columns;
        for (var f = 0; f < NumberOfFrames; f++)
        {
            var frameStart = f * FrameBytes;
            for (var s = 0; s < SamplesPerPixel; s++)
                for (var p = 0; p < pixels; p++)
                    Buffer.BlockCopy(planar, frameStart + (s * pixels + p) * sampleBytes, output, frameStart + (p * SamplesPerPixel + s) * sampleBytes, sampleBytes);
        }
        return output;
    }

    List<WindowSetting> ReadWindows()
    {
        var centers = GetOrDefault<double[]?>(DicomTags.WindowCenter, null);
        var widths = GetOrDefault<double[]?>(DicomTags.WindowWidth, null);
        if (centers is null || widths is null) return [];
        var explanations = TryGetString(DicomTags.WindowCenterWidthExplanation, out var text) ? text.Split('\\') : [];
        var count = Math.Min(centers.Length, widths.Length);
        return Enumerable.Range(0, count)
            .Select(i => new WindowSetting(centers[i], widths[i], i < explanations.Length && explanations[i].Trim().Length > 0 ? explanations[i].Trim() : null))
            .ToList();
    }

    List<DicomLut> ReadLuts(DicomTag sequenceTag)
    {
        var result = new List<DicomLut>();
        if (own is not null)
        {
            var i = 0;
            foreach (var nested in own[sequenceTag]?.Items ?? [])
            {
                i++;
                string? explanation = DicomHeader.TryFormat(nested, DicomTags.LUTExplanation, out var text) == HeaderLookup.Found ? text : null;
                if (ToLut(sequenceTag, i, nested.Words(DicomTags.LUTDescriptor), nested.Words(DicomTags.LUTData), explanation) is { } lut) result.Add(lut);
            }
            return result;
        }
        using var t = sequenceTag.ToGdcm();
        if (!dataSet!.FindDataElement(t)) return result;
        using var element = dataSet.GetDataElement(t);
        using var sequence = element.GetValueAsSQ();
        if (sequence is null || sequence.GetPointer() is null) return result;
        var items = sequence.GetNumberOfItems();
        for (uint i = 1; i <= items; i++) // GDCM items are 1-based
        {
            using var item = sequence.GetItem(i);
            using var nested = item.GetNestedDataSet();
            string? explanation = null;
            using (var et = DicomTags.LUTExplanation.ToGdcm())
                if (nested.FindDataElement(et))
                    explanation = AsciiValue(nested, et);
            if (ToLut(sequenceTag, (int)i, ReadWords(nested, DicomTags.LUTDescriptor), ReadWords(nested, DicomTags.LUTData), explanation) is { } lut)
                result.Add(lut);
        }
        GC.KeepAlive(reader);
        return result;
    }

    /// <summary>One LUT item (1-based <paramref name="item"/>) from its descriptor and data words; null when either is missing.</summary>
    DicomLut? ToLut(DicomTag sequenceTag, int item, ushort[]? descriptor, ushort[]? data, string? explanation)
    {
        if (descriptor is null || data is null || descriptor.Length < 3) return null;
        var entries = descriptor[0] == 0 ? 65536 : descriptor[0];
        // The first mapped value is signed when the pixel values it maps are (PS3.3 C.11.1.1.1).
        int first = PixelRepresentation == 1 ? (short)descriptor[1] : descriptor[1];
        var bits = descriptor[2];
        if (data.Length < entries)
            throw new DicomException(Path, $"{sequenceTag} item {item}: LUT Data has {data.Length} entries, the descriptor says {entries}");
        return new DicomLut(first, bits, data[..entries], explanation);
    }

    static ushort[]? ReadWords(gdcm.DataSet set, DicomTag tag)
    {
        using var t = tag.ToGdcm();
        if (!set.FindDataElement(t)) return null;
        using var element = set.GetDataElement(t);
        using var value = element.GetByteValue();
        if (value is null) return null;
        var length = value.GetLength().GetValueLength();
        var bytes = new byte[length];
        if (length > 0 && !value.GetBuffer(bytes, length)) return null;
        // GDCM holds values of binary VRs in host (little endian) order whatever the file's byte order.
        return MemoryMarshal.Cast<byte, ushort>(bytes.AsSpan(0, (int)(length & ~1u))).ToArray();
    }

    static string? AsciiValue(gdcm.DataSet set, gdcm.Tag tag)
    {
        using var element = set.GetDataElement(tag);
        using var value = element.GetByteValue();
        if (value is null) return null;
        var length = value.GetLength().GetValueLength();
        var bytes = new byte[length];
        if (length > 0 && !value.GetBuffer(bytes, length)) return null;
        return System.Text.Encoding.ASCII.GetString(bytes).Trim(' ', '\0');
    }

    static bool TryConvert<T>(string text, out T value)
    {
        value = default!;
        object? result = null;
        var parts = text.Split('\\', StringSplitOptions.TrimEntries);
        var t = Nullable.GetUnderlyingType(typeof(T)) ?? typeof(T);
        if (t == typeof(string)) result = text;
        else if (t == typeof(string[])) result = parts;
        else if (t == typeof(double)) { if (TryDouble(parts[0], out var d)) result = d; }
        else if (t == typeof(int)) { if (TryDouble(parts[0], out var d) && d == Math.Floor(d) && d is >= int.MinValue and <= int.MaxValue) result = (int)d; }
        else if (t == typeof(long)) { if (long.TryParse(parts[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out var l)) result = l; }
        else if (t == typeof(double[]))
        {
            var values = new double[parts.Length];
            for (var i = 0; i < parts.Length; i++) if (!TryDouble(parts[i], out values[i])) return false;
            result = values;
        }
        else if (t == typeof(int[]))
        {
            var values = new int[parts.Length];
            for (var i = 0; i < parts.Length; i++)
                if (!int.TryParse(parts[i], NumberStyles.Integer, CultureInfo.InvariantCulture, out values[i])) return false;
            result = values;
        }
        else throw new NotSupportedException($"Get<{typeof(T).Name}>: use string, string[], int, long, double, int[] or double[]");
        if (result is null) return false;
        value = (T)result;
        return true;
    }

    static bool TryDouble(string s, out double d) =>
        double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out d) && double.IsFinite(d);

    static double? ParseAge(string? age)
    {
        if (age is not { Length: >= 2 }) return null;
        if (!int.TryParse(age[..^1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var n)) return null;
        return char.ToUpperInvariant(age[^1]) switch
        {
            'Y' => n,
            'M' => n / 12.0,
            'W' => n * 7 / 365.25,
            'D' => n / 365.25,
            _ => null,
        };
    }

    static string Truncate(string s) => s.Length <= 64 ? s : s[..64] + "…";

    void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(disposed, this);

    /// <summary>Gives back an array this class handed out (<see cref="ReadRaw"/>'s stored values, the float stages) that the
    /// caller no longer uses: the next image of the same size decodes into it instead of into freshly faulted-in pages
    /// (measured ~0.5 ms per 2 MB). Optional; never use the array afterwards.</summary>
    public static void ReturnBuffer(Array array) => PixelBuffers.Return(array);

    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        strings?.Dispose();
        dataSet?.Dispose();
        image?.Dispose();
        reader?.Dispose();
        if (decoded is not null && decodedWithoutCodec) PixelBuffers.Return(decoded); // never handed out: ReadRaw copies or takes it
        decoded = null;
    }

    public override string ToString() =>
        $"DicomImage({System.IO.Path.GetFileName(Path)}: {Rows}×{Columns}×{NumberOfFrames} {PhotometricInterpretation}, {BitsStored}/{BitsAllocated} bits, {TransferSyntaxUID})";
}
