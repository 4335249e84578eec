namespace CxrLab.Dicom;

/// <summary>The stages of the DICOM pixel pipeline; each is available on its own.</summary>
public enum PixelStage
{
    /// <summary>Decoded stored values in their native type (byte, sbyte, ushort, short, uint, int).</summary>
    Raw,

    /// <summary>Modality LUT or rescale slope/intercept applied (e.g. Hounsfield units), float32.</summary>
    Modality,

    /// <summary>VOI LUT sequence when present, else window center/width (linear, linear exact or sigmoid), float32;
    /// the output range follows pydicom's apply_voi_lut (no inversion).</summary>
    Voi,

    /// <summary>VOI output scaled to [0, 1] with MONOCHROME1 inverted, so 1 = white.</summary>
    Display,
}

/// <summary>How the display stage maps VOI output to [0, 1].</summary>
public enum DisplayScaling
{
    /// <summary>Per-image min–max of the VOI output (the Kaggle CXR reading: VOI → invert MONOCHROME1 → x − min, / max).</summary>
    MinMax,

    /// <summary>The VOI stage's nominal output range (window: pydicom's y range; LUT: 0..2^bits − 1; none: the stored bit range).</summary>
    VoiRange,
}

/// <summary>VOI LUT Function (0028,1056).</summary>
public enum VoiFunction { Linear, LinearExact, Sigmoid }

/// <summary>One window (0028,1050/1051) with its explanation (0028,1055), if any.</summary>
public sealed record WindowSetting(double Center, double Width, string? Explanation)
{
    public override string ToString() => $"C={Center:G6} W={Width:G6}" + (Explanation is null ? "" : $" ({Explanation})");
}

/// <summary>A modality or VOI lookup table from its sequence item: input value <see cref="FirstMapped"/> maps to
/// <see cref="Data"/>[0]; values beyond either end clamp to the first/last entry.</summary>
public sealed record DicomLut(int FirstMapped, int BitsPerEntry, ushort[] Data, string? Explanation)
{
    public override string ToString() => $"LUT {Data.Length} entries from {FirstMapped}, {BitsPerEntry} bits" + (Explanation is null ? "" : $" ({Explanation})");
}

/// <summary>Pixels of one stage: <see cref="Data"/> is frames × rows × cols × samples (interleaved), typed
/// byte/sbyte/ushort/short/uint/int for <see cref="PixelStage.Raw"/> and float for the others.</summary>
public sealed record DicomPixels(Array Data, PixelStage Stage, int Frames, int Rows, int Cols, int Samples)
{
    /// <summary>NumPy-style shape: (rows, cols), (frames, rows, cols), with a trailing samples axis when > 1.</summary>
    public int[] Shape(bool squeezeFrames = true)
    {
        var shape = new List<int>();
        if (!squeezeFrames || Frames > 1) shape.Add(Frames);
        shape.Add(Rows);
        shape.Add(Cols);
        if (Samples > 1) shape.Add(Samples);
        return [.. shape];
    }

    /// <summary>A single frame as a float image (any stage; values are not rescaled).</summary>
    public Imaging.Image ToImage()
    {
        if (Frames != 1) throw new InvalidOperationException($"{Frames} frames; pick one frame to make an image");
        var data = Data as float[] ?? PixelPipeline.ToFloat(Data);
        return new Imaging.Image(data, Rows, Cols, Samples);
    }
}
