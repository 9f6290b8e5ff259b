// The protocol between percpu.node (the binding, which owns the core's state: the region, every
// thread's ThreadState, the allocator, the scheduler) and the native modules that work on that
// same state from another shared object: the accelerator (native/accel/, V8's API, one build per
// Node ABI) and the simulator and benchmark loops (native/sim/, native/bench/).
//
// Each side exports one table of plain C function pointers under an unmangled name; the other
// side finds it with dlopen(path, RTLD_NOLOAD) and dlsym, i.e. only in a module Node has already
// loaded (and, for the accelerator, already accepted for this Node ABI). No pointer ever crosses
// through JS. Every table starts with a magic number, this protocol's version and the layouts both
// sides share (HandleRef, ThreadState, Status): a table whose header differs is refused, so two
// builds from different sources never work on each other's memory.
#pragma once

#include <node_api.h>
#include <signal.h>

#include <cstdint>

#include "../core/handle_ref.h"
#include "../core/ops.h"
#include "../core/region.h"
#include "../core/status.h"

namespace percpu {

constexpr uint32_t kHostMagic = 0x70637075;   // "pcpu"
constexpr uint32_t kAccelMagic = 0x61636365;  // "acce"
// Raise on any change to a table below or to a layout it names.
constexpr uint32_t kProtocolVersion = 1;

struct ProtocolHeader {
  uint32_t magic;
  uint32_t version;
  uint32_t handle_ref_layout;  // kHandleRefLayout
  uint32_t thread_state_size;  // sizeof(ThreadState)
  uint32_t status_size;        // sizeof(Status)
  uint32_t type_count;         // kTypeCount
  uint32_t op_count;           // kOpCount
  uint32_t reserved;
};


// What percpu.node offers ("percpu_host_v1").
struct HostTable {
  ProtocolHeader header;
  // The calling thread's binding (its address is stable for the thread's life).
  ThreadState* (*this_thread)();
  const Region* (*region)();
  // JS ownership of a ref, for a function the other module binds to it.
  void (*add_handle_owner)(HandleRef*);
  void (*drop_handle_owner)(HandleRef*);
  // The ref behind a percpu handle object of this copy of the binding, or false (no exception
  // thrown: `env` may be the other module's). Does not check that the ref is live.
  bool (*unwrap_handle)(napi_env env, napi_value value, HandleRef** out);
  // The u64 static `name`'s offset, or false.
  bool (*find_u64_static)(const char* name, uint32_t* offset);
  // The interrupt handler's action on this thread (sched::SetIrqAction) and its adds.
  bool (*set_irq_action)(uint32_t action, uint32_t offset, uint64_t* adds_before, Status* status);
  // Both scheduler signals blocked on this thread (the old mask saved), and restored.
  void (*irqs_off)(sigset_t* saved);
  void (*irqs_restore)(const sigset_t* saved);
};

// What the accelerator offers ("percpu_accel_v1").
struct AccelTable {
  ProtocolHeader header;
  uint32_t node_abi;        // NODE_MODULE_VERSION it was built for
  const char* v8_version;   // the V8 headers it was built with, "major.minor.build.patch"
  // Called once, by the binding, on the thread that attaches it: nullptr when the accelerator can
  // work with this host and this Node (its checks passed), else why not.
  const char* (*attach)(const HostTable* host, napi_env env);
  // A function doing `op` on `ref` for `type` on `backend` (0 gs, 1 generic), falling back to
  // `exact` (the binding's Node-API function for the same op) for anything off its fast path; it
  // becomes one more JS owner of `ref`. nullptr if it cannot make one (then `exact` is used).
  napi_value (*make_op)(napi_env env, uint32_t type, uint32_t op, uint32_t backend, HandleRef* ref, napi_value exact);
  // Environment teardown on the calling thread: drop what the accelerator still holds there.
  void (*drop_thread)();
};

constexpr ProtocolHeader MakeHeader(uint32_t magic) {
  return {magic,
          kProtocolVersion,
          kHandleRefLayout,
          static_cast<uint32_t>(sizeof(ThreadState)),
          static_cast<uint32_t>(sizeof(Status)),
          static_cast<uint32_t>(kTypeCount),
          static_cast<uint32_t>(kOpCount),
          0};
}

// nullptr when `header` matches this build's (for `magic`), else why not, in one line.
inline const char* CheckHeader(const ProtocolHeader* header, uint32_t magic) {
  const ProtocolHeader mine = MakeHeader(magic);
  if (header->magic != mine.magic) return "its table is not a percpu table";
  if (header->version != mine.version) return "it speaks another version of the host protocol";
  if (header->handle_ref_layout != mine.handle_ref_layout || header->thread_state_size != mine.thread_state_size ||
      header->status_size != mine.status_size || header->type_count != mine.type_count ||
      header->op_count != mine.op_count)
    return "it was built from other sources (the shared layouts differ)";
  return nullptr;
}

}  // namespace percpu
