using System.Text.Json;
using CxrLab.Data;
using CxrLab.Data.Phantom;

namespace CxrLab.Tests.Data;

/// <summary>Phantom datasets: exact Kaggle layout, DICOM readable by pydicom with pixels that display as the
/// rendered image, same seed → same bytes, and label statistics shaped like the real sets.</summary>
public sealed class PhantomTests : IDisposable
{
    readonly string root = Directory.CreateTempSubdirectory("cxr-phantom").FullName;

    public void Dispose() => Directory.Delete(root, true);

    [Fact]
    public void VinBigLayoutColumnsAndDicomMatchKaggleAndTheRenderedImages()
    {
        var dir = Path.Combine(root, "vinbig");
        var cache = Path.Combine(root, "vinbig-cache");
        var summary = VinBigPhantom.Write(dir, new PhantomOptions(Images: 12, Size: 96, Seed: 3, PngCacheDir: cache));
        Assert.Equal(["sample_submission.csv", "test", "train", "train.csv"], Directory.EnumerateFileSystemEntries(dir).Select(Path.GetFileName).Order());
        Assert.Equal("image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max", File.ReadLines(Path.Combine(dir, "train.csv")).First());
        Assert.Equal("image_id,PredictionString", File.ReadLines(Path.Combine(dir, "sample_submission.csv")).First());
        Assert.Equal(12, Directory.GetFiles(Path.Combine(dir, "train"), "*.dicom").Length);
        Assert.Equal(summary.TestImages, Directory.GetFiles(Path.Combine(dir, "test"), "*.dicom").Length);
        Assert.All(File.ReadLines(Path.Combine(dir, "sample_submission.csv")).Skip(1), l => Assert.EndsWith(",14 1 0 0 1 1", l));

        // pydicom opens every file; (stored × slope + intercept − window low) / width, inverted for MONOCHROME1,
        // equals the rendered display image written to the PNG cache.
        var output = PythonReference.Run($$"""
            import pydicom, numpy as np, glob, csv, cv2, os, json
            root, cache = '{{dir}}', '{{cache}}'
            sizes, kinds, worst = {}, set(), 0.0
            for f in sorted(glob.glob(root + '/train/*.dicom') + glob.glob(root + '/test/*.dicom')):
                d = pydicom.dcmread(f)
                a = d.pixel_array.astype(np.float64)
                kinds.add((d.PhotometricInterpretation, d.file_meta.TransferSyntaxUID.name, int(d.BitsStored)))
                image_id = os.path.basename(f)[:-6]
                sizes[image_id] = [int(d.Columns), int(d.Rows)]
                assert d.PatientID == image_id
                r = a * float(d.RescaleSlope) + float(d.RescaleIntercept)
                v = (r - (float(d.WindowCenter) - float(d.WindowWidth) / 2)) / float(d.WindowWidth)
                if d.PhotometricInterpretation == 'MONOCHROME1': v = 1 - v
                png = os.path.join(cache, image_id + '.png')
                if os.path.exists(png):
                    p = cv2.imread(png, -1).astype(np.float64) / 65535
                    worst = max(worst, float(np.abs(p - v).max()))
            print(json.dumps({'sizes': sizes, 'kinds': sorted(map(list, kinds)), 'worst': worst}))
            """);
        var json = JsonDocument.Parse(output.Trim().Split('\n')[^1]).RootElement;
        Assert.True(json.GetProperty("worst").GetDouble() < 1.5 / 4095, $"display mismatch {json.GetProperty("worst")}");
        var kinds = json.GetProperty("kinds").EnumerateArray().Select(k => k.ToString()).ToList();
        Assert.Contains(kinds, k => k.Contains("MONOCHROME1"));
        Assert.Contains(kinds, k => k.Contains("MONOCHROME2"));
        Assert.Contains(kinds, k => !k.Contains("Explicit VR Little Endian")); // some files compressed
        Assert.All(kinds, k => Assert.Contains("12", k));

        // Every box lies in its image; each train image has 3 distinct readers.
        var sizes = json.GetProperty("sizes").EnumerateObject().ToDictionary(p => p.Name, p => (p.Value[0].GetInt32(), p.Value[1].GetInt32()));
        var report = new ValidationReport();
        var rows = VinBigLabels.Read(Path.Combine(dir, "train.csv"), report, id => sizes[id]);
        Assert.True(report.IsClean, report.ToString());
        Assert.All(rows.GroupBy(r => r.ImageId), g => Assert.Equal(3, g.Select(r => r.RadId).Distinct().Count()));
        Assert.Equal(12, rows.Select(r => r.ImageId).Distinct().Count());
    }

    [Fact]
    public void SameSeedSameBytesOtherSeedOtherBytes()
    {
        string Write(string name, int seed) { var d = Path.Combine(root, name); VinBigPhantom.Write(d, new PhantomOptions(Images: 5, Size: 64, Seed: seed)); return d; }
        var a = Write("a", 5);
        var b = Write("b", 5);
        var c = Write("c", 6);
        static Dictionary<string, byte[]> Files(string d) => Directory.EnumerateFiles(d, "*", SearchOption.AllDirectories)
            .ToDictionary(f => Path.GetRelativePath(d, f), File.ReadAllBytes);
        var fa = Files(a); var fb = Files(b);
        Assert.Equal(fa.Keys.Order(), fb.Keys.Order());
        Assert.All(fa, kv => Assert.Equal(kv.Value, fb[kv.Key]));
        Assert.NotEqual(File.ReadAllBytes(Path.Combine(a, "train.csv")), File.ReadAllBytes(Path.Combine(c, "train.csv")));
    }

    [Fact]
    public void VinBigClassFrequenciesAreShapedLikeTheRealSet()
    {
        var dir = Path.Combine(root, "stats");
        VinBigPhantom.Write(dir, new PhantomOptions(Images: 150, Size: 64, Seed: 1, TestImages: 1));
        var rows = VinBigLabels.Read(Path.Combine(dir, "train.csv"), new ValidationReport());
        var images = rows.GroupBy(r => r.ImageId).ToList();
        var normal = images.Count(g => g.All(r => r.ClassId == VinBigClasses.NoFinding));
        Assert.InRange((double)normal / images.Count, 0.5, 0.8); // real: 10,606 / 15,000 = 0.71
        int Rows(int c) => rows.Count(r => r.ClassId == c);
        Assert.True(Rows(0) > Rows(12), "Aortic enlargement should outnumber Pneumothorax");
        Assert.True(Rows(3) > Rows(1), "Cardiomegaly should outnumber Atelectasis");
        Assert.True(Rows(14) > Rows(0), "No finding rows should dominate");
        // Readers disagree: some abnormal images have a reader who found nothing.
        Assert.Contains(images, g => g.Any(r => r.ClassId == 14) && g.Any(r => r.ClassId != 14));
    }

    [Fact]
    public void RsnaLayoutColumnsAndDicom()
    {
        var dir = Path.Combine(root, "rsna");
        RsnaPhantom.Write(dir, new PhantomOptions(Images: 16, Size: 96, Seed: 2));
        Assert.Equal(["stage_2_detailed_class_info.csv", "stage_2_sample_submission.csv", "stage_2_test_images", "stage_2_train_images", "stage_2_train_labels.csv"],
            Directory.EnumerateFileSystemEntries(dir).Select(Path.GetFileName).Order());
        Assert.Equal("patientId,x,y,width,height,Target", File.ReadLines(Path.Combine(dir, "stage_2_train_labels.csv")).First());
        Assert.Equal("patientId,class", File.ReadLines(Path.Combine(dir, "stage_2_detailed_class_info.csv")).First());
        var report = new ValidationReport();
        var labels = RsnaLabels.Read(Path.Combine(dir, "stage_2_train_labels.csv"), report, _ => (96, 96));
        var detailed = RsnaLabels.ReadDetailed(Path.Combine(dir, "stage_2_detailed_class_info.csv"), report);
        Assert.True(report.IsClean, report.ToString());
        Assert.Equal(16, detailed.Count);
        foreach (var g in labels.GroupBy(l => l.PatientId))
            Assert.Equal(g.Any(l => l.Target == 1), detailed[g.Key] == RsnaClasses.LungOpacityName);
        var output = PythonReference.Run($$"""
            import pydicom, glob
            fs = sorted(glob.glob('{{dir}}/stage_2_train_images/*.dcm')) + sorted(glob.glob('{{dir}}/stage_2_test_images/*.dcm'))
            ok = 0
            for f in fs:
                d = pydicom.dcmread(f)
                a = d.pixel_array
                assert d.PhotometricInterpretation == 'MONOCHROME2' and d.BitsStored == 8 and a.shape == (96, 96), f
                assert d.PatientID + '.dcm' == f.split('/')[-1]
                ok += 1
            print(ok)
            """);
        Assert.Equal(16 + 3, int.Parse(output.Trim()));
    }
}
