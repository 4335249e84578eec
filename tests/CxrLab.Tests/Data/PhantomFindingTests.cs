using CxrLab.Data;
using CxrLab.Data.Phantom;

namespace CxrLab.Tests.Data;

/// <summary>Learnability: each finding changes the image visibly and only inside its box.</summary>
public class PhantomFindingTests
{
    [Theory]
    [InlineData(0)] [InlineData(1)] [InlineData(2)] [InlineData(3)] [InlineData(4)] [InlineData(5)] [InlineData(6)]
    [InlineData(7)] [InlineData(8)] [InlineData(9)] [InlineData(10)] [InlineData(11)] [InlineData(12)] [InlineData(13)]
    public void AFindingIsVisibleAndLiesInItsBox(int classId)
    {
        for (var seed = 0; seed < 3; seed++)
        {
            const int w = 256, h = 288;
            var (normal, none) = PhantomChest.Render(w, h, [], new Random(seed), noise: 0);
            var (sick, lesions) = PhantomChest.Render(w, h, [classId], new Random(seed), noise: 0);
            Assert.Empty(none);
            Assert.NotEmpty(lesions);
            Assert.All(lesions, l => Assert.Equal(classId, l.ClassId));
            double inside = 0, total = 0; var insideCount = 0;
            for (var y = 0; y < h; y++)
                for (var x = 0; x < w; x++)
                {
                    var d = Math.Abs(sick.At(y, x) - normal.At(y, x));
                    total += d;
                    if (lesions.Any(l => x >= l.Box.X1 - 2 && x < l.Box.X2 + 2 && y >= l.Box.Y1 - 2 && y < l.Box.Y2 + 2)) { inside += d; insideCount++; }
                }
            Assert.True(inside / total > 0.9, $"{VinBigClasses.Names[classId]} seed {seed}: only {inside / total:P0} of the change lies in the box");
            Assert.True(inside / insideCount > 0.03, $"{VinBigClasses.Names[classId]} seed {seed}: mean contrast {inside / insideCount:0.000} in the box is too faint");
        }
    }
}
