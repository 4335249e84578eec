using CxrLab.Data;
using CxrLab.Data.Phantom;
using CxrLab.Dicom;
using CxrLab.Dicom.Cache;
using CxrLab.Imaging;

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
                Assert.Equal((64, 64, a.Info.Width, a.Info.Height), (b.Info.Width, b.Info.Height, b.Info.OriginalWidth, b.Info.OriginalHeight));
                Assert.Equal(a.Target.Labels, b.Target.Labels);
                for (var k = 0; k < a.Target.Count; k++)
                {
                    var back = b.Info.ToOriginal(b.Target.Boxes[k]);
                    Assert.True(Math.Abs(back.X1 - a.Target.Boxes[k].X1) < 0.01 && Math.Abs(back.Y2 - a.Target.Boxes[k].Y2) < 0.01,
                        $"{a.ImageId} box {k}: {back} vs {a.Target.Boxes[k]}");
                }
                // Pixels: the cache is the DICOM display image area-resized to 64×64 and stored in 16 bits.
                var full = a.Load();
                var expected = OpenCv.Resize<float>(full.Data, full.Rows, full.Cols, 1, 64, 64, Interpolation.Area);
                var small = b.Load();
                var worst = expected.Zip(small.Data, (e, c) => Math.Abs(e - c)).Max();
                Assert.True(worst < 1.5 / 65535, $"{a.ImageId}: cache differs from the DICOM display image by {worst}");
            }
        }
        finally { Directory.Delete(root, recursive: true); }
    }
}
