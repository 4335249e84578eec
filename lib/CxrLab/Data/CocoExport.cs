using System.Text.Json;

namespace CxrLab.Data;

/// <summary>COCO JSON export of a dataset (images, annotations, categories) and of detections (the "results"
/// list format), for other tools. Image ids are 1-based positions in the dataset; category ids equal the
/// dataset's labels; bbox = [x, y, width, height] in the dataset's image pixels.</summary>
public static class CocoExport
{
    /// <summary>Writes the dataset (one entry per distinct image id); returns image id string → COCO image id.</summary>
    public static Dictionary<string, int> WriteDataset(string path, DetectionDataset dataset, string fileExtension = ".png")
    {
        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = false }))
        {
            w.WriteStartObject();
            w.WriteStartArray("images");
            foreach (var item in dataset.Items)
            {
                if (ids.ContainsKey(item.ImageId)) continue;
                ids[item.ImageId] = ids.Count + 1;
                w.WriteStartObject();
                w.WriteNumber("id", ids[item.ImageId]);
                w.WriteString("file_name", item.ImageId + fileExtension);
                w.WriteNumber("width", item.Info.Width);
                w.WriteNumber("height", item.Info.Height);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("annotations");
            var annotationId = 0;
            var written = new HashSet<string>(StringComparer.Ordinal);
            foreach (var item in dataset.Items)
            {
                if (!written.Add(item.ImageId)) continue;
                for (var i = 0; i < item.Target.Count; i++)
                {
                    var b = item.Target.Boxes[i];
                    w.WriteStartObject();
                    w.WriteNumber("id", ++annotationId);
                    w.WriteNumber("image_id", ids[item.ImageId]);
                    w.WriteNumber("category_id", item.Target.Labels[i]);
                    WriteBox(w, b);
                    w.WriteNumber("area", b.Area);
                    w.WriteNumber("iscrowd", 0);
                    w.WriteEndObject();
                }
            }
            w.WriteEndArray();
            w.WriteStartArray("categories");
            for (var c = 0; c < dataset.ClassNames.Count; c++)
            {
                w.WriteStartObject();
                w.WriteNumber("id", c);
                w.WriteString("name", dataset.ClassNames[c]);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        Imaging.ImageCodecs.WriteAtomically(path, stream.ToArray());
        return ids;
    }

    /// <summary>Writes detections as a COCO results list; detections on images missing from
    /// <paramref name="imageIds"/> are skipped (returned count = written).</summary>
    public static int WriteDetections(string path, IEnumerable<Evaluation.Detection> detections, IReadOnlyDictionary<string, int> imageIds)
    {
        var count = 0;
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartArray();
            foreach (var d in detections)
            {
                if (!imageIds.TryGetValue(d.ImageId, out var id)) continue;
                w.WriteStartObject();
                w.WriteNumber("image_id", id);
                w.WriteNumber("category_id", d.Label);
                WriteBox(w, d.Box);
                w.WriteNumber("score", d.Score);
                w.WriteEndObject();
                count++;
            }
            w.WriteEndArray();
        }
        Imaging.ImageCodecs.WriteAtomically(path, stream.ToArray());
        return count;
    }

    static void WriteBox(Utf8JsonWriter w, Box b)
    {
        w.WriteStartArray("bbox");
        w.WriteNumberValue(b.X1); w.WriteNumberValue(b.Y1); w.WriteNumberValue(b.Width); w.WriteNumberValue(b.Height);
        w.WriteEndArray();
    }
}
