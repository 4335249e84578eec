using System.Globalization;

namespace CxrLab.Dicom;

/// <summary>A DICOM attribute tag (group, element), printed as "(0028,1050)".</summary>
public readonly record struct DicomTag(ushort Group, ushort Element)
{
    /// <summary>Parses "0028,1050", "(0028,1050)" or "00281050".</summary>
    public static DicomTag Parse(string text)
    {
        var s = text.Trim().TrimStart('(').TrimEnd(')').Replace(",", "").Replace("|", "");
        if (s.Length != 8 || !uint.TryParse(s, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var value))
            throw new FormatException($"'{text}' is not a DICOM tag; write it as GGGG,EEEE in hex, e.g. 0028,1050");
        return new DicomTag((ushort)(value >> 16), (ushort)value);
    }

    public override string ToString() => $"({Group:X4},{Element:X4})";

    internal gdcm.Tag ToGdcm() => new(Group, Element);
}

/// <summary>The tags CxrLab reads by name.</summary>
public static class DicomTags
{
    public static readonly DicomTag TransferSyntaxUID = new(0x0002, 0x0010);
    public static readonly DicomTag SOPClassUID = new(0x0008, 0x0016);
    public static readonly DicomTag SOPInstanceUID = new(0x0008, 0x0018);
    public static readonly DicomTag Modality = new(0x0008, 0x0060);
    public static readonly DicomTag PatientID = new(0x0010, 0x0020);
    public static readonly DicomTag PatientSex = new(0x0010, 0x0040);
    public static readonly DicomTag PatientAge = new(0x0010, 0x1010);
    public static readonly DicomTag ImagerPixelSpacing = new(0x0018, 0x1164);
    public static readonly DicomTag ViewPosition = new(0x0018, 0x5101);
    public static readonly DicomTag StudyInstanceUID = new(0x0020, 0x000D);
    public static readonly DicomTag SeriesInstanceUID = new(0x0020, 0x000E);
    public static readonly DicomTag SamplesPerPixel = new(0x0028, 0x0002);
    public static readonly DicomTag PhotometricInterpretation = new(0x0028, 0x0004);
    public static readonly DicomTag PlanarConfiguration = new(0x0028, 0x0006);
    public static readonly DicomTag NumberOfFrames = new(0x0028, 0x0008);
    public static readonly DicomTag Rows = new(0x0028, 0x0010);
    public static readonly DicomTag Columns = new(0x0028, 0x0011);
    public static readonly DicomTag PixelSpacing = new(0x0028, 0x0030);
    public static readonly DicomTag BitsAllocated = new(0x0028, 0x0100);
    public static readonly DicomTag BitsStored = new(0x0028, 0x0101);
    public static readonly DicomTag HighBit = new(0x0028, 0x0102);
    public static readonly DicomTag PixelRepresentation = new(0x0028, 0x0103);
    public static readonly DicomTag WindowCenter = new(0x0028, 0x1050);
    public static readonly DicomTag WindowWidth = new(0x0028, 0x1051);
    public static readonly DicomTag RescaleIntercept = new(0x0028, 0x1052);
    public static readonly DicomTag RescaleSlope = new(0x0028, 0x1053);
    public static readonly DicomTag RescaleType = new(0x0028, 0x1054);
    public static readonly DicomTag WindowCenterWidthExplanation = new(0x0028, 0x1055);
    public static readonly DicomTag VOILUTFunction = new(0x0028, 0x1056);
    public static readonly DicomTag ModalityLUTSequence = new(0x0028, 0x3000);
    public static readonly DicomTag LUTDescriptor = new(0x0028, 0x3002);
    public static readonly DicomTag LUTExplanation = new(0x0028, 0x3003);
    public static readonly DicomTag ModalityLUTType = new(0x0028, 0x3004);
    public static readonly DicomTag LUTData = new(0x0028, 0x3006);
    public static readonly DicomTag VOILUTSequence = new(0x0028, 0x3010);
    public static readonly DicomTag PixelData = new(0x7FE0, 0x0010);
}
