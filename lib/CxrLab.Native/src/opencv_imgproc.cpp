// OpenCV image operations over caller-owned buffers (no copies beyond what OpenCV does).
#include "cxr_native.h"

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

namespace {
// `depth` is an OpenCV depth code (CV_8U=0, CV_16U=2, CV_32F=5, ...).
cv::Mat wrap(void* data, int rows, int cols, int depth, int channels) {
  if (!data) throw std::invalid_argument("null image buffer");
  if (rows <= 0 || cols <= 0) throw std::invalid_argument("image size must be positive");
  return cv::Mat(rows, cols, CV_MAKETYPE(depth, channels), data);
}
}  // namespace

CXR_API const char* cxr_cv_version() { return CV_VERSION; }

// Resizes src (rows×cols×channels of `depth`) into dst (dst_rows×dst_cols, same type).
CXR_API int cxr_cv_resize(void* src, int rows, int cols, int depth, int channels, void* dst, int dst_rows,
                          int dst_cols, int interpolation) {
  CXR_TRY(-1, {
    cv::Mat s = wrap(src, rows, cols, depth, channels);
    cv::Mat d = wrap(dst, dst_rows, dst_cols, depth, channels);
    cv::resize(s, d, d.size(), 0, 0, interpolation);
    if (d.data != dst) throw std::logic_error("cv::resize reallocated the destination");
    return 0;
  })
}
