// OpenCV operations the augmentation library (CxrLab.Augment) needs, over caller-owned buffers:
// warps (affine, perspective, remap), flips/rotations, CLAHE, histogram equalisation, blur,
// 2-D filtering, intensity maps (convertTo, pow, clamp), seeded Gaussian noise, blending and ROI copies.
// Every destination is wrapped, never reallocated: a size mismatch is an error, not a silent copy.
#include "cxr_native.h"

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <stdexcept>
#include <string>

namespace {
cv::Mat wrap(const void* data, int rows, int cols, int depth, int channels, const char* what) {
  if (!data) throw std::invalid_argument(std::string("null ") + what + " buffer");
  if (rows <= 0 || cols <= 0 || channels <= 0)
    throw std::invalid_argument(std::string(what) + " size " + std::to_string(rows) + "x" + std::to_string(cols) + "x" +
                                std::to_string(channels) + " must be positive");
  return cv::Mat(rows, cols, CV_MAKETYPE(depth, channels), const_cast<void*>(data));
}

void check_same_buffer(const cv::Mat& m, const void* expected, const char* op) {
  if (m.data != expected) throw std::logic_error(std::string(op) + " reallocated the destination (size or type mismatch)");
}

cv::Scalar border_scalar(double value) { return cv::Scalar::all(value); }
}  // namespace

// dst = src warped by the 2x3 matrix m (row-major, dst <- src direction, OpenCV pixel-centre coordinates).
CXR_API int cxr_cv_warp_affine(const void* src, int rows, int cols, int depth, int channels, void* dst, int dst_rows,
                               int dst_cols, const double* m, int interpolation, int border_mode, double border_value) {
  CXR_TRY(-1, {
    if (!m) throw std::invalid_argument("null matrix");
    cv::Mat s = wrap(src, rows, cols, depth, channels, "source");
    cv::Mat d = wrap(dst, dst_rows, dst_cols, depth, channels, "destination");
    cv::Mat mat(2, 3, CV_64F, const_cast<double*>(m));
    cv::warpAffine(s, d, mat, d.size(), interpolation, border_mode, border_scalar(border_value));
    check_same_buffer(d, dst, "cv::warpAffine");
    return 0;
  })
}

// dst = src warped by the 3x3 homography m (row-major, dst <- src direction, pixel-centre coordinates).
CXR_API int cxr_cv_warp_perspective(const void* src, int rows, int cols, int depth, int channels, void* dst,
                                    int dst_rows, int dst_cols, const double* m, int interpolation, int border_mode,
                                    double border_value) {
  CXR_TRY(-1, {
    if (!m) throw std::invalid_argument("null matrix");
    cv::Mat s = wrap(src, rows, cols, depth, channels, "source");
    cv::Mat d = wrap(dst, dst_rows, dst_cols, depth, channels, "destination");
    cv::Mat mat(3, 3, CV_64F, const_cast<double*>(m));
    cv::warpPerspective(s, d, mat, d.size(), interpolation, border_mode, border_scalar(border_value));
    check_same_buffer(d, dst, "cv::warpPerspective");
    return 0;
  })
}

// dst(y, x) = src(map_y(y, x), map_x(y, x)); maps are float32 dst_rows x dst_cols.
CXR_API int cxr_cv_remap(const void* src, int rows, int cols, int depth, int channels, void* dst, int dst_rows,
                         int dst_cols, const float* map_x, const float* map_y, int interpolation, int border_mode,
                         double border_value) {
  CXR_TRY(-1, {
    cv::Mat s = wrap(src, rows, cols, depth, channels, "source");
    cv::Mat d = wrap(dst, dst_rows, dst_cols, depth, channels, "destination");
    cv::Mat mx = wrap(map_x, dst_rows, dst_cols, CV_32F, 1, "map_x");
    cv::Mat my = wrap(map_y, dst_rows, dst_cols, CV_32F, 1, "map_y");
    cv::remap(s, d, mx, my, interpolation, border_mode, border_scalar(border_value));
    check_same_buffer(d, dst, "cv::remap");
    return 0;
  })
}

// cv::flip: code 0 = vertical (around the x axis), 1 = horizontal, -1 = both.
CXR_API int cxr_cv_flip(const void* src, int rows, int cols, int depth, int channels, void* dst, int code) {
  CXR_TRY(-1, {
    cv::Mat s = wrap(src, rows, cols, depth, channels, "source");
    cv::Mat d = wrap(dst, rows, cols, depth, channels, "destination");
    if (src == dst) throw std::invalid_argument("cv::flip needs distinct buffers");
    cv::flip(s, d, code);
    check_same_buffer(d, dst, "cv::flip");
    return 0;
  })
}

// cv::rotate: code 0 = 90° clockwise, 1 = 180°, 2 = 90° counter-clockwise. dst is cols x rows for 0 and 2.
CXR_API int cxr_cv_rotate(const void* src, int rows, int cols, int depth, int channels, void* dst, int code) {
  CXR_TRY(-1, {
    if (code < 0 || code > 2) throw std::invalid_argument("rotate code must be 0, 1 or 2");
    if (src == dst) throw std::invalid_argument("cv::rotate needs distinct buffers");
    cv::Mat s = wrap(src, rows, cols, depth, channels, "source");
    bool swap = code != 1;
    cv::Mat d = wrap(dst, swap ? cols : rows, swap ? rows : cols, depth, channels, "destination");
    cv::rotate(s, d, code);
    check_same_buffer(d, dst, "cv::rotate");
    return 0;
  })
}

// Contrast-limited adaptive histogram equalisation on one channel of 8- or 16-bit pixels.
CXR_API int cxr_cv_clahe(const void* src, int rows, int cols, int depth, void* dst, double clip_limit, int tiles_x,
                         int tiles_y) {
  CXR_TRY(-1, {
    if (depth != CV_8U && depth != CV_16U) throw std::invalid_argument("CLAHE needs 8- or 16-bit pixels");
    if (tiles_x <= 0 || tiles_y <= 0) throw std::invalid_argument("CLAHE tile grid must be positive");
    cv::Mat s = wrap(src, rows, cols, depth, 1, "source");
    cv::Mat d = wrap(dst, rows, cols, depth, 1, "destination");
    auto clahe = cv::createCLAHE(clip_limit, cv::Size(tiles_x, tiles_y));
    clahe->apply(s, d);
    check_same_buffer(d, dst, "CLAHE");
    return 0;
  })
}

// Global histogram equalisation of one 8-bit channel.
CXR_API int cxr_cv_equalize_hist(const void* src, int rows, int cols, void* dst) {
  CXR_TRY(-1, {
    cv::Mat s = wrap(src, rows, cols, CV_8U, 1, "source");
    cv::Mat d = wrap(dst, rows, cols, CV_8U, 1, "destination");
    cv::equalizeHist(s, d);
    check_same_buffer(d, dst, "cv::equalizeHist");
    return 0;
  })
}

// Gaussian blur; ksize 0 lets OpenCV derive the kernel size from sigma. src may equal dst.
CXR_API int cxr_cv_gaussian_blur(const void* src, int rows, int cols, int depth, int channels, void* dst, int ksize_x,
                                 int ksize_y, double sigma_x, double sigma_y, int border_mode) {
  CXR_TRY(-1, {
    cv::Mat s = wrap(src, rows, cols, depth, channels, "source");
    cv::Mat d = wrap(dst, rows, cols, depth, channels, "destination");
    cv::GaussianBlur(s, d, cv::Size(ksize_x, ksize_y), sigma_x, sigma_y, border_mode);
    check_same_buffer(d, dst, "cv::GaussianBlur");
    return 0;
  })
}

// Correlation with a float32 kernel (k_rows x k_cols), anchor at the centre, plus delta.
CXR_API int cxr_cv_filter2d(const void* src, int rows, int cols, int depth, int channels, void* dst,
                            const float* kernel, int k_rows, int k_cols, double delta, int border_mode) {
  CXR_TRY(-1, {
    cv::Mat s = wrap(src, rows, cols, depth, channels, "source");
    cv::Mat d = wrap(dst, rows, cols, depth, channels, "destination");
    cv::Mat k = wrap(kernel, k_rows, k_cols, CV_32F, 1, "kernel");
    cv::filter2D(s, d, depth, k, cv::Point(-1, -1), delta, border_mode);
    check_same_buffer(d, dst, "cv::filter2D");
    return 0;
  })
}

// dst = saturate(src * alpha + beta) converted from src_depth to dst_depth (cv::Mat::convertTo).
CXR_API int cxr_cv_convert(const void* src, int rows, int cols, int src_depth, int channels, void* dst, int dst_depth,
                           double alpha, double beta) {
  CXR_TRY(-1, {
    cv::Mat s = wrap(src, rows, cols, src_depth, channels, "source");
    cv::Mat d = wrap(dst, rows, cols, dst_depth, channels, "destination");
    s.convertTo(d, dst_depth, alpha, beta);
    check_same_buffer(d, dst, "convertTo");
    return 0;
  })
}

// In place on float32: x = clamp(x, lo, hi) ^ power (power applied only when != 1). Negative
// inputs are clamped first so cv::pow never sees them.
CXR_API int cxr_cv_clamp_pow(float* data, int rows, int cols, int channels, double lo, double hi, double power) {
  CXR_TRY(-1, {
    cv::Mat m = wrap(data, rows, cols, CV_32F, channels, "image");
    cv::max(m, lo, m);
    cv::min(m, hi, m);
    if (power != 1.0) cv::pow(m, power, m);
    check_same_buffer(m, data, "clamp/pow");
    return 0;
  })
}

// In place on float32: x += N(mean, stddev) from cv::RNG seeded with `seed` (deterministic, no global state).
CXR_API int cxr_cv_add_gaussian_noise(float* data, int rows, int cols, int channels, uint64_t seed, double mean,
                                      double stddev) {
  CXR_TRY(-1, {
    cv::Mat m = wrap(data, rows, cols, CV_32F, channels, "image");
    cv::Mat noise(rows, cols, CV_32FC(channels));
    cv::RNG rng(seed == 0 ? 1 : seed);
    rng.fill(noise, cv::RNG::NORMAL, cv::Scalar::all(mean), cv::Scalar::all(stddev));
    cv::add(m, noise, m);
    check_same_buffer(m, data, "add noise");
    return 0;
  })
}

// dst = a * alpha + b * beta + gamma (cv::addWeighted); dst may alias a or b.
CXR_API int cxr_cv_add_weighted(const void* a, const void* b, int rows, int cols, int depth, int channels, void* dst,
                                double alpha, double beta, double gamma) {
  CXR_TRY(-1, {
    cv::Mat ma = wrap(a, rows, cols, depth, channels, "first");
    cv::Mat mb = wrap(b, rows, cols, depth, channels, "second");
    cv::Mat d = wrap(dst, rows, cols, depth, channels, "destination");
    cv::addWeighted(ma, alpha, mb, beta, gamma, d, depth);
    check_same_buffer(d, dst, "cv::addWeighted");
    return 0;
  })
}

// Copies the w x h rectangle at (sx, sy) of src into dst at (dx, dy); rectangles must lie inside both images.
CXR_API int cxr_cv_copy_rect(const void* src, int rows, int cols, int depth, int channels, int sx, int sy, int w, int h,
                             void* dst, int dst_rows, int dst_cols, int dx, int dy) {
  CXR_TRY(-1, {
    cv::Mat s = wrap(src, rows, cols, depth, channels, "source");
    cv::Mat d = wrap(dst, dst_rows, dst_cols, depth, channels, "destination");
    if (w <= 0 || h <= 0) return 0;
    cv::Rect sr(sx, sy, w, h), dr(dx, dy, w, h);
    if ((sr & cv::Rect(0, 0, cols, rows)) != sr) throw std::out_of_range("source rectangle outside the source image");
    if ((dr & cv::Rect(0, 0, dst_cols, dst_rows)) != dr)
      throw std::out_of_range("destination rectangle outside the destination image");
    s(sr).copyTo(d(dr));
    return 0;
  })
}

// cv::cvtColor with a cv::ColorConversionCodes code (e.g. 8 = GRAY2RGB); channel counts are given explicitly.
CXR_API int cxr_cv_cvt_color(const void* src, int rows, int cols, int depth, int channels, void* dst, int dst_channels,
                             int code) {
  CXR_TRY(-1, {
    cv::Mat s = wrap(src, rows, cols, depth, channels, "source");
    cv::Mat d = wrap(dst, rows, cols, depth, dst_channels, "destination");
    cv::cvtColor(s, d, code, dst_channels);
    check_same_buffer(d, dst, "cv::cvtColor");
    return 0;
  })
}
