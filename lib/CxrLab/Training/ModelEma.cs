using CxrLab.Torch;
using CxrLab.Torch.Nn;

namespace CxrLab.Training;

/// <summary>Exponential moving average of a model's floating-point state (parameters and
/// buffers): <c>ema = d·ema + (1 − d)·current</c> after every optimizer step, with YOLOX's ramp
/// <c>d = decay · (1 − exp(−updates / 2000))</c> so early updates follow the model closely.</summary>
public sealed class ModelEma : IDisposable
{
    readonly Dictionary<string, Tensor> shadow = [];

    public ModelEma(Module model, double decay)
    {
        Decay = decay;
        using var _ = torch.no_grad();
        foreach (var (k, v) in model.state_dict()) shadow[k] = v.detach().clone().DetachFromDisposeScope();
    }

    public double Decay { get; }
    public long Updates { get; set; }

    /// <summary>The averaged tensors by state_dict key.</summary>
    public IReadOnlyDictionary<string, Tensor> State => shadow;

    public void Update(Module model)
    {
        Updates++;
        var d = Decay * (1 - Math.Exp(-Updates / 2000.0));
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        foreach (var (k, v) in model.state_dict())
        {
            var s = shadow[k];
            if (!s.DType.IsFloating()) { s.copy_(v); continue; }
            s.mul_(d).add_(v.detach(), 1 - d);
        }
    }

    /// <summary>Copies stored EMA values in (resume).</summary>
    public void Load(IReadOnlyDictionary<string, Tensor> values, long updates)
    {
        using var _ = torch.no_grad();
        foreach (var (k, v) in values)
            if (shadow.TryGetValue(k, out var s)) s.copy_(v);
        Updates = updates;
    }

    /// <summary>Swaps the model's weights with the EMA's (call again to swap back); used to validate with the EMA weights.</summary>
    public void SwapInto(Module model)
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        foreach (var (k, v) in model.state_dict())
        {
            var s = shadow[k];
            var tmp = v.detach().clone();
            v.copy_(s);
            s.copy_(tmp);
        }
    }

    public void Dispose()
    {
        foreach (var t in shadow.Values) t.Dispose();
        shadow.Clear();
    }
}
