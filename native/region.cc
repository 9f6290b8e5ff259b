#include "region.h"

#include "scheduler.h"  // issue 8: LeaveScheduler() on unbind

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#if PERCPU_HAVE_GS
#include <asm/prctl.h>
#include <sys/auxv.h>
#endif

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace percpu {

__thread ThreadState tls_this_cpu __attribute__((tls_model("initial-exec"))) = {-1, 0, 0, nullptr};

namespace {

// ---------------------------------------------------------------- GS base
#if PERCPU_HAVE_GS
#ifndef HWCAP2_FSGSBASE
#define HWCAP2_FSGSBASE (1 << 1)
#endif

// The kernel sets HWCAP2_FSGSBASE only when it has enabled the instructions for user space
// (CR4.FSGSBASE); executing them otherwise is #UD. valgrind hides the bit and emulates arch_prctl.
bool UseFsgsbase() {
  static const bool use = (getauxval(AT_HWCAP2) & HWCAP2_FSGSBASE) != 0;
  return use;
}

int ReadGsBase(uintptr_t* base) {
  if (UseFsgsbase()) {
    asm volatile("rdgsbase %0" : "=r"(*base));
    return 0;
  }
  unsigned long value = 0;
  if (syscall(SYS_arch_prctl, ARCH_GET_GS, &value) != 0) return errno;
  *base = value;
  return 0;
}

int WriteGsBase(uintptr_t base) {
  if (UseFsgsbase()) {
    asm volatile("wrgsbase %0" : : "r"(base) : "memory");
    return 0;
  }
  if (syscall(SYS_arch_prctl, ARCH_SET_GS, base) != 0) return errno;
  return 0;
}

int32_t ReadCpuNumberThroughGs() {
  int32_t cpu;
  asm volatile("movl %%gs:%c1, %0" : "=r"(cpu) : "i"(kCpuNumberOffset) : "memory");
  return cpu;
}

// Can this thread point GS at memory and read it back? Tried once, at set-up, on a private
// probe word, before the region exists. False with the reason when not (for example a seccomp
// filter that refuses arch_prctl, or GS already owned by someone else on this thread).
bool ProbeGs(char* why, size_t size) {
  static int32_t probe_word = 0x67735f70;  // "p_sg"
  uintptr_t saved = 0;
  if (int err = ReadGsBase(&saved)) {
    snprintf(why, size, "cannot read the GS base with %s: %s", UseFsgsbase() ? "rdgsbase" : "arch_prctl(ARCH_GET_GS)",
             strerror(err));
    return false;
  }
  if (saved != 0) {
    snprintf(why, size, "this thread's GS base is already in use (%#lx)", static_cast<unsigned long>(saved));
    return false;
  }
  if (int err = WriteGsBase(reinterpret_cast<uintptr_t>(&probe_word))) {
    snprintf(why, size, "cannot set the GS base with %s: %s", UseFsgsbase() ? "wrgsbase" : "arch_prctl(ARCH_SET_GS)",
             strerror(err));
    return false;
  }
  const int32_t seen = ReadCpuNumberThroughGs();
  WriteGsBase(saved);
  if (seen != probe_word) {
    snprintf(why, size, "the GS base was set but %%gs:0 does not read the probe word");
    return false;
  }
  return true;
}
#endif  // PERCPU_HAVE_GS

// Picks the backend for a new region. False (with `error` set) only when GS was asked for by
// name and cannot work here: that is an error, never a silent fallback.
bool ChooseBackend(BackendRequest request, const char* source, Region* region, DeferredError* error) {
  region->fell_back = false;
  if (request == BackendRequest::kGeneric) {
    region->backend = BackendId::kGeneric;
    snprintf(region->reason, sizeof region->reason, "requested by %s", source);
    return true;
  }
  char why[160];
#if PERCPU_HAVE_GS
  char requested_by[112];
  snprintf(requested_by, sizeof requested_by, "requested by %s", source);
  if (ProbeGs(why, sizeof why)) {
    region->backend = BackendId::kGs;
    snprintf(region->reason, sizeof region->reason, "%s; GS base set with %s",
             request == BackendRequest::kGs ? requested_by : "auto: GS works here", GsMethod());
    return true;
  }
#else
  snprintf(why, sizeof why, "this build has no GS backend (it needs Linux on x86-64)");
#endif
  if (request == BackendRequest::kGs) {
    error->Set(ErrorKind::kBackendUnavailable, "the gs backend was requested by %s but cannot work here: %s", source, why);
    return false;
  }
  region->backend = BackendId::kGeneric;
  region->fell_back = true;
  snprintf(region->reason, sizeof region->reason, "auto fell back from gs: %s", why);
  return true;
}

// ---------------------------------------------------------------- region
std::mutex g_setup_mutex;
std::atomic<const Region*> g_region{nullptr};

size_t PageSize() {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

// ---------------------------------------------------------------- allocator
// First-fit over a map of free blocks (offset -> length), merged on free. Offsets and
// lengths are within [kReservedBytes, area_size).
class AreaAllocator {
 public:
  void Reset(uint32_t begin, uint32_t end) {
    free_.clear();
    free_[begin] = end - begin;
  }

  bool Allocate(uint32_t size, uint32_t align, uint32_t* offset) {
    for (auto it = free_.begin(); it != free_.end(); ++it) {
      const uint32_t start = it->first, length = it->second;
      const uint32_t aligned = (start + align - 1) & ~(align - 1);
      if (aligned + static_cast<uint64_t>(size) > static_cast<uint64_t>(start) + length) continue;
      free_.erase(it);
      if (aligned > start) free_[start] = aligned - start;
      const uint32_t tail = start + length - (aligned + size);
      if (tail > 0) free_[aligned + size] = tail;
      *offset = aligned;
      return true;
    }
    return false;
  }

  void Free(uint32_t offset, uint32_t size) {
    auto next = free_.lower_bound(offset);
    if (next != free_.end() && offset + size == next->first) {
      size += next->second;
      next = free_.erase(next);
    }
    if (next != free_.begin()) {
      auto prev = std::prev(next);
      if (prev->first + prev->second == offset) {
        prev->second += size;
        return;
      }
    }
    free_[offset] = size;
  }

  void Measure(Stats* stats) const {
    for (const auto& [offset, length] : free_) {
      stats->free_bytes += length;
      stats->free_blocks += 1;
      if (length > stats->largest_free) stats->largest_free = length;
    }
  }

 private:
  std::map<uint32_t, uint32_t> free_;
};

// Everything below is guarded by g_alloc_mutex. No op path takes it: ops read only their
// handle's cached offset.
std::mutex g_alloc_mutex;
AreaAllocator g_allocator;
std::deque<Allocation> g_allocations;      // records are never destroyed: pointers stay valid
std::vector<uint32_t> g_free_ids;
std::unordered_map<std::string, Allocation*> g_statics;
std::unordered_map<uint64_t, Allocation*> g_tickets;
uint64_t g_next_ticket = 1;
uint64_t g_live = 0, g_bytes = 0;

Allocation* AllocateLocked(TypeId type, bool pair = false) {
  const Region* region = g_region.load(std::memory_order_acquire);
  const uint32_t size = pair ? kPairSize : kTypes[static_cast<int>(type)].size;
  uint32_t offset;
  if (!g_allocator.Allocate(size, size, &offset)) return nullptr;
  Allocation* allocation;
  if (!g_free_ids.empty()) {
    allocation = &g_allocations[g_free_ids.back()];
    g_free_ids.pop_back();
  } else {
    g_allocations.emplace_back();
    allocation = &g_allocations.back();
    allocation->id = static_cast<uint32_t>(g_allocations.size() - 1);
  }
  allocation->type = type;
  allocation->offset = offset;
  allocation->size = size;
  allocation->refs = 1;
  allocation->live = true;
  allocation->is_static = false;
  allocation->pair = pair;
  allocation->static_init = 0;
  allocation->name.clear();
  for (uint32_t cpu = 0; cpu < region->nr_cpus; ++cpu) memset(region->Area(cpu) + offset, 0, size);
  ++g_live;
  g_bytes += size;
  return allocation;
}

void FreeLocked(Allocation* allocation) {
  g_allocator.Free(allocation->offset, allocation->size);
  allocation->live = false;
  g_free_ids.push_back(allocation->id);
  --g_live;
  g_bytes -= allocation->size;
}

bool RequireRegion(napi_env env) {
  if (g_region.load(std::memory_order_acquire) != nullptr) return true;
  return ThrowError(env, ErrorKind::kNotSetUp, "the per-CPU region is not set up: call setup() or start a CpuSet first");
}

// Maps the region once; a second call with the same sizes returns it. Errors are deferred:
// they are thrown after g_setup_mutex is released.
const Region* SetupLocked(uint32_t nr_cpus, uint32_t area_size, BackendRequest backend, const char* source,
                          DeferredError* error) {
  std::lock_guard<std::mutex> lock(g_setup_mutex);
  if (const Region* existing = g_region.load(std::memory_order_acquire)) {
    const bool same_backend = backend == BackendRequest::kAuto ||
                              (backend == BackendRequest::kGs) == (existing->backend == BackendId::kGs);
    if (existing->nr_cpus == nr_cpus && existing->area_size == area_size && same_backend) return existing;
    error->Set(ErrorKind::kConflict,
               "the per-CPU region is already set up with %u CPUs of %u bytes on the %s backend; it lives until the "
               "process exits",
               existing->nr_cpus, existing->area_size, existing->backend == BackendId::kGs ? "gs" : "generic");
    return nullptr;
  }
  Region choice{};
  if (!ChooseBackend(backend, source, &choice, error)) return nullptr;
  const size_t page = PageSize();
  const size_t stride = area_size + page;  // one PROT_NONE guard page after every area
  const size_t total = stride * nr_cpus;
  void* base = mmap(nullptr, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) {
    error->Set(ErrorKind::kSystem, "mmap of the per-CPU region (%zu bytes) failed: %s", total, strerror(errno));
    return nullptr;
  }
  auto* region = new Region(choice);
  region->base = static_cast<char*>(base);
  region->nr_cpus = nr_cpus;
  region->area_size = area_size;
  region->stride = stride;
  region->owners = new std::atomic<uint64_t>[nr_cpus];
  for (uint32_t cpu = 0; cpu < nr_cpus; ++cpu) {
    if (mprotect(region->Area(cpu), area_size, PROT_READ | PROT_WRITE) != 0) {
      error->Set(ErrorKind::kSystem, "mprotect of CPU %u's area failed: %s", cpu, strerror(errno));
      return nullptr;  // the mapping is leaked on purpose: nothing points into it yet
    }
    region->owners[cpu].store(0, std::memory_order_relaxed);
    *RemotePtr<int32_t>(region, cpu, kCpuNumberOffset) = static_cast<int32_t>(cpu);
  }
  {
    std::lock_guard<std::mutex> alloc_lock(g_alloc_mutex);
    g_allocator.Reset(kReservedBytes, area_size);
  }
  // Deliberately never freed: threads may hold GS bases into it until the process exits.
  g_region.store(region, std::memory_order_release);
  return region;
}

}  // namespace

#if PERCPU_HAVE_GS
const char* GsMethod() { return UseFsgsbase() ? "wrgsbase" : "arch_prctl"; }
bool ReadGsBaseForDiagnostics(uintptr_t* base) { return ReadGsBase(base) == 0; }
#else
const char* GsMethod() { return nullptr; }
bool ReadGsBaseForDiagnostics(uintptr_t*) { return false; }
#endif

const Region* GetRegion() { return g_region.load(std::memory_order_acquire); }

const Region* SetupRegion(napi_env env, int64_t nr_cpus, int64_t area_size, BackendRequest backend,
                          const char* source) {
  if (nr_cpus < 1 || nr_cpus > kMaxCpus) {
    ThrowError(env, ErrorKind::kOutOfRange, "cpus must be an integer from 1 to %u, got %lld", kMaxCpus, (long long)nr_cpus);
    return nullptr;
  }
  const size_t page = PageSize();
  if (area_size < static_cast<int64_t>(kReservedBytes) + 64 || area_size > kMaxAreaSize) {
    ThrowError(env, ErrorKind::kOutOfRange, "areaSize must be from %u to %u bytes, got %lld", kReservedBytes + 64,
               kMaxAreaSize, (long long)area_size);
    return nullptr;
  }
  // Page-aligned areas: no two CPUs ever share a cache line (or a page).
  const uint32_t rounded = static_cast<uint32_t>((area_size + page - 1) / page * page);

  DeferredError error;
  const Region* region = SetupLocked(static_cast<uint32_t>(nr_cpus), rounded, backend, source, &error);
  error.ThrowIfSet(env);
  return region;
}

#if PERCPU_HAVE_GS
// Points this thread's GS base at `area` and checks it. On success `saved` is the base to
// restore at unbind. Throws and returns false otherwise, leaving the GS base as it was.
static bool BindGs(napi_env env, const Region* region, int32_t cpu, char* area, uintptr_t* saved) {
  int err = ReadGsBase(saved);
  // A new thread inherits its creator's GS base, so a worker started by a bound thread arrives
  // pointing into our region: that base is stale, and unbind() should leave 0 behind.
  const uintptr_t region_begin = reinterpret_cast<uintptr_t>(region->base);
  if (*saved >= region_begin && *saved < region_begin + region->stride * region->nr_cpus) *saved = 0;
  if (err == 0 && *saved != 0) {
    // glibc never uses GS on x86-64, so any other base is someone else's: another copy of this
    // addon (two versions of percpu in node_modules) or another library. Taking GS from under it
    // would aim its offsets at our areas.
    return ThrowError(env, ErrorKind::kConflict,
                      "this thread's GS base is already in use (%#lx): another copy of percpu or another library owns GS here",
                      static_cast<unsigned long>(*saved));
  }
  if (err == 0) err = WriteGsBase(reinterpret_cast<uintptr_t>(area));
  if (err != 0) return ThrowError(env, ErrorKind::kSystem, "cannot set the GS base with %s: %s", GsMethod(), strerror(err));
  // Check that the segment really addresses the area before any op trusts it.
  if (ReadCpuNumberThroughGs() != cpu) {
    WriteGsBase(*saved);
    return ThrowError(env, ErrorKind::kSystem, "GS base was set with %s but %%gs:0 does not read CPU %d's number",
                      GsMethod(), cpu);
  }
  return true;
}
#endif

bool Bind(napi_env env, int64_t cpu) {
  if (!RequireRegion(env)) return false;
  const Region* region = GetRegion();
  if (cpu < 0 || cpu >= region->nr_cpus)
    return ThrowError(env, ErrorKind::kOutOfRange, "CPU %lld is out of range: the region has CPUs 0 to %u",
                      (long long)cpu, region->nr_cpus - 1);
  if (tls_this_cpu.cpu >= 0)
    return ThrowError(env, ErrorKind::kAlreadyBound, "this thread is already bound to CPU %d", tls_this_cpu.cpu);
  const uint64_t self = static_cast<uint64_t>(syscall(SYS_gettid));
  uint64_t expected = 0;
  if (!region->owners[cpu].compare_exchange_strong(expected, self, std::memory_order_acq_rel))
    return ThrowError(env, ErrorKind::kCpuTaken, "CPU %lld is already bound to another thread (tid %llu)",
                      (long long)cpu, (unsigned long long)expected);
  char* area = region->Area(static_cast<uint32_t>(cpu));
  uintptr_t saved = 0;
#if PERCPU_HAVE_GS
  if (region->backend == BackendId::kGs && !BindGs(env, region, static_cast<int32_t>(cpu), area, &saved)) {
    region->owners[cpu].store(0, std::memory_order_release);
    return false;
  }
#endif
  tls_this_cpu.saved_gs = saved;
  tls_this_cpu.area = area;
  tls_this_cpu.preempt_count = 0;
  tls_this_cpu.cpu = static_cast<int32_t>(cpu);
  return true;
}

static void UnbindUnchecked() {
  // Issue 8: a thread that takes part in simulated migration stops taking the scheduler's signals
  // and leaves it before its binding goes away (here, and at thread exit through UnbindForExit).
  LeaveScheduler();
  const Region* region = GetRegion();
  const int32_t cpu = tls_this_cpu.cpu;
  // Mark unbound first, so nothing on this thread addresses the area once the CPU is free.
  tls_this_cpu.cpu = -1;
  tls_this_cpu.area = nullptr;
  tls_this_cpu.preempt_count = 0;
#if PERCPU_HAVE_GS
  if (region->backend == BackendId::kGs) WriteGsBase(tls_this_cpu.saved_gs);
#endif
  region->owners[cpu].store(0, std::memory_order_release);
}

bool Unbind(napi_env env) {
  if (tls_this_cpu.cpu < 0) return ThrowError(env, ErrorKind::kNotBound, "this thread is not bound to a CPU");
  if (tls_this_cpu.preempt_count > 0)
    return ThrowError(env, ErrorKind::kGuard, "cannot unbind CPU %d while %u CpuGuard(s) are held on this thread",
                      tls_this_cpu.cpu, tls_this_cpu.preempt_count);
  UnbindUnchecked();
  return true;
}

void UnbindForExit() {
  if (tls_this_cpu.cpu >= 0) UnbindUnchecked();
}

// Issue 8: see region.h. Runs inside a signal handler: nothing here may lock, allocate or call
// anything that is not async-signal-safe.
bool MigrateFromSignalHandler(int32_t cpu, uint64_t self) {
  const Region* region = GetRegion();
  char* area = region->Area(static_cast<uint32_t>(cpu));
#if PERCPU_HAVE_GS
  if (region->backend == BackendId::kGs && WriteGsBase(reinterpret_cast<uintptr_t>(area)) != 0) return false;
#endif
  tls_this_cpu.area = area;
  tls_this_cpu.cpu = cpu;
  region->owners[cpu].store(self, std::memory_order_release);
  return true;
}

Allocation* AllocateDynamic(napi_env env, TypeId type, bool pair) {
  if (!RequireRegion(env)) return nullptr;
  DeferredError error;
  Allocation* allocation;
  {
    std::lock_guard<std::mutex> lock(g_alloc_mutex);
    allocation = AllocateLocked(type, pair);
    if (allocation == nullptr) {
      Stats stats{};
      g_allocator.Measure(&stats);
      error.Set(ErrorKind::kNoSpace, "the per-CPU area is full: no room for a %s (%llu bytes free, largest block %llu)",
                pair ? "u64 pair" : kTypes[static_cast<int>(type)].name, (unsigned long long)stats.free_bytes,
                (unsigned long long)stats.largest_free);
    }
  }
  error.ThrowIfSet(env);
  return allocation;
}

Allocation* DefineStatic(napi_env env, const std::string& name, TypeId type, uint64_t init_bits,
                         void (*write_init)(const Region*, uint32_t, uint64_t)) {
  if (!RequireRegion(env)) return nullptr;
  DeferredError error;
  Allocation* allocation = nullptr;
  {
    std::lock_guard<std::mutex> lock(g_alloc_mutex);
    auto found = g_statics.find(name);
    if (found != g_statics.end()) {
      allocation = found->second;
      if (allocation->type != type || allocation->static_init != init_bits) {
        error.Set(ErrorKind::kConflict, "per-CPU static '%s' is already defined as %s with another initial value or type",
                  name.c_str(), kTypes[static_cast<int>(allocation->type)].name);
        allocation = nullptr;
      }
    } else if ((allocation = AllocateLocked(type)) == nullptr) {
      error.Set(ErrorKind::kNoSpace, "the per-CPU area is full: no room for static '%s'", name.c_str());
    } else {
      allocation->is_static = true;
      allocation->static_init = init_bits;
      allocation->name = name;
      // Filled under the lock, so another thread defining the same name never sees it half set.
      write_init(GetRegion(), allocation->offset, init_bits);
      g_statics.emplace(name, allocation);
    }
  }
  error.ThrowIfSet(env);
  return allocation;
}

Allocation* FindStatic(const std::string& name) {
  std::lock_guard<std::mutex> lock(g_alloc_mutex);
  auto found = g_statics.find(name);
  return found == g_statics.end() ? nullptr : found->second;
}

void GetRef(Allocation* allocation) {
  std::lock_guard<std::mutex> lock(g_alloc_mutex);
  allocation->refs++;
}

void PutRef(Allocation* allocation) {
  std::lock_guard<std::mutex> lock(g_alloc_mutex);
  if (allocation->is_static) return;  // statics live as long as the region
  if (--allocation->refs == 0) FreeLocked(allocation);
}

int64_t RefCount(const Allocation* allocation) {
  std::lock_guard<std::mutex> lock(g_alloc_mutex);
  return allocation->live ? allocation->refs : 0;
}

uint64_t Share(Allocation* allocation) {
  std::lock_guard<std::mutex> lock(g_alloc_mutex);
  allocation->refs++;
  const uint64_t ticket = g_next_ticket++;
  g_tickets.emplace(ticket, allocation);
  return ticket;
}

Allocation* Redeem(uint64_t ticket) {
  std::lock_guard<std::mutex> lock(g_alloc_mutex);
  auto found = g_tickets.find(ticket);
  if (found == g_tickets.end()) return nullptr;
  Allocation* allocation = found->second;
  g_tickets.erase(found);
  return allocation;  // the ticket's reference now belongs to the caller
}

bool DropTicket(uint64_t ticket) {
  Allocation* allocation = Redeem(ticket);
  if (allocation == nullptr) return false;
  PutRef(allocation);
  return true;
}

Stats GetStats() {
  std::lock_guard<std::mutex> lock(g_alloc_mutex);
  Stats stats{};
  stats.live_allocations = g_live;
  stats.bytes_in_use = g_bytes;
  stats.tickets = g_tickets.size();
  g_allocator.Measure(&stats);
  return stats;
}

}  // namespace percpu
