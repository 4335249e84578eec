using CxrLab.Torch;

namespace CxrLab.Tests.Interop;

public class ThreadPolicyTests
{
    [Fact]
    public void LibtorchUsesTheConfiguredThreadCount()
    {
        // ./cxr leaves CXR_THREADS unset unless the user sets it; either way the policy must hold.
        Assert.Equal(TorchRuntime.DefaultThreadCount(), TorchRuntime.Threads);
    }

    [Fact]
    public void ThreadCountCanBeChangedAndRestored()
    {
        var before = TorchRuntime.Threads;
        try
        {
            TorchRuntime.Threads = 1;
            Assert.Equal(1, TorchRuntime.Threads);
        }
        finally { TorchRuntime.Threads = before; }
        Assert.Equal(before, TorchRuntime.Threads);
    }

    [Fact]
    public void InvalidThreadCountIsALibtorchSideError()
    {
        var error = Assert.Throws<CxrLab.Interop.NativeException>(() => TorchRuntime.Threads = 0);
        Assert.Contains("at least 1", error.Message);
    }
}
