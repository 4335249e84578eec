namespace CxrLab.Torch.Vision;

/// <summary>NMS and RoIAlign composed of aten ops, so they run on whatever device the tensors are on (CUDA without
/// a torchvision library, see <see cref="VisionKernels"/>). Same semantics as our native CPU kernels
/// (<c>torch_vision_ops.cpp</c>, torchvision 0.14's rules); the tests compare both on CPU. No per-box loop: the work
/// is a constant number of tensor ops per NMS block or per RoIAlign sampling-grid size.</summary>
public static class AtenVisionOps
{
    static readonly Op EmbeddingBag = new("aten::embedding_bag");

    /// <summary>Greedy NMS (<see cref="VisionOps.nms"/>'s contract): int64 indices of the kept boxes by decreasing score.
    /// Boxes are visited in score order (stable sort, as the native kernel) in blocks of <paramref name="block_size"/>:
    /// for a block, the boxes no earlier kept box suppresses are resolved among themselves by iterating
    /// keep[j] = no kept box before j in the block has IoU &gt; threshold with j, until nothing changes (the fixed point
    /// is unique and is the greedy result; one step per link of the longest suppression chain), then the kept boxes
    /// suppress every later box at once. IoU with the native kernel's formula and types, so the kept set is identical.</summary>
    public static Tensor nms(Tensor boxes, Tensor scores, double iou_threshold, int block_size = 512)
    {
        VisionOps.CheckNmsInputs(boxes, scores);
        if (block_size < 1) throw new ArgumentOutOfRangeException(nameof(block_size), "the block needs at least one box");
        var n = boxes.size(0);
        var device = boxes.device;
        if (n == 0) return torch.empty([0], ScalarType.Int64, device);
        using var scope = torch.NewDisposeScope();
        var (_, order) = scores.detach().sort(0, descending: true, stable: true);
        // The native kernel's arithmetic: IoU in the boxes' float type (float32 for anything but float64), compared
        // with the threshold in float64 (a float32 IoU of exactly 0.6f is above 0.6, as in torchvision's CPU kernel).
        var type = boxes.DType == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;
        var sorted = boxes.detach().to(type).index_select(0, order);
        var area = Areas(sorted);
        var position = torch.arange(n, ScalarType.Int64, device);
        var removed = torch.zeros([n], ScalarType.Bool, device);
        for (long start = 0; start < n; start += block_size)
        {
            using var step = torch.NewDisposeScope();
            var length = Math.Min(block_size, n - start);
            var rows = sorted.narrow(0, start, length);
            // overlaps[i, j]: block box i would suppress box j (later in score order, IoU above the threshold).
            var later = position.unsqueeze(0) > position.narrow(0, start, length).unsqueeze(1);
            var overlaps = Iou(rows, area.narrow(0, start, length), sorted, area).to(ScalarType.Float64).gt(iou_threshold) & later;
            var candidates = ~removed.narrow(0, start, length);
            var keep = ResolveBlock(overlaps.narrow(1, start, length), candidates);
            var suppressed = (overlaps & keep.unsqueeze(1)).any(0);
            removed.narrow(0, start, length).copy_(~keep);
            removed = step.MoveToOuter(removed | suppressed);
        }
        return scope.MoveToOuter(order.masked_select(~removed));
    }

    // The greedy keep mask of one block: candidates not suppressed by a kept earlier candidate of the block.
    static Tensor ResolveBlock(Tensor overlaps, Tensor candidates)
    {
        using var scope = torch.NewDisposeScope();
        var keep = candidates;
        while (true)
        {
            var next = candidates & ~(overlaps & keep.unsqueeze(1)).any(0);
            if (!(next ^ keep).any().item<bool>()) return scope.MoveToOuter(next);
            keep = next;
        }
    }

    static Tensor Areas(Tensor b) => (b.select(1, 2) - b.select(1, 0)) * (b.select(1, 3) - b.select(1, 1));

    // Pairwise IoU as the native kernel computes it: inter / (area_i + area_j − inter), widths clamped at 0.
    static Tensor Iou(Tensor a, Tensor areaA, Tensor b, Tensor areaB)
    {
        using var scope = torch.NewDisposeScope();
        Tensor Col(Tensor t, long k) => t.select(1, k).unsqueeze(1);
        Tensor Row(Tensor t, long k) => t.select(1, k).unsqueeze(0);
        var w = (Col(a, 2).minimum(Row(b, 2)) - Col(a, 0).maximum(Row(b, 0))).clamp_min(0);
        var h = (Col(a, 3).minimum(Row(b, 3)) - Col(a, 1).maximum(Row(b, 1))).clamp_min(0);
        var inter = w * h;
        return scope.MoveToOuter(inter / (areaA.unsqueeze(1) + areaB.unsqueeze(0) - inter));
    }

    /// <summary>RoIAlign (<see cref="VisionOps.roi_align(Tensor, Tensor, long[], double, long, bool)"/>'s contract) as
    /// bilinear sampling with <c>aten::embedding_bag</c>: every output bin is a bag of its sampling points' four
    /// neighbours (gathered from a channels-last copy of <paramref name="input"/>) weighted by their bilinear weights
    /// and summed, then divided by the bin's point count. The sample positions, border rules, <paramref name="aligned"/>
    /// half-pixel shift and adaptive grid (<paramref name="sampling_ratio"/> ≤ 0: ⌈roi size / output size⌉ per RoI,
    /// RoIs grouped by grid size) are the native kernel's, computed in the same order; gradients flow to
    /// <paramref name="input"/> through embedding_bag's backward. float16/bfloat16 input is computed in float32 and
    /// returned in its dtype (torchvision's autocast rule).</summary>
    public static Tensor roi_align(Tensor input, Tensor rois, long[] output_size, double spatial_scale = 1.0, long sampling_ratio = -1, bool aligned = false)
    {
        VisionOps.CheckRoiAlignInputs(input, rois, output_size);
        long pooledH = output_size[0], pooledW = output_size[^1];
        using var scope = torch.NewDisposeScope();
        var reduced = input.DType is ScalarType.Float16 or ScalarType.BFloat16;
        var x = reduced ? input.to(ScalarType.Float32) : input;
        var (channels, height, width) = (x.size(1), x.size(2), x.size(3));
        var table = x.permute(0, 2, 3, 1).reshape(-1, channels);  // row b·H·W + y·W + x holds that pixel's C values
        var r = rois.detach().to(x.device, x.DType);
        var grid = new RoiGrid(r, pooledH, pooledW, spatial_scale, sampling_ratio, aligned);
        var k = r.size(0);
        Tensor pooled;
        if (k == 0) pooled = table.index_select(0, torch.empty([0], ScalarType.Int64, x.device)).reshape(0, channels, pooledH, pooledW);
        else if (sampling_ratio > 0) pooled = PoolGroup(table, grid, null, sampling_ratio, sampling_ratio, height, width);
        else pooled = PoolByGridSize(table, grid, height, width);
        if (reduced) pooled = pooled.to(input.DType);
        return scope.MoveToOuter(pooled);
    }

    // Adaptive sampling: RoIs with the same (gh, gw) grid share one bag layout; results go back to RoI order.
    static Tensor PoolByGridSize(Tensor table, RoiGrid grid, long height, long width)
    {
        var gh = grid.GridH.cpu().ToArray<long>();
        var gw = grid.GridW.cpu().ToArray<long>();
        var groups = Enumerable.Range(0, gh.Length).GroupBy(i => (gh[i], gw[i])).ToList();
        var parts = new List<Tensor>();
        var order = new List<long>();
        foreach (var group in groups)
        {
            var members = group.Select(i => (long)i).ToArray();
            var index = Tensor.From(members).to(table.device);
            parts.Add(PoolGroup(table, grid, index, group.Key.Item1, group.Key.Item2, height, width));
            order.AddRange(members);
        }
        var pooled = parts.Count == 1 ? parts[0] : torch.cat(parts.ToArray(), 0);
        if (groups.Count == 1) return pooled;
        var inverse = new long[order.Count];
        for (var p = 0; p < order.Count; p++) inverse[order[p]] = p;
        return pooled.index_select(0, Tensor.From(inverse).to(table.device));
    }

    // The RoIs in index (all when null), each sampled on a gh × gw grid per bin: [K, C, outH, outW]. Chunked so one
    // embedding_bag call holds at most ~16 M sample indices.
    static Tensor PoolGroup(Tensor table, RoiGrid all, Tensor? index, long gh, long gw, long height, long width)
    {
        var g = index is null ? all : all.Select(index);
        var k = g.Count;
        var channels = table.size(1);
        if (gh <= 0 || gw <= 0)  // an empty (aligned, inverted) box has no sampling points: 0, as the native kernel
            return torch.zeros([k, channels, all.PooledH, all.PooledW], table.DType, table.device);
        var perRoi = all.PooledH * all.PooledW * gh * gw * 4;
        var chunk = Math.Max(1, (1L << 24) / perRoi);
        if (k <= chunk) return PoolChunk(table, g, gh, gw, height, width);
        var parts = new List<Tensor>();
        for (long s = 0; s < k; s += chunk) parts.Add(PoolChunk(table, g.Narrow(s, Math.Min(chunk, k - s)), gh, gw, height, width));
        return torch.cat(parts.ToArray(), 0);
    }

    static Tensor PoolChunk(Tensor table, RoiGrid g, long gh, long gw, long height, long width)
    {
        var (k, ph, pw) = (g.Count, g.PooledH, g.PooledW);
        var dtype = table.DType;
        var device = table.device;
        // Sample coordinates, in the native kernel's order of operations: start + bin·binSize + (i + ½)·binSize / grid.
        var y = Coordinates(g.StartY, g.BinH, ph, gh, dtype, device);  // [K, ph, gh]
        var x = Coordinates(g.StartX, g.BinW, pw, gw, dtype, device);  // [K, pw, gw]
        var (y0, y1, ly, hy, vy) = Axis(y, height);
        var (x0, x1, lx, hx, vx) = Axis(x, width);
        // To [K, ph, pw, gh, gw]: rows vary with (ph, gh), columns with (pw, gw).
        Tensor R(Tensor t) => t.view(k, ph, 1, gh, 1);
        Tensor C(Tensor t) => t.view(k, 1, pw, 1, gw);
        var valid = (R(vy) & C(vx)).unsqueeze(-1);
        var weights = torch.stack([R(hy) * C(hx), R(hy) * C(lx), R(ly) * C(hx), R(ly) * C(lx)], -1);
        weights = torch.where(valid, weights, 0.0);
        var image = (g.Batch * (height * width)).view(k, 1, 1, 1, 1);
        var row0 = image + R(y0) * width;
        var row1 = image + R(y1) * width;
        var indices = torch.stack([row0 + C(x0), row0 + C(x1), row1 + C(x0), row1 + C(x1)], -1);
        var bags = k * ph * pw;
        var bagSize = gh * gw * 4;
        var offsets = torch.arange(0, bags * bagSize, bagSize, ScalarType.Int64, device);
        var results = EmbeddingBag.CallMany(table, indices.reshape(-1), offsets, false, 0, false, weights.reshape(-1), false);
        var sums = results[0];
        foreach (var extra in results.Skip(1)) extra.Dispose();
        var mean = sums.view(k, ph * pw, -1) / g.Divisor.view(k, 1, 1);
        return mean.view(k, ph, pw, -1).permute(0, 3, 1, 2).contiguous();
    }

    static Tensor Coordinates(Tensor start, Tensor binSize, long bins, long grid, ScalarType dtype, Device device)
    {
        var bin = torch.arange(bins, dtype, device).view(1, bins, 1);
        var point = (torch.arange(grid, dtype, device) + 0.5).view(1, 1, grid);
        var size = binSize.view(-1, 1, 1);
        return start.view(-1, 1, 1) + bin * size + point * size / grid;
    }

    // torchvision's bilinear_interpolate along one axis: the two neighbours (clamped to the map), their weights, and
    // whether the point is inside [-1, size] (outside points contribute nothing).
    static (Tensor Low, Tensor High, Tensor HighWeight, Tensor LowWeight, Tensor Valid) Axis(Tensor coordinate, long size)
    {
        var valid = (coordinate >= -1.0) & (coordinate <= (double)size);
        var c = coordinate.clamp_min(0);
        var low = c.floor();
        var atEdge = low >= (double)(size - 1);
        low = low.clamp_max(size - 1);
        c = torch.where(atEdge, low, c);
        var high = torch.where(atEdge, low, low + 1);
        var fraction = c - low;
        return (low.to(ScalarType.Int64), high.to(ScalarType.Int64), fraction, 1 - fraction, valid);
    }

    // Per RoI: where its bins start, their size, the sampling grid and the divisor (the native kernel's geometry).
    sealed class RoiGrid
    {
        public Tensor Batch = null!, StartX = null!, StartY = null!, BinW = null!, BinH = null!, GridW = null!, GridH = null!, Divisor = null!;
        public long PooledH, PooledW;
        public long Count => Batch.size(0);

        RoiGrid() { }

        public RoiGrid(Tensor rois, long pooledH, long pooledW, double scale, long samplingRatio, bool aligned)
        {
            PooledH = pooledH;
            PooledW = pooledW;
            var offset = aligned ? 0.5 : 0.0;
            Batch = rois.select(1, 0).to(ScalarType.Int64);
            StartX = rois.select(1, 1) * scale - offset;
            StartY = rois.select(1, 2) * scale - offset;
            var w = rois.select(1, 3) * scale - offset - StartX;
            var h = rois.select(1, 4) * scale - offset - StartY;
            if (!aligned) { w = w.clamp_min(1.0); h = h.clamp_min(1.0); }
            BinW = w / (double)pooledW;
            BinH = h / (double)pooledH;
            if (samplingRatio > 0)
            {
                GridW = torch.full([rois.size(0)], samplingRatio, ScalarType.Int64, rois.device);
                GridH = GridW;
            }
            else
            {
                GridW = (w / (double)pooledW).ceil().to(ScalarType.Int64);
                GridH = (h / (double)pooledH).ceil().to(ScalarType.Int64);
            }
            Divisor = (GridH * GridW).clamp_min(1).to(rois.DType);
        }

        public RoiGrid Select(Tensor index) => Map(t => t.index_select(0, index));
        public RoiGrid Narrow(long start, long length) => Map(t => t.narrow(0, start, length));

        RoiGrid Map(Func<Tensor, Tensor> f) => new()
        {
            Batch = f(Batch), StartX = f(StartX), StartY = f(StartY), BinW = f(BinW), BinH = f(BinH),
            GridW = f(GridW), GridH = f(GridH), Divisor = f(Divisor), PooledH = PooledH, PooledW = PooledW,
        };
    }
}
