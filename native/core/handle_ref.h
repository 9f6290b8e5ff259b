// One thread's view of an allocation (HandleRef): what a JS handle object, and every op function
// made for it, point at. Its layout is shared with the accelerator (native/accel/), which reads
// `live` and `offset` on its fast path; kHandleRefLayout pins that layout in the protocol between
// them (native/binding/host_protocol.h).
#pragma once

#include <cstddef>
#include <cstdint>

#include "allocator.h"
#include "numeric.h"

namespace percpu {

// INVARIANT: while `live`, this ref holds one reference on `allocation`, so `offset` names a live
// allocation of `type` (or a pair) in every CPU's area. A ref is made, used and freed on one
// thread (the JS environment that owns it), so its fields need no atomics.
struct HandleRef {
  uint32_t offset;
  bool live;
  bool is_static;
  bool pair;  // a u64 pair: only the pair methods apply
  TypeId type;
  Allocation* allocation;
  uint32_t js_owners;  // JS objects pointing at this ref: the handle object and its op functions
};

// The layout the accelerator relies on, as one number: a change to it is a protocol change.
constexpr uint32_t kHandleRefLayout = (sizeof(HandleRef) << 16) | (offsetof(HandleRef, live) << 8) |
                                      offsetof(HandleRef, offset);

// A new ref that takes over one reference already held on `allocation` (a new allocation's, a
// GetRef()'s or a redeemed ticket's). It has no JS owner yet.
inline HandleRef* NewHandleRef(Allocation* allocation) {
  return new HandleRef{allocation->offset, true, allocation->is_static, allocation->pair, allocation->type, allocation, 0};
}

// release(): the ref stops being live and gives back its reference. Idempotent.
inline void ReleaseHandleRef(HandleRef* ref) {
  if (!ref->live) return;
  ref->live = false;
  PutRef(ref->allocation);
}

inline void AddHandleOwner(HandleRef* ref) { ref->js_owners++; }

// Drops one JS owner; the last one releases the ref's reference if it is still live (a handle that
// was only dropped, not released, is released by garbage collection) and frees the ref.
inline void DropHandleOwner(HandleRef* ref) {
  if (--ref->js_owners > 0) return;
  ReleaseHandleRef(ref);
  delete ref;
}

}  // namespace percpu
