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
        command.Subcommands.Add(ConvertWorker());
        return command;
    }

    /// <summary>The decoder worker `cxr convert` starts (see <see cref="CxrLab.Dicom.Cache.ImageCacheWorker"/>); hidden.</summary>
    static Command ConvertWorker()
    {
        var size = new Option<int>("--size") { Required = true };
        var bits = new Option<int>("--bits") { DefaultValueFactory = _ => 8 };
        var keepAspect = new Option<bool>("--keep-aspect");
        var scaling = new Option<DisplayScaling>("--scaling") { DefaultValueFactory = _ => DisplayScaling.MinMax };
        var pngCompression = new Option<int>("--png-compression") { DefaultValueFactory = _ => -1 };
        var command = new Command("convert-worker", "internal: converts DICOMs named on stdin (JSON lines) for `cxr convert`")
            { size, bits, keepAspect, scaling, pngCompression };
        command.Hidden = true;
        command.SetAction(parse =>
        {
            var options = new CxrLab.Dicom.Cache.ImageCacheOptions
            {
                Size = parse.GetValue(size), Bits = parse.GetValue(bits), KeepAspect = parse.GetValue(keepAspect), Scaling = parse.GetValue(scaling),
                PngCompression = parse.GetValue(pngCompression),
            };
            CxrLab.Dicom.Cache.ImageCacheWorker.Serve(Console.In, Console.Out, options);
            return 0;
        });
        return command;
    }

    /// <summary>The command line that starts this CLI again (apphost, or `dotnet cxr.dll`).</summary>
    public static string[] SelfCommand()
    {
        var host = Environment.ProcessPath ?? throw new InvalidOperationException("cannot find this process's executable");
        return Path.GetFileNameWithoutExtension(host) == "dotnet"
            ? [host, typeof(DicomVerb).Assembly.Location]
            : [host];
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

    /// <summary>Runs a verb body that returns nothing as exit code 0; its failures go to <see cref="CliGuard"/> (a bad file or
    /// argument: one line, exit 2).</summary>
    internal static int Guard(Action body)
    {
        body();
        return 0;
    }
}
