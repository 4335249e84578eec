namespace CxrLab.Torch;

/// <summary>Collects every tensor created on this thread while it is the innermost open scope and
/// disposes them when the scope ends, so a training step's temporaries are released at once rather
/// than by the finalizer. Results that must outlive the scope are moved out explicitly:
/// <code>
/// using (var scope = torch.NewDisposeScope())
/// {
///     var loss = model.forward(x).sum();
///     result = scope.MoveToOuter(loss);   // or loss.MoveToOuterScope()
/// }
/// </code>
/// Scopes nest; moving out hands the tensor to the enclosing scope (or to nobody at the outermost).</summary>
public sealed class DisposeScope : IDisposable
{
    [ThreadStatic] static DisposeScope? current;

    readonly DisposeScope? outer;
    readonly HashSet<Tensor> tensors = new(ReferenceEqualityComparer.Instance);
    bool disposed;

    internal DisposeScope()
    {
        outer = current;
        current = this;
    }

    /// <summary>The innermost open scope of this thread, if any.</summary>
    public static DisposeScope? Current => current;

    /// <summary>Tensors this scope will dispose.</summary>
    public int Count => tensors.Count;

    internal void Attach(Tensor t) => tensors.Add(t);
    internal bool Forget(Tensor t) => tensors.Remove(t);

    /// <summary>Keeps <paramref name="t"/> alive past this scope (it joins the enclosing scope, if any).</summary>
    public Tensor MoveToOuter(Tensor t)
    {
        if (tensors.Remove(t)) { t.Scope = outer; outer?.Attach(t); }
        return t;
    }

    /// <summary>Moves several tensors out at once.</summary>
    public void MoveToOuter(params IEnumerable<Tensor> items) { foreach (var t in items) MoveToOuter(t); }

    /// <summary>Removes <paramref name="t"/> from every scope: the caller disposes it.</summary>
    public Tensor Detach(Tensor t)
    {
        if (tensors.Remove(t)) t.Scope = null;
        return t;
    }

    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        foreach (var t in tensors) { t.Scope = null; t.Dispose(); }
        tensors.Clear();
        // Scopes must close innermost first; tolerate out-of-order disposal by unwinding to our outer.
        if (current == this) current = outer;
    }
}
