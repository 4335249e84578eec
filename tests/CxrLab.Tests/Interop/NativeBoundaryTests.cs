using CxrLab.Interop;
using CxrLab.Torch;

namespace CxrLab.Tests.Interop;

/// <summary>The native boundary conventions: values cross intact, native errors surface as typed
/// C# exceptions with the native message, never as a crash.</summary>
public class NativeBoundaryTests
{
    [Fact]
    public void TensorRoundTripThroughLibtorch()
    {
        using var a = Tensor.From(new[] { 1f, 2f, 3f, 4f, 5f, 6f }, 2, 3);
        using var b = Tensor.From(new[] { 10f, 20f, 30f }, 3);
        using var sum = a + b; // broadcasts b over rows

        Assert.Equal(new long[] { 2, 3 }, sum.Shape);
        Assert.Equal(ScalarType.Float32, sum.DType);
        Assert.Equal(new[] { 11f, 22f, 33f, 14f, 25f, 36f }, sum.ToArray<float>());
    }

    [Fact]
    public void IntegerTensorsKeepTheirType()
    {
        using var a = Tensor.From(new long[] { long.MaxValue - 1, -5 });
        using var b = Tensor.From(new long[] { 1, 5 });
        using var sum = a.Add(b);
        Assert.Equal(ScalarType.Int64, sum.DType);
        Assert.Equal(new[] { long.MaxValue, 0L }, sum.ToArray<long>());
    }

    [Fact]
    public void LibtorchErrorSurfacesAsTorchExceptionWithItsMessage()
    {
        using var a = Tensor.From(new[] { 1f, 2f, 3f });
        using var b = Tensor.From(new[] { 1f, 2f, 3f, 4f });

        var error = Assert.Throws<TorchException>(() => a.Add(b));
        Assert.Contains("The size of tensor a (3) must match the size of tensor b (4)", error.Message);
        Assert.Equal("libtorch", error.Component);
        Assert.DoesNotContain("Exception raised from", error.Message); // no C++ backtrace

        // The boundary stays usable after an error, and a success clears nothing it should not.
        using var ok = a + a;
        Assert.Equal(new[] { 2f, 4f, 6f }, ok.ToArray<float>());
    }

    [Fact]
    public void ErrorsOnOtherThreadsDoNotLeakIntoThisOne()
    {
        var messages = new string[4];
        Parallel.For(0, messages.Length, i =>
        {
            // sizes ≥ 2 so that nothing broadcasts
            using var x = Tensor.From(new float[i + 2]);
            using var y = Tensor.From(new float[i + 5]);
            messages[i] = Assert.Throws<TorchException>(() => x.Add(y)).Message;
        });
        for (var i = 0; i < messages.Length; i++)
            Assert.Contains($"tensor a ({i + 2}) must match the size of tensor b ({i + 5})", messages[i]);
    }

    [Fact]
    public void DisposedTensorThrowsObjectDisposed()
    {
        var t = Tensor.From(new[] { 1f });
        t.Dispose();
        Assert.Throws<ObjectDisposedException>(() => t.Shape);
        Assert.Equal("Tensor(disposed)", t.ToString());
        t.Dispose(); // idempotent
    }

    [Fact]
    public void ShapeThatDoesNotMatchTheDataIsRejectedBeforeCrossing()
    {
        var error = Assert.Throws<ArgumentException>(() => Tensor.From(new[] { 1f, 2f, 3f }, 2, 2));
        Assert.Contains("holds 4 values but 3 were given", error.Message);
    }

    [Fact]
    public void ReadingWithTheWrongElementTypeIsRejected()
    {
        using var t = Tensor.From(new[] { 1f });
        Assert.Throws<InvalidOperationException>(() => t.ToArray<long>());
    }
}
