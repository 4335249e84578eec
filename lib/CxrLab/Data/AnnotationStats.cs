namespace CxrLab.Data;

/// <summary>One radiologist box's shape in original pixels: <see cref="Aspect"/> is width / height.</summary>
public sealed record BoxShape(string ImageId, int ClassId, string ClassName, string RadId, float Width, float Height, float Area, float Aspect);

/// <summary>Two readers' boxes of the same class on the same image, matched one to one, and their IoU.</summary>
public sealed record ReaderMatch(string ImageId, int ClassId, string ClassName, string ReaderA, string ReaderB, Box BoxA, Box BoxB, float Iou);

/// <summary>How many of an image's readers marked a class (1 = only one radiologist saw it).</summary>
public sealed record ClassConsensus(string ImageId, int ClassId, string ClassName, int ReadersMarking, int Readers);

/// <summary>Descriptive statistics of raw VinBigData annotations (rows of <see cref="VinBigLabels.Read"/>,
/// one per radiologist box, before fusion) for exploratory analysis.</summary>
public static class AnnotationStats
{
    /// <summary>Rows per class id (0–14; "No finding" rows count under 14), every class present (0 when absent).</summary>
    public static IReadOnlyList<int> RowsPerClass(IEnumerable<VinBigAnnotation> rows)
    {
        var counts = new int[VinBigClasses.Count];
        foreach (var r in rows) counts[r.ClassId]++;
        return counts;
    }

    /// <summary>Distinct images per class id (0–14): an image counts once for a class however many readers or
    /// boxes mark it. Class 14 counts images where some reader wrote "No finding".</summary>
    public static IReadOnlyList<int> ImagesPerClass(IEnumerable<VinBigAnnotation> rows)
    {
        var counts = new int[VinBigClasses.Count];
        foreach (var (_, classId) in rows.Select(r => (r.ImageId, r.ClassId)).Distinct()) counts[classId]++;
        return counts;
    }

    /// <summary>Radiologist boxes per image (0 for images with only "No finding" rows), keyed by image id.</summary>
    public static IReadOnlyDictionary<string, int> BoxesPerImage(IEnumerable<VinBigAnnotation> rows)
    {
        var counts = new SortedDictionary<string, int>(StringComparer.Ordinal);
        foreach (var r in rows) counts[r.ImageId] = counts.GetValueOrDefault(r.ImageId) + (r.Box is null ? 0 : 1);
        return counts;
    }

    /// <summary>The shape of every box row (rows without a box are skipped).</summary>
    public static List<BoxShape> Shapes(IEnumerable<VinBigAnnotation> rows) =>
        rows.Where(r => r.Box is { IsValid: true })
            .Select(r =>
            {
                var b = r.Box!.Value;
                return new BoxShape(r.ImageId, r.ClassId, VinBigClasses.NameOf(r.ClassId), r.RadId, b.Width, b.Height, b.Area, b.Width / b.Height);
            })
            .ToList();

    /// <summary>Per image and finding class, how many of the image's readers marked it.</summary>
    public static List<ClassConsensus> Consensus(IEnumerable<VinBigAnnotation> rows)
    {
        var result = new List<ClassConsensus>();
        foreach (var image in rows.GroupBy(r => r.ImageId, StringComparer.Ordinal))
        {
            var readers = image.Select(r => r.RadId).Distinct().Count();
            foreach (var cls in image.Where(r => r.Box is not null).GroupBy(r => r.ClassId).OrderBy(g => g.Key))
                result.Add(new ClassConsensus(image.Key, cls.Key, VinBigClasses.NameOf(cls.Key), cls.Select(r => r.RadId).Distinct().Count(), readers));
        }
        return result;
    }
}

/// <summary>Inter-reader agreement: for every image, class and pair of readers who both drew that class, the two
/// readers' boxes are matched one to one greedily by descending IoU (pairs with IoU 0 stay unmatched), as a
/// detection metric matches predictions to truth. Boxes one reader drew and the other did not are not matches;
/// see <see cref="AnnotationStats.Consensus"/> for those.</summary>
public static class ReaderAgreement
{
    public static List<ReaderMatch> Match(IEnumerable<VinBigAnnotation> rows)
    {
        var result = new List<ReaderMatch>();
        var boxed = rows.Where(r => r.Box is not null);
        foreach (var group in boxed.GroupBy(r => (r.ImageId, r.ClassId)).OrderBy(g => g.Key.ImageId, StringComparer.Ordinal).ThenBy(g => g.Key.ClassId))
        {
            var byReader = group.GroupBy(r => r.RadId, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal)
                .Select(g => (Reader: g.Key, Boxes: g.Select(r => r.Box!.Value).ToList())).ToList();
            for (var a = 0; a < byReader.Count; a++)
                for (var b = a + 1; b < byReader.Count; b++)
                    foreach (var (i, j, iou) in Greedy(byReader[a].Boxes, byReader[b].Boxes))
                        result.Add(new ReaderMatch(group.Key.ImageId, group.Key.ClassId, VinBigClasses.NameOf(group.Key.ClassId),
                            byReader[a].Reader, byReader[b].Reader, byReader[a].Boxes[i], byReader[b].Boxes[j], iou));
        }
        return result;
    }

    /// <summary>One-to-one matches of <paramref name="a"/> to <paramref name="b"/>, highest IoU first (ties by index).</summary>
    public static List<(int A, int B, float Iou)> Greedy(IReadOnlyList<Box> a, IReadOnlyList<Box> b)
    {
        var candidates = new List<(int A, int B, float Iou)>();
        for (var i = 0; i < a.Count; i++)
            for (var j = 0; j < b.Count; j++)
            {
                var iou = a[i].Iou(b[j]);
                if (iou > 0) candidates.Add((i, j, iou));
            }
        var usedA = new bool[a.Count];
        var usedB = new bool[b.Count];
        var matches = new List<(int, int, float)>();
        foreach (var c in candidates.OrderByDescending(c => c.Iou).ThenBy(c => c.A).ThenBy(c => c.B))
        {
            if (usedA[c.A] || usedB[c.B]) continue;
            usedA[c.A] = usedB[c.B] = true;
            matches.Add(c);
        }
        return matches;
    }
}
