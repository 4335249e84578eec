using System.Text.Json;
using CxrLab.Dicom;

namespace CxrLab.Tests.Dicom;

/// <summary>What pydicom (+ GDCM for compressed syntaxes) decoded for one file; arrays live in <see cref="Dir"/>.</summary>
public sealed record ReferenceEntry(int Index, string File, string? Error, string? TransferSyntax, string? Photometric,
    int[]? Shape, int Frames, int Rows, int Cols, int Samples, string? PatientId, string? Modality, string Dir)
{
    public string Name => Path.GetFileName(File);
    public bool Decoded => Error is null;
    public bool IsMonochrome => Photometric is "MONOCHROME1" or "MONOCHROME2";
    public string RawPath => Path.Combine(Dir, $"{Index}.raw.npy");
    public string VoiPath => Path.Combine(Dir, $"{Index}.voi.npy");
    public string DisplayPath => Path.Combine(Dir, $"{Index}.display.npy");
}

/// <summary>The file sets the DICOM tests compare on: pydicom's bundled test files (Debian python3-pydicom)
/// and the CXR-like fixtures in every transfer syntax; decoded once per test run by
/// Fixtures/dicom_reference.py in Debian's Python.</summary>
public sealed class DicomReferenceSet : IDisposable
{
    public const string PydicomTestFiles = "/usr/lib/python3/dist-packages/pydicom/data/test_files";

    public DicomReferenceSet()
    {
        Dir = Directory.CreateTempSubdirectory("cxr-dicom-ref-").FullName;
        var files = PydicomFiles().Concat(FixtureFiles()).ToList();
        var list = Path.Combine(Dir, "files.json");
        File.WriteAllText(list, JsonSerializer.Serialize(files));
        var script = File.ReadAllText(FixtureFile.PathOf("dicom_reference.py"));
        var code = $"import sys\nsys.argv = ['dicom_reference.py', {JsonSerializer.Serialize(list)}, {JsonSerializer.Serialize(Dir)}]\n" + script;
        var output = PythonReference.Run(code, timeoutSeconds: 180);
        using var json = JsonDocument.Parse(output);
        Entries = json.RootElement.EnumerateArray().Select((e, i) => new ReferenceEntry(
            i,
            e.GetProperty("file").GetString()!,
            e.TryGetProperty("error", out var err) ? err.GetString() : null,
            e.TryGetProperty("ts", out var ts) && ts.ValueKind == JsonValueKind.String ? ts.GetString() : null,
            e.TryGetProperty("pi", out var pi) ? pi.GetString() : null,
            e.TryGetProperty("shape", out var shape) ? shape.EnumerateArray().Select(x => x.GetInt32()).ToArray() : null,
            e.TryGetProperty("frames", out var frames) ? frames.GetInt32() : 0,
            e.TryGetProperty("rows", out var rows) ? rows.GetInt32() : 0,
            e.TryGetProperty("cols", out var cols) ? cols.GetInt32() : 0,
            e.TryGetProperty("spp", out var spp) ? spp.GetInt32() : 0,
            e.TryGetProperty("patient_id", out var pid) ? pid.GetString() : null,
            e.TryGetProperty("modality", out var mod) ? mod.GetString() : null,
            Dir)).ToList();
    }

    public string Dir { get; }

    public IReadOnlyList<ReferenceEntry> Entries { get; }

    public static IEnumerable<string> PydicomFiles() =>
        Directory.Exists(PydicomTestFiles)
            ? Directory.GetFiles(PydicomTestFiles, "*.dcm").Order(StringComparer.Ordinal)
            : throw new InvalidOperationException($"{PydicomTestFiles} is missing: install python3-pydicom (./cxr test does)");

    public static IEnumerable<string> FixtureFiles() =>
        Directory.GetFiles(FixtureFile.PathOf("dicom"), "*.dcm").Order(StringComparer.Ordinal);

    /// <summary>Transfer syntaxes whose decoded values are exactly the encoded ones.</summary>
    public static bool IsLossless(string uid) => uid is not ("1.2.840.10008.1.2.4.50" or "1.2.840.10008.1.2.4.51"
        or "1.2.840.10008.1.2.4.81" or "1.2.840.10008.1.2.4.91");

    public void Dispose()
    {
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
    }
}
