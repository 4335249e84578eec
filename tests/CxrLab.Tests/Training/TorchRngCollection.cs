namespace CxrLab.Tests.Training;

/// <summary>Tests that compare seeded libtorch random streams (samplers, resumed training) with a
/// reference. libtorch's default generator is process-wide, so these run alone, after the parallel
/// tests, where no other test draws from it in between.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TorchRngCollection
{
    public const string Name = "libtorch default generator";
}
