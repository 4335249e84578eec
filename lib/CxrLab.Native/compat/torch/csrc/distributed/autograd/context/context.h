// Stand-in for a header Debian's libtorch-dev 1.13 does not ship: c10d/reducer.hpp includes the RPC
// framework's distributed-autograd context only to name two types in the Reducer's declaration
// (a shared_ptr member and a callback typedef). Neither is used by data-parallel training; a
// shared_ptr's and an atomic pointer's layout do not depend on the pointee, so the Reducer object
// laid out with these declarations matches the one compiled into libtorch. CMakeLists.txt adds this
// directory to the include path only when the real header is missing.
#pragma once
#include <ATen/core/Tensor.h>

#include <functional>
#include <memory>

namespace torch {
namespace distributed {
namespace autograd {
class DistAutogradContext {
 public:
  using GradCallback = std::function<bool(at::Tensor&)>;
};
using ContextPtr = std::shared_ptr<DistAutogradContext>;
}  // namespace autograd
}  // namespace distributed
}  // namespace torch
