// CXR Lab native shim: the conventions every exported function follows.
//
// * Exports are plain C (CXR_API), nothing C++ crosses the boundary.
// * Every body is wrapped in CXR_TRY: any C++ exception is caught, its message stored in a
//   thread-local slot (cxr_last_error), and the function returns its error value — -1 for
//   status-returning functions, nullptr for handle-returning ones. The managed side checks
//   every call and throws a typed exception carrying that message.
#pragma once
#include <cstdint>
#include <exception>
#include <string>

#define CXR_API extern "C" __attribute__((visibility("default")))

namespace cxr {
// Stores the message of the exception being handled; never throws.
void set_error(const char* component, const char* message) noexcept;
void clear_error() noexcept;
void set_error_from_current_exception() noexcept;
}  // namespace cxr

// Wraps a function body. `fail` is returned when anything is thrown.
#define CXR_TRY(fail, ...)                        \
  try {                                           \
    cxr::clear_error();                           \
    __VA_ARGS__                                   \
  } catch (...) {                                 \
    cxr::set_error_from_current_exception();      \
    return fail;                                  \
  }
