// Automatic mixed precision: libtorch's autocast switches (ATen/autocast_mode.h) and the two kernels
// torch.cuda.amp.GradScaler is built on. Autocast state is thread-local, as in PyTorch: the managed
// scope (torch.autocast) saves the previous state, sets it, and restores it on dispose.
#include "cxr_native.h"

#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include <vector>

namespace {
at::Tensor& as_tensor(void* handle) {
  if (!handle) throw std::invalid_argument("null tensor handle");
  return *static_cast<at::Tensor*>(handle);
}

// c10::DeviceType codes the managed side sends (DeviceType enum): 0 = CPU, 1 = CUDA.
bool is_cuda(int device_type) {
  if (device_type == 0) return false;
  if (device_type == 1) return true;
  throw std::invalid_argument("autocast: device type must be cpu (0) or cuda (1), got " + std::to_string(device_type));
}
}  // namespace

// 1/0 whether autocast is on for the device type on this thread (torch.is_autocast_enabled /
// torch.is_autocast_cpu_enabled).
CXR_API int cxr_autocast_is_enabled(int device_type) {
  CXR_TRY(-1, { return (is_cuda(device_type) ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled()) ? 1 : 0; })
}

CXR_API int cxr_autocast_set_enabled(int device_type, int enabled) {
  CXR_TRY(-1, {
    if (is_cuda(device_type))
      at::autocast::set_enabled(enabled != 0);
    else
      at::autocast::set_cpu_enabled(enabled != 0);
    return 0;
  })
}

// The lower-precision dtype autocast casts to (c10::ScalarType code).
CXR_API int cxr_autocast_get_dtype(int device_type) {
  CXR_TRY(-1, {
    return static_cast<int>(is_cuda(device_type) ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype());
  })
}

CXR_API int cxr_autocast_set_dtype(int device_type, int dtype) {
  CXR_TRY(-1, {
    auto t = static_cast<at::ScalarType>(dtype);
    if (is_cuda(device_type))
      at::autocast::set_autocast_gpu_dtype(t);
    else
      at::autocast::set_autocast_cpu_dtype(t);
    return 0;
  })
}

CXR_API int cxr_autocast_is_cache_enabled() { CXR_TRY(-1, { return at::autocast::is_autocast_cache_enabled() ? 1 : 0; }) }

CXR_API int cxr_autocast_set_cache_enabled(int enabled) {
  CXR_TRY(-1, {
    at::autocast::set_autocast_cache_enabled(enabled != 0);
    return 0;
  })
}

// Nesting depth after the change; the outermost exit (depth 0) clears the cast-weight cache.
CXR_API int cxr_autocast_increment_nesting() { CXR_TRY(-1, { return at::autocast::increment_nesting(); }) }
CXR_API int cxr_autocast_decrement_nesting() { CXR_TRY(-1, { return at::autocast::decrement_nesting(); }) }

CXR_API int cxr_autocast_clear_cache() {
  CXR_TRY(-1, {
    at::autocast::clear_cache();
    return 0;
  })
}
