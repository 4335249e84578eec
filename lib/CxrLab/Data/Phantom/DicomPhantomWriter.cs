using System.Text;

namespace CxrLab.Data.Phantom;

/// <summary>Transfer syntaxes the phantom writer can produce (all lossless).</summary>
public enum DicomCompression { None, JpegLsLossless, Jpeg2000Lossless, Rle }

/// <summary>How one phantom DICOM file is encoded. Stored values relate to display values by
/// <c>value = stored × RescaleSlope + RescaleIntercept</c>; the window is in rescaled units.</summary>
public sealed record DicomEncoding(
    bool Monochrome1 = false,
    int BitsStored = 12,
    double RescaleSlope = 1,
    double RescaleIntercept = 0,
    double WindowCenter = 2048,
    double WindowWidth = 4096,
    DicomCompression Compression = DicomCompression.None,
    string Modality = "CR");

/// <summary>Identity tags of one phantom file (UIDs must be given: GDCM would otherwise invent random ones
/// and break same-seed-same-bytes).</summary>
public sealed record DicomIdentity(string PatientId, string StudyUid, string SeriesUid, string SopInstanceUid, string? PatientSex = null, string? PatientAge = null,
    string StudyDate = "20200101", string StudyTime = "120000");

/// <summary>Writes one-frame grayscale DICOM files through GDCM's C# bindings (gdcm-sharp).</summary>
public static class DicomPhantomWriter
{
    const string CrImageStorage = "1.2.840.10008.5.1.4.1.1.1";

    /// <summary>Writes <paramref name="stored"/> (rows × cols stored values, already inverted for MONOCHROME1,
    /// each below 2^BitsStored) to <paramref name="path"/> atomically.</summary>
    public static void Write(string path, ushort[] stored, int rows, int cols, DicomEncoding encoding, DicomIdentity identity)
    {
        if (stored.Length != rows * cols) throw new ArgumentException($"{stored.Length} values for {rows}×{cols}");
        var bitsAllocated = encoding.BitsStored <= 8 ? 8 : 16;
        var bytes = new byte[stored.Length * (bitsAllocated / 8)];
        var max = (1 << encoding.BitsStored) - 1;
        for (var i = 0; i < stored.Length; i++)
        {
            if (stored[i] > max) throw new ArgumentException($"stored value {stored[i]} at {i} exceeds {encoding.BitsStored} bits");
            if (bitsAllocated == 8) bytes[i] = (byte)stored[i];
            else { bytes[2 * i] = (byte)stored[i]; bytes[2 * i + 1] = (byte)(stored[i] >> 8); }
        }

        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(directory);
        var temp = Path.Combine(directory, $".{Path.GetFileName(path)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            WriteWithGdcm(temp, bytes, rows, cols, bitsAllocated, encoding, identity);
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    static void WriteWithGdcm(string path, byte[] bytes, int rows, int cols, int bitsAllocated, DicomEncoding encoding, DicomIdentity identity)
    {
        // GDCM warns on stderr that the data set has no PhotometricInterpretation yet while it is being built;
        // silence that for this write only and restore the caller's setting.
        var warnings = gdcm.Trace.GetWarningFlag();
        gdcm.Trace.WarningOff();
        try { WriteFile(path, bytes, rows, cols, bitsAllocated, encoding, identity); }
        finally { if (warnings) gdcm.Trace.WarningOn(); }
    }

    static void WriteFile(string path, byte[] bytes, int rows, int cols, int bitsAllocated, DicomEncoding encoding, DicomIdentity identity)
    {
        using var writer = new gdcm.ImageWriter();
        // Fill the writer's own image: handing GDCM a separately owned gdcm.Image makes two owners of one
        // reference-counted object (GDCM asserts when the managed wrapper later deletes it).
        var image = writer.GetImage();
        image.SetNumberOfDimensions(2);
        image.SetDimension(0, (uint)cols);
        image.SetDimension(1, (uint)rows);
        image.SetPixelFormat(new gdcm.PixelFormat(1, (ushort)bitsAllocated, (ushort)encoding.BitsStored, (ushort)(encoding.BitsStored - 1), 0));
        image.SetPhotometricInterpretation(new gdcm.PhotometricInterpretation(
            encoding.Monochrome1 ? gdcm.PhotometricInterpretation.PIType.MONOCHROME1 : gdcm.PhotometricInterpretation.PIType.MONOCHROME2));
        image.SetTransferSyntax(new gdcm.TransferSyntax(gdcm.TransferSyntax.TSType.ExplicitVRLittleEndian));
        var pixelData = new gdcm.DataElement(new gdcm.Tag(0x7fe0, 0x0010));
        pixelData.SetByteValue(bytes, new gdcm.VL((uint)bytes.Length));
        image.SetDataElement(pixelData);

        if (encoding.Compression != DicomCompression.None)
        {
            using var change = new gdcm.ImageChangeTransferSyntax();
            change.SetTransferSyntax(new gdcm.TransferSyntax(encoding.Compression switch
            {
                DicomCompression.JpegLsLossless => gdcm.TransferSyntax.TSType.JPEGLSLossless,
                DicomCompression.Jpeg2000Lossless => gdcm.TransferSyntax.TSType.JPEG2000Lossless,
                _ => gdcm.TransferSyntax.TSType.RLELossless,
            }));
            change.SetInput(image);
            if (!change.Change()) throw new InvalidOperationException($"{path}: GDCM could not compress to {encoding.Compression}");
            var output = change.GetOutput();
            image.SetDataElement(output.GetDataElement());
            image.SetTransferSyntax(output.GetTransferSyntax());
        }

        var dataSet = writer.GetFile().GetDataSet();
        Put(dataSet, 0x0008, 0x0016, gdcm.VR.VRType.UI, CrImageStorage);
        Put(dataSet, 0x0008, 0x0018, gdcm.VR.VRType.UI, identity.SopInstanceUid);
        // Study date/time given explicitly: GDCM would stamp the current time (and break same-seed-same-bytes).
        Put(dataSet, 0x0008, 0x0020, gdcm.VR.VRType.DA, identity.StudyDate);
        Put(dataSet, 0x0008, 0x0030, gdcm.VR.VRType.TM, identity.StudyTime);
        Put(dataSet, 0x0008, 0x0060, gdcm.VR.VRType.CS, encoding.Modality);
        Put(dataSet, 0x0010, 0x0010, gdcm.VR.VRType.PN, "PHANTOM^" + identity.PatientId[..Math.Min(8, identity.PatientId.Length)]);
        Put(dataSet, 0x0010, 0x0020, gdcm.VR.VRType.LO, identity.PatientId);
        if (identity.PatientSex is { } sex) Put(dataSet, 0x0010, 0x0040, gdcm.VR.VRType.CS, sex);
        if (identity.PatientAge is { } age) Put(dataSet, 0x0010, 0x1010, gdcm.VR.VRType.AS, age);
        Put(dataSet, 0x0018, 0x0015, gdcm.VR.VRType.CS, "CHEST");
        Put(dataSet, 0x0018, 0x5101, gdcm.VR.VRType.CS, "PA");
        Put(dataSet, 0x0020, 0x000D, gdcm.VR.VRType.UI, identity.StudyUid);
        Put(dataSet, 0x0020, 0x000E, gdcm.VR.VRType.UI, identity.SeriesUid);
        Put(dataSet, 0x0020, 0x0013, gdcm.VR.VRType.IS, "1");
        Put(dataSet, 0x0028, 0x1050, gdcm.VR.VRType.DS, Ds(encoding.WindowCenter));
        Put(dataSet, 0x0028, 0x1051, gdcm.VR.VRType.DS, Ds(encoding.WindowWidth));
        writer.SetFileName(path);
        if (!writer.Write()) throw new IOException($"GDCM could not write {path}");

        // The image writer resets Rescale Intercept/Slope from its image, which gdcm-sharp exposes as a Pixmap
        // without intercept/slope; so patch the written data set and write it again with the plain writer.
        Put(dataSet, 0x0028, 0x1052, gdcm.VR.VRType.DS, Ds(encoding.RescaleIntercept));
        Put(dataSet, 0x0028, 0x1053, gdcm.VR.VRType.DS, Ds(encoding.RescaleSlope));
        Put(dataSet, 0x0028, 0x1054, gdcm.VR.VRType.LO, "US");
        using var plain = new gdcm.Writer();
        plain.SetFile(writer.GetFile());
        plain.SetFileName(path);
        if (!plain.Write()) throw new IOException($"GDCM could not write {path}");
        GC.KeepAlive(image);
    }

    static string Ds(double v) => v.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture);

    static void Put(gdcm.DataSet dataSet, ushort group, ushort element, gdcm.VR.VRType vr, string value)
    {
        // DICOM values have even length: UIDs pad with NUL, text with a space.
        if (value.Length % 2 == 1) value += vr == gdcm.VR.VRType.UI ? "\0" : " ";
        var bytes = Encoding.ASCII.GetBytes(value);
        var de = new gdcm.DataElement(new gdcm.Tag(group, element));
        de.SetVR(new gdcm.VR(vr));
        de.SetByteValue(bytes, new gdcm.VL((uint)bytes.Length));
        dataSet.Replace(de);
    }
}
