using CxrLab.Torch;
using CxrLab.Torch.Nn;

namespace CxrLab.Tests.Torch;

/// <summary>Multiply-adds counted by <see cref="FlopCounterMode"/> against the textbook formulas.</summary>
public class FlopCounterModeTests
{
    [Fact]
    public void Convolutions_and_linear_layers_count_their_multiply_adds()
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var x = torch.randn([2, 6, 17, 17]);
        using var flops = new FlopCounterMode();
        // 3×3 stride 2 padding 1: 17 → 9; each output value is 6·3·3 multiply-adds.
        using var y = torch.conv2d(x, torch.randn([8, 6, 3, 3]), stride: [2, 2], padding: [1, 1]);
        Assert.Equal(2L * 8 * 9 * 9 * (6 * 3 * 3), flops.MultiplyAdds);
        // Depthwise (groups = channels): 1·3·3 per output value.
        var before = flops.MultiplyAdds;
        using var dw = torch.conv2d(x, torch.randn([6, 1, 3, 3]), padding: [1, 1], groups: 6);
        Assert.Equal(2L * 6 * 17 * 17 * 9, flops.MultiplyAdds - before);
        // Transposed: every input pixel meets the whole [C_in, C_out, k, k] kernel.
        before = flops.MultiplyAdds;
        using var up = torch.conv_transpose2d(x, torch.randn([6, 4, 2, 2]), stride: [2, 2]);
        Assert.Equal(2L * 17 * 17 * 6 * 4 * 2 * 2, flops.MultiplyAdds - before);
        // Linear: rows × in × out.
        before = flops.MultiplyAdds;
        using var z = torch.linear(torch.randn([5, 3, 7]), torch.randn([11, 7]));
        Assert.Equal(5L * 3 * 7 * 11, flops.MultiplyAdds - before);
        Assert.Equal(2 * flops.MultiplyAdds, flops.TotalFlops);
    }

    [Fact]
    public void Nothing_is_counted_outside_a_counter_and_nested_counters_add_to_the_outer()
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        using var conv = new Conv2d(3, 4, 1);
        var x = torch.randn([1, 3, 5, 5]);
        var outer = new FlopCounterMode();
        conv.forward(x);
        using (var inner = new FlopCounterMode())
        {
            conv.forward(x);
            Assert.Equal(25L * 12, inner.MultiplyAdds);
        }
        outer.Dispose();
        conv.forward(x);   // after both are closed: not counted anywhere
        Assert.Equal(2 * 25L * 12, outer.MultiplyAdds);
    }
}
