using CxrLab.Dicom;

namespace CxrLab.Tests.Dicom;

/// <summary>Mutated real files (bit flips, truncations, length fields): each read ends in a clean
/// <see cref="DicomException"/> or in pixels of the declared size and range, in this process (a native abort would
/// end the test run). Deterministic seeds; bit flips reach the compressed streams of every syntax
/// (see <see cref="DicomMutations"/>).</summary>
public sealed class DicomFuzzTests
{
    const int Mutations = 1600;

    [Fact]
    public void Mutated_files_give_clean_exceptions_or_consistent_pixels()
    {
        var sources = DicomMutations.Sources().Select(s => (Bytes: File.ReadAllBytes(s.Path), s.BitFlips, Name: Path.GetFileName(s.Path))).ToList();
        var dir = Directory.CreateTempSubdirectory("cxr-dicom-fuzz-").FullName;
        var path = Path.Combine(dir, "mutant.dcm");
        int clean = 0, read = 0;
        var problems = new List<string>();
        try
        {
            for (var seed = 0; seed < Mutations; seed++)
            {
                var source = sources[seed % sources.Count];
                var (bytes, kind) = DicomMutations.Mutate(source.Bytes, seed, source.BitFlips);
                File.WriteAllBytes(path, bytes);
                var before = GC.GetAllocatedBytesForCurrentThread();
                try
                {
                    using var dicom = DicomImage.Open(path);
                    var raw = dicom.ReadRaw(DicomImage.AllFrames);
                    if (raw.Length != (long)dicom.Rows * dicom.Columns * dicom.SamplesPerPixel * dicom.NumberOfFrames)
                        problems.Add($"seed {seed} ({source.Name}, {kind}): {raw.Length} values for {dicom}");
                    if (dicom.IsMonochrome)
                    {
                        var display = dicom.ReadDisplay();
                        if (display.Data.Any(v => !(v >= 0 && v <= 1)))
                            problems.Add($"seed {seed} ({source.Name}, {kind}): display value outside [0, 1]");
                    }
                    read++;
                }
                catch (DicomException e)
                {
                    if (e.Path != path || string.IsNullOrWhiteSpace(e.Reason)) problems.Add($"seed {seed}: exception without file or reason");
                    clean++;
                }
                catch (Exception e)
                {
                    problems.Add($"seed {seed} ({source.Name}, {kind}): {e.GetType().Name}: {e.Message}");
                }
                var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
                if (allocated > 64L << 20) problems.Add($"seed {seed} ({source.Name}, {kind}): allocated {allocated >> 20} MiB");
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
        Assert.True(problems.Count == 0, string.Join("\n", problems.Take(30)));
        // Both outcomes occur: the mutations are neither all fatal nor all harmless.
        Assert.True(clean > Mutations / 10 && read > Mutations / 10, $"{clean} exceptions, {read} reads");
    }
}
