using CxrLab.Torch.Nn;

namespace CxrLab.Torch.Serialization;

/// <summary>Bridges checkpoint files and modules: load a PyTorch/safetensors state dict into a module,
/// save a module's state dict as safetensors.</summary>
public static class Checkpoints
{
    public static Tensor ToTensor(this StoredTensor stored) => Tensor.FromBytes(stored.Data, stored.DType, stored.Shape);

    public static StoredTensor ToStored(this Tensor tensor) => new(tensor.DType, tensor.Shape, tensor.ToBytes());

    /// <summary>Loads the state dict stored at <paramref name="path"/> (.pth zip or legacy, or safetensors; see
    /// <see cref="TorchCheckpoint.ReadStateDict"/> for <paramref name="key"/> and <paramref name="remap"/>) into
    /// <paramref name="module"/>. Strict loading throws with every missing, unexpected and wrongly shaped key.</summary>
    public static LoadStateDictResult load_checkpoint(this Module module, string path, bool strict = true,
        string? key = null, Func<string, string?>? remap = null)
    {
        var stored = TorchCheckpoint.ReadStateDict(path, key, remap);
        using var scope = torch.NewDisposeScope(); // the loaded tensors are copied into the module's own
        var tensors = stored.ToDictionary(kv => kv.Key, kv => kv.Value.ToTensor());
        return module.load_state_dict(tensors, strict);
    }

    /// <summary>Writes the module's state dict (parameters and persistent buffers) as safetensors, atomically.</summary>
    public static void save_safetensors(this Module module, string path, IReadOnlyDictionary<string, string>? metadata = null) =>
        SafeTensors.Write(path, module.state_dict().Select(kv => KeyValuePair.Create(kv.Key, kv.Value.ToStored())), metadata);
}
