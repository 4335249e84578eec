using CxrLab.Data;
using CxrLab.Data.Phantom;
using CxrLab.Dicom;
using CxrLab.Dicom.Cache;

namespace CxrLab.Tests.Integration;

/// <summary>The data path end to end: synth DICOMs → read through GDCM, and → `convert` cache → PNG source;
/// both give the same targets (after scaling) and agreeing pixels.</summary>
public class DicomToDatasetTests
{
    [Fact]
    public void SynthDicomsLoadDirectlyAndThroughTheConvertedCache()
    {
        var root = Directory.CreateTempSubdirectory("cxr-e2e-").FullName;
        try
        {
            VinBigPhantom.Write(root, new PhantomOptions(Images: 6, Size: 128, Seed: 11, AbnormalFraction: 0.8));
            var fromDicom = VinBigDataset.LoadTrain(root, VinBigDataset.DicomSource(root, "train", DicomReaders.Display, DicomReaders.Size));

            var cache = Path.Combine(root, "cache");
            var report = ImageCacheConverter.Convert(Path.Combine(root, "train"), cache, new ImageCacheOptions { Size = 64, Bits = 16, Threads = 2 });
            Assert.Equal(0, report.Failed);
            var fromCache = VinBigDataset.LoadTrain(root, new PngCacheSource(cache));

            Assert.Equal(6, fromDicom.Count);
            Assert.Equal(fromDicom.Select(i => i.ImageId), fromCache.Select(i => i.ImageId));
            Assert.Contains(fromDicom, i => i.Target.Count > 0);
            for (var i = 0; i < fromDicom.Count; i++)
            {
                var a = fromDicom[i];
                var b = fromCache[i];
                Assert.Equal((128, 128), (a.Info.Width, a.Info.Height));
                Assert.Equal((64, 64, 128, 128), (b.Info.Width, b.Info.Height, b.Info.OriginalWidth, b.Info.OriginalHeight));
                Assert.Equal(a.Target.Labels, b.Target.Labels);
                for (var k = 0; k < a.Target.Count; k++)
                {
                    var back = b.Info.ToOriginal(b.Target.Boxes[k]);
                    Assert.True(Math.Abs(back.X1 - a.Target.Boxes[k].X1) < 0.01 && Math.Abs(back.Y2 - a.Target.Boxes[k].Y2) < 0.01,
                        $"{a.ImageId} box {k}: {back} vs {a.Target.Boxes[k]}");
                }
                // Pixels: the cache is the DICOM display image area-downsampled 2×; compare block means.
                var full = a.Load();
                var small = b.Load();
                double worst = 0;
                for (var y = 0; y < 64; y++)
                for (var x = 0; x < 64; x++)
                {
                    var mean = (full.At(2 * y, 2 * x) + full.At(2 * y + 1, 2 * x) + full.At(2 * y, 2 * x + 1) + full.At(2 * y + 1, 2 * x + 1)) / 4;
                    worst = Math.Max(worst, Math.Abs(mean - small.At(y, x)));
                }
                Assert.True(worst < 2.0 / 255, $"{a.ImageId}: cache differs from the DICOM display image by {worst}");
            }
        }
        finally { Directory.Delete(root, recursive: true); }
    }
}
