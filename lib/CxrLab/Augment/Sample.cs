using CxrLab.Data;
using CxrLab.Imaging;

namespace CxrLab.Augment;

/// <summary>One image with its annotations, the unit every transform maps. The target's size equals the
/// image's. <see cref="BoxTags"/> optionally carries one string per box (e.g. VinBigData's rad_id) that
/// follows its box through every transform, drop and mix.</summary>
public sealed record Sample
{
    public Sample(Image image, Target target, string id = "", IReadOnlyList<string>? boxTags = null)
    {
        if (target.Width != image.Width || target.Height != image.Height)
            throw new ArgumentException($"sample '{id}': target is {target.Width}×{target.Height} but the image is {image.Width}×{image.Height}");
        if (boxTags is not null && boxTags.Count != target.Count)
            throw new ArgumentException($"sample '{id}': {target.Count} boxes but {boxTags.Count} box tags");
        if (target.Masks is not null)
            foreach (var mask in target.Masks)
                if (mask.Width != image.Width || mask.Height != image.Height || mask.Channels != 1)
                    throw new ArgumentException($"sample '{id}': mask {mask} does not match the {image.Height}×{image.Width} image");
        Image = image;
        Target = target;
        Id = id;
        BoxTags = boxTags;
    }

    public Image Image { get; }
    public Target Target { get; }
    public string Id { get; }
    public IReadOnlyList<string>? BoxTags { get; }

    /// <summary>Builds a sample from boxes and labels on an image (no masks).</summary>
    public static Sample Of(Image image, IReadOnlyList<Box> boxes, IReadOnlyList<int> labels, string id = "", IReadOnlyList<string>? tags = null) =>
        new(image, new Target(image.Width, image.Height, boxes, labels), id, tags);

    /// <summary>A copy with a new image and boxes in that image's frame; box i of <paramref name="boxes"/>
    /// replaces box <c>indices[i]</c> of this sample (labels, tags follow); masks are given in the new frame.</summary>
    public Sample Rebuild(Image image, IReadOnlyList<int> indices, IReadOnlyList<Box> boxes, IReadOnlyList<Image>? masks = null)
    {
        if (indices.Count != boxes.Count) throw new ArgumentException("one index per box");
        var labels = new int[indices.Count];
        var tags = BoxTags is null ? null : new string[indices.Count];
        for (var i = 0; i < indices.Count; i++)
        {
            labels[i] = Target.Labels[indices[i]];
            if (tags is not null) tags[i] = BoxTags![indices[i]];
        }
        return new Sample(image, new Target(image.Width, image.Height, boxes, labels, masks), Id, tags);
    }

    /// <summary>A copy with a new image of the same size and the same annotations.</summary>
    public Sample WithImage(Image image) => new(image, new Target(image.Width, image.Height, Target.Boxes, Target.Labels, Target.Masks), Id, BoxTags);

    /// <summary>True when any box carries one of <paramref name="classes"/>.</summary>
    public bool HasAnyClass(IReadOnlyCollection<int> classes) => Target.Labels.Any(classes.Contains);
}

/// <summary>Samples by index: a dataset for the loader and the donor pool of mixing transforms.</summary>
public interface ISampleSource
{
    int Count { get; }

    /// <summary>Loads sample <paramref name="index"/> (0 ≤ index &lt; Count). Must be safe to call from several threads.</summary>
    Sample Get(int index);

    /// <summary>The labels of sample <paramref name="index"/> without loading its image (donor selection by class).</summary>
    IReadOnlyList<int> LabelsOf(int index);
}

/// <summary>An in-memory <see cref="ISampleSource"/>.</summary>
public sealed class ListSampleSource(IReadOnlyList<Sample> samples) : ISampleSource
{
    public int Count => samples.Count;
    public Sample Get(int index) => samples[index];
    public IReadOnlyList<int> LabelsOf(int index) => samples[index].Target.Labels;
}
