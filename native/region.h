// The per-CPU region: one per process, an area per CPU, an allocator of offsets inside the area,
// and the binding of threads to CPUs through their GS base.
//
// Invariants the numeric ops rely on (see the SAFETY comments in ops.h):
// - The region is mapped once and never unmapped, so a GS base that points at an area stays
//   valid until the process exits, whatever the JS side does.
// - A thread's GS base points at area N only while tls_this_cpu.cpu == N, and only one thread at a
//   time holds CPU N.
// - Every live allocation is [offset, offset + size) with offset + size <= area_size, aligned to size.
#pragma once

#include <node_api.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "numeric.h"

// The GS backend exists only where its instructions and system calls do: Linux on x86-64.
// Everywhere else (or built with -DPERCPU_NO_GS) the asm is compiled out and only the generic
// backend is built.
#if defined(__x86_64__) && defined(__linux__) && !defined(PERCPU_NO_GS)
#define PERCPU_HAVE_GS 1
#else
#define PERCPU_HAVE_GS 0
#endif

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

// Per-thread binding. Plain-old-data in initial-exec TLS: reading it on the op path is one
// %fs-relative load, no __tls_get_addr call.
struct ThreadState {
  int32_t cpu;              // bound CPU, or -1
  uint32_t preempt_count;   // CpuGuards held on this thread
  uintptr_t saved_gs;       // GS base before bind(), restored by unbind()
  char* area;               // this CPU's area (the generic path's "this_cpu_ptr" base)
};
extern __thread ThreadState tls_this_cpu __attribute__((tls_model("initial-exec")));

inline bool ThisThreadBound() { return __builtin_expect(tls_this_cpu.cpu >= 0, 1); }

enum class BackendRequest { kAuto, kGs, kGeneric };

// Region set-up. Throws and returns nullptr on bad arguments, when a different region exists,
// or when kGs is requested and GS cannot be used here. `source` says who asked (for the reason line).
const Region* SetupRegion(napi_env env, int64_t nr_cpus, int64_t area_size, BackendRequest backend,
                          const char* source);
const Region* GetRegion();
inline BackendId ActiveBackend() { return GetRegion()->backend; }

// GS base access: wrgsbase/rdgsbase when AT_HWCAP2 has FSGSBASE, arch_prctl otherwise; nullptr
// where there is no GS backend.
const char* GsMethod();
// This thread's GS base, for tests and diagnostics. False where it cannot be read.
bool ReadGsBaseForDiagnostics(uintptr_t* base);

bool Bind(napi_env env, int64_t cpu);
bool Unbind(napi_env env);
// Environment teardown: unbind even with guards held; the thread is leaving.
void UnbindForExit();

// Migration (issue 8, used only by native/scheduler.cc). Moves the calling thread from its CPU to `cpu`
// from inside the scheduler's migration signal handler: the GS base (gs backend), tls_this_cpu's
// cpu and area, and owners[cpu] = `self` (the thread's id). Async-signal-safe: wrgsbase or one raw
// arch_prctl system call, and plain stores. The caller guarantees that the thread holding `cpu` is
// itself inside its handler, moving to this thread's old CPU (a swap), so no two threads ever run
// user code on one CPU. False (nothing changed) if the GS base could not be set.
bool MigrateFromSignalHandler(int32_t cpu, uint64_t self);

// ---- allocations ----
struct Allocation {
  uint32_t id;          // index in the record table, reused after free (records are never destroyed)
  TypeId type;
  uint32_t offset;
  uint32_t size;
  int64_t refs;         // handles plus outstanding share tickets
  bool live;
  bool is_static;
  bool pair;            // a 16-byte pair of u64 (cmpxchgDouble), type u64
  uint64_t static_init; // raw bits of a static's initial value, for conflict checks
  std::string name;
};

template <typename T>
inline T* RemotePtr(const Region* region, uint32_t cpu, uint32_t offset) {
  return reinterpret_cast<T*>(region->Area(cpu) + offset);
}

// Allocates the type's size, aligned to it, in every area, with one reference (`pair`: two u64,
// 16 bytes aligned to 16, as cmpxchg16b needs). Slots are zeroed on every CPU. Throws
// NoSpaceError when the area is full.
Allocation* AllocateDynamic(napi_env env, TypeId type, bool pair = false);
constexpr uint32_t kPairSize = 16;
// Looks up or creates a named static; a different type or initial value is a ConflictError.
// `init_bits` is the value's bit pattern; `write_init(region, offset)` fills every CPU's slot
// the first time.
Allocation* DefineStatic(napi_env env, const std::string& name, TypeId type, uint64_t init_bits,
                         void (*write_init)(const Region*, uint32_t offset, uint64_t bits));
Allocation* FindStatic(const std::string& name);

void GetRef(Allocation* allocation);
void PutRef(Allocation* allocation);  // frees the offsets when the last reference goes
int64_t RefCount(const Allocation* allocation);

// Sharing across threads: a ticket carries one reference until it is redeemed or dropped.
uint64_t Share(Allocation* allocation);
Allocation* Redeem(uint64_t ticket);  // nullptr if unknown or already redeemed
bool DropTicket(uint64_t ticket);

struct Stats {
  uint64_t live_allocations;
  uint64_t bytes_in_use;
  uint64_t free_bytes;
  uint64_t largest_free;
  uint64_t free_blocks;
  uint64_t tickets;
};
Stats GetStats();

}  // namespace percpu
