namespace CxrLab.Augment;

/// <summary>A closed range [Min, Max] a random parameter is drawn from uniformly; Min == Max is a constant.</summary>
public readonly record struct Interval(double Min, double Max)
{
    public static Interval Constant(double value) => new(value, value);

    /// <summary>Symmetric range [−x, x].</summary>
    public static Interval Symmetric(double x) => new(-x, x);

    public static implicit operator Interval(double value) => Constant(value);

    public static implicit operator Interval((double Min, double Max) range) => new(range.Min, range.Max);

    /// <summary>Draws a value; always consumes one random number so streams stay aligned whatever the range.</summary>
    public double Sample(Random random)
    {
        var u = random.NextDouble();
        return Min + (Max - Min) * u;
    }

    public bool IsConstant => Min == Max;

    public override string ToString() => IsConstant ? $"{Min:0.###}" : $"[{Min:0.###}, {Max:0.###}]";
}
