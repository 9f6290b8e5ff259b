// percpu_sim.node: the race demo's native loops (lib's runRace and `percpu race`), built and
// shipped as their own module: they are never part of percpu.node. They work on the binding's
// region, threads and scheduler through the host table (native/binding/host_protocol.h).
//
// raceLoop(method, counterName, stop, maxMs, windowNs) adds 1 to this CPU's slot of the u64 static
// `counterName` in a loop until stop[0] (an Int32Array, on a SharedArrayBuffer) is not 0, or for at
// most `maxMs`; meanwhile the interrupt handler adds 1 to the same slot (a gs add for the gs
// method, a raw generic add otherwise). Returns { iterations, irqAdds }. The caller sets stop[0]
// when the run, the worker or the process ends, so a loop returns within microseconds.
#include <node_api.h>
#include <time.h>

#include <string>

#include "../binding/args.h"
#include "../binding/host_client.h"
#include "../core/ops.h"

namespace percpu::sim {

namespace {

struct SimModule {
  static inline HostSlot host;
  static constexpr const char* kName = "simulator";
};
using Module = ClientModule<SimModule>;

enum class RaceMethod : uint32_t { kGs, kRaw, kGuard, kIrqSave, kCount };

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

// Busy work for `ns` nanoseconds (the window and the work between ops).
void SpinNs(int64_t ns) {
  if (ns <= 0) return;
  const int64_t end = NowNs() + ns;
  while (NowNs() < end) CpuRelax();
}

// The generic add with its window held open: this CPU's pointer, the load, `window_ns` of work,
// the store. A migration or an interrupt inside the window makes the store stale.
inline void GenericIncrementWithWindow(ThreadState& self, uint32_t offset, int64_t window_ns) {
  __atomic_signal_fence(__ATOMIC_SEQ_CST);  // this_cpu_ptr() is computed afresh for every op
  uint64_t* slot = GenericBackend::ThisCpuPtr<uint64_t>(self, offset);
  const uint64_t old = __atomic_load_n(slot, __ATOMIC_RELAXED);
  SpinNs(window_ns);
  __atomic_store_n(slot, old + 1, __ATOMIC_RELAXED);
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
}

// SAFETY: the caller checked that `self` is bound (and on the gs backend for kGs) and that `offset`
// is a u64 static (statics live as long as the region).
template <RaceMethod kMethod>
uint64_t RaceLoop(const HostTable* host, ThreadState& self, uint32_t offset, const int32_t* stop, int64_t end_ns,
                  int64_t window_ns) {
  const auto over = [&] { return __atomic_load_n(stop, __ATOMIC_RELAXED) != 0 || NowNs() >= end_ns; };
  uint64_t n = 0;
  if constexpr (kMethod == RaceMethod::kGs) {
    // this_cpu_add(): one instruction, add %reg,%gs:(off), back to back. It has no window to widen:
    // a migration or an interrupt lands before it or after it, never inside.
    for (;; ++n) {
      if ((n & 1023) == 0 && over()) return n;
#if PERCPU_HAVE_GS
      GsBackend::add<uint64_t>(self, offset, 1, 0);
#endif
    }
  } else {
    for (;; ++n) {
      if ((n & 15) == 0 && over()) return n;
      if constexpr (kMethod == RaceMethod::kRaw) {
        GenericIncrementWithWindow(self, offset, window_ns);  // raw_cpu_add(): nothing held off
      } else if constexpr (kMethod == RaceMethod::kGuard) {
        GenericBackend::PreemptOff off(self);  // preempt_disable() (a CpuGuard): no migration; interrupts still come
        GenericIncrementWithWindow(self, offset, window_ns);
      } else {
        sigset_t saved;
        host->irqs_off(&saved);  // local_irq_save(): no interrupt, and no migration (its signal waits too)
        GenericIncrementWithWindow(self, offset, window_ns);
        host->irqs_restore(&saved);
      }
      SpinNs(window_ns);  // as much work again between ops, with nothing held off
    }
  }
}

napi_value RaceLoopJs(napi_env env, napi_callback_info info) {
  Call call(env, info);
  const HostTable* host = Module::Host(env);
  if (host == nullptr) return nullptr;
  double method = 0, ms = 0, window = 0;
  std::string name;
  if (!call.Number(0, "method", 0, static_cast<double>(RaceMethod::kCount) - 1, &method) ||
      !call.String(1, "a race counter's name", 1024, &name))
    return nullptr;
  if (method != static_cast<uint32_t>(method)) return Throw(env, Code::kInvalidArg, "method must be an integer"), nullptr;
  uint32_t offset = 0;
  if (!host->find_u64_static(name.c_str(), &offset))
    return Throw(env, Code::kInvalidArg, "a race counter must be a u64 static per-CPU variable"), nullptr;
  bool is_typed = false;
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  napi_is_typedarray(env, call[2], &is_typed);
  if (is_typed) napi_get_typedarray_info(env, call[2], &type, &length, &data, nullptr, nullptr);
  if (!is_typed || type != napi_int32_array || length < 1)
    return Throw(env, Code::kInvalidArg, "stop must be an Int32Array"), nullptr;
  // The array's memory lives at least as long as this call: the argument holds it.
  const int32_t* stop = static_cast<const int32_t*>(data);
  if (!call.Number(3, "maxMs", 0, 3'600'000, &ms) || !call.Number(4, "windowNs", 0, 1e7, &window))
    return nullptr;
  ThreadState& self = *host->this_thread();
  if (!Bound(self)) return ThrowNotBound(env), nullptr;
  const auto kind = static_cast<RaceMethod>(static_cast<uint32_t>(method));
  const Region* region = host->region();
  if (kind == RaceMethod::kGs && (!PERCPU_HAVE_GS || region->backend != BackendId::kGs))
    return Throw(env, Code::kBackendUnavailable,
                 "GS is not set on this region's threads: the gs race needs a region on the gs backend"),
           nullptr;
  uint64_t ignored = 0;
  Status status;
  const uint32_t action = kind == RaceMethod::kGs ? 1 : 2;  // sched::IrqAction kAddGs / kAddGeneric
  if (!host->set_irq_action(action, offset, &ignored, &status)) return ThrowStatus(env, status), nullptr;
  const int64_t end = NowNs() + static_cast<int64_t>(ms * 1e6), window_ns = static_cast<int64_t>(window);
  uint64_t n = 0;
  switch (kind) {
    case RaceMethod::kGs: n = RaceLoop<RaceMethod::kGs>(host, self, offset, stop, end, window_ns); break;
    case RaceMethod::kRaw: n = RaceLoop<RaceMethod::kRaw>(host, self, offset, stop, end, window_ns); break;
    case RaceMethod::kGuard: n = RaceLoop<RaceMethod::kGuard>(host, self, offset, stop, end, window_ns); break;
    default: n = RaceLoop<RaceMethod::kIrqSave>(host, self, offset, stop, end, window_ns); break;
  }
  uint64_t irq_adds = 0;
  host->set_irq_action(0, 0, &irq_adds, &status);  // off, and the adds it made
  return ObjectBuilder(env).Number("iterations", static_cast<double>(n)).Number("irqAdds", static_cast<double>(irq_adds)).Build();
}

}  // namespace

}  // namespace percpu::sim

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  using namespace percpu;
  using Module = sim::Module;
  ObjectBuilder result(env);
  if (!Module::Begin(env, &result)) return nullptr;
  return result.Set("raceLoop", Module::Function(env, "raceLoop", sim::RaceLoopJs)).Build();
}
