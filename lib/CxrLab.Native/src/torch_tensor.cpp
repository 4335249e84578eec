// Tensor lifecycle across the C ABI. A handle is a heap-allocated at::Tensor (one reference to
// the storage); the managed Tensor owns exactly one handle and frees it with cxr_tensor_free.
#include "cxr_native.h"

#include <torch/torch.h>

#include <cmath>
#include <cstring>

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
    return new at::Tensor(std::move(t));
  })
}

CXR_API void cxr_tensor_free(void* handle) { delete static_cast<at::Tensor*>(handle); }

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

// a + alpha * b with broadcasting; libtorch's own error when shapes do not broadcast.
CXR_API void* cxr_tensor_add(void* a, void* b, double alpha) {
  CXR_TRY(nullptr, {
    auto& x = as_tensor(a);
    auto& y = as_tensor(b);
    // Integer tensors only accept an integral alpha; a whole-number double is passed as one.
    bool integral = !at::isFloatingType(x.scalar_type()) && !at::isFloatingType(y.scalar_type());
    c10::Scalar s = integral && alpha == std::trunc(alpha) ? c10::Scalar(static_cast<int64_t>(alpha)) : c10::Scalar(alpha);
    return new at::Tensor(at::add(x, y, s));
  })
}
