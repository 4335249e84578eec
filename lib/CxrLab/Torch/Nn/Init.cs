namespace CxrLab.Torch.Nn;

/// <summary>torch.nn.init: in-place initialisers (run without recording gradients).</summary>
public static class Init
{
    /// <summary>(fan_in, fan_out) as PyTorch computes them: dim 1 and dim 0 times the receptive field.</summary>
    public static (long fanIn, long fanOut) Fans(Tensor t)
    {
        var s = t.Shape;
        if (s.Length < 2) throw new ArgumentException($"fan in/out need a tensor with at least 2 dimensions, got [{string.Join(", ", s)}]");
        long receptive = 1;
        for (var k = 2; k < s.Length; k++) receptive *= s[k];
        return (s[1] * receptive, s[0] * receptive);
    }

    /// <summary>torch.nn.init.calculate_gain.</summary>
    public static double Gain(string nonlinearity, double param = 0.01) => nonlinearity switch
    {
        "linear" or "conv2d" or "sigmoid" or "conv_transpose2d" => 1,
        "tanh" => 5.0 / 3,
        "relu" => Math.Sqrt(2),
        "leaky_relu" => Math.Sqrt(2.0 / (1 + param * param)),
        "selu" => 0.75,
        _ => throw new ArgumentException($"unknown nonlinearity '{nonlinearity}'"),
    };

    public static Tensor uniform_(Tensor t, double a = 0, double b = 1) { using (torch.no_grad()) t.uniform_(a, b); return t; }
    public static Tensor normal_(Tensor t, double mean = 0, double std = 1) { using (torch.no_grad()) t.normal_(mean, std); return t; }
    public static Tensor constant_(Tensor t, double value) { using (torch.no_grad()) t.fill_(value); return t; }
    public static Tensor zeros_(Tensor t) => constant_(t, 0);
    public static Tensor ones_(Tensor t) => constant_(t, 1);

    /// <summary>He uniform: bound = gain·√(3 / fan); mode "fan_in" or "fan_out".</summary>
    public static Tensor kaiming_uniform_(Tensor t, double a = 0, string mode = "fan_in", string nonlinearity = "leaky_relu")
    {
        var (fin, fout) = Fans(t);
        var std = Gain(nonlinearity, a) / Math.Sqrt(mode == "fan_in" ? fin : fout);
        var bound = Math.Sqrt(3.0) * std;
        return uniform_(t, -bound, bound);
    }

    /// <summary>He normal: std = gain / √fan.</summary>
    public static Tensor kaiming_normal_(Tensor t, double a = 0, string mode = "fan_in", string nonlinearity = "leaky_relu")
    {
        var (fin, fout) = Fans(t);
        return normal_(t, 0, Gain(nonlinearity, a) / Math.Sqrt(mode == "fan_in" ? fin : fout));
    }

    /// <summary>Glorot uniform: bound = gain·√(6 / (fan_in + fan_out)).</summary>
    public static Tensor xavier_uniform_(Tensor t, double gain = 1)
    {
        var (fin, fout) = Fans(t);
        var bound = gain * Math.Sqrt(6.0 / (fin + fout));
        return uniform_(t, -bound, bound);
    }

    public static Tensor xavier_normal_(Tensor t, double gain = 1)
    {
        var (fin, fout) = Fans(t);
        return normal_(t, 0, gain * Math.Sqrt(2.0 / (fin + fout)));
    }
}
