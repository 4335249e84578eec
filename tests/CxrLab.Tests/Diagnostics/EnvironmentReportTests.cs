using CxrLab.Diagnostics;

namespace CxrLab.Tests.Diagnostics;

public class EnvironmentReportTests
{
    [Fact]
    public void ReportsEveryComponentHealthy()
    {
        var report = EnvironmentReport.Collect();
        var names = report.Checks.Select(c => c.Name).ToList();
        Assert.Equal(new[] { ".NET", "libtorch", "BLAS", "threads", "OpenCV", "GDCM", "ZeroMQ", "CUDA" }, names);
        Assert.All(report.Checks, c => Assert.NotEqual(CheckStatus.Fail, c.Status));
        Assert.StartsWith("1.13", (string)report.Facts["torch_version"]!);
        Assert.True((double)report.Facts["blas_gflops"]! > 0);
        Assert.Equal("OpenBLAS", report.Facts["blas"]);
    }
}
