using System.CommandLine;
using CxrLab.Dicom;
using CxrLab.Training;
using CxrLab.Torch.Nn;
using CxrLab.Torch.Serialization;

namespace CxrLab.Cli;

/// <summary>Bad input from the user (a flag, a path, a value): one line on stderr, exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>The one place every verb's failures go through: user errors (bad flags, config keys, missing or unreadable
/// files, invalid values) print one clear line on stderr and exit 2; runtime failures print one line and exit 1, with
/// the stack trace only when <c>CXR_DEBUG=1</c>. Nothing a user did wrong ends in a stack trace.</summary>
public static class CliGuard
{
    public const int UserError = 2;
    public const int RuntimeError = 1;

    /// <summary>Parses and runs <paramref name="args"/> against <paramref name="root"/> with the guard around every action.</summary>
    public static int Invoke(RootCommand root, string[] args)
    {
        var parse = root.Parse(args);
        try
        {
            return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e)
        {
            return Report(e);
        }
    }

    /// <summary>Writes the one line for <paramref name="e"/> and returns the exit code.</summary>
    public static int Report(Exception e)
    {
        while (e is AggregateException { InnerExceptions.Count: 1 } a) e = a.InnerExceptions[0];
        var user = IsUserError(e);
        Console.Error.WriteLine($"cxr: {(user ? "" : "error: ")}{e.Message}");
        if (Environment.GetEnvironmentVariable("CXR_DEBUG") == "1") Console.Error.WriteLine(e);
        else if (!user) Console.Error.WriteLine("cxr: (set CXR_DEBUG=1 for the stack trace)");
        return user ? UserError : RuntimeError;
    }

    /// <summary>Errors whose fix is in the user's hands: the command line, a config, a path, a file's contents.</summary>
    public static bool IsUserError(Exception e) => e is UsageException or ConfigException or FileNotFoundException or DirectoryNotFoundException
        or UnauthorizedAccessException or InvalidDataException or FormatException or DicomException or CheckpointException or StateDictMismatchException
        or ArgumentException or NotSupportedException;
}
