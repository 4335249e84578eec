// Checks shared by the DICOM pixel codecs (dicom_codecs.cpp, dicom_jpeg_lossless.cpp).
#pragma once
#include <cstdint>
#include <stdexcept>

namespace cxr::dicom {
// The caller's buffer must hold exactly rows x cols samples of bytes_per_sample bytes: every later write is bounded by it.
inline void check_output(int rows, int cols, int bytes_per_sample, int64_t out_bytes, const void* out) {
  if (rows <= 0 || cols <= 0) throw std::invalid_argument("image size must be positive");
  if (bytes_per_sample != 1 && bytes_per_sample != 2 && bytes_per_sample != 4)
    throw std::invalid_argument("bytes per sample must be 1, 2 or 4");
  if (!out || out_bytes != static_cast<int64_t>(rows) * cols * bytes_per_sample)
    throw std::invalid_argument("output buffer size does not match rows x cols x bytes per sample");
}
}  // namespace cxr::dicom
