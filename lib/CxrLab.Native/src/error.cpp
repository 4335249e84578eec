// Thread-local error slot shared by every export (see cxr_native.h).
#include "cxr_native.h"

#include <c10/util/Exception.h>
#include <opencv2/core.hpp>

namespace {
thread_local std::string last_error;
thread_local std::string last_component;
}  // namespace

namespace cxr {
void set_error(const char* component, const char* message) noexcept {
  try {
    last_component = component ? component : "";
    last_error = message ? message : "";
  } catch (...) {
    // Out of memory while storing the message: leave whatever was there.
  }
}

void clear_error() noexcept {
  last_error.clear();
  last_component.clear();
}

void set_error_from_current_exception() noexcept {
  try {
    throw;
  } catch (const c10::Error& e) {
    // libtorch's own message without the C++ backtrace, which means nothing to a C# user.
    set_error("libtorch", e.what_without_backtrace());
  } catch (const cv::Exception& e) {
    set_error("opencv", e.what());
  } catch (const std::bad_alloc&) {
    set_error("native", "out of memory");
  } catch (const std::exception& e) {
    set_error("native", e.what());
  } catch (...) {
    set_error("native", "unknown native exception");
  }
}
}  // namespace cxr

// Message of the last failed call on this thread ("" when it succeeded).
CXR_API const char* cxr_last_error() { return last_error.c_str(); }
// Which library raised it: "libtorch", "opencv" or "native".
CXR_API const char* cxr_last_error_component() { return last_component.c_str(); }
