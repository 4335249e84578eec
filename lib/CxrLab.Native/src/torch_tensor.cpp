// Tensor lifecycle across the C ABI. A handle is a heap-allocated at::Tensor (one reference to
// the storage); the managed Tensor owns exactly one handle and frees it with cxr_tensor_free.
#include "cxr_native.h"

#include <torch/torch.h>

#include <atomic>
#include <cmath>
#include <cstring>

namespace cxr {
// Live native tensor handles; the managed side's tests assert this stays flat across scoped loops.
std::atomic<int64_t> live_tensors{0};
void* new_handle(at::Tensor&& t) {
  live_tensors.fetch_add(1, std::memory_order_relaxed);
  return new at::Tensor(std::move(t));
}
}  // namespace cxr

namespace {
at::Tensor& as_tensor(void* handle) {
  if (!handle) throw std::invalid_argument("null tensor handle");
  return *static_cast<at::Tensor*>(handle);
}
}  // namespace

// Copies `data` (contiguous, row-major, dtype = c10::ScalarType code) into a new CPU tensor.
CXR_API void* cxr_tensor_from_buffer(const void* data, int dtype, const int64_t* shape, int ndim) {
  CXR_TRY(nullptr, {
    auto options = at::TensorOptions().dtype(static_cast<c10::ScalarType>(dtype));
    auto t = at::empty(c10::IntArrayRef(shape, static_cast<size_t>(ndim)), options);
    if (t.numel() > 0) {
      if (!data) throw std::invalid_argument("null data pointer for a non-empty tensor");
      std::memcpy(t.data_ptr(), data, t.nbytes());
    }
    return cxr::new_handle(std::move(t));
  })
}

CXR_API void cxr_tensor_free(void* handle) {
  if (!handle) return;
  cxr::live_tensors.fetch_sub(1, std::memory_order_relaxed);
  delete static_cast<at::Tensor*>(handle);
}

CXR_API int64_t cxr_tensor_live_count() { return cxr::live_tensors.load(); }

CXR_API int cxr_tensor_ndim(void* handle) { CXR_TRY(-1, { return static_cast<int>(as_tensor(handle).dim()); }) }

CXR_API int cxr_tensor_shape(void* handle, int64_t* out) {
  CXR_TRY(-1, {
    auto sizes = as_tensor(handle).sizes();
    std::copy(sizes.begin(), sizes.end(), out);
    return 0;
  })
}

CXR_API int cxr_tensor_dtype(void* handle) {
  CXR_TRY(-1, { return static_cast<int>(as_tensor(handle).scalar_type()); })
}

CXR_API int64_t cxr_tensor_numel(void* handle) { CXR_TRY(-1, { return as_tensor(handle).numel(); }) }

// Copies the tensor's values (moved to CPU, made contiguous) into `dst` of `nbytes` bytes.
CXR_API int cxr_tensor_copy_to(void* handle, void* dst, int64_t nbytes) {
  CXR_TRY(-1, {
    auto t = as_tensor(handle).detach().to(at::kCPU).contiguous();
    if (static_cast<int64_t>(t.nbytes()) != nbytes)
      throw std::invalid_argument("destination holds " + std::to_string(nbytes) + " bytes, tensor has " +
                                  std::to_string(t.nbytes()));
    if (nbytes > 0) std::memcpy(dst, t.data_ptr(), static_cast<size_t>(nbytes));
    return 0;
  })
}

CXR_API int cxr_tensor_strides(void* handle, int64_t* out) {
  CXR_TRY(-1, {
    auto strides = as_tensor(handle).strides();
    std::copy(strides.begin(), strides.end(), out);
    return 0;
  })
}

// Device type (c10::DeviceType code: 0 = CPU, 1 = CUDA) and index (-1 when unset).
CXR_API int cxr_tensor_device(void* handle, int* index) {
  CXR_TRY(-1, {
    auto d = as_tensor(handle).device();
    if (index) *index = d.has_index() ? d.index() : -1;
    return static_cast<int>(d.type());
  })
}

// Address of the first element (CPU tensors; valid while the tensor lives and is not resized).
CXR_API void* cxr_tensor_data_ptr(void* handle) { CXR_TRY(nullptr, { return as_tensor(handle).data_ptr(); }) }

CXR_API int cxr_tensor_is_contiguous(void* handle) { CXR_TRY(-1, { return as_tensor(handle).is_contiguous() ? 1 : 0; }) }

// A second handle to the same tensor (same storage and autograd identity).
CXR_API void* cxr_tensor_alias(void* handle) { CXR_TRY(nullptr, { return cxr::new_handle(at::Tensor(as_tensor(handle))); }) }

CXR_API int cxr_tensor_requires_grad(void* handle) { CXR_TRY(-1, { return as_tensor(handle).requires_grad() ? 1 : 0; }) }

CXR_API int cxr_tensor_set_requires_grad(void* handle, int value) {
  CXR_TRY(-1, {
    as_tensor(handle).set_requires_grad(value != 0);
    return 0;
  })
}

CXR_API int cxr_tensor_is_leaf(void* handle) { CXR_TRY(-1, { return as_tensor(handle).is_leaf() ? 1 : 0; }) }

CXR_API int cxr_tensor_retain_grad(void* handle) {
  CXR_TRY(-1, {
    as_tensor(handle).retain_grad();
    return 0;
  })
}

// The accumulated gradient: 1 and a new handle in *out, or 0 when there is none.
CXR_API int cxr_tensor_grad(void* handle, void** out) {
  CXR_TRY(-1, {
    auto g = as_tensor(handle).grad();
    bool has = g.defined();
    *out = has ? cxr::new_handle(std::move(g)) : nullptr;
    return has ? 1 : 0;
  })
}

// Sets (or with null, clears) the gradient, as `p.grad = g` / `p.grad = None` in Python.
CXR_API int cxr_tensor_set_grad(void* handle, void* grad) {
  CXR_TRY(-1, {
    as_tensor(handle).mutable_grad() = grad ? as_tensor(grad) : at::Tensor();
    return 0;
  })
}

// Backpropagates from `handle`; `gradient` may be null for a scalar output.
CXR_API int cxr_tensor_backward(void* handle, void* gradient, int retain_graph, int create_graph) {
  CXR_TRY(-1, {
    auto& t = as_tensor(handle);
    at::Tensor g = gradient ? as_tensor(gradient) : at::Tensor();
    t.backward(g, retain_graph ? c10::optional<bool>(true) : c10::optional<bool>(c10::nullopt), create_graph != 0);
    return 0;
  })
}

// Gradients of `outputs` w.r.t. `inputs` (torch.autograd.grad); writes n_inputs handles (null if unused).
CXR_API int cxr_autograd_grad(void** outputs, void** grad_outputs, int n_outputs, void** inputs, int n_inputs,
                              int retain_graph, int create_graph, void** result) {
  CXR_TRY(-1, {
    std::vector<at::Tensor> outs, gouts, ins;
    for (int k = 0; k < n_outputs; ++k) {
      outs.push_back(as_tensor(outputs[k]));
      gouts.push_back(grad_outputs && grad_outputs[k] ? as_tensor(grad_outputs[k]) : at::Tensor());
    }
    for (int k = 0; k < n_inputs; ++k) ins.push_back(as_tensor(inputs[k]));
    auto grads = torch::autograd::grad(outs, ins, gouts, retain_graph ? c10::optional<bool>(true) : c10::nullopt,
                                       create_graph != 0, /*allow_unused=*/true);
    for (int k = 0; k < n_inputs; ++k)
      result[k] = grads[static_cast<size_t>(k)].defined() ? cxr::new_handle(std::move(grads[static_cast<size_t>(k)])) : nullptr;
    return 0;
  })
}

// Grad mode is thread-local in libtorch; returns the previous state so callers restore it.
CXR_API int cxr_grad_set_enabled(int enabled) {
  CXR_TRY(-1, {
    bool before = c10::GradMode::is_enabled();
    c10::GradMode::set_enabled(enabled != 0);
    return before ? 1 : 0;
  })
}

CXR_API int cxr_grad_is_enabled() { return c10::GradMode::is_enabled() ? 1 : 0; }

// Inference mode as an RAII guard object; must be freed on the same thread, innermost first.
CXR_API void* cxr_inference_mode_enter(int enabled) { CXR_TRY(nullptr, { return new c10::InferenceMode(enabled != 0); }) }
CXR_API void cxr_inference_mode_exit(void* guard) { delete static_cast<c10::InferenceMode*>(guard); }
CXR_API int cxr_inference_mode_is_enabled() { return c10::InferenceMode::is_enabled() ? 1 : 0; }

CXR_API int cxr_manual_seed(uint64_t seed) {
  CXR_TRY(-1, {
    torch::manual_seed(seed);
    return 0;
  })
}

CXR_API int cxr_cuda_is_available() { CXR_TRY(-1, { return torch::cuda::is_available() ? 1 : 0; }) }

// Direct (unboxed) entry points for the hottest elementwise ops, skipping the boxed stack; the
// dispatcher (and autograd) still runs. op: 0 add, 1 sub, 2 mul, 3 div.
CXR_API void* cxr_tensor_binary(int op, void* a, void* b) {
  CXR_TRY(nullptr, {
    auto& x = as_tensor(a);
    auto& y = as_tensor(b);
    switch (op) {
      case 0: return cxr::new_handle(at::add(x, y));
      case 1: return cxr::new_handle(at::sub(x, y));
      case 2: return cxr::new_handle(at::mul(x, y));
      case 3: return cxr::new_handle(at::div(x, y));
      default: throw std::invalid_argument("unknown binary op code " + std::to_string(op));
    }
  })
}

// Same with a scalar right operand; `integral` passes it as an integer Scalar (keeps int tensors int).
CXR_API void* cxr_tensor_binary_scalar(int op, void* a, double s, int integral) {
  CXR_TRY(nullptr, {
    auto& x = as_tensor(a);
    c10::Scalar v = integral ? c10::Scalar(static_cast<int64_t>(s)) : c10::Scalar(s);
    switch (op) {
      case 0: return cxr::new_handle(at::add(x, v));
      case 1: return cxr::new_handle(at::sub(x, v));
      case 2: return cxr::new_handle(at::mul(x, v));
      case 3: return cxr::new_handle(at::div(x, v));
      default: throw std::invalid_argument("unknown binary op code " + std::to_string(op));
    }
  })
}
