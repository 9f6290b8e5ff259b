// num()'s exact op path: one raw Node-API callback per (type, op, backend), bound to its handle.
// The V8 fast path (fast_ops.h) hands it everything unusual, and the benchmarks' call-path
// experiments (bench.cc) measure it, so it lives here, beside the errors it throws.
#pragma once

#include <node_api.h>

#include "errors.h"
#include "handle.h"
#include "numeric.h"
#include "ops.h"
#include "region.h"

namespace percpu {

inline bool ThrowReleased(napi_env env) {
  return ThrowError(env, ErrorKind::kReleased, "this per-CPU handle has been released");
}

inline bool ThrowNotBound(napi_env env) {
  return ThrowError(env, ErrorKind::kNotBound, "this thread is not bound to a CPU: bind it or run on a CpuSet");
}

// One raw callback per (type, op, backend), bound to its handle: fetch the operands, check the
// handle and the thread, convert each operand exactly, run the op, convert the result if any.
template <TypeId id, OpId op, class B>
napi_value OpCallback(napi_env env, napi_callback_info info) {
  using T = typename Numeric<id>::T;
  constexpr OpSpec kSpec = kOps[static_cast<int>(op)];
  size_t argc = kSpec.operands;
  napi_value argv[2];
  void* data;
  napi_get_cb_info(env, info, &argc, kSpec.operands > 0 ? argv : nullptr, nullptr, &data);
  const HandleRef* ref = static_cast<const HandleRef*>(data);
  if (__builtin_expect(!ref->live, 0)) return ThrowReleased(env), nullptr;
  if (!ThisThreadBound()) return ThrowNotBound(env), nullptr;
  T a = 1, b = 0;  // an op without operands that needs one (inc, dec...) uses 1
  if constexpr (kSpec.operands >= 1)
    if (!FromJs<id>(env, argv[0], &a)) return nullptr;
  if constexpr (kSpec.operands >= 2)
    if (!FromJs<id>(env, argv[1], &b)) return nullptr;
  [[maybe_unused]] const T result = ApplyOp<B, op, T>(ref->offset, a, b);
  if constexpr (kSpec.returns) return ToJs<id>(env, result);
  return nullptr;
}

}  // namespace percpu
