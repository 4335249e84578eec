using CxrLab.Torch;
using CxrLab.Torch.Nn;
using CxrLab.Torch.Serialization;

namespace CxrLab.Models.Detection;

/// <summary>What every family's <see cref="IDetector.LoadWeights"/> shares: reading a weights file in any of the
/// layouts we accept, upgrading old keys, checking the class count against the classifier's output size with a
/// message naming both counts, and optionally re-initialising just the classifier.</summary>
public static class DetectorWeights
{
    /// <summary>A model's state_dict from: our training checkpoint (<c>last.ckpt</c>/<c>best.ckpt</c>: the EMA weights
    /// when present, else the model's), a safetensors file, or a PyTorch <c>.pth</c>/<c>.pt</c> (bare state_dict, or
    /// nested under "model" as Megvii's trainer saves, "state_dict", "model_state_dict" or "ema").</summary>
    public static Dictionary<string, StoredTensor> ReadStateDict(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"weights file not found: {path}", path);
        if (IsSafeTensors(path))
        {
            var tensors = SafeTensors.Read(path, out var metadata);
            if (metadata.GetValueOrDefault("format") != TrainingCheckpointFormat) return tensors;
            foreach (var group in new[] { "ema.", "model." })
            {
                var picked = tensors.Where(kv => kv.Key.StartsWith(group, StringComparison.Ordinal)).ToDictionary(kv => kv.Key[group.Length..], kv => kv.Value);
                if (picked.Count > 0) return picked;
            }
            throw new CheckpointException($"{path} is a training checkpoint without model weights");
        }
        return TorchCheckpoint.ReadStateDict(path);
    }

    /// <summary>The marker our trainer writes into its checkpoints' metadata (Training.TrainingCheckpoint.FormatName).</summary>
    public const string TrainingCheckpointFormat = "cxrlab-training-checkpoint";

    static bool IsSafeTensors(string path)
    {
        using var f = File.OpenRead(path);
        Span<byte> head = stackalloc byte[9];
        if (f.Read(head) < 9) return false;
        var length = System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(head);
        return length > 0 && length < f.Length && head[8] == (byte)'{';
    }

    /// <summary>Loads <paramref name="path"/> into <paramref name="module"/> (<paramref name="options"/>: strictness, re-initialising
    /// the classifier; <paramref name="family"/> names the model in messages).</summary>
    /// <param name="module">The model.</param>
    /// <param name="path">The weights file.</param>
    /// <param name="options">Strictness, classifier re-initialisation, log.</param>
    /// <param name="family">The model's name in messages.</param>
    /// <param name="classifierKeys">The state_dict keys whose first dimension grows with the class count (e.g.
    /// <c>roi_heads.box_predictor.cls_score.weight</c> and its bias and <c>bbox_pred.*</c>; <c>head.cls_preds.0.weight</c>…).</param>
    /// <param name="classesOf">The class count a classifier tensor stands for, from its key and first dimension
    /// (e.g. (K+1)·4 → K for bbox_pred), so the message speaks of task classes.</param>
    /// <param name="reinitClassifier">Re-initialises the classifier outputs with the family's prior; called after the
    /// rest loaded when <see cref="WeightsLoadOptions.ReinitClassifier"/> and the counts differ.</param>
    /// <param name="upgradeKey">Maps an old key layout to the current one (identity when null).</param>
    public static LoadStateDictResult Load(Module module, string path, WeightsLoadOptions? options, string family,
        IReadOnlyList<string> classifierKeys, Func<string, long, long> classesOf, Action reinitClassifier, Func<string, string>? upgradeKey = null)
    {
        options ??= new WeightsLoadOptions();
        var stored = ReadStateDict(path);
        var tensors = new Dictionary<string, Tensor>();
        try
        {
            foreach (var (key, value) in stored) tensors[upgradeKey?.Invoke(key) ?? key] = value.ToTensor();
            var own = module.state_dict();
            var mismatched = classifierKeys.Where(k => tensors.TryGetValue(k, out var t) && own.TryGetValue(k, out var o) && t.size(0) != o.size(0)).ToList();
            if (mismatched.Count > 0)
            {
                var key = mismatched[0];
                var (theirs, ours) = (classesOf(key, tensors[key].size(0)), classesOf(key, own[key].size(0)));
                if (!options.ReinitClassifier)
                    throw new ArgumentException(
                        $"{path} was trained for {theirs} classes ({key} is [{string.Join(", ", tensors[key].shape)}]) but this {family} model has {ours} " +
                        $"([{string.Join(", ", own[key].shape)}]). Build the model with {theirs} classes (--num-classes {theirs} / model.num_classes: {theirs}) " +
                        $"to use the checkpoint as it is, or load it with the classifier re-initialised (model.weights in a training config does that) to fine-tune on {ours} classes.");
                foreach (var k in classifierKeys.Where(tensors.ContainsKey))
                {
                    tensors[k].Dispose();
                    tensors.Remove(k);
                }
                var partial = module.load_state_dict(tensors, strict: false);
                var bad = partial.Unexpected.Count + partial.Mismatched.Count + partial.Missing.Count(m => !classifierKeys.Contains(m));
                if (options.Strict && bad > 0) throw new StateDictMismatchException(partial, family);
                reinitClassifier();
                options.Log?.Invoke($"{path}: re-initialised the classifier ({string.Join(", ", classifierKeys)}) for {ours} classes; the checkpoint has {theirs}");
                return partial;
            }
            return module.load_state_dict(tensors, options.Strict);
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }
}
