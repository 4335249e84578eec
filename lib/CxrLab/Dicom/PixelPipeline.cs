using System.Runtime.CompilerServices;

namespace CxrLab.Dicom;

/// <summary>
/// The modality → VOI → display arithmetic on flat arrays, independent of GDCM. It follows PS3.3 C.11
/// as pydicom implements it (<c>apply_modality_lut</c>, <c>apply_voi_lut</c>), so results can be compared
/// value for value.
/// </summary>
public static class PixelPipeline
{
    /// <summary>Stored values as float (any of the raw element types).</summary>
    public static float[] ToFloat(Array raw) => ToFloat(raw, 0, raw.Length);

    /// <summary><paramref name="count"/> stored values from <paramref name="start"/> as float.</summary>
    // Called once per image: without this the loops would run unoptimised (tier-0 JIT), measured 20–50× slower.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float[] ToFloat(Array raw, long start, int count)
    {
        var n = count;
        var output = PixelBuffers.Rent<float>(n); // every element is written below

        var s = (int)start;
        // Exact type tests: the CLR lets a short[] pass "is ushort[]" (and sbyte[]/byte[], int[]/uint[]).
        var type = raw.GetType();
        if (type == typeof(byte[])) { var a = (byte[])raw; for (var i = 0; i < n; i++) output[i] = a[s + i]; }
        else if (type == typeof(sbyte[])) { var a = (sbyte[])raw; for (var i = 0; i < n; i++) output[i] = a[s + i]; }
        else if (type == typeof(ushort[])) { var a = (ushort[])raw; for (var i = 0; i < n; i++) output[i] = a[s + i]; }
        else if (type == typeof(short[])) { var a = (short[])raw; for (var i = 0; i < n; i++) output[i] = a[s + i]; }
        else if (type == typeof(uint[])) { var a = (uint[])raw; for (var i = 0; i < n; i++) output[i] = a[s + i]; }
        else if (type == typeof(int[])) { var a = (int[])raw; for (var i = 0; i < n; i++) output[i] = a[s + i]; }
        else if (type == typeof(float[])) Array.Copy(raw, s, output, 0, n);
        else throw new ArgumentException($"unsupported pixel array {type.Name}", nameof(raw));
        return output;
    }

    /// <summary>Modality stage: the modality LUT when given (it wins, as in pydicom), else
    /// <c>value × slope + intercept</c> (identity when either is missing).</summary>
    public static float[] Modality(Array raw, double? slope, double? intercept, DicomLut? modalityLut = null)
    {
        var values = ToFloat(raw);
        ApplyModality(values, slope, intercept, modalityLut);
        return values;
    }

    /// <summary>The modality stage in place on stored values already converted to float.</summary>
    // Called once per image: without this the loops would run unoptimised (tier-0 JIT), measured 20–50× slower.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ApplyModality(Span<float> values, double? slope, double? intercept, DicomLut? modalityLut = null)
    {
        if (modalityLut is not null) ApplyLut(values, modalityLut);
        else if (slope is { } s && intercept is { } b && (s != 1 || b != 0))
            for (var i = 0; i < values.Length; i++) values[i] = (float)(values[i] * s + b);
    }

    /// <summary>Maps values through a LUT in place: index = value − first mapped, clamped to the table.</summary>
    // Called once per image: without this the loops would run unoptimised (tier-0 JIT), measured 20–50× slower.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ApplyLut(Span<float> values, DicomLut lut)
    {
        var last = lut.Data.Length - 1;
        for (var i = 0; i < values.Length; i++)
        {
            var index = values[i] < lut.FirstMapped ? 0 : (long)(values[i] - lut.FirstMapped);
            values[i] = lut.Data[index > last ? last : index];
        }
    }

    /// <summary>The window's output range as pydicom computes it: the stored value range
    /// (unsigned 0..2^bits−1, signed −2^(bits−1)..2^(bits−1)−1; or 0..2^lutbits−1 after a modality LUT),
    /// passed through the rescale when one is present.</summary>
    public static (double Min, double Max) WindowOutputRange(int bitsStored, bool signed, double? slope, double? intercept, DicomLut? modalityLut)
    {
        double min, max;
        if (modalityLut is not null) { min = 0; max = Math.Pow(2, modalityLut.BitsPerEntry) - 1; }
        else if (!signed) { min = 0; max = Math.Pow(2, bitsStored) - 1; }
        else { min = -Math.Pow(2, bitsStored - 1); max = Math.Pow(2, bitsStored - 1) - 1; }
        if (slope is { } s && intercept is { } b)
        {
            min = min * s + b;
            max = max * s + b;
        }
        return (min, max);
    }

    /// <summary>Window center/width in place (PS3.3 C.11.2.1.2): values at or below the window go to
    /// <paramref name="outMin"/>, above it to <paramref name="outMax"/>, linearly (or by a sigmoid) between.</summary>
    // Called once per image: without this the loops would run unoptimised (tier-0 JIT), measured 20–50× slower.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Window(Span<float> values, double center, double width, VoiFunction function, double outMin, double outMax)
    {
        var range = outMax - outMin;
        switch (function)
        {
            case VoiFunction.Linear or VoiFunction.LinearExact:
                if (function == VoiFunction.Linear)
                {
                    if (width < 1) throw new ArgumentException($"window width {width} must be ≥ 1 for the LINEAR VOI function");
                    center -= 0.5;
                    width -= 1;
                }
                else if (width <= 0) throw new ArgumentException($"window width {width} must be > 0 for the LINEAR_EXACT VOI function");
                var low = center - width / 2;
                var high = center + width / 2;
                for (var i = 0; i < values.Length; i++)
                {
                    double x = values[i];
                    values[i] = (float)(x <= low ? outMin : x > high ? outMax : ((x - center) / width + 0.5) * range + outMin);
                }
                break;
            case VoiFunction.Sigmoid:
                if (width <= 0) throw new ArgumentException($"window width {width} must be > 0 for the SIGMOID VOI function");
                for (var i = 0; i < values.Length; i++)
                    values[i] = (float)(range / (1 + Math.Exp(-4 * (values[i] - center) / width)) + outMin);
                break;
        }
    }

    /// <summary>Display stage: scales to [0, 1] (by the image's min–max, or by a fixed range) and inverts
    /// MONOCHROME1 so that 1 is white. A constant image becomes all zeros.</summary>
    // Called once per image: without this the loops would run unoptimised (tier-0 JIT), measured 20–50× slower.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ToDisplay(Span<float> values, bool invert, DisplayScaling scaling, double rangeMin, double rangeMax)
    {
        double min = rangeMin, max = rangeMax;
        if (scaling == DisplayScaling.MinMax && values.Length > 0)
        {
            float lo = float.PositiveInfinity, hi = float.NegativeInfinity;
            foreach (var v in values) { if (v < lo) lo = v; if (v > hi) hi = v; }
            (min, max) = (lo, hi);
        }
        ScaleToDisplay(values, invert, min, max);
    }

    /// <summary>The second half of <see cref="ToDisplay"/>: [min, max] → [0, 1] (inverted when asked), all zeros when
    /// max ≤ min. Elementwise, so a table of every stored value mapped here equals the image mapped here.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ScaleToDisplay(Span<float> values, bool invert, double min, double max)
    {
        if (!(max > min))
        {
            values.Clear(); // no contrast to show (the Kaggle reading gives 0/0 here)
            return;
        }
        var range = max - min;
        for (var i = 0; i < values.Length; i++)
        {
            var y = Math.Clamp((values[i] - min) / range, 0.0, 1.0); // divide (not × 1/range) so the extremes are exactly 0 and 1
            values[i] = (float)(invert ? 1 - y : y);
        }
    }
}
