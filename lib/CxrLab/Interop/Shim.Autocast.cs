using System.Runtime.InteropServices;

namespace CxrLab.Interop;

internal static partial class Shim
{
    [DllImport(NativeLibraries.Shim)] public static extern int cxr_autocast_is_enabled(int deviceType);
    [DllImport(NativeLibraries.Shim)] public static extern int cxr_autocast_set_enabled(int deviceType, int enabled);
    [DllImport(NativeLibraries.Shim)] public static extern int cxr_autocast_get_dtype(int deviceType);
    [DllImport(NativeLibraries.Shim)] public static extern int cxr_autocast_set_dtype(int deviceType, int dtype);
    [DllImport(NativeLibraries.Shim)] public static extern int cxr_autocast_is_cache_enabled();
    [DllImport(NativeLibraries.Shim)] public static extern int cxr_autocast_set_cache_enabled(int enabled);
    [DllImport(NativeLibraries.Shim)] public static extern int cxr_autocast_increment_nesting();
    [DllImport(NativeLibraries.Shim)] public static extern int cxr_autocast_decrement_nesting();
    [DllImport(NativeLibraries.Shim)] public static extern int cxr_autocast_clear_cache();
}
