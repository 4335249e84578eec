using System.Text.Json;
using CxrLab.Dicom;
using CxrLab.Dicom.Cache;
using CxrLab.Imaging;

namespace CxrLab.Tests.Dicom;

/// <summary>The DICOM → PNG cache: rows and scale factors, pixels against pydicom + cv2 (INTER_AREA), errors listed,
/// resume after a partial run, options guarded.</summary>
public sealed class ImageCacheConverterTests : IDisposable
{
    readonly string root = Directory.CreateTempSubdirectory("cxr-cache-").FullName;
    string Data => Path.Combine(root, "data");
    string Out => Path.Combine(root, "out");

    static readonly string[] Images =
    [
        "mono2_u12_window__jpegls_lossless.dcm", "mono1_u12_voilut__explicit_le.dcm",
        "mono2_s16_rescale_sigmoid__rle.dcm", "mono2_u8__jpeg_lossless_sv1.dcm",
    ];

    ImageCacheReport Run(ImageCacheOptions options) => ImageCacheConverter.Convert(Data, Out, options);

    void MakeData()
    {
        Directory.CreateDirectory(Path.Combine(Data, "nested"));
        foreach (var name in Images) File.Copy(FixtureFile.PathOf(Path.Combine("dicom", name)), Path.Combine(Data, "nested", name));
        File.WriteAllText(Path.Combine(Data, "broken.dicom"), "this is not a DICOM file, but it is named like one");
        File.WriteAllText(Path.Combine(Data, "readme.txt"), "ignored: not *.dcm or *.dicom");
    }

    [Fact]
    public void Converts_a_folder_lists_errors_and_resumes()
    {
        MakeData();
        var options = new ImageCacheOptions { Size = 32, Bits = 16, KeepAspect = true, Threads = 2 };
        var first = Run(options);
        Assert.Equal((5, 4, 0, 1), (first.Total, first.Converted, first.Skipped, first.Failed));

        var rows = ReadMeta();
        Assert.Equal(4, rows.Count);
        foreach (var row in rows)
        {
            var png = ImageCodecs.Read(Path.Combine(Out, row.Png));
            Assert.Equal((row.Height, row.Width, PixelDepth.UInt16), (png.Rows, png.Cols, png.Depth));
            Assert.Equal(32, Math.Max(row.Width, row.Height));
            Assert.Equal(row.Width / (double)row.OriginalWidth, row.ScaleX, 12);
            Assert.Equal(row.Height / (double)row.OriginalHeight, row.ScaleY, 12);
            using var dicom = DicomImage.Open(Path.Combine(Data, row.Source));
            Assert.Equal((dicom.Columns, dicom.Rows, dicom.PhotometricInterpretation), (row.OriginalWidth, row.OriginalHeight, row.Photometric));
        }
        Assert.Contains(rows, r => r.Window.StartsWith("LUT 4096 entries", StringComparison.Ordinal));
        Assert.Contains(rows, r => r.Window.Contains("Sigmoid"));
        var errors = File.ReadAllLines(first.ErrorsCsv);
        Assert.Equal(2, errors.Length);
        Assert.StartsWith("broken,broken.dicom,", errors[1]);

        // Resume: a lost PNG (killed run) is redone, the rest skipped; a torn last line in meta.csv is dropped.
        var lost = rows[0];
        File.Delete(Path.Combine(Out, lost.Png));
        File.AppendAllText(first.MetaCsv, "half-written,\"row");
        var second = Run(options);
        Assert.Equal((1, 3, 1), (second.Converted, second.Skipped, second.Failed));
        Assert.Equal(4, ReadMeta().Count);
        Assert.True(File.Exists(Path.Combine(Out, lost.Png)));

        // Different options on the same folder are refused instead of mixing two caches.
        Assert.Throws<ArgumentException>(() => Run(options with { Size = 64 }));
    }

    [Fact]
    public void Pixels_match_pydicom_display_resized_by_cv2_inter_area()
    {
        MakeData();
        var options = new ImageCacheOptions { Size = 24, Bits = 8, KeepAspect = false, Threads = 2 };
        Run(options);
        var rows = ReadMeta();
        var files = rows.Select(r => Path.Combine(Data, r.Source)).ToList();
        var code = $$"""
            import json, numpy as np, pydicom, cv2
            from pydicom.pixel_data_handlers.util import apply_modality_lut, apply_voi_lut
            out = []
            for f in json.loads({{JsonSerializer.Serialize(JsonSerializer.Serialize(files))}}):
                ds = pydicom.dcmread(f)
                d = apply_voi_lut(apply_modality_lut(ds.pixel_array, ds), ds).astype(np.float64)
                if ds.PhotometricInterpretation == "MONOCHROME1":
                    d = np.amax(d) - d
                d = d - d.min()
                d = d / d.max()
                r = cv2.resize(d.astype(np.float32), (24, 24), interpolation=cv2.INTER_AREA)
                out.append(np.round(np.clip(r, 0, 1) * 255).astype(int).ravel().tolist())
            print(json.dumps(out))
            """;
        var reference = JsonSerializer.Deserialize<int[][]>(PythonReference.Run(code))!;
        for (var i = 0; i < rows.Count; i++)
        {
            var png = (byte[])ImageCodecs.Read(Path.Combine(Out, rows[i].Png)).Pixels;
            var worst = png.Zip(reference[i]).Max(p => Math.Abs(p.First - p.Second));
            Assert.True(worst <= 1, $"{rows[i].ImageId}: max |diff| {worst} grey levels against pydicom + cv2");
        }
    }

    [Fact]
    public void Target_sizes()
    {
        Assert.Equal((512, 512), ImageCacheConverter.TargetSize(3000, 2000, 512, keepAspect: false));
        Assert.Equal((512, 341), ImageCacheConverter.TargetSize(3000, 2000, 512, keepAspect: true));
        Assert.Equal((205, 512), ImageCacheConverter.TargetSize(2000, 5000, 512, keepAspect: true));
    }

    List<ImageCacheRow> ReadMeta() =>
        ImageCacheConverter.ReadMeta(Path.Combine(Out, ImageCacheConverter.MetaFile)).OrderBy(r => r.Source, StringComparer.Ordinal).ToList();

    public void Dispose()
    {
        try { Directory.Delete(root, recursive: true); } catch (IOException) { }
    }
}
