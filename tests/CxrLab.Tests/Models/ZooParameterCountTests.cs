using System.Text.Json;
using CxrLab.Models;

namespace CxrLab.Tests.Models;

/// <summary>`./cxr models` counts parameters as the reference implementations do: the counts in
/// Fixtures/zoo_param_counts.json come from tests/fixtures/make_zoo_param_counts.py (torchvision, Megvii YOLOX, effdet).</summary>
public class ZooParameterCountTests
{
    public static TheoryData<string, int, long> Rows()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "Fixtures", "zoo_param_counts.json");
        var data = new TheoryData<string, int, long>();
        foreach (var row in JsonDocument.Parse(File.ReadAllText(path)).RootElement.EnumerateArray())
            data.Add(row.GetProperty("arch").GetString()!, row.GetProperty("num_classes").GetInt32(), row.GetProperty("params").GetInt64());
        return data;
    }

    [Theory, MemberData(nameof(Rows))]
    public void Parameter_count_equals_the_reference(string arch, int numClasses, long expected)
    {
        using var model = DetectorZoo.Create(arch, numClasses);
        Assert.Equal(expected, model.Module.parameters().Sum(p => p.numel()));
    }

    [Fact]
    public void Every_zoo_arch_has_a_reference_count()
    {
        var counted = Rows().Select(r => (string)r[0]).ToHashSet();
        Assert.All(DetectorZoo.Entries, e => Assert.Contains(e.Arch, counted));
    }
}
