// Detection kernels the tensor engine needs beyond aten: NMS and RoIAlign (forward and backward),
// written here so the product does not depend on torchvision's Python package at run time. They follow
// torchvision 0.14's CPU kernels exactly (box areas without +1, RoIAlign's bilinear rules and adaptive
// sampling grid), and the tests compare them with torchvision. They are CPU kernels and refuse other
// devices: CxrLab.Torch.Vision.VisionOps sends a CUDA tensor to torchvision's own kernels (when its
// library was loaded with cxr_vision_load_library) or to a composition of aten ops, so a feature map
// never travels to the host (see environment.md, "Where NMS and RoIAlign run").
#include "cxr_native.h"

#include <ATen/Parallel.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <dlfcn.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace cxr {
void* new_handle(at::Tensor&& t);  // torch_tensor.cpp: counts live handles
}

namespace {

at::Tensor& as_tensor(void* handle) {
  if (!handle) throw std::invalid_argument("null tensor handle");
  return *static_cast<at::Tensor*>(handle);
}

// Greedy NMS over boxes sorted by score (stable). The IoU is computed in the boxes' own float type and compared
// with the double threshold after promotion, as torchvision's CPU kernel does: an IoU that is exactly the threshold
// in real numbers (quarter-pixel boxes, IoU 3/5 at 0.6) rounds the same way on both sides, so the kept sets agree.
template <typename T>
std::vector<int64_t> nms_sorted(const T* d, const int64_t* o, int64_t n, double iou_threshold) {
  std::vector<T> areas(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) areas[i] = (d[4 * i + 2] - d[4 * i]) * (d[4 * i + 3] - d[4 * i + 1]);
  std::vector<char> suppressed(static_cast<size_t>(n), 0);
  std::vector<int64_t> keep;
  for (int64_t a = 0; a < n; ++a) {
    auto i = o[a];
    if (suppressed[i]) continue;
    keep.push_back(i);
    for (int64_t b = a + 1; b < n; ++b) {
      auto j = o[b];
      if (suppressed[j]) continue;
      T w = std::max(static_cast<T>(0), std::min(d[4 * i + 2], d[4 * j + 2]) - std::max(d[4 * i], d[4 * j]));
      T h = std::max(static_cast<T>(0), std::min(d[4 * i + 3], d[4 * j + 3]) - std::max(d[4 * i + 1], d[4 * j + 1]));
      T inter = w * h;
      T overlap = inter / (areas[i] + areas[j] - inter);
      if (overlap > iou_threshold) suppressed[j] = 1;
    }
  }
  return keep;
}

at::Tensor nms_cpu(const at::Tensor& dets_in, const at::Tensor& scores_in, double iou_threshold) {
  TORCH_CHECK(dets_in.dim() == 2 && dets_in.size(1) == 4, "nms: boxes must be [N, 4] (x1, y1, x2, y2), got ", dets_in.sizes());
  TORCH_CHECK(scores_in.dim() == 1 && scores_in.size(0) == dets_in.size(0), "nms: scores must be [N] matching boxes, got ",
              scores_in.sizes(), " for ", dets_in.sizes(), " boxes");
  if (dets_in.numel() == 0) return at::empty({0}, dets_in.options().dtype(at::kLong));
  // float32/float64 boxes are used as they are; other types (float16, integers) in float32, as torchvision's
  // autocast kernel does.
  auto type = dets_in.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  auto dets = dets_in.detach().to(type).contiguous();
  auto scores = scores_in.detach().contiguous();
  auto order = std::get<1>(scores.sort(/*stable=*/true, /*dim=*/0, /*descending=*/true)).contiguous();
  std::vector<int64_t> keep;
  if (type == at::kDouble) keep = nms_sorted<double>(dets.data_ptr<double>(), order.data_ptr<int64_t>(), dets.size(0), iou_threshold);
  else keep = nms_sorted<float>(dets.data_ptr<float>(), order.data_ptr<int64_t>(), dets.size(0), iou_threshold);
  return at::tensor(keep, at::kLong);
}

struct RoiAlignParams {
  double spatial_scale;
  int64_t pooled_h, pooled_w, sampling_ratio;
  bool aligned;
};

// One sampling point's four neighbours and weights (torchvision's bilinear_interpolate rules).
template <typename T>
bool bilinear(int64_t height, int64_t width, T y, T x, int64_t& y0, int64_t& x0, int64_t& y1, int64_t& x1, T& w1, T& w2, T& w3, T& w4) {
  if (y < -1.0 || y > height || x < -1.0 || x > width) return false;
  if (y <= 0) y = 0;
  if (x <= 0) x = 0;
  y0 = static_cast<int64_t>(y);
  x0 = static_cast<int64_t>(x);
  if (y0 >= height - 1) { y1 = y0 = height - 1; y = static_cast<T>(y0); } else y1 = y0 + 1;
  if (x0 >= width - 1) { x1 = x0 = width - 1; x = static_cast<T>(x0); } else x1 = x0 + 1;
  T ly = y - y0, lx = x - x0, hy = 1 - ly, hx = 1 - lx;
  w1 = hy * hx; w2 = hy * lx; w3 = ly * hx; w4 = ly * lx;
  return true;
}

// Visits every (roi, channel-independent) sampling point: f(ph, pw, y0, x0, y1, x1, w1..w4, count).
// A point outside the feature map contributes nothing; with include_outside it is still visited, with
// zero weights at (0, 0), so every bin has exactly gh x gw points.
template <typename T, typename F>
void for_each_sample(const T* roi, int64_t height, int64_t width, const RoiAlignParams& p, bool include_outside, F&& f) {
  T offset = p.aligned ? static_cast<T>(0.5) : static_cast<T>(0);
  T sx = roi[1] * p.spatial_scale - offset, sy = roi[2] * p.spatial_scale - offset;
  T ex = roi[3] * p.spatial_scale - offset, ey = roi[4] * p.spatial_scale - offset;
  T rw = ex - sx, rh = ey - sy;
  if (!p.aligned) { rw = std::max(rw, static_cast<T>(1)); rh = std::max(rh, static_cast<T>(1)); }
  T bh = rh / p.pooled_h, bw = rw / p.pooled_w;
  int64_t gh = p.sampling_ratio > 0 ? p.sampling_ratio : static_cast<int64_t>(std::ceil(rh / p.pooled_h));
  int64_t gw = p.sampling_ratio > 0 ? p.sampling_ratio : static_cast<int64_t>(std::ceil(rw / p.pooled_w));
  T count = static_cast<T>(std::max<int64_t>(gh * gw, 1));
  for (int64_t ph = 0; ph < p.pooled_h; ++ph)
    for (int64_t pw = 0; pw < p.pooled_w; ++pw)
      for (int64_t iy = 0; iy < gh; ++iy) {
        T y = sy + ph * bh + (iy + static_cast<T>(0.5)) * bh / gh;
        for (int64_t ix = 0; ix < gw; ++ix) {
          T x = sx + pw * bw + (ix + static_cast<T>(0.5)) * bw / gw;
          int64_t y0, x0, y1, x1;
          T w1, w2, w3, w4;
          if (bilinear<T>(height, width, y, x, y0, x0, y1, x1, w1, w2, w3, w4)) f(ph, pw, y0, x0, y1, x1, w1, w2, w3, w4, count);
          else if (include_outside) f(ph, pw, 0, 0, 0, 0, T(0), T(0), T(0), T(0), count);
        }
      }
}

// One sampling point of one RoI: its output bin, the flat offsets of its four neighbours within a
// feature plane, and their bilinear weights. The same for every channel, so it is computed once.
template <typename T>
struct RoiSample {
  int64_t bin, i1, i2, i3, i4;
  T w1, w2, w3, w4;
};

// Appends a RoI's sampling points (bin order, then torchvision's iy, ix order); returns its sample count divisor.
template <typename T>
T collect_samples(const T* roi, int64_t height, int64_t width, const RoiAlignParams& p, bool include_outside, std::vector<RoiSample<T>>& out) {
  T divisor = 1;
  for_each_sample<T>(roi, height, width, p, include_outside, [&](int64_t ph, int64_t pw, int64_t y0, int64_t x0, int64_t y1, int64_t x1,
                                                T w1, T w2, T w3, T w4, T count) {
    out.push_back({ph * p.pooled_w + pw, y0 * width + x0, y0 * width + x1, y1 * width + x0, y1 * width + x1, w1, w2, w3, w4});
    divisor = count;
  });
  return divisor;
}

// Works on a channels-last copy of the features, so each sampling point's four neighbours are four
// contiguous runs of C values: the inner loop over channels is unit-stride and vectorises, where NCHW
// would touch C separate planes per point (memory-bound). Per bin the points are summed in
// torchvision's order and divided once, as its pre-calculated kernel does. RoIs in parallel.
at::Tensor roi_align_forward(const at::Tensor& input, const at::Tensor& rois, const RoiAlignParams& p) {
  auto x = input.permute({0, 2, 3, 1}).contiguous();  // [N, H, W, C]
  auto r = rois.contiguous();
  auto n_rois = r.size(0), channels = input.size(1), height = input.size(2), width = input.size(3);
  auto bins = p.pooled_h * p.pooled_w;
  auto out = at::empty({n_rois, channels, p.pooled_h, p.pooled_w}, input.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "cxr_roi_align_forward", [&] {
    const scalar_t* in = x.data_ptr<scalar_t>();
    const scalar_t* rp = r.data_ptr<scalar_t>();
    scalar_t* o = out.data_ptr<scalar_t>();
    at::parallel_for(0, n_rois, 1, [&](int64_t begin, int64_t end) {
      std::vector<RoiSample<scalar_t>> samples;
      std::vector<scalar_t> acc(static_cast<size_t>(channels));
      for (int64_t n = begin; n < end; ++n) {
        const scalar_t* roi = rp + n * 5;
        const scalar_t* image = in + static_cast<int64_t>(roi[0]) * height * width * channels;
        samples.clear();
        scalar_t count = collect_samples<scalar_t>(roi, height, width, p, true, samples);
        const int64_t per_bin = static_cast<int64_t>(samples.size()) / bins;  // gh x gw, outside points included
        const RoiSample<scalar_t>* s = samples.data();
        scalar_t* roi_out = o + n * channels * bins;
        for (int64_t k = 0; k < bins; ++k) {
          scalar_t* a = acc.data();
          std::fill(acc.begin(), acc.end(), scalar_t(0));
          for (int64_t q = 0; q < per_bin; ++q, ++s) {
            const scalar_t *v1 = image + s->i1 * channels, *v2 = image + s->i2 * channels;
            const scalar_t *v3 = image + s->i3 * channels, *v4 = image + s->i4 * channels;
            const scalar_t w1 = s->w1, w2 = s->w2, w3 = s->w3, w4 = s->w4;
            for (int64_t c = 0; c < channels; ++c) a[c] += w1 * v1[c] + w2 * v2[c] + w3 * v3[c] + w4 * v4[c];
          }
          for (int64_t c = 0; c < channels; ++c) roi_out[c * bins + k] = a[c] / count;
        }
      }
    });
  });
  return out;
}

// Sampling points of every RoI first; then channel ranges in parallel over a channels-last gradient:
// each channel is written by one thread only, in the serial order (RoI, bin, point), so the result is
// deterministic and equal to a serial scatter.
at::Tensor roi_align_backward(const at::Tensor& grad_out, const at::Tensor& rois, at::IntArrayRef input_size, const RoiAlignParams& p) {
  auto g = grad_out.contiguous();
  auto r = rois.contiguous();
  auto n_rois = r.size(0), batch = input_size[0], channels = input_size[1], height = input_size[2], width = input_size[3];
  auto grad_cl = at::zeros({batch, height, width, channels}, g.options());  // [N, H, W, C]
  auto bins = p.pooled_h * p.pooled_w;
  AT_DISPATCH_FLOATING_TYPES(g.scalar_type(), "cxr_roi_align_backward", [&] {
    const scalar_t* go = g.data_ptr<scalar_t>();
    const scalar_t* rp = r.data_ptr<scalar_t>();
    scalar_t* gi = grad_cl.data_ptr<scalar_t>();
    std::vector<RoiSample<scalar_t>> samples;
    std::vector<int64_t> first(n_rois + 1, 0);
    std::vector<scalar_t> counts(n_rois);
    for (int64_t n = 0; n < n_rois; ++n) {
      counts[n] = collect_samples<scalar_t>(rp + n * 5, height, width, p, false, samples);
      first[n + 1] = static_cast<int64_t>(samples.size());
    }
    at::parallel_for(0, channels, 16, [&](int64_t c0, int64_t c1) {
      std::vector<scalar_t> gv(static_cast<size_t>(c1 - c0));
      for (int64_t n = 0; n < n_rois; ++n) {
        scalar_t* image = gi + static_cast<int64_t>(rp[n * 5]) * height * width * channels;
        const scalar_t* roi_grad = go + n * channels * bins;
        int64_t bin = -1;
        for (int64_t k = first[n]; k < first[n + 1]; ++k) {
          const auto& s = samples[k];
          if (s.bin != bin) {  // gather this bin's gradient for the channel range once
            bin = s.bin;
            for (int64_t c = c0; c < c1; ++c) gv[c - c0] = roi_grad[c * bins + bin] / counts[n];
          }
          scalar_t *v1 = image + s.i1 * channels, *v2 = image + s.i2 * channels;
          scalar_t *v3 = image + s.i3 * channels, *v4 = image + s.i4 * channels;
          for (int64_t c = c0; c < c1; ++c) {
            const scalar_t d = gv[c - c0];
            v1[c] += d * s.w1;
            v2[c] += d * s.w2;
            v3[c] += d * s.w3;
            v4[c] += d * s.w4;
          }
        }
      }
    });
  });
  return grad_cl.permute({0, 3, 1, 2}).contiguous();
}

class RoiAlignFunction : public torch::autograd::Function<RoiAlignFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& input, const at::Tensor& rois, double spatial_scale,
                            int64_t pooled_h, int64_t pooled_w, int64_t sampling_ratio, bool aligned) {
    ctx->saved_data["spatial_scale"] = spatial_scale;
    ctx->saved_data["pooled_h"] = pooled_h;
    ctx->saved_data["pooled_w"] = pooled_w;
    ctx->saved_data["sampling_ratio"] = sampling_ratio;
    ctx->saved_data["aligned"] = aligned;
    ctx->saved_data["input_size"] = input.sizes().vec();
    ctx->save_for_backward({rois});
    at::AutoDispatchBelowADInplaceOrView guard;
    return roi_align_forward(input, rois, {spatial_scale, pooled_h, pooled_w, sampling_ratio, aligned});
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    auto rois = ctx->get_saved_variables()[0];
    RoiAlignParams p{ctx->saved_data["spatial_scale"].toDouble(), ctx->saved_data["pooled_h"].toInt(), ctx->saved_data["pooled_w"].toInt(),
                     ctx->saved_data["sampling_ratio"].toInt(), ctx->saved_data["aligned"].toBool()};
    auto size = ctx->saved_data["input_size"].toIntVector();
    auto grad_input = roi_align_backward(grads[0], rois, size, p);
    return {grad_input, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

void require_cpu(const char* op, const at::Tensor& t, const char* what) {
  TORCH_CHECK(t.device().is_cpu(), op, ": the native kernel takes CPU tensors, got ", what, " on ", t.device(),
              " (CxrLab.Torch.Vision.VisionOps routes other devices to torchvision's kernels or the aten composition)");
}

}  // namespace

// Indices of the boxes kept by greedy NMS, in decreasing score order (torchvision.ops.nms).
CXR_API void* cxr_vision_nms(void* boxes, void* scores, double iou_threshold) {
  CXR_TRY(nullptr, {
    require_cpu("nms", as_tensor(boxes), "boxes");
    require_cpu("nms", as_tensor(scores), "scores");
    return cxr::new_handle(nms_cpu(as_tensor(boxes), as_tensor(scores), iou_threshold));
  })
}

// dlopen()s a library whose static initialisers register operators in the dispatcher (torchvision's
// _C.so registers torchvision::nms, torchvision::roi_align, ...). RTLD_LAZY: a Python extension's
// references to the interpreter's functions stay unresolved and are never called. The library stays
// loaded for the life of the process (its operators are registered globally).
CXR_API int cxr_vision_load_library(const char* path) {
  CXR_TRY(-1, {
    if (!path || !*path) throw std::invalid_argument("empty library path");
    if (!dlopen(path, RTLD_LAZY | RTLD_LOCAL)) {
      const char* reason = dlerror();
      throw std::runtime_error(std::string("could not load '") + path + "': " + (reason ? reason : "unknown dlopen error"));
    }
    return 0;
  })
}

// 1 when operator name.overload is registered and has a kernel for the dispatch key ("CPU", "CUDA", ...), else 0.
CXR_API int cxr_op_has_kernel(const char* name, const char* overload, const char* dispatch_key) {
  CXR_TRY(-1, {
    if (!name || !dispatch_key) throw std::invalid_argument("null operator name or dispatch key");
    auto handle = c10::Dispatcher::singleton().findSchema({name, overload ? overload : ""});
    if (!handle.has_value()) return 0;
    return handle->hasKernelForDispatchKey(c10::parseDispatchKey(dispatch_key)) ? 1 : 0;
  })
}

// RoIAlign (torchvision.ops.roi_align) with autograd: input [N, C, H, W], rois [K, 5] (batch index, x1, y1, x2, y2).
CXR_API void* cxr_vision_roi_align(void* input, void* rois, double spatial_scale, int64_t pooled_h, int64_t pooled_w,
                                   int64_t sampling_ratio, int aligned) {
  CXR_TRY(nullptr, {
    auto& x = as_tensor(input);
    auto& r = as_tensor(rois);
    TORCH_CHECK(x.dim() == 4, "roi_align: input must be [N, C, H, W], got ", x.sizes());
    TORCH_CHECK(r.dim() == 2 && r.size(1) == 5, "roi_align: rois must be [K, 5] (batch index, x1, y1, x2, y2), got ", r.sizes());
    TORCH_CHECK(pooled_h > 0 && pooled_w > 0, "roi_align: output size must be positive");
    require_cpu("roi_align", x, "input");
    require_cpu("roi_align", r, "rois");
    // float16/bfloat16 features (autocast): computed in float32 and returned in the input's dtype, as
    // torchvision's autocast kernel for roi_align does.
    auto reduced = x.scalar_type() == at::kHalf || x.scalar_type() == at::kBFloat16;
    auto xc = reduced ? x.to(at::kFloat) : x;
    auto rc = r.to(xc.scalar_type()).detach();
    auto out = RoiAlignFunction::apply(xc, rc, spatial_scale, pooled_h, pooled_w, sampling_ratio, aligned != 0);
    if (reduced) out = out.to(x.scalar_type());
    return cxr::new_handle(std::move(out));
  })
}
