// One boxed entry into the ATen dispatcher: any registered operator (aten::, torchvision::, ...)
// is called by name + overload with a tagged argument array built on the C# side. The call goes
// through the dispatcher's full key set, so autograd, inference mode and device selection behave
// exactly as for a C++ or Python caller. Every schema argument must be passed (no defaults).
#include "cxr_native.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/stack.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <cstring>
#include <sstream>
#include <vector>

namespace cxr {
void* new_handle(at::Tensor&& t);  // torch_tensor.cpp: counts live handles
}

namespace {

// Argument/return tags; mirror CxrLab.Interop.ArgKind.
enum Kind : int32_t {
  kNone = 0,
  kTensor = 1,
  kInt = 2,
  kDouble = 3,
  kBool = 4,
  kIntList = 5,
  kDoubleList = 6,
  kTensorList = 7,
  kOptTensorList = 8,
  kScalarType = 9,
  kDevice = 10,
  kString = 11,
  kMemoryFormat = 12,
  kLayout = 13,
  kBoolList = 14,
  kOther = 99,  // a return the C# side cannot represent
};

struct CxrArg {
  int32_t kind;
  int32_t flags;
  int64_t i;
  double d;
  const void* p;
  int64_t n;
};
static_assert(sizeof(CxrArg) == 40, "CxrArg layout is shared with C#");

const at::Tensor& tensor_at(const void* handle) {
  if (!handle) throw std::invalid_argument("null tensor handle");
  return *static_cast<const at::Tensor*>(handle);
}

c10::IValue to_ivalue(const CxrArg& a) {
  switch (a.kind) {
    case kNone: return c10::IValue();
    case kTensor: return c10::IValue(tensor_at(a.p));
    case kInt: return c10::IValue(a.i);
    case kDouble: return c10::IValue(a.d);
    case kBool: return c10::IValue(a.i != 0);
    case kIntList: {
      auto p = static_cast<const int64_t*>(a.p);
      return c10::IValue(std::vector<int64_t>(p, p + a.n));
    }
    case kDoubleList: {
      auto p = static_cast<const double*>(a.p);
      return c10::IValue(std::vector<double>(p, p + a.n));
    }
    case kBoolList: {
      auto p = static_cast<const uint8_t*>(a.p);
      c10::List<bool> list;
      for (int64_t k = 0; k < a.n; ++k) list.push_back(p[k] != 0);
      return c10::IValue(list);
    }
    case kTensorList: {
      auto p = static_cast<void* const*>(a.p);
      std::vector<at::Tensor> list;
      list.reserve(static_cast<size_t>(a.n));
      for (int64_t k = 0; k < a.n; ++k) list.push_back(tensor_at(p[k]));
      return c10::IValue(list);
    }
    case kOptTensorList: {
      auto p = static_cast<void* const*>(a.p);
      c10::List<c10::optional<at::Tensor>> list;
      for (int64_t k = 0; k < a.n; ++k)
        list.push_back(p[k] ? c10::optional<at::Tensor>(tensor_at(p[k])) : c10::nullopt);
      return c10::IValue(list);
    }
    case kScalarType: return c10::IValue(a.i);
    case kMemoryFormat: return c10::IValue(a.i);
    case kLayout: return c10::IValue(a.i);
    case kDevice:
      return c10::IValue(c10::Device(static_cast<c10::DeviceType>(a.i), static_cast<c10::DeviceIndex>(a.n)));
    case kString: return c10::IValue(std::string(static_cast<const char*>(a.p)));
    default: throw std::invalid_argument("unknown argument kind " + std::to_string(a.kind));
  }
}

// Handles for list returns live here until the next call on this thread; the C# side copies them out.
thread_local std::vector<std::vector<void*>> list_returns;

void from_ivalue(c10::IValue&& v, CxrArg& out) {
  std::memset(&out, 0, sizeof(out));
  if (v.isNone()) {
    out.kind = kNone;
  } else if (v.isTensor()) {
    auto t = std::move(v).toTensor();
    if (t.defined()) {
      out.kind = kTensor;
      out.p = cxr::new_handle(std::move(t));
    } else {
      out.kind = kNone;
    }
  } else if (v.isInt()) {
    out.kind = kInt;
    out.i = v.toInt();
  } else if (v.isDouble()) {
    out.kind = kDouble;
    out.d = v.toDouble();
  } else if (v.isBool()) {
    out.kind = kBool;
    out.i = v.toBool() ? 1 : 0;
  } else if (v.isTensorList()) {
    auto list = v.toTensorVector();
    list_returns.emplace_back();
    auto& handles = list_returns.back();
    for (auto& t : list) handles.push_back(t.defined() ? cxr::new_handle(std::move(t)) : nullptr);
    out.kind = kTensorList;
    out.p = handles.data();
    out.n = static_cast<int64_t>(handles.size());
  } else if (v.isIntList()) {
    // Rare (e.g. aten::size.default is not boxed this way); keep as handles-free list in `list_returns`.
    throw std::invalid_argument("int list returns are not supported through the boxed call");
  } else {
    out.kind = kOther;
  }
}

std::string qualified(const c10::OperatorName& name) {
  return name.overload_name.empty() ? name.name : name.name + "." + name.overload_name;
}

}  // namespace

// Looks an operator up once; the C# side caches the returned handle per op. Unknown names throw.
CXR_API void* cxr_op_find(const char* name, const char* overload) {
  CXR_TRY(nullptr, {
    if (!name) throw std::invalid_argument("null operator name");
    std::string n(name), o(overload ? overload : "");
    auto handle = c10::Dispatcher::singleton().findSchema({n, o});
    if (!handle.has_value()) {
      auto message = "unknown operator '" + (o.empty() ? n : n + "." + o) +
                     "': no such operator or overload is registered in libtorch " TORCH_VERSION
                     " (check the name and overload against native_functions.yaml of that version)";
      cxr::set_error("libtorch", message.c_str());
      return nullptr;
    }
    return new c10::OperatorHandle(*handle);
  })
}

// The operator's schema text, e.g. "aten::add.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor".
CXR_API int64_t cxr_op_schema(void* op, char* buffer, int64_t capacity) {
  CXR_TRY(-1, {
    std::ostringstream s;
    s << static_cast<c10::OperatorHandle*>(op)->schema();
    auto text = s.str();
    if (buffer && capacity > 0) {
      auto n = std::min<int64_t>(capacity - 1, static_cast<int64_t>(text.size()));
      std::memcpy(buffer, text.data(), static_cast<size_t>(n));
      buffer[n] = '\0';
    }
    return static_cast<int64_t>(text.size());
  })
}

// Calls `op` with `nargs` arguments; writes up to `capacity` returns into `rets` and returns their count.
CXR_API int cxr_op_call(void* op, const CxrArg* args, int nargs, CxrArg* rets, int capacity) {
  CXR_TRY(-1, {
    auto& handle = *static_cast<c10::OperatorHandle*>(op);
    const auto& schema = handle.schema();
    if (static_cast<size_t>(nargs) != schema.arguments().size())
      throw std::invalid_argument("operator " + qualified(schema.operator_name()) + " takes " +
                                  std::to_string(schema.arguments().size()) + " arguments, " +
                                  std::to_string(nargs) + " were passed; schema: " + c10::toString(schema));
    list_returns.clear();
    torch::jit::Stack stack;
    stack.reserve(static_cast<size_t>(std::max<int>(nargs, 2)));
    for (int k = 0; k < nargs; ++k) stack.push_back(to_ivalue(args[k]));
    try {
      handle.callBoxed(&stack);
    } catch (const c10::Error& e) {
      // Name the operator: libtorch's message alone rarely says which call failed.
      auto message = std::string(e.what_without_backtrace()) + " (in " + qualified(schema.operator_name()) + ")";
      cxr::set_error("libtorch", message.c_str());
      return -1;
    }
    int count = static_cast<int>(stack.size());
    if (count > capacity)
      throw std::invalid_argument(qualified(schema.operator_name()) + " returned " + std::to_string(count) +
                                  " values, room for " + std::to_string(capacity));
    for (int k = 0; k < count; ++k) from_ivalue(std::move(stack[static_cast<size_t>(k)]), rets[k]);
    return count;
  })
}
