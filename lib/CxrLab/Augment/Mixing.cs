using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using CxrLab.Data;
using CxrLab.Imaging;

namespace CxrLab.Augment;

/// <summary>Donor selection and sample assembly shared by the mixing transforms (CutMix, Mosaic, MixUp). Instance
/// masks, when the sample has them, follow their boxes (a donor without masks contributes filled-box masks).</summary>
internal static class Mixing
{
    static readonly ConditionalWeakTable<ISampleSource, ConcurrentDictionary<string, int[]>> ClassIndex = new();

    /// <summary>A random donor from the context's pool, holding any of <paramref name="classes"/> when given (any
    /// donor, counted in <see cref="AugmentStats.DonorFallbacks"/>, when no sample holds them),
    /// resized to <paramref name="width"/> × <paramref name="height"/> when its size differs.</summary>
    public static Sample Donor(AugmentContext context, string transform, IReadOnlyList<int>? classes, int width, int height)
    {
        var pool = context.RequirePool(transform);
        int index;
        if (classes is null || classes.Count == 0) index = context.Random.Next(pool.Count);
        else
        {
            var key = string.Join(",", classes.Order());
            var candidates = ClassIndex.GetOrCreateValue(pool).GetOrAdd(key, _ =>
                Enumerable.Range(0, pool.Count).Where(i => pool.LabelsOf(i).Any(classes.Contains)).ToArray());
            if (candidates.Length == 0)
            {
                // Rare classes may be absent (small or filtered data): mix with any donor and count it, rather
                // than abort a whole dataset build.
                context.Stats.DonorFallbacks++;
                index = context.Random.Next(pool.Count);
            }
            else index = candidates[context.Random.Next(candidates.Length)];
        }
        var donor = pool.Get(index);
        // A fresh reference: mixing tells parts apart by reference, and the pool may hand out the sample itself.
        if (donor.Image.Width == width && donor.Image.Height == height) return donor with { };
        var warp = new Warp(Homography.Scale((double)width / donor.Image.Width, (double)height / donor.Image.Height), width, height);
        return new Resize(width, height).ApplyWarp(donor, warp, context);
    }

    /// <summary>Builds a sample from boxes gathered from several samples: each part is (source sample, box index, new box).
    /// When <paramref name="withMasks"/>, every part gets a mask in the new frame from <paramref name="maskOf"/>
    /// (parts whose source has no masks get their box filled).</summary>
    public static Sample Assemble(Image image, string id, IReadOnlyList<(Sample Source, int Index, Box Box)> parts,
        bool withMasks = false, Func<Sample, int, Image>? maskOf = null)
    {
        var boxes = parts.Select(p => p.Box).ToList();
        var labels = parts.Select(p => p.Source.Target.Labels[p.Index]).ToList();
        var anyTags = parts.Any(p => p.Source.BoxTags is not null);
        var tags = anyTags ? parts.Select(p => p.Source.BoxTags?[p.Index] ?? "").ToList() : null;
        List<Image>? masks = null;
        if (withMasks)
            masks = parts.Select(p => p.Source.Target.Masks is not null && maskOf is not null
                ? maskOf(p.Source, p.Index)
                : BoxMask(image.Width, image.Height, p.Box)).ToList();
        return new Sample(image, new Target(image.Width, image.Height, boxes, labels, masks), id, tags);
    }

    /// <summary>A 0/1 mask of the pixels a box covers (rounded to whole pixels).</summary>
    public static Image BoxMask(int width, int height, Box box)
    {
        var mask = new Image(height, width);
        int x1 = (int)Math.Round(box.X1), y1 = (int)Math.Round(box.Y1), x2 = (int)Math.Round(box.X2), y2 = (int)Math.Round(box.Y2);
        x1 = Math.Clamp(x1, 0, width); x2 = Math.Clamp(x2, 0, width); y1 = Math.Clamp(y1, 0, height); y2 = Math.Clamp(y2, 0, height);
        if (x2 > x1 && y2 > y1)
            OpenCv.CopyRect(new Image(Enumerable.Repeat(1f, (x2 - x1) * (y2 - y1)).ToArray(), y2 - y1, x2 - x1), 0, 0, x2 - x1, y2 - y1, mask, x1, y1);
        return mask;
    }

    /// <summary>A copy of <paramref name="mask"/> with the w × h rectangle at (x, y) set to 0.</summary>
    public static Image ClearRect(Image mask, int x, int y, int w, int h)
    {
        var copy = mask.Clone();
        OpenCv.CopyRect(new Image(h, w), 0, 0, w, h, copy, x, y);
        return copy;
    }

    /// <summary>Intersection of a box with an integer rectangle (x, y, w, h); may be invalid when disjoint.</summary>
    public static Box Intersect(Box b, int x, int y, int w, int h) =>
        new(Math.Max(b.X1, x), Math.Max(b.Y1, y), Math.Min(b.X2, x + w), Math.Min(b.Y2, y + h));
}

/// <summary>Box-aware CutMix: a rectangle of a donor image is pasted over the sample; donor boxes inside the
/// patch follow it (translated, clipped to the patch, dropped below the policy's visible fraction); the
/// sample's own boxes covered by the patch are dropped when less than the visible fraction stays uncovered,
/// shrunk when the patch cuts off one whole side, else kept.
/// Two modes: random patch (<see cref="Area"/> of the image, aspect 1:2–2:1), or — when
/// <see cref="DonorClasses"/> is set — an object paste: the donor holds one of those classes and the patch is one
/// of those boxes plus <see cref="Margin"/> (the VinBigData seed's CutMix for the rare classes 1 and 12).</summary>
public sealed record CutMix : ITransform
{
    /// <summary>Patch area as a fraction of the image (random-patch mode).</summary>
    public Interval Area { get; init; } = (0.1, 0.3);
    /// <summary>When set, paste a box of one of these classes from a donor that has one.</summary>
    public IReadOnlyList<int>? DonorClasses { get; init; }
    /// <summary>Context added around a pasted object box on each side, as a fraction of its width/height.</summary>
    public double Margin { get; init; } = 0.1;
    /// <summary>Paste at the patch's own position (anatomy stays plausible) rather than a random one.</summary>
    public bool SameLocation { get; init; } = true;

    public Sample Apply(Sample sample, AugmentContext context)
    {
        int w = sample.Image.Width, h = sample.Image.Height;
        var donor = Mixing.Donor(context, nameof(CutMix), DonorClasses, w, h);
        int sx, sy, pw, ph;
        if (DonorClasses is { Count: > 0 } classes && donor.Target.Labels.Any(classes.Contains))
        {
            var candidates = Enumerable.Range(0, donor.Target.Count).Where(i => classes.Contains(donor.Target.Labels[i])).ToList();
            var b = donor.Target.Boxes[candidates[context.Random.Next(candidates.Count)]];
            var x1 = (int)Math.Floor(Math.Max(0, b.X1 - Margin * b.Width));
            var y1 = (int)Math.Floor(Math.Max(0, b.Y1 - Margin * b.Height));
            var x2 = (int)Math.Ceiling(Math.Min(w, b.X2 + Margin * b.Width));
            var y2 = (int)Math.Ceiling(Math.Min(h, b.Y2 + Margin * b.Height));
            (sx, sy, pw, ph) = (x1, y1, Math.Max(1, x2 - x1), Math.Max(1, y2 - y1));
        }
        else
        {
            var fraction = Area.Sample(context.Random);
            var aspect = Math.Exp(new Interval(Math.Log(0.5), Math.Log(2)).Sample(context.Random));
            pw = Math.Clamp((int)Math.Round(Math.Sqrt(fraction * w * h * aspect)), 1, w);
            ph = Math.Clamp((int)Math.Round(Math.Sqrt(fraction * w * h / aspect)), 1, h);
            sx = context.Random.Next(w - pw + 1);
            sy = context.Random.Next(h - ph + 1);
        }
        int dx = sx, dy = sy;
        if (!SameLocation)
        {
            dx = context.Random.Next(w - pw + 1);
            dy = context.Random.Next(h - ph + 1);
        }
        var image = sample.Image.Clone();
        OpenCv.CopyRect(donor.Image, sx, sy, pw, ph, image, dx, dy);

        var parts = new List<(Sample, int, Box)>();
        var candidatesBoxes = new List<Box>();
        var fullAreas = new List<float>();
        var origins = new List<(Sample, int)>();
        // The sample's own boxes, occluded by the patch.
        for (var i = 0; i < sample.Target.Count; i++)
        {
            var b = sample.Target.Boxes[i];
            if (!b.IsValid) { context.Stats.DroppedDegenerate++; continue; }
            var cover = Mixing.Intersect(b, dx, dy, pw, ph);
            if (cover.IsValid && b.Area > 0)
            {
                var visible = 1 - cover.Area / b.Area;
                if (visible < context.Policy.MinVisibility) { context.Stats.DroppedOccluded++; continue; }
                var spansY = cover.Y1 <= b.Y1 && cover.Y2 >= b.Y2;
                var spansX = cover.X1 <= b.X1 && cover.X2 >= b.X2;
                if (spansY && cover.X1 <= b.X1) b = b with { X1 = cover.X2 };
                else if (spansY && cover.X2 >= b.X2) b = b with { X2 = cover.X1 };
                else if (spansX && cover.Y1 <= b.Y1) b = b with { Y1 = cover.Y2 };
                else if (spansX && cover.Y2 >= b.Y2) b = b with { Y2 = cover.Y1 };
            }
            candidatesBoxes.Add(b);
            fullAreas.Add(b.Area); // occlusion already judged above
            origins.Add((sample, i));
        }
        // Donor boxes that follow the patch.
        for (var i = 0; i < donor.Target.Count; i++)
        {
            var b = donor.Target.Boxes[i];
            var inside = Mixing.Intersect(b, sx, sy, pw, ph);
            if (!b.IsValid || !inside.IsValid) continue;
            candidatesBoxes.Add(new Box(inside.X1 + dx - sx, inside.Y1 + dy - sy, inside.X2 + dx - sx, inside.Y2 + dy - sy));
            fullAreas.Add(b.Area);
            origins.Add((donor, i));
        }
        var (indices, boxes) = context.Policy.Select(candidatesBoxes, w, h, context.Stats, fullAreas);
        for (var k = 0; k < indices.Count; k++) parts.Add((origins[indices[k]].Item1, origins[indices[k]].Item2, boxes[k]));
        // Masks: the sample's lose the pasted area; the donor's are cut to the patch and moved with it.
        return Mixing.Assemble(image, sample.Id, parts, sample.Target.Masks is not null, (source, index) =>
        {
            var mask = source.Target.Masks![index];
            if (ReferenceEquals(source, sample)) return Mixing.ClearRect(mask, dx, dy, pw, ph);
            var moved = new Image(h, w);
            OpenCv.CopyRect(mask, sx, sy, pw, ph, moved, dx, dy);
            return moved;
        });
    }
}

/// <summary>Mosaic of 4 images: the canvas (the sample's size) is split at a random point (fractions from
/// <see cref="Centre"/>) into 4 tiles; the sample takes a random tile, 3 donors the others; each whole image
/// is resized into its tile (aspect not kept, so no lesion is cropped away) and its boxes follow.</summary>
public sealed record Mosaic : ITransform
{
    public Interval Centre { get; init; } = (0.3, 0.7);
    /// <summary>When set, donors are drawn among samples holding any of these classes.</summary>
    public IReadOnlyList<int>? DonorClasses { get; init; }

    public Sample Apply(Sample sample, AugmentContext context)
    {
        int w = sample.Image.Width, h = sample.Image.Height;
        if (w < 2 || h < 2) throw new InvalidOperationException($"Mosaic needs an image of at least 2×2, got {w}×{h}");
        var xc = Math.Clamp((int)Math.Round(Centre.Sample(context.Random) * w), 1, w - 1);
        var yc = Math.Clamp((int)Math.Round(Centre.Sample(context.Random) * h), 1, h - 1);
        var own = context.Random.Next(4);
        var tiles = new Sample[4];
        for (var t = 0; t < 4; t++)
        {
            if (t == own) { tiles[t] = sample; continue; }
            var pool = context.RequirePool(nameof(Mosaic));
            // `with { }`: a distinct reference per tile even when the pool repeats a sample (masks are placed by tile).
            tiles[t] = DonorClasses is { Count: > 0 } ? Mixing.Donor(context, nameof(Mosaic), DonorClasses, w, h) : pool.Get(context.Random.Next(pool.Count)) with { };
        }
        var canvas = new Image(h, w, sample.Image.Channels);
        var candidates = new List<Box>();
        var origins = new List<(Sample, int)>();
        (int X, int Y, int W, int H)[] rects = [(0, 0, xc, yc), (xc, 0, w - xc, yc), (0, yc, xc, h - yc), (xc, yc, w - xc, h - yc)];
        for (var t = 0; t < 4; t++)
        {
            var tile = tiles[t];
            var (qx, qy, qw, qh) = rects[t];
            var src = tile.Image;
            if (src.Channels != canvas.Channels) throw new InvalidOperationException($"Mosaic: sample '{tile.Id}' has {src.Channels} channels, expected {canvas.Channels}");
            var shrinking = qw <= src.Width && qh <= src.Height;
            var resized = new Image(OpenCv.Resize<float>(src.Data, src.Rows, src.Cols, src.Channels, qh, qw,
                shrinking ? Interpolation.Area : Interpolation.Linear), qh, qw, src.Channels);
            OpenCv.CopyRect(resized, 0, 0, qw, qh, canvas, qx, qy);
            var m = Homography.Scale((double)qw / src.Width, (double)qh / src.Height).Then(Homography.Translation(qx, qy));
            for (var i = 0; i < tile.Target.Count; i++)
            {
                candidates.Add(m.MapBox(tile.Target.Boxes[i].Clip(src.Width, src.Height)));
                origins.Add((tile, i));
            }
        }
        var (indices, boxes) = context.Policy.Select(candidates, w, h, context.Stats);
        var parts = indices.Select((index, k) => (origins[index].Item1, origins[index].Item2, boxes[k])).ToList();
        // Masks: each resized (nearest) into its tile of an empty canvas.
        return Mixing.Assemble(canvas, sample.Id, parts, sample.Target.Masks is not null, (source, index) =>
        {
            var (qx, qy, qw, qh) = rects[Array.FindIndex(tiles, t => ReferenceEquals(t, source))]; // records compare by value; tiles by reference
            var mask = source.Target.Masks![index];
            var resized = new Image(OpenCv.Resize<float>(mask.Data, mask.Rows, mask.Cols, 1, qh, qw, Interpolation.Nearest), qh, qw);
            var placed = new Image(h, w);
            OpenCv.CopyRect(resized, 0, 0, qw, qh, placed, qx, qy);
            return placed;
        });
    }
}

/// <summary>MixUp: the sample blended with a donor (resized to the sample's size) by cv::addWeighted, weight
/// r from <see cref="Ratio"/> for the sample and 1 − r for the donor; the boxes of both are kept.</summary>
public sealed record MixUp(Interval Ratio) : ITransform
{
    public MixUp() : this((0.4, 0.6)) { }

    public Sample Apply(Sample sample, AugmentContext context)
    {
        int w = sample.Image.Width, h = sample.Image.Height;
        var r = Ratio.Sample(context.Random);
        var donor = Mixing.Donor(context, nameof(MixUp), null, w, h);
        var image = OpenCv.AddWeighted(sample.Image, r, donor.Image, 1 - r);
        var candidates = sample.Target.Boxes.Concat(donor.Target.Boxes).ToList();
        var origins = Enumerable.Range(0, sample.Target.Count).Select(i => (sample, i))
            .Concat(Enumerable.Range(0, donor.Target.Count).Select(i => (donor, i))).ToList();
        var (indices, boxes) = context.Policy.Select(candidates, w, h, context.Stats);
        return Mixing.Assemble(image, sample.Id, indices.Select((index, k) => (origins[index].Item1, origins[index].Item2, boxes[k])).ToList(),
            sample.Target.Masks is not null, (source, index) => source.Target.Masks![index]);
    }
}
