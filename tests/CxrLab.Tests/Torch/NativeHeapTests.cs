using CxrLab.Torch;

namespace CxrLab.Tests.Torch;

/// <summary>The native heap policy, observed through glibc's own accounting (mallinfo2): under
/// Retain a large tensor comes from the heap, under ReturnToOs glibc maps it separately.
/// Runs alone because the policy and the counters are process-wide.</summary>
[Collection("NativeHeap")]
public sealed class NativeHeapTests
{
    const long FortyMb = 40L << 20;

    static long MappedBytesWhileHolding(Func<Tensor> make)
    {
        var before = TorchRuntime.NativeHeapStats().Mapped;
        using var t = make();
        return TorchRuntime.NativeHeapStats().Mapped - before;
    }

    [Fact]
    public void DefaultPolicyRetainsAndLargeTensorsComeFromTheHeap()
    {
        if (Environment.GetEnvironmentVariable("CXR_NATIVE_HEAP") is { Length: > 0 }) return; // a user override is not the default
        Assert.Equal(HeapPolicy.Retain, TorchRuntime.NativeHeap);
        Assert.True(MappedBytesWhileHolding(() => torch.zeros(FortyMb / 4)) < FortyMb);
    }

    [Fact]
    public void ReturnToOsMapsLargeTensorsAndRetainStopsIt()
    {
        var original = TorchRuntime.NativeHeap;
        try
        {
            TorchRuntime.NativeHeap = HeapPolicy.ReturnToOs;
            // Larger than all the free memory the heap holds (earlier tests under Retain leave free chunks that
            // glibc reuses before it maps anything), so only a mapping can serve it.
            var bytes = Math.Max(FortyMb, TorchRuntime.NativeHeapStats().Free + FortyMb);
            Assert.True(MappedBytesWhileHolding(() => torch.empty([bytes / 4])) >= bytes);
            TorchRuntime.NativeHeap = HeapPolicy.Retain;
            Assert.True(MappedBytesWhileHolding(() => torch.zeros(FortyMb / 4)) < FortyMb);
            TorchRuntime.ReleaseFreeMemory();
        }
        finally { TorchRuntime.NativeHeap = original; }
    }

    [Fact]
    public void UnknownPolicyNameIsRejectedWithTheVariableName()
    {
        var previous = Environment.GetEnvironmentVariable("CXR_NATIVE_HEAP");
        try
        {
            Environment.SetEnvironmentVariable("CXR_NATIVE_HEAP", "keep");
            var e = Assert.Throws<ArgumentException>(() => TorchRuntime.DefaultHeapPolicy());
            Assert.Contains("CXR_NATIVE_HEAP", e.Message);
        }
        finally { Environment.SetEnvironmentVariable("CXR_NATIVE_HEAP", previous); }
    }
}

[CollectionDefinition("NativeHeap", DisableParallelization = true)]
public sealed class NativeHeapCollection;
