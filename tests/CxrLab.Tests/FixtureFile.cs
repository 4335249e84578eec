using System.Text.Json;

namespace CxrLab.Tests;

/// <summary>Reads a fixture from the Fixtures folder copied beside the test assembly.</summary>
public static class FixtureFile
{
    public static string PathOf(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    public static JsonDocument Json(string name) => JsonDocument.Parse(File.ReadAllText(PathOf(name)));
}
