using System.Globalization;
using System.Numerics;
using CxrLab.Imaging;

namespace CxrLab.Data.Phantom;

/// <summary>Settings of a phantom dataset. <see cref="Size"/> is the image width in pixels (VinBigData heights
/// vary 1.0–1.2× the width; RSNA images are square). <see cref="TestImages"/> defaults to max(1, Images / 5).
/// <see cref="PngCacheDir"/>, when set, also writes the display images as 16-bit PNGs with a meta.csv in the
/// image cache's schema (<see cref="CacheMeta"/>) at <see cref="PngCacheSize"/> width (default: Size), for
/// use before or without a DICOM reader. <see cref="ClassBalance"/> (VinBigData) tempers the real set's class
/// frequencies f into f^ClassBalance: 1 keeps their shape (Pneumothorax 1 in 150 boxes), 0.5 keeps the order
/// but lets a few hundred images hold every class several times (the demo's choice), 0 draws classes uniformly.</summary>
public sealed record PhantomOptions(int Images = 8, int Size = 256, int Seed = 0, int? TestImages = null,
    double AbnormalFraction = 0.35, string? PngCacheDir = null, int? PngCacheSize = null, double ClassBalance = 1.0);

/// <summary>What a phantom run wrote.</summary>
public sealed record PhantomSummary(string Root, int TrainImages, int TestImages, int LabelRows, IReadOnlyDictionary<string, int> RowsPerClass,
    IReadOnlyDictionary<string, int> FilesPerEncoding);

/// <summary>Shared helpers of the phantom generators.</summary>
static class PhantomCommon
{
    /// <summary>An OID under 2.25 (UUID-derived) from 16 random bytes: valid and deterministic.</summary>
    public static string Uid(Random rng)
    {
        var bytes = new byte[17];
        rng.NextBytes(bytes.AsSpan(0, 16));
        bytes[16] = 0; // keep it positive
        return "2.25." + new BigInteger(bytes).ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>A study date in 2020 and a time of day, from the seeded generator.</summary>
    public static (string Date, string Time) StudyMoment(Random rng)
    {
        var day = new DateTime(2020, 1, 1).AddDays(rng.Next(366));
        return (day.ToString("yyyyMMdd", CultureInfo.InvariantCulture), $"{rng.Next(7, 19):00}{rng.Next(60):00}{rng.Next(60):00}");
    }

    public static string Hex(Random rng, int chars)
    {
        var bytes = new byte[(chars + 1) / 2];
        rng.NextBytes(bytes);
        return Convert.ToHexString(bytes).ToLowerInvariant()[..chars];
    }

    public static string Uuid(Random rng)
    {
        var h = Hex(rng, 32);
        return $"{h[..8]}-{h[8..12]}-{h[12..16]}-{h[16..20]}-{h[20..]}";
    }

    /// <summary>Display image → stored values for an encoding: inverse of (rescale, window, MONOCHROME1 inversion).</summary>
    public static ushort[] ToStored(Image image, DicomEncoding e)
    {
        var max = (1 << e.BitsStored) - 1;
        var stored = new ushort[image.Data.Length];
        var low = e.WindowCenter - e.WindowWidth / 2;
        for (var i = 0; i < stored.Length; i++)
        {
            double v = Math.Clamp(image.Data[i], 0f, 1f);
            if (e.Monochrome1) v = 1 - v;
            var rescaled = low + v * e.WindowWidth;
            stored[i] = (ushort)Math.Clamp(Math.Round((rescaled - e.RescaleIntercept) / e.RescaleSlope), 0, max);
        }
        return stored;
    }

    /// <summary>A 12-bit encoding drawn from a realistic mix: MONOCHROME1 on a quarter, non-identity
    /// rescale on some, and half the files compressed (JPEG-LS, JPEG 2000, RLE; all lossless).</summary>
    public static DicomEncoding VinBigEncoding(Random rng)
    {
        var mono1 = rng.NextDouble() < 0.25;
        var (slope, intercept) = rng.NextDouble() < 0.3 ? (0.5, -1024.0) : (1.0, 0.0);
        var r = rng.NextDouble();
        var compression = r < 0.5 ? DicomCompression.None : r < 0.7 ? DicomCompression.JpegLsLossless : r < 0.85 ? DicomCompression.Jpeg2000Lossless : DicomCompression.Rle;
        // The window spans the stored range in rescaled units: display = (rescaled − low) / width.
        var width = 4095 * slope;
        return new DicomEncoding(mono1, 12, slope, intercept, intercept + width / 2, width, compression);
    }

    public static void WriteCache(string? dir, int? cacheWidth, string id, Image image, List<(string, ImageInfo)> meta)
    {
        if (dir is null) return;
        var width = cacheWidth ?? image.Width;
        var height = (int)Math.Round((double)image.Height * width / image.Width);
        var resized = width == image.Width && height == image.Height ? image
            : new Image(OpenCv.Resize<float>(image.Data, image.Rows, image.Cols, 1, height, width, Interpolation.Area), height, width);
        ImageCodecs.Write(Path.Combine(dir, id + ".png"), resized, bits: 16);
        meta.Add((id, new ImageInfo(width, height, image.Width, image.Height)));
    }

    public static string Key(DicomEncoding e) => $"{(e.Monochrome1 ? "MONOCHROME1" : "MONOCHROME2")}/{e.BitsStored}bit/{e.Compression}";
}

/// <summary>Writes a phantom VinBigData dataset in the exact Kaggle layout: <c>train.csv</c>
/// (<c>image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max</c>), <c>train/&lt;image_id&gt;.dicom</c>,
/// <c>test/&lt;image_id&gt;.dicom</c>, <c>sample_submission.csv</c>. Each train image is read by 3 of 17
/// radiologists who each miss some findings and draw jittered boxes; a reader who finds nothing writes a
/// "No finding" row. Finding classes are drawn with the real set's box-row frequencies. Same options → same bytes.</summary>
public static class VinBigPhantom
{
    /// <summary>How likely a reader is to miss a finding of each class (subtle findings more often).</summary>
    static readonly double[] MissRate = [0.1, 0.3, 0.25, 0.08, 0.25, 0.25, 0.3, 0.25, 0.2, 0.3, 0.15, 0.2, 0.2, 0.2];

    public static PhantomSummary Write(string root, PhantomOptions options, IProgress<(int Done, int Total)>? progress = null)
    {
        if (options.Images < 1 || options.Size < 64) throw new ArgumentException("phantom needs at least 1 image of at least 64 px");
        if (options.ClassBalance is < 0 or > 1) throw new ArgumentException($"ClassBalance {options.ClassBalance} must be in [0, 1] (1 = the real set's class frequencies, 0 = uniform)");
        var rng = new Random(options.Seed);
        var testCount = options.TestImages ?? Math.Max(1, options.Images / 5);
        var total = options.Images + testCount;
        var rows = new List<string> { string.Join(",", VinBigLabels.Columns) };
        var perClass = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var perEncoding = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var meta = new List<(string, ImageInfo)>();
        var testIds = new List<string>();
        var weights = VinBigClasses.TrainBoxRows.Take(VinBigClasses.FindingCount).Select(v => options.ClassBalance == 1 ? v : Math.Pow(v, options.ClassBalance)).ToArray();
        var done = 0;
        for (var i = 0; i < total; i++)
        {
            var train = i < options.Images;
            var id = PhantomCommon.Hex(rng, 32);
            var imageSeed = rng.Next();
            var abnormal = rng.NextDouble() < options.AbnormalFraction;
            var classes = new List<int>();
            if (abnormal)
            {
                var k = Pick(rng, [0.4, 0.3, 0.2, 0.1]) + 1;
                while (classes.Count < k)
                {
                    var c = Pick(rng, weights);
                    if (!classes.Contains(c)) classes.Add(c);
                }
                classes.Sort();
            }
            var width = options.Size;
            var height = (int)Math.Round(options.Size * (1.0 + rng.NextDouble() * 0.2));
            var encoding = PhantomCommon.VinBigEncoding(rng);
            var readers = Readers(rng);

            var imageRng = new Random(imageSeed);
            var (image, lesions) = PhantomChest.Render(width, height, classes, imageRng);
            var moment = PhantomCommon.StudyMoment(rng);
            var identity = new DicomIdentity(id, PhantomCommon.Uid(rng), PhantomCommon.Uid(rng), PhantomCommon.Uid(rng), rng.Next(2) == 0 ? "M" : "F", $"{rng.Next(20, 85):000}Y")
            {
                StudyDate = moment.Date,
                StudyTime = moment.Time,
            };
            var folder = Path.Combine(root, train ? "train" : "test");
            DicomPhantomWriter.Write(Path.Combine(folder, id + VinBigDataset.DicomExtension), PhantomCommon.ToStored(image, encoding), height, width, encoding, identity);
            perEncoding[PhantomCommon.Key(encoding)] = perEncoding.GetValueOrDefault(PhantomCommon.Key(encoding)) + 1;
            if (train)
            {
                PhantomCommon.WriteCache(options.PngCacheDir, options.PngCacheSize, id, image, meta);
                foreach (var rad in readers)
                {
                    var drew = 0;
                    foreach (var lesion in lesions)
                    {
                        if (rng.NextDouble() < MissRate[lesion.ClassId]) continue;
                        var b = Jitter(lesion.Box, rng, width, height);
                        if (!b.IsValid) continue;
                        rows.Add($"{id},{VinBigClasses.Names[lesion.ClassId]},{lesion.ClassId},{rad},{C(b.X1)},{C(b.Y1)},{C(b.X2)},{C(b.Y2)}");
                        perClass[VinBigClasses.Names[lesion.ClassId]] = perClass.GetValueOrDefault(VinBigClasses.Names[lesion.ClassId]) + 1;
                        drew++;
                    }
                    if (drew == 0)
                    {
                        rows.Add($"{id},No finding,14,{rad},,,,");
                        perClass["No finding"] = perClass.GetValueOrDefault("No finding") + 1;
                    }
                }
            }
            else testIds.Add(id);
            progress?.Report((++done, total));
        }
        Directory.CreateDirectory(Path.Combine(root, "train"));
        Directory.CreateDirectory(Path.Combine(root, "test"));
        CsvRows.WriteAtomically(Path.Combine(root, VinBigDataset.TrainCsv), rows);
        CsvRows.WriteAtomically(Path.Combine(root, VinBigDataset.SampleSubmissionCsv),
            new[] { "image_id,PredictionString" }.Concat(testIds.Select(t => $"{t},14 1 0 0 1 1")));
        if (options.PngCacheDir is not null) CacheMeta.Write(Path.Combine(options.PngCacheDir, "meta.csv"), meta);
        return new PhantomSummary(root, options.Images, testCount, rows.Count - 1, perClass, perEncoding);
    }

    /// <summary>3 distinct readers of R1..R17; R8–R10 read most often, as in the real set.</summary>
    static string[] Readers(Random rng)
    {
        var chosen = new List<int>();
        while (chosen.Count < 3)
        {
            var r = rng.NextDouble() < 0.6 ? 8 + rng.Next(3) : 1 + rng.Next(17);
            if (!chosen.Contains(r)) chosen.Add(r);
        }
        return chosen.Select(r => $"R{r}").ToArray();
    }

    static Box Jitter(Box box, Random rng, int width, int height)
    {
        double sx = Math.Max(1, box.Width * 0.06), sy = Math.Max(1, box.Height * 0.06);
        double N() => (rng.NextDouble() + rng.NextDouble() + rng.NextDouble() - 1.5) * 1.4; // ≈ N(0, 0.7)
        return new Box((float)Math.Round(box.X1 + N() * sx), (float)Math.Round(box.Y1 + N() * sy),
                       (float)Math.Round(box.X2 + N() * sx), (float)Math.Round(box.Y2 + N() * sy)).Clip(width, height);
    }

    internal static int Pick(Random rng, IReadOnlyList<double> weights)
    {
        var r = rng.NextDouble() * weights.Sum();
        for (var i = 0; i < weights.Count; i++) { r -= weights[i]; if (r < 0) return i; }
        return weights.Count - 1;
    }

    static string C(float v) => v.ToString("0.###", CultureInfo.InvariantCulture);
}

/// <summary>Writes a phantom RSNA Pneumonia dataset in the exact Kaggle layout: <c>stage_2_train_labels.csv</c>
/// (<c>patientId,x,y,width,height,Target</c>), <c>stage_2_detailed_class_info.csv</c> (<c>patientId,class</c>),
/// <c>stage_2_train_images/&lt;patientId&gt;.dcm</c>, <c>stage_2_test_images/&lt;patientId&gt;.dcm</c>,
/// <c>stage_2_sample_submission.csv</c>. Images are square, 8-bit MONOCHROME2 like the real set. "Lung Opacity"
/// patients carry 1–3 hazy opacities (boxes); "No Lung Opacity / Not Normal" patients carry another finding
/// (no box); "Normal" patients none. Class shares follow the real set (22.5 / 44.3 / 33.2 %).</summary>
public static class RsnaPhantom
{
    public static PhantomSummary Write(string root, PhantomOptions options, IProgress<(int Done, int Total)>? progress = null)
    {
        if (options.Images < 1 || options.Size < 64) throw new ArgumentException("phantom needs at least 1 image of at least 64 px");
        if (options.ClassBalance is < 0 or > 1) throw new ArgumentException($"ClassBalance {options.ClassBalance} must be in [0, 1] (1 = the real set's class frequencies, 0 = uniform)");
        var rng = new Random(options.Seed);
        var testCount = options.TestImages ?? Math.Max(1, options.Images / 5);
        var total = options.Images + testCount;
        var labels = new List<string> { string.Join(",", RsnaLabels.LabelColumns) };
        var detailed = new List<string> { "patientId,class" };
        var perClass = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var perEncoding = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var meta = new List<(string, ImageInfo)>();
        var testIds = new List<string>();
        int[] notNormalFindings = [3, 8, 10, 11, 9, 13];
        var done = 0;
        for (var i = 0; i < total; i++)
        {
            var train = i < options.Images;
            var id = PhantomCommon.Uuid(rng);
            var imageSeed = rng.Next();
            var kind = VinBigPhantom.Pick(rng, [6012, 11821, 8851]); // Lung Opacity, Not Normal, Normal
            var classes = kind switch
            {
                0 => Enumerable.Repeat(7, 1).ToList(),
                1 => [notNormalFindings[rng.Next(notNormalFindings.Length)]],
                _ => new List<int>(),
            };
            var opacities = kind == 0 ? 1 + VinBigPhantom.Pick(rng, [0.35, 0.55, 0.1]) : 0;
            var size = options.Size;
            var imageRng = new Random(imageSeed);
            var findings = kind == 0 ? Enumerable.Repeat(7, opacities).ToList() : classes;
            var (image, lesions) = RenderRsna(size, findings, imageRng);
            var encoding = new DicomEncoding(false, 8, 1, 0, 127.5, 255,
                rng.NextDouble() < 0.2 ? DicomCompression.Rle : DicomCompression.None, "CR");
            var moment = PhantomCommon.StudyMoment(rng);
            var identity = new DicomIdentity(id, PhantomCommon.Uid(rng), PhantomCommon.Uid(rng), PhantomCommon.Uid(rng), rng.Next(2) == 0 ? "M" : "F", $"{rng.Next(20, 85):000}Y")
            {
                StudyDate = moment.Date,
                StudyTime = moment.Time,
            };
            var folder = Path.Combine(root, train ? RsnaDataset.TrainFolder : RsnaDataset.TestFolder);
            DicomPhantomWriter.Write(Path.Combine(folder, id + RsnaDataset.DicomExtension), PhantomCommon.ToStored(image, encoding), size, size, encoding, identity);
            perEncoding[PhantomCommon.Key(encoding)] = perEncoding.GetValueOrDefault(PhantomCommon.Key(encoding)) + 1;
            if (train)
            {
                PhantomCommon.WriteCache(options.PngCacheDir, options.PngCacheSize, id, image, meta);
                var name = RsnaClasses.Detailed[kind];
                var boxes = kind == 0 ? lesions.Where(l => l.ClassId == 7).Select(l => l.Box).ToList() : [];
                if (boxes.Count == 0)
                {
                    labels.Add($"{id},,,,,0");
                    if (kind == 0) name = RsnaClasses.NotNormalName; // an opacity that clipped away
                }
                foreach (var b in boxes)
                    labels.Add($"{id},{C(b.X1)},{C(b.Y1)},{C(b.Width)},{C(b.Height)},1");
                detailed.Add($"{id},{name}");
                perClass[name] = perClass.GetValueOrDefault(name) + 1;
            }
            else testIds.Add(id);
            progress?.Report((++done, total));
        }
        Directory.CreateDirectory(Path.Combine(root, RsnaDataset.TrainFolder));
        Directory.CreateDirectory(Path.Combine(root, RsnaDataset.TestFolder));
        CsvRows.WriteAtomically(Path.Combine(root, RsnaDataset.LabelsCsv), labels);
        CsvRows.WriteAtomically(Path.Combine(root, RsnaDataset.DetailedCsv), detailed.Select(l => l.Contains('/') ? EscapeClass(l) : l));
        CsvRows.WriteAtomically(Path.Combine(root, RsnaDataset.SampleSubmissionCsv),
            new[] { "patientId,PredictionString" }.Concat(testIds.Select(t => $"{t},0.5 0 0 100 100")));
        if (options.PngCacheDir is not null) CacheMeta.Write(Path.Combine(options.PngCacheDir, "meta.csv"), meta);
        return new PhantomSummary(root, options.Images, testCount, labels.Count - 1, perClass, perEncoding);
    }

    static string EscapeClass(string line) => line; // "No Lung Opacity / Not Normal" holds no comma: no quoting, as in Kaggle's file

    /// <summary>RSNA opacities are drawn as separate hazy areas, one per lung at most two per lung.</summary>
    static (Image, List<PhantomLesion>) RenderRsna(int size, List<int> findings, Random rng) =>
        PhantomChest.Render(size, size, findings, rng);

    static string C(float v) => v.ToString("0.###", CultureInfo.InvariantCulture);
}
