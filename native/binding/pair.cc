// The u64-pair methods of the handle class (PerCpuPair): 16 bytes aligned to 16. Each checks that
// its receiver is a pair: any other handle names 8 bytes or fewer, and 16 would run past it.
#include <cstdint>

#include "../core/ops.h"
#include "convert.h"
#include "handle.h"

namespace percpu {

namespace {

bool ReceiverPair(const Call& call, HandleRef** ref) {
  if (!ReceiverHandle(call, ref)) return false;
  if (!(*ref)->live) return ThrowReleased(call.env());
  return (*ref)->pair || Throw(call.env(), Code::kInvalidArg, "this per-CPU variable is not a u64 pair");
}

bool GetU64(napi_env env, napi_value value, uint64_t* out) { return FromJs<TypeId::u64>(env, value, out); }

}  // namespace

// this_cpu_cmpxchg_double(old_lo, old_hi, new_lo, new_hi): true if this CPU's pair held the old
// words and now holds the new ones. One cmpxchg16b relative to GS on the gs backend.
napi_value PairCmpxchgDouble(napi_env env, napi_callback_info info) {
  Call call(env, info);
  HandleRef* ref = nullptr;
  if (!ReceiverPair(call, &ref)) return nullptr;
  ThreadState& self = tls_this_cpu;
  if (!Bound(self)) return ThrowNotBound(env), nullptr;
  uint64_t words[4];
  for (int i = 0; i < 4; ++i)
    if (!GetU64(env, call[i], &words[i])) return nullptr;
  enum Outcome { kMissed, kSwapped, kNoCx16 };
  const Outcome outcome = WithBackend([&]<class B>() {
    if (!B::HasCmpxchgDouble()) return kNoCx16;
    return B::cmpxchgDouble(self, ref->offset, words[0], words[1], words[2], words[3]) ? kSwapped : kMissed;
  });
  if (outcome == kNoCx16)
    return Throw(env, Code::kBackendUnavailable, "cmpxchgDouble on the gs backend needs cmpxchg16b, and this CPU lacks CX16"),
           nullptr;
  napi_value result;
  napi_get_boolean(env, outcome == kSwapped, &result);
  return result;
}

// per_cpu_ptr for a pair: [lo, hi] of any CPU, two naturally aligned loads.
napi_value PairRead(napi_env env, napi_callback_info info) {
  Call call(env, info);
  HandleRef* ref = nullptr;
  uint32_t cpu = 0;
  if (!ReceiverPair(call, &ref) || !call.Cpu(0, &cpu)) return nullptr;
  const uint64_t* pair = RemotePtr<uint64_t>(GetRegion(), cpu, ref->offset);
  const napi_value words[2] = {ToJs<TypeId::u64>(env, __atomic_load_n(&pair[0], __ATOMIC_RELAXED)),
                               ToJs<TypeId::u64>(env, __atomic_load_n(&pair[1], __ATOMIC_RELAXED))};
  return MakeArray(env, words, 2);
}

napi_value PairWrite(napi_env env, napi_callback_info info) {
  Call call(env, info);
  HandleRef* ref = nullptr;
  uint32_t cpu = 0;
  uint64_t lo, hi;
  if (!ReceiverPair(call, &ref) || !call.Cpu(0, &cpu) || !GetU64(env, call[1], &lo) || !GetU64(env, call[2], &hi))
    return nullptr;
  uint64_t* pair = RemotePtr<uint64_t>(GetRegion(), cpu, ref->offset);
  __atomic_store_n(&pair[0], lo, __ATOMIC_RELAXED);
  __atomic_store_n(&pair[1], hi, __ATOMIC_RELAXED);
  return nullptr;
}

}  // namespace percpu
