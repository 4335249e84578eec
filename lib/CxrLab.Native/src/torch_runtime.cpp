// Process-wide libtorch facts and settings: version, build configuration, threads, CUDA, GEMM rate.
#include "cxr_native.h"

#include <torch/torch.h>
#include <torch/version.h>

#include <chrono>
#include <cstring>

namespace {
// Copies s into a caller buffer; returns the full length so the caller can retry larger.
int64_t copy_string(const std::string& s, char* buffer, int64_t capacity) {
  if (buffer && capacity > 0) {
    auto n = std::min<int64_t>(capacity - 1, static_cast<int64_t>(s.size()));
    std::memcpy(buffer, s.data(), static_cast<size_t>(n));
    buffer[n] = '\0';
  }
  return static_cast<int64_t>(s.size());
}
}  // namespace

CXR_API const char* cxr_torch_version() { return TORCH_VERSION; }

// at::show_config(): compiler, BLAS, oneDNN (MKLDNN), CUDA flags of this libtorch build.
CXR_API int64_t cxr_torch_config(char* buffer, int64_t capacity) {
  CXR_TRY(-1, { return copy_string(at::show_config(), buffer, capacity); })
}

CXR_API int cxr_torch_set_num_threads(int n) {
  CXR_TRY(-1, {
    if (n < 1) throw std::invalid_argument("thread count must be at least 1, got " + std::to_string(n));
    at::set_num_threads(n);
    return 0;
  })
}

CXR_API int cxr_torch_get_num_threads() { CXR_TRY(-1, { return at::get_num_threads(); }) }

CXR_API int cxr_torch_cuda_device_count() {
  CXR_TRY(-1, { return static_cast<int>(torch::cuda::device_count()); })
}

CXR_API int cxr_torch_has_mkldnn() { return at::hasMKLDNN() ? 1 : 0; }

// Measures single-precision GEMM throughput (GFLOP/s) with n×n matrices, best of `reps`.
CXR_API double cxr_torch_gemm_gflops(int64_t n, int reps) {
  CXR_TRY(-1.0, {
    torch::NoGradGuard no_grad;
    auto a = torch::rand({n, n});
    auto b = torch::rand({n, n});
    auto c = torch::mm(a, b);  // warm-up: thread pool and BLAS initialisation
    double best = 1e30;
    for (int i = 0; i < std::max(1, reps); ++i) {
      auto t0 = std::chrono::steady_clock::now();
      torch::mm_out(c, a, b);
      auto t1 = std::chrono::steady_clock::now();
      best = std::min(best, std::chrono::duration<double>(t1 - t0).count());
    }
    return 2.0 * static_cast<double>(n) * n * n / best / 1e9;
  })
}
