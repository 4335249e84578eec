using CxrLab.Data;
using CxrLab.Data.Phantom;

namespace CxrLab.Tests.Data;

/// <summary><see cref="PhantomOptions.ClassBalance"/>: tempering the real set's class frequencies so small demo sets
/// hold the rare findings; 1 (the default) keeps the real shape.</summary>
public sealed class PhantomClassBalanceTests : IDisposable
{
    readonly string root = Directory.CreateTempSubdirectory("cxr-phantom-balance").FullName;

    public void Dispose() => Directory.Delete(root, true);

    IReadOnlyDictionary<string, int> Rows(string name, double balance) =>
        VinBigPhantom.Write(Path.Combine(root, name), new PhantomOptions(Images: 120, Size: 64, Seed: 8, TestImages: 1, AbnormalFraction: 1, ClassBalance: balance)).RowsPerClass;

    [Fact]
    public void Lower_balance_lifts_rare_classes_and_out_of_range_is_refused()
    {
        var real = Rows("real", 1.0);
        var uniform = Rows("uniform", 0.0);
        int N(IReadOnlyDictionary<string, int> rows, int c) => rows.GetValueOrDefault(VinBigClasses.Names[c]);
        // Pneumothorax (12) and Atelectasis (1) are under 1 % of the real set's boxes; uniform draws give each 1/14.
        int[] rare = [1, 12];
        Assert.True(rare.Sum(c => N(uniform, c)) >= 3 * Math.Max(1, rare.Sum(c => N(real, c))),
            $"uniform rare rows {rare.Sum(c => N(uniform, c))} vs real-shaped {rare.Sum(c => N(real, c))}");
        Assert.All(Enumerable.Range(0, VinBigClasses.FindingCount), c => Assert.True(N(uniform, c) > 0, $"class {c} missing with uniform classes"));
        // Aortic enlargement (0), the most frequent real class, loses its lead share when flattened.
        Assert.True(N(real, 0) > N(uniform, 0));

        Assert.Throws<ArgumentException>(() => VinBigPhantom.Write(Path.Combine(root, "bad"), new PhantomOptions(Images: 1, Size: 64, ClassBalance: 2)));
    }
}
