// A thread's view of an allocation (HandleRef), and how code outside addon.cc reaches the
// HandleRef of a JS handle object. JS never passes an offset: it passes a handle object, and the
// offset comes from the validated ref (the benchmarks in native/bench.cc use this).
#pragma once

#include <node_api.h>

#include <cstdint>

#include "numeric.h"
#include "region.h"

namespace percpu {

struct Allocation;

// One thread's view of an allocation. Owned by the JS objects that point at it (the handle
// object and the op functions made for it); freed when the last of them is finalized.
// INVARIANT: while `live`, this ref holds one reference on `allocation`, so `offset` names a
// live allocation of `type` in every CPU's area.
struct HandleRef {
  uint32_t offset;
  bool live;
  bool is_static;
  bool pair;  // a u64 pair: only the pair methods apply
  TypeId type;
  Allocation* allocation;
  uint32_t js_owners;
};

// The HandleRef behind `value` if it is a handle object made by this addon (checked with a
// Node-API type tag, so no other object passes), else throws a PerCpuTypeError and returns false.
// It does not check that the handle is live: callers check `ref->live` before each use.
bool UnwrapHandle(napi_env env, napi_value value, HandleRef** out);

// One more JS owner of `ref` (a function bound to it, as num()'s op functions are): the ref stays
// allocated until every owner is dropped. Dropping the last owner of a live ref releases its
// reference, as garbage collection of an unreleased handle does.
void AddHandleOwner(HandleRef* ref);
void DropHandleOwner(HandleRef* ref);

}  // namespace percpu
