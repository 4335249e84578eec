using System.Text.Json;
using CxrLab.Tests.Evaluation;

namespace CxrLab.Tests.Integration;

/// <summary>One error guard for every verb: a user's mistake is one line on stderr naming the flag, file or key, exit
/// code 2, never a stack trace; and `./cxr models --json` lists the zoo.</summary>
public class CliGuardTests
{
    public static TheoryData<string[], string> BadInput() => new()
    {
        { ["predict", "--arch", "fasterrcnn_resnet5_fpn", "--num-classes", "14", "--weights", "w.pth", "--images", "."], "did you mean 'fasterrcnn_resnet50_fpn'" },
        { ["predict", "--arch", "fasterrcnn_resnet18_fpn", "--num-classes", "14", "--weights", "w.pth", "--images", "/no/such/folder"], "--images: /no/such/folder" },
        { ["predict", "--weights", "w.pth", "--images", "."], "give --config, or --arch with --num-classes" },
        { ["train", "/no/such/config.yaml"], "config file not found: /no/such/config.yaml" },
        { ["demo", "--threads", "0"], "--threads must be ≥ 1" },
        { ["bench", "train", "--arch", "yolo_s"], "unknown architecture 'yolo_s'" },
        { ["models", "--num-classes", "0"], "--num-classes must be ≥ 1" },
    };

    [Theory, MemberData(nameof(BadInput))]
    public void Bad_input_is_one_line_on_stderr_and_exit_code_2(string[] args, string expected)
    {
        var (code, _, stderr) = Cli.RunAny(args);
        Assert.Equal(2, code);
        Assert.Contains(expected, stderr);
        Assert.DoesNotContain("   at ", stderr);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void A_config_error_names_file_line_and_key()
    {
        var path = Path.Combine(Path.GetTempPath(), $"cxr-guard-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(path, "name: g\nmodel:\n  arch: fasterrcnn_resnet18_fpn\n  num_clases: 14\n");
        try
        {
            var (code, _, stderr) = Cli.RunAny("train", path);
            Assert.Equal(2, code);
            Assert.Contains($"{path}:4 model.num_clases: unknown key 'num_clases' (did you mean 'num_classes'?)", stderr);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void Models_json_lists_the_zoo_with_reference_parameter_counts()
    {
        var rows = JsonDocument.Parse(Cli.Run("models", "--json").Trim().Split('\n')[^1]).RootElement.EnumerateArray().ToList();
        var counts = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "zoo_param_counts.json"))).RootElement
            .EnumerateArray().Where(r => r.GetProperty("num_classes").GetInt32() == 14)
            .ToDictionary(r => r.GetProperty("arch").GetString()!, r => r.GetProperty("params").GetInt64());
        foreach (var depth in new[] { 18, 34, 50, 101 })
        {
            var row = Assert.Single(rows, r => r.GetProperty("arch").GetString() == $"fasterrcnn_resnet{depth}_fpn");
            Assert.Equal("faster_rcnn", row.GetProperty("family").GetString());
            Assert.Equal(counts[$"fasterrcnn_resnet{depth}_fpn"], row.GetProperty("params").GetInt64());
            Assert.Equal("14 classes + background", row.GetProperty("label_space").GetString());
            Assert.Equal(800, row.GetProperty("input_size").GetInt32());
            Assert.Contains("torchvision", row.GetProperty("reference").GetString());
        }
    }
}
