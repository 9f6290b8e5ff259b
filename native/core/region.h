// The per-CPU region: one per process, an area per CPU, and the binding of threads to CPUs
// (through their GS base on the gs backend).
//
// Invariants the numeric ops rely on (see the SAFETY comments in ops.h):
// - The region is mapped once and never unmapped, so a GS base (or a thread's recorded area)
//   that points at an area stays valid until the process exits, whatever the JS side does.
// - A thread's GS base points at area N only while its ThreadState.cpu == N, and only one thread
//   at a time holds CPU N (owners[N] names it).
// - Every live allocation is [offset, offset + size) with offset + size <= area_size, aligned to
//   size (allocator.h).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "gs_base.h"
#include "status.h"

namespace percpu {

// How this CPU's slot is reached. Chosen once, when the region is set up, for the whole process.
enum class BackendId : uint8_t {
  kGs,       // the thread's GS base points at its area: one gs-relative instruction per op
  kGeneric,  // this_cpu_ptr() from the thread's bound area, then the plain operation
};

constexpr uint32_t kMaxCpus = 1024;
constexpr uint32_t kMaxAreaSize = 64u << 20;
// Offset 0 of every area holds that CPU's number as an i32, as Linux keeps cpu_number in its
// per-CPU area: `mov %gs:0, %eax` is this CPU's id.
constexpr uint32_t kCpuNumberOffset = 0;
// The first cache line of each area is the region's own; user allocations start after it.
constexpr uint32_t kReservedBytes = 64;
constexpr uint32_t kMinAreaSize = kReservedBytes + 64;

struct Region {
  char* base;
  uint32_t nr_cpus;
  uint32_t area_size;  // usable bytes per CPU, a multiple of the page size
  size_t stride;       // area_size plus one inaccessible guard page
  std::atomic<uint64_t>* owners;  // per CPU: the id of the thread holding it, 0 when free
  BackendId backend;
  bool fell_back;       // auto was asked for and GS could not be used
  char reason[192];     // one line: why this backend

  char* Area(uint32_t cpu) const { return base + cpu * stride; }
};

template <typename T>
inline T* RemotePtr(const Region* region, uint32_t cpu, uint32_t offset) {
  return reinterpret_cast<T*>(region->Area(cpu) + offset);
}

// Per-thread binding. Plain old data in initial-exec TLS: reading it on the op path is one
// %fs-relative load, no __tls_get_addr call. The accelerator reaches it through a pointer it takes
// on the thread that makes its functions (a V8 function runs only on its isolate's thread).
struct ThreadState {
  int32_t cpu;              // bound CPU, or -1
  uint32_t preempt_count;   // CpuGuards held on this thread (and a generic op in progress)
  uintptr_t saved_gs;       // GS base before bind(), restored by unbind()
  char* area;               // this CPU's area (the generic path's "this_cpu_ptr" base)
};
extern __thread ThreadState tls_this_cpu __attribute__((tls_model("initial-exec")));

inline bool Bound(const ThreadState& thread) { return __builtin_expect(thread.cpu >= 0, 1); }
inline bool ThisThreadBound() { return Bound(tls_this_cpu); }

enum class BackendRequest { kAuto, kGs, kGeneric };

// Maps the region, or returns the existing one when the sizes (and a named backend) match.
// `source` says who asked for the backend, for the reason line. Fails (nothing set up) on sizes
// out of range, when a different region exists, or when kGs is asked for and GS cannot be used.
const Region* SetupRegion(int64_t nr_cpus, int64_t area_size, BackendRequest backend, const char* source,
                          Status* status);
// nullptr before set-up. Once set, never changes.
const Region* GetRegion();
inline BackendId ActiveBackend() { return GetRegion()->backend; }
// The region, or fails with kNotSetUp.
const Region* RequireRegion(Status* status);

// This thread's GS base, for tests and diagnostics. False where it cannot be read.
bool ReadGsBaseForDiagnostics(uintptr_t* base);

// Binds the calling thread to `cpu`; fails (nothing changed) if the CPU is out of range or held,
// this thread is bound, or GS cannot be pointed at the area.
bool Bind(int64_t cpu, Status* status);
// Fails while guards are held or when not bound.
bool Unbind(Status* status);
// Thread teardown: unbinds even with guards held; the thread is leaving.
void UnbindForExit();

// Called first thing on every unbind (and so at thread exit), on the unbinding thread, while it
// is still bound. The scheduler sets it so that a participant leaves before its binding goes
// away; the region knows nothing else of the scheduler. Set once, before any thread joins.
using BeforeUnbindHook = void (*)();
void SetBeforeUnbindHook(BeforeUnbindHook hook);

// Moves the calling thread from its CPU to `cpu`, from inside the scheduler's migration signal
// handler: the GS base (gs backend), tls_this_cpu's cpu and area, and owners[cpu] = `self` (the
// thread's id). False (nothing changed) if the GS base could not be set.
// SAFETY (async-signal-safe): wrgsbase or one raw arch_prctl system call, and plain stores. The
// caller guarantees that the thread holding `cpu` is itself inside its handler, moving to this
// thread's old CPU (a swap), so no two threads ever run user code on one CPU.
bool MigrateFromSignalHandler(int32_t cpu, uint64_t self);

// The kernel's thread id of the caller (owners[] holds these).
uint64_t ThisThreadId();

}  // namespace percpu
