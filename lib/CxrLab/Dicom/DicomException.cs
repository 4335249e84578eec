namespace CxrLab.Dicom;

/// <summary>A DICOM file could not be read or decoded: names the file and the reason
/// (not DICOM, truncated, a length beyond the file, no pixel data, an unsupported syntax, ...).</summary>
public sealed class DicomException : Exception
{
    public DicomException(string path, string reason, Exception? inner = null)
        : base($"{path}: {reason}", inner)
    {
        Path = path;
        Reason = reason;
    }

    /// <summary>The file that failed.</summary>
    public string Path { get; }

    /// <summary>Why it failed, without the file name.</summary>
    public string Reason { get; }
}
