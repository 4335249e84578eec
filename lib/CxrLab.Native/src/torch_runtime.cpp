// Process-wide libtorch facts and settings: version, build configuration, threads, CUDA, GEMM rate.
#include "cxr_native.h"

#include <torch/torch.h>
#include <torch/version.h>

#include <malloc.h>

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

// Native heap policy for tensor memory (glibc malloc). glibc returns the free top of the heap to the
// OS and serves blocks above its mmap threshold with fresh mappings, so a training loop that frees
// all its activations at the end of each step faults every page back in on the next step (about
// 1.8 GB of page faults per ResNet-50 step at 2x3x512x512). Python hides this by accident: its own
// small objects pin the heap top. "retain" keeps freed memory in the heap for reuse (no mmap, no
// trimming), as PyTorch's caching allocators do on GPUs; "os" restores glibc's defaults.
CXR_API int cxr_native_set_heap_policy(int retain) {
  CXR_TRY(-1, {
#if defined(__GLIBC__)
    if (retain) {
      if (mallopt(M_MMAP_MAX, 0) != 1 || mallopt(M_TRIM_THRESHOLD, -1) != 1)
        throw std::runtime_error("mallopt refused the retain heap policy");
    } else {
      if (mallopt(M_MMAP_MAX, 65536) != 1 || mallopt(M_TRIM_THRESHOLD, 128 * 1024) != 1 ||
          mallopt(M_MMAP_THRESHOLD, 128 * 1024) != 1)
        throw std::runtime_error("mallopt refused the default heap policy");
    }
    return 1;
#else
    (void)retain;
    return 0;  // not glibc: the platform allocator's own policy applies
#endif
  })
}

// glibc's own accounting: bytes handed out from the heap and not freed, and bytes in separately mapped blocks.
CXR_API int cxr_native_heap_stats(int64_t* in_use, int64_t* mapped, int64_t* free_bytes) {
  CXR_TRY(-1, {
#if defined(__GLIBC__)
    auto m = mallinfo2();
    *in_use = static_cast<int64_t>(m.uordblks);
    *mapped = static_cast<int64_t>(m.hblkhd);
    *free_bytes = static_cast<int64_t>(m.fordblks);
    return 1;
#else
    *in_use = *mapped = *free_bytes = -1;
    return 0;
#endif
  })
}

// Returns free heap memory to the operating system (glibc malloc_trim); 1 if any was released.
CXR_API int cxr_native_release_free_memory() {
  CXR_TRY(-1, {
#if defined(__GLIBC__)
    return malloc_trim(0);
#else
    return 0;
#endif
  })
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
