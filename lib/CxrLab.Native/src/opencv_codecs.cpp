// Image codecs (PNG, JPEG, ...) and drawing through OpenCV. Decoded images and encoded byte
// buffers are returned as opaque handles that the managed side copies out and frees.
// Colour buffers on the managed side are RGB(A); OpenCV's codecs use BGR(A), so we swap here.
#include "cxr_native.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <cstring>
#include <vector>

namespace {
cv::Mat wrap(void* data, int rows, int cols, int depth, int channels) {
  if (!data) throw std::invalid_argument("null image buffer");
  if (rows <= 0 || cols <= 0) throw std::invalid_argument("image size must be positive");
  return cv::Mat(rows, cols, CV_MAKETYPE(depth, channels), data);
}
cv::Mat& as_mat(void* h) {
  if (!h) throw std::invalid_argument("null image handle");
  return *static_cast<cv::Mat*>(h);
}
std::vector<uchar>& as_buffer(void* h) {
  if (!h) throw std::invalid_argument("null buffer handle");
  return *static_cast<std::vector<uchar>*>(h);
}
cv::Scalar color_of(const double* c) { return c ? cv::Scalar(c[0], c[1], c[2], c[3]) : cv::Scalar::all(255); }
}  // namespace

// Decodes an encoded image (flags as cv::ImreadModes; -1 = unchanged, keeps 16-bit depth).
CXR_API void* cxr_cv_imdecode(const uint8_t* bytes, int64_t length, int flags) {
  CXR_TRY(nullptr, {
    if (!bytes || length <= 0) throw std::invalid_argument("empty image data");
    cv::Mat encoded(1, static_cast<int>(length), CV_8UC1, const_cast<uint8_t*>(bytes));
    cv::Mat decoded = cv::imdecode(encoded, flags);
    if (decoded.empty()) throw std::runtime_error("not an image OpenCV can decode (corrupt or unsupported format)");
    if (decoded.channels() == 3) cv::cvtColor(decoded, decoded, cv::COLOR_BGR2RGB);
    if (decoded.channels() == 4) cv::cvtColor(decoded, decoded, cv::COLOR_BGRA2RGBA);
    return new cv::Mat(std::move(decoded));
  })
}

CXR_API int cxr_cv_mat_info(void* mat, int* rows, int* cols, int* depth, int* channels) {
  CXR_TRY(-1, {
    auto& m = as_mat(mat);
    *rows = m.rows;
    *cols = m.cols;
    *depth = m.depth();
    *channels = m.channels();
    return 0;
  })
}

CXR_API int cxr_cv_mat_copy_to(void* mat, void* dst, int64_t nbytes) {
  CXR_TRY(-1, {
    auto& m = as_mat(mat);
    cv::Mat c = m.isContinuous() ? m : m.clone();
    auto size = static_cast<int64_t>(c.total() * c.elemSize());
    if (size != nbytes) throw std::invalid_argument("destination size does not match the decoded image");
    std::memcpy(dst, c.data, static_cast<size_t>(size));
    return 0;
  })
}

CXR_API void cxr_cv_mat_free(void* mat) { delete static_cast<cv::Mat*>(mat); }

// Encodes an image; `ext` picks the codec (".png", ".jpg"); params are cv::ImwriteFlags pairs.
CXR_API void* cxr_cv_imencode(const char* ext, void* src, int rows, int cols, int depth, int channels,
                              const int* params, int nparams) {
  CXR_TRY(nullptr, {
    cv::Mat m = wrap(src, rows, cols, depth, channels);
    if (channels == 3 || channels == 4) {
      cv::Mat bgr;  // a new Mat: converting into `m` would overwrite the caller's buffer
      cv::cvtColor(m, bgr, channels == 3 ? cv::COLOR_RGB2BGR : cv::COLOR_RGBA2BGRA);
      m = bgr;
    }
    std::vector<int> p(params, params + (params ? nparams : 0));
    auto buffer = std::make_unique<std::vector<uchar>>();
    if (!cv::imencode(ext, m, *buffer, p)) throw std::runtime_error(std::string("OpenCV could not encode as ") + ext);
    return buffer.release();
  })
}

CXR_API int64_t cxr_cv_buffer_size(void* buffer) {
  CXR_TRY(-1, { return static_cast<int64_t>(as_buffer(buffer).size()); })
}

CXR_API int cxr_cv_buffer_copy_to(void* buffer, void* dst, int64_t nbytes) {
  CXR_TRY(-1, {
    auto& b = as_buffer(buffer);
    if (static_cast<int64_t>(b.size()) != nbytes) throw std::invalid_argument("destination size does not match the buffer");
    if (nbytes > 0) std::memcpy(dst, b.data(), b.size());
    return 0;
  })
}

CXR_API void cxr_cv_buffer_free(void* buffer) { delete static_cast<std::vector<uchar>*>(buffer); }

// Draws a rectangle outline (thickness > 0) or a filled one (thickness < 0) in place.
CXR_API int cxr_cv_rectangle(void* img, int rows, int cols, int depth, int channels, int x1, int y1, int x2, int y2,
                             const double* color, int thickness) {
  CXR_TRY(-1, {
    cv::Mat m = wrap(img, rows, cols, depth, channels);
    cv::rectangle(m, cv::Point(x1, y1), cv::Point(x2, y2), color_of(color), thickness, cv::LINE_AA);
    return 0;
  })
}

// Draws text with its baseline-left corner at (x, y), Hershey simplex font, in place.
CXR_API int cxr_cv_put_text(void* img, int rows, int cols, int depth, int channels, const char* text, int x, int y,
                            double scale, const double* color, int thickness) {
  CXR_TRY(-1, {
    cv::Mat m = wrap(img, rows, cols, depth, channels);
    cv::putText(m, text ? text : "", cv::Point(x, y), cv::FONT_HERSHEY_SIMPLEX, scale, color_of(color), thickness,
                cv::LINE_AA);
    return 0;
  })
}

// Size in pixels of text drawn by cxr_cv_put_text; baseline = pixels below the text origin.
CXR_API int cxr_cv_text_size(const char* text, double scale, int thickness, int* width, int* height, int* baseline) {
  CXR_TRY(-1, {
    auto size = cv::getTextSize(text ? text : "", cv::FONT_HERSHEY_SIMPLEX, scale, thickness, baseline);
    *width = size.width;
    *height = size.height;
    return 0;
  })
}
