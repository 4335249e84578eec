using CxrLab.Imaging;

namespace CxrLab.Data;

/// <summary>Size of an image as the source delivers it and of the original DICOM it came from.
/// Boxes are mapped by <c>cache = original × (Width / OriginalWidth, Height / OriginalHeight)</c>.</summary>
public readonly record struct ImageInfo(int Width, int Height, int OriginalWidth, int OriginalHeight)
{
    public static ImageInfo Original(int width, int height) => new(width, height, width, height);

    public float ScaleX => (float)Width / OriginalWidth;
    public float ScaleY => (float)Height / OriginalHeight;

    /// <summary>Original-pixel box → this image's pixels.</summary>
    public Box ToImage(Box original) => original.Scale(ScaleX, ScaleY);

    /// <summary>This image's pixels → original pixels (for Kaggle submissions).</summary>
    public Box ToOriginal(Box box) => box.Scale(1 / ScaleX, 1 / ScaleY);
}

/// <summary>Where a dataset's pixels come from: a PNG cache, DICOM files, or anything else that can name
/// an image's size and load it. Images are one-channel float [0, 1], 1 = white (display orientation).</summary>
public interface IImageSource
{
    /// <summary>True when the source holds the image.</summary>
    bool Contains(string imageId);

    /// <summary>Size of the delivered image and of its original; cheap (no pixel decoding where possible).</summary>
    ImageInfo Describe(string imageId);

    Image Load(string imageId);
}

/// <summary>A folder of cached PNGs (<c>&lt;image_id&gt;.png</c>, 8- or 16-bit) with the cache's
/// <c>meta.csv</c> (see <see cref="CacheMeta"/>).</summary>
public sealed class PngCacheSource : IImageSource
{
    readonly Dictionary<string, string> pngPaths = new(StringComparer.Ordinal);

    public PngCacheSource(string folder, string metaFile = "meta.csv")
    {
        Folder = folder;
        Meta = CacheMeta.Read(Path.Combine(folder, metaFile), pngPaths);
    }

    public string Folder { get; }
    public IReadOnlyDictionary<string, ImageInfo> Meta { get; }

    /// <summary>The PNG named by meta.csv's optional <c>png</c> column (relative to the folder; `./cxr convert`
    /// mirrors the DICOM folders), else <c>&lt;image_id&gt;.png</c> beside meta.csv.</summary>
    public string PathOf(string imageId) =>
        Path.Combine(Folder, pngPaths.TryGetValue(imageId, out var png) ? png : imageId + ".png");
    public bool Contains(string imageId) => Meta.ContainsKey(imageId) && File.Exists(PathOf(imageId));

    public ImageInfo Describe(string imageId) => Meta.TryGetValue(imageId, out var info)
        ? info
        : throw new KeyNotFoundException($"{Path.Combine(Folder, "meta.csv")} has no row for image '{imageId}'; rebuild the cache with ./cxr convert");

    public Image Load(string imageId) => ImageCodecs.Read(PathOf(imageId)).ToImage();
}

/// <summary>A folder of DICOM files (<c>&lt;image_id&gt;&lt;extension&gt;</c>) read through a delegate, so the
/// DICOM reader (CxrLab.Dicom) plugs in without this namespace depending on it:
/// <c>new DicomFolderSource(dir, ".dicom", path =&gt; DicomImage.Open(path).ToImage(), path =&gt; (w, h))</c>.
/// Without <paramref name="readSize"/> the size is taken from the first load (and remembered).</summary>
public sealed class DicomFolderSource(string folder, string extension, Func<string, Image> readImage, Func<string, (int Width, int Height)>? readSize = null) : IImageSource
{
    readonly Dictionary<string, ImageInfo> sizes = new(StringComparer.Ordinal);

    public string Folder { get; } = folder;
    public string Extension { get; } = extension;

    public string PathOf(string imageId) => Path.Combine(Folder, imageId + Extension);
    public bool Contains(string imageId) => File.Exists(PathOf(imageId));

    public ImageInfo Describe(string imageId)
    {
        lock (sizes)
            if (sizes.TryGetValue(imageId, out var known)) return known;
        (int w, int h) = readSize is not null ? readSize(PathOf(imageId)) : SizeOf(readImage(PathOf(imageId)));
        var info = ImageInfo.Original(w, h);
        lock (sizes) sizes[imageId] = info;
        return info;
    }

    public Image Load(string imageId) => readImage(PathOf(imageId));

    static (int, int) SizeOf(Image image) => (image.Width, image.Height);
}

/// <summary>Reads the image cache's <c>meta.csv</c>. Schema (header required, column order free, extra
/// columns ignored): <c>image_id,width,height,orig_width,orig_height,scale_x,scale_y</c> where width/height
/// are the cached PNG's, orig_* the DICOM's, and scale_* = width/orig_width, height/orig_height (optional:
/// computed when absent; when present they must agree with the sizes to 1e-3). An optional <c>png</c> column
/// gives each PNG's path relative to meta.csv's folder (what `./cxr convert` writes).</summary>
public static class CacheMeta
{
    public static readonly string[] Required = ["image_id", "width", "height", "orig_width", "orig_height"];

    /// <param name="path">the meta.csv file.</param>
    /// <param name="pngPaths">when given, receives each image's <c>png</c> column where present.</param>
    public static Dictionary<string, ImageInfo> Read(string path, Dictionary<string, string>? pngPaths = null)
    {
        var result = new Dictionary<string, ImageInfo>(StringComparer.Ordinal);
        foreach (var row in CsvRows.Read(path, Required))
        {
            var id = row["image_id"];
            if (string.IsNullOrEmpty(id)
                || !CsvRows.TryInt(row["width"], out var w) || !CsvRows.TryInt(row["height"], out var h)
                || !CsvRows.TryInt(row["orig_width"], out var ow) || !CsvRows.TryInt(row["orig_height"], out var oh)
                || w <= 0 || h <= 0 || ow <= 0 || oh <= 0)
                throw new InvalidDataException($"{path}:{row.Line}: expected image_id and positive integer width,height,orig_width,orig_height");
            var info = new ImageInfo(w, h, ow, oh);
            if (CsvRows.TryFloat(row["scale_x"], out var sx) && Math.Abs(sx - info.ScaleX) > 1e-3)
                throw new InvalidDataException($"{path}:{row.Line}: scale_x {sx} disagrees with width/orig_width = {info.ScaleX}");
            if (CsvRows.TryFloat(row["scale_y"], out var sy) && Math.Abs(sy - info.ScaleY) > 1e-3)
                throw new InvalidDataException($"{path}:{row.Line}: scale_y {sy} disagrees with height/orig_height = {info.ScaleY}");
            result[id] = info;
            if (pngPaths is not null && row["png"] is { Length: > 0 } png) pngPaths[id] = png;
        }
        return result;
    }

    /// <summary>Writes a meta.csv in the schema above (for caches and tests).</summary>
    public static void Write(string path, IEnumerable<(string ImageId, ImageInfo Info)> rows) =>
        CsvRows.WriteAtomically(path, new[] { "image_id,width,height,orig_width,orig_height,scale_x,scale_y" }.Concat(
            rows.Select(r => $"{r.ImageId},{r.Info.Width},{r.Info.Height},{r.Info.OriginalWidth},{r.Info.OriginalHeight},{CsvRows.Format(r.Info.ScaleX)},{CsvRows.Format(r.Info.ScaleY)}")));
}
