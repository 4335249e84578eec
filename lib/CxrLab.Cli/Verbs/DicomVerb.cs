using System.CommandLine;
using System.Text.Json;
using CxrLab.Dicom;
using Spectre.Console;

namespace CxrLab.Cli.Verbs;

/// <summary>`cxr dicom info FILE [--json]` and `cxr dicom pixels FILE OUT.npy [--stage ..] [--frame N]`.</summary>
public static class DicomVerb
{
    public static Command Create()
    {
        var command = new Command("dicom", "Inspect DICOM files (GDCM): header attributes and pixels at each pipeline stage");
        command.Subcommands.Add(Info());
        command.Subcommands.Add(Pixels());
        return command;
    }

    static Command Info()
    {
        var file = new Argument<string>("FILE") { Description = "a DICOM file" };
        var json = new Option<bool>("--json") { Description = "print one JSON object" };
        var command = new Command("info", "Header attributes: ids, geometry, pixel format, rescale, windows, VOI LUTs, spacing, transfer syntax") { file, json };
        command.SetAction(parse => Guard(() =>
        {
            using var dicom = DicomImage.Open(parse.GetValue(file)!);
            var facts = Facts(dicom);
            if (parse.GetValue(json)) Console.WriteLine(JsonSerializer.Serialize(facts));
            else
            {
                var table = new Table().AddColumn("attribute").AddColumn("value");
                foreach (var (key, value) in facts)
                    table.AddRow(Markup.Escape(key), Markup.Escape(value switch
                    {
                        null => "—",
                        string s => s,
                        System.Collections.IEnumerable e => string.Join(" | ", e.Cast<object>()),
                        _ => Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? "",
                    }));
                AnsiConsole.Write(table);
            }
        }));
        return command;
    }

    static Command Pixels()
    {
        var file = new Argument<string>("FILE") { Description = "a DICOM file" };
        var output = new Argument<string>("OUT.npy") { Description = "NumPy file to write" };
        var stage = new Option<string>("--stage") { Description = "raw | modality | voi | display", DefaultValueFactory = _ => "display" };
        var frame = new Option<int?>("--frame") { Description = "one frame (0-based); default: all frames (frames×rows×cols when more than one)" };
        var command = new Command("pixels", "Write one pipeline stage as .npy (rows×cols, or frames×rows×cols; a trailing samples axis for colour)")
            { file, output, stage, frame };
        command.SetAction(parse => Guard(() =>
        {
            var stageValue = parse.GetValue(stage)!.ToLowerInvariant() switch
            {
                "raw" => PixelStage.Raw,
                "modality" => PixelStage.Modality,
                "voi" => PixelStage.Voi,
                "display" => PixelStage.Display,
                var other => throw new ArgumentException($"--stage '{other}': use raw, modality, voi or display"),
            };
            using var dicom = DicomImage.Open(parse.GetValue(file)!);
            var pixels = dicom.ReadPixels(stageValue, parse.GetValue(frame) ?? DicomImage.AllFrames);
            var shape = pixels.Shape();
            NpyFile.Write(parse.GetValue(output)!, pixels.Data, shape);
            Console.Error.WriteLine($"wrote {parse.GetValue(output)}: {NpyFile.DescrOf(pixels.Data.GetType().GetElementType()!)} ({string.Join(", ", shape)})");
        }));
        return command;
    }

    /// <summary>The attributes `info` prints, in order.</summary>
    public static Dictionary<string, object?> Facts(DicomImage d) => new()
    {
        ["file"] = d.Path,
        ["TransferSyntaxUID"] = d.TransferSyntaxUID,
        ["PatientID"] = d.PatientID,
        ["StudyInstanceUID"] = d.StudyInstanceUID,
        ["SeriesInstanceUID"] = d.SeriesInstanceUID,
        ["SOPInstanceUID"] = d.SOPInstanceUID,
        ["Modality"] = d.Modality,
        ["ViewPosition"] = d.ViewPosition,
        ["PatientSex"] = d.PatientSex,
        ["PatientAge"] = d.PatientAge,
        ["Rows"] = d.Rows,
        ["Columns"] = d.Columns,
        ["NumberOfFrames"] = d.NumberOfFrames,
        ["SamplesPerPixel"] = d.SamplesPerPixel,
        ["PhotometricInterpretation"] = d.PhotometricInterpretation,
        ["BitsAllocated"] = d.BitsAllocated,
        ["BitsStored"] = d.BitsStored,
        ["HighBit"] = d.HighBit,
        ["PixelRepresentation"] = d.PixelRepresentation,
        ["RescaleSlope"] = d.RescaleSlope,
        ["RescaleIntercept"] = d.RescaleIntercept,
        ["Windows"] = d.Windows.Select(w => w.ToString()).ToList(),
        ["VOILUTFunction"] = d.VoiFunction.ToString(),
        ["VOILUTs"] = d.VoiLuts.Select(l => l.ToString()).ToList(),
        ["ModalityLUT"] = d.ModalityLut?.ToString(),
        ["PixelSpacing"] = d.PixelSpacing,
        ["ImagerPixelSpacing"] = d.ImagerPixelSpacing,
        ["VoiUsed"] = d.VoiDescription,
    };

    /// <summary>Runs a verb body; a bad file or argument prints one clear line and exits 1 (no stack trace).</summary>
    internal static int Guard(Action body)
    {
        try
        {
            body();
            return 0;
        }
        catch (Exception e) when (e is DicomException or ArgumentException or IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"cxr: {e.Message}");
            return 1;
        }
    }
}
