using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace CxrLab.Interop;

/// <summary>Finds the native libraries CxrLab calls: the shim (libcxrnative.so, built by ./cxr),
/// GDCM's C# glue from Debian's libgdcm-cil, and libzmq.</summary>
public static class NativeLibraries
{
    public const string Shim = "cxrnative";
    public const string GdcmGlue = "gdcmsharpglue";
    public const string Zmq = "zmq";

    /// <summary>Where Debian's libgdcm-cil puts gdcm-sharp.dll and its glue library.</summary>
    public const string GdcmSharpDir = "/usr/lib/cli/gdcm-sharp-3.0";

    // The resolver must be in place before the library's first P/Invoke, whichever type makes it.
#pragma warning disable CA2255
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Register()
    {
        NativeLibrary.SetDllImportResolver(typeof(NativeLibraries).Assembly, Resolve);
        // gdcm-sharp.dll is a separate assembly whose P/Invokes name "gdcmsharpglue".
        AppDomain.CurrentDomain.AssemblyLoad += (_, e) =>
        {
            if (e.LoadedAssembly.GetName().Name == "gdcm-sharp") TrySetResolver(e.LoadedAssembly);
        };
        foreach (var loaded in AppDomain.CurrentDomain.GetAssemblies())
            if (loaded.GetName().Name == "gdcm-sharp") TrySetResolver(loaded);
    }

    static void TrySetResolver(Assembly assembly)
    {
        try { NativeLibrary.SetDllImportResolver(assembly, Resolve); }
        catch (InvalidOperationException) { /* already set */ }
    }

    static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
    {
        foreach (var candidate in Candidates(name))
            if (NativeLibrary.TryLoad(candidate, out var handle)) return handle;
        if (name == Shim)
            throw new DllNotFoundException(
                "libcxrnative.so was not found beside the CxrLab assembly, in $CXR_NATIVE_DIR, or in build/native. " +
                "Run ./cxr once (it builds the native shim), or set CXR_NATIVE_DIR to the folder holding it.");
        return IntPtr.Zero; // let the runtime try its default search and report its own error
    }

    static IEnumerable<string> Candidates(string name)
    {
        switch (name)
        {
            case Shim:
                yield return Path.Combine(AppContext.BaseDirectory, "libcxrnative.so");
                var env = Environment.GetEnvironmentVariable("CXR_NATIVE_DIR");
                if (!string.IsNullOrEmpty(env)) yield return Path.Combine(env, "libcxrnative.so");
                for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
                    yield return Path.Combine(dir.FullName, "build", "native", "libcxrnative.so");
                break;
            case GdcmGlue:
            case "libgdcmsharpglue":
                yield return Path.Combine(GdcmSharpDir, "libgdcmsharpglue.so");
                break;
            case Zmq:
                yield return "libzmq.so.5";
                break;
        }
    }
}
