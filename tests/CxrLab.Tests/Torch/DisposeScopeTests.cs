using CxrLab.Torch;

namespace CxrLab.Tests.Torch;

// Live-count assertions read a process-wide counter; keep these tests out of parallel collections.
[Collection("LiveTensorCount")]
public class DisposeScopeTests
{
    [Fact]
    public void ScopedLoopKeepsTheLiveTensorCountFlat()
    {
        using var w = torch.randn(16, 16);
        using var x = torch.randn(4, 16);
        long Run(int steps)
        {
            for (var i = 0; i < steps; i++)
            {
                using var scope = torch.NewDisposeScope();
                var y = (x.matmul(w).relu() * 2 + 1).softmax(1).sum();
                _ = y.item<float>();
            }
            return torch.LiveTensorCount;
        }
        var before = Run(5);
        var after = Run(200);
        Assert.Equal(before, after);
    }

    [Fact]
    public void MovedOutTensorsSurviveAndOthersAreDisposed()
    {
        Tensor kept, dropped;
        using (var outer = torch.NewDisposeScope())
        {
            using (var scope = torch.NewDisposeScope())
            {
                dropped = torch.ones(3);
                kept = scope.MoveToOuter(torch.zeros(3));
            }
            Assert.True(dropped.IsDisposed);
            Assert.False(kept.IsDisposed);
            Assert.Equal(1, outer.Count);
        }
        Assert.True(kept.IsDisposed); // it joined the outer scope
        Assert.Throws<ObjectDisposedException>(() => dropped.sum());

        Tensor free;
        using (var scope = torch.NewDisposeScope()) free = torch.ones(1).MoveToOuterScope();
        Assert.False(free.IsDisposed);
        free.Dispose();
    }
}

/// <summary>Runs alone: the live-tensor counter is process-wide, so parallel tests would move it.</summary>
[CollectionDefinition("LiveTensorCount", DisableParallelization = true)]
public sealed class LiveTensorCountCollection;
