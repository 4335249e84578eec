namespace CxrLab.Dicom;

/// <summary>The DICOM reader as the delegates CxrLab.Data's image sources take, e.g.
/// <c>VinBigDataset.DicomSource(root, "train", DicomReaders.Display, DicomReaders.Size)</c>.</summary>
public static class DicomReaders
{
    /// <summary>Display stage of frame 0: [0, 1], MONOCHROME1 inverted (the Kaggle reading).</summary>
    public static CxrLab.Imaging.Image Display(string path) => DicomImage.ReadDisplay(path);

    /// <summary>Width and height from the header, without decoding pixels.</summary>
    public static (int Width, int Height) Size(string path)
    {
        using var image = DicomImage.Open(path);
        return (image.Columns, image.Rows);
    }
}
