// torch.distributed over libtorch's own c10d: TCPStore rendezvous, ProcessGroupGloo (and
// ProcessGroupNCCL when this libtorch was built with it), the collectives, and DDP's Reducer
// (bucketed, asynchronous gradient all-reduce launched from autograd hooks while backward runs).
// Nothing here is a transport of our own: every byte goes through c10d, as in PyTorch.
//
// Handles: a process group is a heap c10::intrusive_ptr<ProcessGroup>; a reducer a heap Reducer.
// Collectives block until done (work->wait()), so a dead peer surfaces as an exception (Gloo: the
// closed connection, or the group's timeout), never as a hang.
#include "cxr_native.h"

#include <torch/torch.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/comm.hpp>
#include <torch/csrc/distributed/c10d/logger.hpp>
#include <torch/csrc/distributed/c10d/reducer.hpp>
#ifdef USE_C10D_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace cxr {
void* new_handle(at::Tensor&& t);  // torch_tensor.cpp: counts live handles
}

namespace {
using PG = c10::intrusive_ptr<c10d::ProcessGroup>;

PG& as_pg(void* handle) {
  if (!handle) throw std::invalid_argument("null process group handle (call init_process_group first)");
  return *static_cast<PG*>(handle);
}

at::Tensor& as_tensor(void* handle) {
  if (!handle) throw std::invalid_argument("null tensor handle");
  return *static_cast<at::Tensor*>(handle);
}

std::vector<at::Tensor> tensors_of(void** handles, int n) {
  std::vector<at::Tensor> out;
  out.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; i++) out.push_back(as_tensor(handles[i]));
  return out;
}

void wait(const c10::intrusive_ptr<c10d::Work>& work) { work->wait(); }

// A Reducer with the Logger PyTorch's DDP always attaches: the Reducer reports through it (e.g. when
// find_unused_parameters sees the set of unused parameters change) and dereferences it unchecked.
struct DdpReducer {
  std::shared_ptr<c10d::Reducer> reducer;
  std::shared_ptr<c10d::Logger> logger;
  ~DdpReducer() {
    logger.reset();
    reducer.reset();
  }
};

c10d::Reducer& as_reducer(void* handle) {
  if (!handle) throw std::invalid_argument("null reducer handle");
  return *static_cast<DdpReducer*>(handle)->reducer;
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
}

#ifdef USE_C10D_GLOO
// Gloo's network device: GLOO_SOCKET_IFNAME as in PyTorch; loopback when the master is on this
// machine's loopback (a single-node run needs no resolvable host name); else the host name's address.
std::shared_ptr<::gloo::transport::Device> gloo_device(const std::string& master_addr) {
  if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname)
    return c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
  if (is_loopback(master_addr)) return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return c10d::ProcessGroupGloo::createDefaultDevice();
}
#endif

// Sum over ranks that autograd can differentiate: the gradient of every rank's input is the sum
// over ranks of the output gradients (each rank's output depends on every input). SyncBatchNorm
// reduces its batch statistics with it.
struct AllReduceSum : public torch::autograd::Function<AllReduceSum> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, at::Tensor input, int64_t pg_address) {
    ctx->saved_data["pg"] = pg_address;
    std::vector<at::Tensor> buffer{input.clone().contiguous()};
    wait(reinterpret_cast<PG*>(pg_address)->get()->allreduce(buffer));
    return buffer[0];
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    auto* pg = reinterpret_cast<PG*>(ctx->saved_data["pg"].toInt());
    std::vector<at::Tensor> buffer{grads[0].clone().contiguous()};
    wait((*pg)->allreduce(buffer));
    return {buffer[0], at::Tensor()};
  }
};
}  // namespace

// Backends this shim was built with, comma separated ("gloo" or "gloo,nccl").
CXR_API const char* cxr_dist_backends() {
#if defined(USE_C10D_GLOO) && defined(USE_C10D_NCCL)
  return "gloo,nccl";
#elif defined(USE_C10D_GLOO)
  return "gloo";
#elif defined(USE_C10D_NCCL)
  return "nccl";
#else
  return "";
#endif
}

// env:// rendezvous: rank 0 serves a TCPStore on master_addr:master_port, every rank connects to it
// (waiting up to timeout_ms for the others), then the backend's process group forms over the store.
CXR_API void* cxr_dist_init_process_group(const char* backend, const char* master_addr, int master_port, int rank,
                                          int world_size, int64_t timeout_ms) {
  CXR_TRY(nullptr, {
    if (world_size < 1) throw std::invalid_argument("world_size must be >= 1, got " + std::to_string(world_size));
    if (rank < 0 || rank >= world_size)
      throw std::invalid_argument("rank " + std::to_string(rank) + " is outside 0.." + std::to_string(world_size - 1));
    if (master_port <= 0 || master_port > 65535) throw std::invalid_argument("master port " + std::to_string(master_port) + " is not a TCP port");
    const std::string name = backend ? backend : "";
    const std::string host = master_addr ? master_addr : "";
    const auto timeout = std::chrono::milliseconds(timeout_ms);
    c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<std::uint16_t>(master_port);
    store_options.isServer = rank == 0;
    store_options.numWorkers = static_cast<size_t>(world_size);
    store_options.waitWorkers = true;
    store_options.timeout = timeout;
    c10::intrusive_ptr<c10d::Store> store = c10::make_intrusive<c10d::TCPStore>(host, store_options);
    store = c10::make_intrusive<c10d::PrefixStore>("default_pg/", store);
    PG pg;
    if (name == "gloo") {
#ifdef USE_C10D_GLOO
      auto options = c10d::ProcessGroupGloo::Options::create(timeout);
      options->devices.push_back(gloo_device(host));
      options->threads = 2;  // PyTorch: two per device
      pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world_size, options);
#else
      throw std::runtime_error("this native shim was built without Gloo (libgloo-dev missing at build time)");
#endif
    } else if (name == "nccl") {
#ifdef USE_C10D_NCCL
      auto options = c10d::ProcessGroupNCCL::Options::create();
      options->timeout = timeout;
      pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, world_size, options);
#else
      throw std::runtime_error("backend 'nccl' needs a CUDA libtorch built with NCCL; this shim has only: " + std::string(cxr_dist_backends()));
#endif
    } else {
      throw std::invalid_argument("unknown backend '" + name + "' (gloo or nccl)");
    }
    return new PG(std::move(pg));
  })
}

CXR_API int cxr_dist_free(void* pg) {
  CXR_TRY(-1, {
    delete static_cast<PG*>(pg);
    return 0;
  })
}

CXR_API int cxr_dist_rank(void* pg) { CXR_TRY(-1, { return as_pg(pg)->getRank(); }) }
CXR_API int cxr_dist_world_size(void* pg) { CXR_TRY(-1, { return as_pg(pg)->getSize(); }) }

// In place; op is c10d::ReduceOp::RedOpType (0 SUM, 1 AVG, 2 PRODUCT, 3 MIN, 4 MAX).
CXR_API int cxr_dist_all_reduce(void* pg, void* tensor, int op) {
  CXR_TRY(-1, {
    std::vector<at::Tensor> tensors{as_tensor(tensor)};
    c10d::AllreduceOptions options;
    options.reduceOp = c10d::ReduceOp(static_cast<c10d::ReduceOp::RedOpType>(op));
    wait(as_pg(pg)->allreduce(tensors, options));
    return 0;
  })
}

// The sum over ranks as a new tensor that autograd differentiates (backward all-reduces the gradient).
CXR_API void* cxr_dist_all_reduce_sum_autograd(void* pg, void* tensor) {
  CXR_TRY(nullptr, {
    auto* group = &as_pg(pg);
    return cxr::new_handle(AllReduceSum::apply(as_tensor(tensor), reinterpret_cast<int64_t>(group)));
  })
}

CXR_API int cxr_dist_broadcast(void* pg, void* tensor, int src) {
  CXR_TRY(-1, {
    std::vector<at::Tensor> tensors{as_tensor(tensor)};
    c10d::BroadcastOptions options;
    options.rootRank = src;
    wait(as_pg(pg)->broadcast(tensors, options));
    return 0;
  })
}

// outputs: world_size tensors shaped like `tensor`, filled with every rank's `tensor` in rank order.
CXR_API int cxr_dist_all_gather(void* pg, void** outputs, int n_outputs, void* tensor) {
  CXR_TRY(-1, {
    auto& group = as_pg(pg);
    if (n_outputs != group->getSize())
      throw std::invalid_argument("all_gather needs one output per rank: " + std::to_string(n_outputs) + " given, world size " +
                                  std::to_string(group->getSize()));
    std::vector<std::vector<at::Tensor>> out{tensors_of(outputs, n_outputs)};
    std::vector<at::Tensor> in{as_tensor(tensor)};
    wait(group->allgather(out, in));
    return 0;
  })
}

CXR_API int cxr_dist_barrier(void* pg) {
  CXR_TRY(-1, {
    wait(as_pg(pg)->barrier());
    return 0;
  })
}

// Rank `src`'s values into every rank's tensors, packed into flat buffers of up to buffer_bytes
// (PyTorch's _broadcast_coalesced: DDP's start-up parameter and buffer sync).
CXR_API int cxr_dist_broadcast_coalesced(void* pg, void** tensors, int n, int64_t buffer_bytes, int src) {
  CXR_TRY(-1, {
    auto list = tensors_of(tensors, n);
    c10d::broadcast_coalesced(as_pg(pg), list, static_cast<size_t>(buffer_bytes), src);
    return 0;
  })
}

// Fails with a message naming the first mismatch when the ranks' parameter lists differ in count,
// shape or dtype (DDP's _verify_params_across_processes).
CXR_API int cxr_dist_verify_params(void* pg, void** params, int n) {
  CXR_TRY(-1, {
    c10d::verify_params_across_processes(as_pg(pg), tensors_of(params, n), c10::nullopt);
    return 0;
  })
}

// DDP's Reducer over `params` (the module's trainable parameters, in registration order): buckets of
// up to bucket_bytes (the first of first_bucket_bytes so communication starts early), filled in
// reverse order as autograd produces gradients; each full bucket is all-reduced asynchronously while
// backward continues; at the end of backward the averaged gradients are in .grad.
CXR_API void* cxr_ddp_reducer_new(void* pg, void** params, int n, int64_t bucket_bytes, int64_t first_bucket_bytes,
                                  int find_unused_parameters) {
  CXR_TRY(nullptr, {
    auto list = tensors_of(params, n);
    std::vector<bool> sparse(list.size(), false);
    auto [indices, limits] = c10d::compute_bucket_assignment_by_size(
        list, {static_cast<size_t>(first_bucket_bytes), static_cast<size_t>(bucket_bytes)}, sparse);
    // As DistributedDataParallel: buckets in reverse, the order in which backward produces gradients.
    std::reverse(indices.begin(), indices.end());
    std::reverse(limits.begin(), limits.end());
    auto holder = std::make_unique<DdpReducer>();
    holder->reducer = std::make_shared<c10d::Reducer>(list, indices, limits, as_pg(pg), sparse, bucket_bytes, find_unused_parameters != 0,
                                                      /*gradient_as_bucket_view=*/false, std::unordered_map<size_t, std::string>{},
                                                      first_bucket_bytes);
    holder->logger = std::make_shared<c10d::Logger>(holder->reducer);
    holder->reducer->set_logger(holder->logger);
    return holder.release();
  })
}

CXR_API int cxr_ddp_reducer_free(void* reducer) {
  CXR_TRY(-1, {
    delete static_cast<DdpReducer*>(reducer);
    return 0;
  })
}

// Before forward: after the first iteration, regroup buckets in the order gradients actually arrived
// (rank 0's order, broadcast); returns 1 when the buckets were rebuilt.
CXR_API int cxr_ddp_prepare_for_forward(void* reducer) {
  CXR_TRY(-1, {
    auto& r = as_reducer(reducer);
    bool rebuilt = r.rebuild_buckets();
    r.prepare_for_forward();
    return rebuilt ? 1 : 0;
  })
}

// Before backward: arms the gradient hooks. With find_unused_parameters the outputs' graph is
// searched and parameters it does not reach are marked ready (their gradient counts as zero).
CXR_API int cxr_ddp_prepare_for_backward(void* reducer, void** outputs, int n) {
  CXR_TRY(-1, {
    as_reducer(reducer).prepare_for_backward(tensors_of(outputs, n));
    return 0;
  })
}
