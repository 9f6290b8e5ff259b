// num()'s exact op path: one raw Node-API callback per (type, op, backend), bound to its handle's
// ref. Every error of an op comes from here: the accelerator's fast functions hand anything
// unusual to this callback.
#pragma once

#include <node_api.h>

#include "../core/handle_ref.h"
#include "../core/numeric.h"
#include "../core/ops.h"
#include "../core/region.h"
#include "convert.h"
#include "errors.h"

namespace percpu {

// Fetch the operands, check the handle and the thread, convert each operand exactly, run the op,
// convert the result if any. The data pointer is the ref (the function is one of its JS owners,
// so the ref outlives every call), never the receiver: any `this` is fine.
// SAFETY: the op runs only when the ref is live (its offset names a live allocation of this type)
// and this thread is bound (the backend addresses its CPU's area); see ops.h.
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
  ThreadState& self = tls_this_cpu;
  if (!Bound(self)) return ThrowNotBound(env), nullptr;
  T a = 1, b = 0;  // an op without operands that needs one (inc, dec...) uses 1
  // napi_get_cb_info fills missing arguments with undefined, which FromJs refuses.
  if constexpr (kSpec.operands >= 1)
    if (!FromJs<id>(env, argv[0], &a)) return nullptr;
  if constexpr (kSpec.operands >= 2)
    if (!FromJs<id>(env, argv[1], &b)) return nullptr;
  [[maybe_unused]] const T result = ApplyOp<B, op, T>(self, ref->offset, a, b);
  if constexpr (kSpec.returns) return ToJs<id>(env, result);
  return nullptr;
}

}  // namespace percpu
