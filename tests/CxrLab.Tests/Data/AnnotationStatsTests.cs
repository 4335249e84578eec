using System.Globalization;
using CxrLab.Data;
using CxrLab.Data.Phantom;

namespace CxrLab.Tests.Data;

public class AnnotationStatsTests
{
    static VinBigAnnotation Row(string image, int cls, string rad, Box? box) => new(image, cls, rad, box, 0);

    [Fact]
    public void CountsPerClassImageAndShape()
    {
        List<VinBigAnnotation> rows =
        [
            Row("a", 3, "R1", new Box(0, 0, 40, 20)), Row("a", 3, "R2", new Box(2, 0, 42, 20)), Row("a", 0, "R1", new Box(10, 10, 20, 50)),
            Row("b", 14, "R1", null), Row("b", 14, "R2", null), Row("b", 3, "R3", new Box(0, 0, 10, 10)),
        ];
        var perClass = AnnotationStats.RowsPerClass(rows);
        Assert.Equal(3, perClass[3]); Assert.Equal(1, perClass[0]); Assert.Equal(2, perClass[14]); Assert.Equal(0, perClass[5]);
        var images = AnnotationStats.ImagesPerClass(rows);
        Assert.Equal(2, images[3]); Assert.Equal(1, images[0]); Assert.Equal(1, images[14]);
        var perImage = AnnotationStats.BoxesPerImage(rows);
        Assert.Equal(3, perImage["a"]); Assert.Equal(1, perImage["b"]);
        var shapes = AnnotationStats.Shapes(rows);
        Assert.Equal(4, shapes.Count);
        Assert.Equal(2f, shapes[0].Aspect, 6); Assert.Equal(800f, shapes[0].Area, 6);
        Assert.Equal(0.25f, shapes[2].Aspect, 6);
        var consensus = AnnotationStats.Consensus(rows);
        Assert.Contains(new ClassConsensus("a", 3, "Cardiomegaly", 2, 2), consensus);
        Assert.Contains(new ClassConsensus("b", 3, "Cardiomegaly", 1, 3), consensus);
    }

    [Fact]
    public void GreedyMatchingIsOneToOneByDescendingIou()
    {
        // b[0] overlaps a[0] (IoU 2/3) and a[1] (IoU 1): it goes to a[1]; a[0] then takes b[1] (IoU 80/300).
        Box[] a = [new(0, 0, 30, 10), new(10, 0, 30, 10)];
        Box[] b = [new(10, 0, 30, 10), new(0, 0, 20, 4), new(100, 100, 110, 110)];
        var m = ReaderAgreement.Greedy(a, b);
        Assert.Equal(2, m.Count);
        Assert.Equal((1, 0), (m[0].A, m[0].B)); Assert.Equal(1f, m[0].Iou, 6);
        Assert.Equal((0, 1), (m[1].A, m[1].B)); Assert.Equal(80f / 300f, m[1].Iou, 5); // inter 20×4, union 300+80−80
    }

    [Fact]
    public void ReaderMatchesAgreeWithTorchvisionOnAPhantom()
    {
        var root = Path.Combine(Path.GetTempPath(), "cxr-agree-" + Guid.NewGuid().ToString("N"));
        try
        {
            VinBigPhantom.Write(root, new PhantomOptions(Images: 30, Size: 128, Seed: 5, AbnormalFraction: 0.8));
            var csv = Path.Combine(root, VinBigDataset.TrainCsv);
            var matches = ReaderAgreement.Match(VinBigLabels.Read(csv, new ValidationReport()));
            Assert.NotEmpty(matches);
            // Reference: the same greedy rule over torchvision's box_iou, in Python.
            var output = PythonReference.Run($$"""
import csv, itertools, torch
from torchvision.ops import box_iou
groups = {}
for r in csv.DictReader(open(r'{{csv}}')):
    if r['class_id'] == '14': continue
    groups.setdefault((r['image_id'], int(r['class_id'])), {}).setdefault(r['rad_id'], []).append([float(r[k]) for k in ('x_min','y_min','x_max','y_max')])
n, total = 0, 0.0
for key in sorted(groups):
    readers = sorted(groups[key])
    for ra, rb in itertools.combinations(readers, 2):
        iou = box_iou(torch.tensor(groups[key][ra], dtype=torch.float64), torch.tensor(groups[key][rb], dtype=torch.float64))
        cands = sorted([(-iou[i, j].item(), i, j) for i in range(iou.shape[0]) for j in range(iou.shape[1]) if iou[i, j] > 0])
        ua, ub = set(), set()
        for v, i, j in cands:
            if i in ua or j in ub: continue
            ua.add(i); ub.add(j); n += 1; total += -v
print(n, repr(total))
""").Trim().Split(' ');
            Assert.Equal(int.Parse(output[0], CultureInfo.InvariantCulture), matches.Count);
            Assert.Equal(double.Parse(output[1], CultureInfo.InvariantCulture), matches.Sum(m => (double)m.Iou), 3);
            Assert.All(matches, m => Assert.True(string.CompareOrdinal(m.ReaderA, m.ReaderB) < 0 && m.Iou is > 0 and <= 1));
        }
        finally { if (Directory.Exists(root)) Directory.Delete(root, true); }
    }
}
