// percpu_bench.node: the benchmark loops (bench/), built for `npm test` and `npm run bench`,
// never shipped. Each loop runs one per-CPU op N times inside native code, so that the JS call
// cost is out of the picture. Each is a noinline function with an unmangled name
// (percpu_bench_loop_*), so bench/disasm.ts finds it in objdump's output and counts the
// instructions of its loop body. JS passes a handle object, never an offset: the binding checks
// it (host_protocol.h's unwrap_handle). Also here: the floor of every call-path ratio, an empty
// raw Node-API call.
#include <node_api.h>
#include <time.h>

#include <atomic>
#include <cmath>
#include <string>

#include "../binding/args.h"
#include "../binding/host_client.h"
#include "../core/ops.h"

namespace percpu::bench {

// One counter shared by every thread, alone in its own 128 bytes (two cache lines, as the
// adjacent-line prefetcher pairs them), for the `lock add` on a shared counter.
struct alignas(128) SharedCounter {
  std::atomic<uint64_t> value{0};
};
SharedCounter g_shared;

// this_cpu_add(offset, value) on backend B: the one way into ops.h's op table from this file.
template <class B, typename T>
__attribute__((always_inline)) inline void Add(ThreadState& self, uintptr_t offset, T value) {
  B::template add<T>(self, offset, value, T{0});
}

}  // namespace percpu::bench

// ---------------------------------------------------------------- the loops
// Each adds 1 to its target n times. `#pragma GCC unroll 1` keeps one op per iteration, so the
// loop body is the op plus the loop's own increment, compare and branch (the empty loop's body).
extern "C" {

__attribute__((noinline)) void percpu_bench_loop_empty(uint64_t n) {
#pragma GCC unroll 1
  for (uint64_t i = 0; i < n; ++i) asm volatile("" ::: "memory");
}

#if PERCPU_HAVE_GS
// SAFETY: the caller checked that the thread is bound on a gs region and that `offset` is a live
// u64 allocation (see ops.h).
__attribute__((noinline)) void percpu_bench_loop_gs(percpu::ThreadState* self, uintptr_t offset, uint64_t n) {
#pragma GCC unroll 1
  for (uint64_t i = 0; i < n; ++i) percpu::bench::Add<percpu::GsBackend, uint64_t>(*self, offset, 1);
}
#endif

// SAFETY: the caller checked that the thread is bound and that `offset` is a live u64 allocation.
__attribute__((noinline)) void percpu_bench_loop_generic(percpu::ThreadState* self, uintptr_t offset, uint64_t n) {
#pragma GCC unroll 1
  for (uint64_t i = 0; i < n; ++i) percpu::bench::Add<percpu::GenericBackend, uint64_t>(*self, offset, 1);
}

// `lock add` on this CPU's own slot (its pointer computed once, as this_cpu_ptr() would).
__attribute__((noinline)) void percpu_bench_loop_lock_own(uint64_t* slot, uint64_t n) {
#pragma GCC unroll 1
  for (uint64_t i = 0; i < n; ++i) __atomic_fetch_add(slot, 1, __ATOMIC_RELAXED);
}

// `lock add` on one counter shared by all threads.
__attribute__((noinline)) void percpu_bench_loop_lock_shared(std::atomic<uint64_t>* counter, uint64_t n) {
#pragma GCC unroll 1
  for (uint64_t i = 0; i < n; ++i) counter->fetch_add(1, std::memory_order_relaxed);
}

}  // extern "C"

namespace percpu::bench {
namespace {

struct BenchModule {
  static inline HostSlot host;
  static constexpr const char* kName = "benchmark";
};
using Module = ClientModule<BenchModule>;

// The loops by name, in the order JS lists them (exports.loops).
enum class Loop { kEmpty, kGs, kGeneric, kLockOwn, kLockShared, kCount };
constexpr const char* kLoopNames[] = {"empty", "gs", "generic", "lockOwn", "lockShared"};
constexpr const char* kLoopSymbols[] = {"percpu_bench_loop_empty", "percpu_bench_loop_gs", "percpu_bench_loop_generic",
                                        "percpu_bench_loop_lock_own", "percpu_bench_loop_lock_shared"};
static_assert(sizeof(kLoopNames) / sizeof(kLoopNames[0]) == static_cast<size_t>(Loop::kCount));

uint64_t ClockNs(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}
// The clock of process.hrtime.bigint(), the same in every thread.
uint64_t NowNs() { return ClockNs(CLOCK_MONOTONIC); }
// The CPU time this thread has run: with the wall time, how many cores a run of threads really got.
uint64_t ThreadCpuNs() { return ClockNs(CLOCK_THREAD_CPUTIME_ID); }

napi_value BigInt(napi_env env, uint64_t value) {
  napi_value result;
  napi_create_bigint_uint64(env, value, &result);
  return result;
}

// A live u64 handle of the attached binding, on a bound thread: the offset of this CPU's slot.
bool GetBenchSlot(const Call& call, const HostTable* host, size_t i, uint32_t* offset) {
  napi_env env = call.env();
  HandleRef* ref = nullptr;
  if (!host->unwrap_handle(env, call[i], &ref)) return Throw(env, Code::kInvalidArg, "expected a per-CPU handle");
  if (!ref->live) return ThrowReleased(env);
  if (ref->type != TypeId::u64 || ref->pair) return Throw(env, Code::kInvalidArg, "the benchmark loops count in a u64 variable");
  if (!Bound(*host->this_thread())) return ThrowNotBound(env);
  *offset = ref->offset;
  return true;
}

// loop(method, handle, iterations) -> [startNs, endNs, cpuNs] (bigints: CLOCK_MONOTONIC at the
// start and end, and the thread's CPU time in between): runs the method's loop `iterations` times
// on this CPU. Every method needs a live u64 handle and a bound thread; gs, generic and lockOwn
// add to the handle's slot on this CPU, lockShared to the shared counter, empty to nothing.
napi_value RunLoop(napi_env env, napi_callback_info info) {
  Call call(env, info);
  const HostTable* host = Module::Host(env);
  if (host == nullptr) return nullptr;
  std::string name;
  if (!call.String(0, "loop", 64, &name)) return nullptr;
  int method = 0;
  while (method < static_cast<int>(Loop::kCount) && name != kLoopNames[method]) ++method;
  if (method == static_cast<int>(Loop::kCount))
    return Throw(env, Code::kInvalidArg, "unknown loop '%s'", name.c_str()), nullptr;
  uint32_t offset = 0;
  if (!GetBenchSlot(call, host, 1, &offset)) return nullptr;
  double count = -1;
  if (!call.Number(2, "iterations", 0, 9007199254740991.0, &count)) return nullptr;
  if (count != std::trunc(count)) return Throw(env, Code::kInvalidArg, "iterations must be an integer"), nullptr;
  const uint64_t n = static_cast<uint64_t>(count);
  const Loop loop = static_cast<Loop>(method);
  if (loop == Loop::kGs && (!PERCPU_HAVE_GS || host->region()->backend != BackendId::kGs))
    return Throw(env, Code::kBackendUnavailable, "the gs loop needs a region on the gs backend (GS points at the area only there)"),
           nullptr;
  ThreadState* self = host->this_thread();
  uint64_t* slot = reinterpret_cast<uint64_t*>(self->area + offset);
  const uint64_t cpu_start = ThreadCpuNs();
  const uint64_t start = NowNs();
  switch (loop) {
    case Loop::kEmpty: percpu_bench_loop_empty(n); break;
#if PERCPU_HAVE_GS
    case Loop::kGs: percpu_bench_loop_gs(self, offset, n); break;
#endif
    case Loop::kGeneric: percpu_bench_loop_generic(self, offset, n); break;
    case Loop::kLockOwn: percpu_bench_loop_lock_own(slot, n); break;
    case Loop::kLockShared: percpu_bench_loop_lock_shared(&g_shared.value, n); break;
    default: break;
  }
  const uint64_t end = NowNs();
  const uint64_t cpu_end = ThreadCpuNs();
  const napi_value times[3] = {BigInt(env, start), BigInt(env, end), BigInt(env, cpu_end - cpu_start)};
  return MakeArray(env, times, 3);
}

napi_value ThreadCpuTime(napi_env env, napi_callback_info) { return BigInt(env, ThreadCpuNs()); }
napi_value SharedCounterValue(napi_env env, napi_callback_info) { return BigInt(env, g_shared.value.load(std::memory_order_relaxed)); }
napi_value ResetSharedCounter(napi_env, napi_callback_info) {
  g_shared.value.store(0, std::memory_order_relaxed);
  return nullptr;
}

// The floor for the call-path ratios: a raw Node-API call that does nothing.
napi_value EmptyCall(napi_env, napi_callback_info) { return nullptr; }

}  // namespace
}  // namespace percpu::bench

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  using namespace percpu;
  using namespace percpu::bench;
  ObjectBuilder result(env);
  if (!Module::Begin(env, &result)) return nullptr;
  ObjectBuilder loops(env);
  for (int i = 0; i < static_cast<int>(Loop::kCount); ++i) {
    if (!PERCPU_HAVE_GS && static_cast<Loop>(i) == Loop::kGs) continue;  // not built
    loops.Str(kLoopNames[i], kLoopSymbols[i]);
  }
  return result
      .Set("loops", loops.Build())  // method -> the loop function's symbol, for the disassembly
      .Set("loop", Module::Function(env, "loop", RunLoop))
      .Set("threadCpuNs", Module::Function(env, "threadCpuNs", ThreadCpuTime))
      .Set("sharedCounter", Module::Function(env, "sharedCounter", SharedCounterValue))
      .Set("resetSharedCounter", Module::Function(env, "resetSharedCounter", ResetSharedCounter))
      .Set("emptyCall", Module::Function(env, "emptyCall", EmptyCall))
      .Build();
}
