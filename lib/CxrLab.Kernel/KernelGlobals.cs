using CxrLab.Viz;

namespace CxrLab.Kernel;

/// <summary>Members every notebook cell sees as globals.</summary>
public class KernelGlobals
{
    /// <summary>Shows a value in the cell's output through the formatter registry; returns a handle
    /// whose <see cref="DisplayHandle.Update"/> replaces it in place.</summary>
#pragma warning disable IDE1006 // Jupyter's lower-case name
    public DisplayHandle display(object? value) => Display.Show(value);
#pragma warning restore IDE1006

    /// <summary>The current cell's cancellation (set when the notebook's interrupt button is pressed).</summary>
    public CancellationToken CancellationToken => Diagnostics.Cancellation.Current;
}
