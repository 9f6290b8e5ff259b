#include "region.h"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>

namespace percpu {

__thread ThreadState tls_this_cpu __attribute__((tls_model("initial-exec"))) = {-1, 0, 0, nullptr};

namespace {

std::mutex g_setup_mutex;
std::atomic<const Region*> g_region{nullptr};
std::atomic<BeforeUnbindHook> g_before_unbind{nullptr};

size_t PageSize() {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

// Picks the backend for a new region. Fails only when GS was asked for by name and cannot work
// here: that is an error, never a silent fallback.
bool ChooseBackend(BackendRequest request, const char* source, Region* region, Status* status) {
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
  if (gs::Probe(why, sizeof why)) {
    region->backend = BackendId::kGs;
    snprintf(region->reason, sizeof region->reason, "%s; GS base set with %s",
             request == BackendRequest::kGs ? requested_by : "auto: GS works here", gs::Method());
    return true;
  }
#else
  snprintf(why, sizeof why, "this build has no GS backend (it needs Linux on x86-64)");
#endif
  if (request == BackendRequest::kGs)
    return status->Fail(Code::kBackendUnavailable, "the gs backend was requested by %s but cannot work here: %s", source,
                        why);
  region->backend = BackendId::kGeneric;
  region->fell_back = true;
  snprintf(region->reason, sizeof region->reason, "auto fell back from gs: %s", why);
  return true;
}

// Under g_setup_mutex.
const Region* SetupLocked(uint32_t nr_cpus, uint32_t area_size, BackendRequest backend, const char* source,
                          Status* status) {
  if (const Region* existing = g_region.load(std::memory_order_acquire)) {
    const bool same_backend = backend == BackendRequest::kAuto ||
                              (backend == BackendRequest::kGs) == (existing->backend == BackendId::kGs);
    if (existing->nr_cpus == nr_cpus && existing->area_size == area_size && same_backend) return existing;
    status->Fail(Code::kConflict,
                 "the per-CPU region is already set up with %u CPUs of %u bytes on the %s backend; it lives until the "
                 "process exits",
                 existing->nr_cpus, existing->area_size, existing->backend == BackendId::kGs ? "gs" : "generic");
    return nullptr;
  }
  Region choice{};
  if (!ChooseBackend(backend, source, &choice, status)) return nullptr;
  const size_t stride = area_size + PageSize();  // one PROT_NONE guard page after every area
  const size_t total = stride * nr_cpus;
  void* base = mmap(nullptr, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) {
    status->Fail(Code::kSystem, "mmap of the per-CPU region (%zu bytes) failed: %s", total, strerror(errno));
    return nullptr;
  }
  for (uint32_t cpu = 0; cpu < nr_cpus; ++cpu) {
    if (mprotect(static_cast<char*>(base) + cpu * stride, area_size, PROT_READ | PROT_WRITE) != 0) {
      status->Fail(Code::kSystem, "mprotect of CPU %u's area failed: %s", cpu, strerror(errno));
      munmap(base, total);  // nothing points into it yet
      return nullptr;
    }
  }
  auto* region = new Region(choice);
  region->base = static_cast<char*>(base);
  region->nr_cpus = nr_cpus;
  region->area_size = area_size;
  region->stride = stride;
  region->owners = new std::atomic<uint64_t>[nr_cpus];
  for (uint32_t cpu = 0; cpu < nr_cpus; ++cpu) {
    region->owners[cpu].store(0, std::memory_order_relaxed);
    *RemotePtr<int32_t>(region, cpu, kCpuNumberOffset) = static_cast<int32_t>(cpu);
  }
  // SAFETY: deliberately never freed or unmapped: threads may hold GS bases into it until the
  // process exits.
  g_region.store(region, std::memory_order_release);
  return region;
}

#if PERCPU_HAVE_GS
// Points this thread's GS base at `area` and checks it. On success `saved` is the base to
// restore at unbind. Fails leaving the GS base as it was.
bool BindGs(const Region* region, int32_t cpu, char* area, uintptr_t* saved, Status* status) {
  int err = gs::ReadBase(saved);
  // A new thread inherits its creator's GS base, so a worker started by a bound thread arrives
  // pointing into our region: that base is stale, and unbind() should leave 0 behind.
  const uintptr_t region_begin = reinterpret_cast<uintptr_t>(region->base);
  if (*saved >= region_begin && *saved < region_begin + region->stride * region->nr_cpus) *saved = 0;
  if (err == 0 && *saved != 0) {
    // glibc never uses GS on x86-64, so any other base is someone else's: another copy of this
    // addon (two versions of percpu in node_modules) or another library. Taking GS from under it
    // would aim its offsets at our areas.
    return status->Fail(Code::kConflict,
                        "this thread's GS base is already in use (%#lx): another copy of percpu or another library "
                        "owns GS here",
                        static_cast<unsigned long>(*saved));
  }
  if (err == 0) err = gs::WriteBase(reinterpret_cast<uintptr_t>(area));
  if (err != 0) return status->Fail(Code::kSystem, "cannot set the GS base with %s: %s", gs::Method(), strerror(err));
  // Check that the segment really addresses the area before any op trusts it.
  if (gs::ReadI32(kCpuNumberOffset) != cpu) {
    gs::WriteBase(*saved);
    return status->Fail(Code::kSystem, "GS base was set with %s but %%gs:0 does not read CPU %d's number", gs::Method(),
                        cpu);
  }
  return true;
}
#endif

void UnbindUnchecked() {
  if (BeforeUnbindHook hook = g_before_unbind.load(std::memory_order_acquire)) hook();
  const Region* region = GetRegion();
  const int32_t cpu = tls_this_cpu.cpu;
  // Mark unbound first, so nothing on this thread addresses the area once the CPU is free.
  tls_this_cpu.cpu = -1;
  tls_this_cpu.area = nullptr;
  tls_this_cpu.preempt_count = 0;
#if PERCPU_HAVE_GS
  if (region->backend == BackendId::kGs) gs::WriteBase(tls_this_cpu.saved_gs);
#endif
  region->owners[cpu].store(0, std::memory_order_release);
}

}  // namespace

const Region* GetRegion() { return g_region.load(std::memory_order_acquire); }

const Region* RequireRegion(Status* status) {
  if (const Region* region = GetRegion()) return region;
  status->Fail(Code::kNotSetUp, "the per-CPU region is not set up: call setup() or start a CpuSet first");
  return nullptr;
}

#if PERCPU_HAVE_GS
bool ReadGsBaseForDiagnostics(uintptr_t* base) { return gs::ReadBase(base) == 0; }
#else
bool ReadGsBaseForDiagnostics(uintptr_t*) { return false; }
#endif

uint64_t ThisThreadId() { return static_cast<uint64_t>(syscall(SYS_gettid)); }

const Region* SetupRegion(int64_t nr_cpus, int64_t area_size, BackendRequest backend, const char* source,
                          Status* status) {
  if (nr_cpus < 1 || nr_cpus > kMaxCpus) {
    status->Fail(Code::kOutOfRange, "cpus must be an integer from 1 to %u, got %lld", kMaxCpus, (long long)nr_cpus);
    return nullptr;
  }
  if (area_size < static_cast<int64_t>(kMinAreaSize) || area_size > kMaxAreaSize) {
    status->Fail(Code::kOutOfRange, "areaSize must be from %u to %u bytes, got %lld", kMinAreaSize, kMaxAreaSize,
                 (long long)area_size);
    return nullptr;
  }
  // Page-aligned areas: no two CPUs ever share a cache line (or a page).
  const size_t page = PageSize();
  const uint32_t rounded = static_cast<uint32_t>((area_size + page - 1) / page * page);
  std::lock_guard<std::mutex> lock(g_setup_mutex);
  return SetupLocked(static_cast<uint32_t>(nr_cpus), rounded, backend, source, status);
}

bool Bind(int64_t cpu, Status* status) {
  const Region* region = RequireRegion(status);
  if (region == nullptr) return false;
  if (cpu < 0 || cpu >= region->nr_cpus)
    return status->Fail(Code::kOutOfRange, "CPU %lld is out of range: the region has CPUs 0 to %u", (long long)cpu,
                        region->nr_cpus - 1);
  if (tls_this_cpu.cpu >= 0) return status->Fail(Code::kAlreadyBound, "this thread is already bound to CPU %d", tls_this_cpu.cpu);
  const uint64_t self = ThisThreadId();
  uint64_t expected = 0;
  if (!region->owners[cpu].compare_exchange_strong(expected, self, std::memory_order_acq_rel))
    return status->Fail(Code::kCpuTaken, "CPU %lld is already bound to another thread (tid %llu)", (long long)cpu,
                        (unsigned long long)expected);
  char* area = region->Area(static_cast<uint32_t>(cpu));
  uintptr_t saved = 0;
#if PERCPU_HAVE_GS
  if (region->backend == BackendId::kGs && !BindGs(region, static_cast<int32_t>(cpu), area, &saved, status)) {
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

bool Unbind(Status* status) {
  if (tls_this_cpu.cpu < 0) return status->Fail(Code::kNotBound, "this thread is not bound to a CPU");
  if (tls_this_cpu.preempt_count > 0)
    return status->Fail(Code::kGuard, "cannot unbind CPU %d while %u CpuGuard(s) are held on this thread",
                        tls_this_cpu.cpu, tls_this_cpu.preempt_count);
  UnbindUnchecked();
  return true;
}

void UnbindForExit() {
  if (tls_this_cpu.cpu >= 0) UnbindUnchecked();
}

void SetBeforeUnbindHook(BeforeUnbindHook hook) { g_before_unbind.store(hook, std::memory_order_release); }

bool MigrateFromSignalHandler(int32_t cpu, uint64_t self) {
  const Region* region = GetRegion();
  char* area = region->Area(static_cast<uint32_t>(cpu));
#if PERCPU_HAVE_GS
  if (region->backend == BackendId::kGs && gs::WriteBase(reinterpret_cast<uintptr_t>(area)) != 0) return false;
#endif
  tls_this_cpu.area = area;
  tls_this_cpu.cpu = cpu;
  region->owners[cpu].store(self, std::memory_order_release);
  return true;
}

}  // namespace percpu
