// Benchmarks (bench/, issue 5). Two parts, both reached through `exports.bench`:
//
// 1. Native loops: one per-CPU op executed N times inside the addon, so that the JS call cost is
//    out of the picture. Each loop is a noinline function with an unmangled name
//    (percpu_bench_loop_*), so bench/disasm.ts finds it in objdump's output and counts the
//    instructions of its loop body. JS passes a handle object, never an offset.
// 2. Call-path experiments: variants of a `num().add()`-like function, to find what brings the JS
//    call close to an empty raw Node-API call (the results are in the README).
#include "bench.h"
#include "fast_ops.h"

#include <node_api.h>
#include <time.h>
#include <v8.h>

#include <atomic>
#include <cstring>

#include "errors.h"
#include "handle.h"
#include "op_callback.h"
#include "ops.h"
#include "region.h"

namespace percpu::bench {

// One counter shared by every thread, alone in its own 128 bytes (two cache lines, as the
// adjacent-line prefetcher pairs them), for the `lock add` on a shared counter.
struct alignas(128) SharedCounter {
  std::atomic<uint64_t> value{0};
};
SharedCounter g_shared;

}  // namespace percpu::bench

namespace percpu::bench {

// this_cpu_add(offset, value) on backend B: the one way into ops.h's op table from this file.
template <class B, typename T>
__attribute__((always_inline)) inline void Add(uintptr_t offset, T value) {
  B::template add<T>(offset, value, T{0});
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
__attribute__((noinline)) void percpu_bench_loop_gs(uintptr_t offset, uint64_t n) {
#pragma GCC unroll 1
  for (uint64_t i = 0; i < n; ++i) percpu::bench::Add<percpu::GsBackend, uint64_t>(offset, 1);
}
#endif

// SAFETY: the caller checked that the thread is bound and that `offset` is a live u64 allocation.
__attribute__((noinline)) void percpu_bench_loop_generic(uintptr_t offset, uint64_t n) {
#pragma GCC unroll 1
  for (uint64_t i = 0; i < n; ++i) percpu::bench::Add<percpu::GenericBackend, uint64_t>(offset, 1);
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

namespace percpu {
namespace {

// The loops by name, in the order JS lists them (exports.bench.loops).
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

// A live u64 handle, on a bound thread: the offset of this CPU's slot. Throws otherwise.
bool GetBenchSlot(napi_env env, napi_value handle, uint32_t* offset) {
  HandleRef* ref = nullptr;
  if (!UnwrapHandle(env, handle, &ref)) return false;
  if (!ref->live) return ThrowError(env, ErrorKind::kReleased, "this per-CPU handle has been released");
  if (ref->type != TypeId::u64) return ThrowError(env, ErrorKind::kInvalidArg, "the benchmark loops count in a u64 variable");
  if (!ThisThreadBound())
    return ThrowError(env, ErrorKind::kNotBound, "this thread is not bound to a CPU: bind it or run on a CpuSet");
  *offset = ref->offset;
  return true;
}

// loop(method, handle, iterations) -> [startNs, endNs, cpuNs] (bigints: CLOCK_MONOTONIC at the
// start and end, and the thread's CPU time in between): runs the
// method's loop `iterations` times on this CPU. Every method needs a live u64 handle and a bound
// thread; gs, generic and lockOwn add to the handle's slot on this CPU, lockShared to the shared
// counter, empty to nothing.
Napi::Value RunLoop(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  const std::string name = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : std::string();
  int method = 0;
  while (method < static_cast<int>(Loop::kCount) && name != kLoopNames[method]) ++method;
  if (method == static_cast<int>(Loop::kCount))
    return ThrowError(env, ErrorKind::kInvalidArg, "unknown loop '%s'", name.substr(0, 40).c_str()), Napi::Value();
  uint32_t offset = 0;
  if (!GetBenchSlot(env, info[1], &offset)) return Napi::Value();
  double count = -1;
  if (!info[2].IsNumber() || napi_get_value_double(env, info[2], &count) != napi_ok || count != std::trunc(count) ||
      count < 0 || count > 9007199254740991.0)
    return ThrowError(env, ErrorKind::kInvalidArg, "iterations must be an integer from 0 to 2^53 - 1"), Napi::Value();
  const uint64_t n = static_cast<uint64_t>(count);
  const Loop loop = static_cast<Loop>(method);
  if (loop == Loop::kGs && (!PERCPU_HAVE_GS || ActiveBackend() != BackendId::kGs))
    return ThrowError(env, ErrorKind::kBackendUnavailable, "the gs loop needs a region on the gs backend (GS points at the area only there)"),
           Napi::Value();
  uint64_t* slot = reinterpret_cast<uint64_t*>(tls_this_cpu.area + offset);
  const uint64_t cpu_start = ThreadCpuNs();
  const uint64_t start = NowNs();
  switch (loop) {
    case Loop::kEmpty: percpu_bench_loop_empty(n); break;
#if PERCPU_HAVE_GS
    case Loop::kGs: percpu_bench_loop_gs(offset, n); break;
#endif
    case Loop::kGeneric: percpu_bench_loop_generic(offset, n); break;
    case Loop::kLockOwn: percpu_bench_loop_lock_own(slot, n); break;
    case Loop::kLockShared: percpu_bench_loop_lock_shared(&bench::g_shared.value, n); break;
    default: break;
  }
  const uint64_t end = NowNs();
  const uint64_t cpu_end = ThreadCpuNs();
  Napi::Array result = Napi::Array::New(env, 3);
  result.Set(0u, Napi::BigInt::New(env, start));
  result.Set(1u, Napi::BigInt::New(env, end));
  result.Set(2u, Napi::BigInt::New(env, cpu_end - cpu_start));
  return result;
}

// threadCpuNs() -> this thread's CPU time (bigint ns), for the JS loops.
Napi::Value ThreadCpuTime(const Napi::CallbackInfo& info) { return Napi::BigInt::New(info.Env(), ThreadCpuNs()); }

Napi::Value SharedCounterValue(const Napi::CallbackInfo& info) {
  return Napi::BigInt::New(info.Env(), bench::g_shared.value.load(std::memory_order_relaxed));
}

Napi::Value ResetSharedCounter(const Napi::CallbackInfo& info) {
  bench::g_shared.value.store(0, std::memory_order_relaxed);
  return Napi::Value();
}

// ---------------------------------------------------------------- call-path experiments
// Each variant adds to this CPU's slot of one handle, like num().add(), with the same checks
// (the handle is live, the thread is bound) and, unless its name says otherwise, the same exact
// conversion of the argument. They differ only in how they get their data and argument. The
// "napiArg" variant is num()'s own exact callback, OpCallback<id, add, B> (op_callback.h).

napi_value NapiEmpty(napi_env, napi_callback_info) { return nullptr; }

// The argument fetched but not converted (adds 1): what napi_get_cb_info costs with an argument.
template <class B, TypeId id>
napi_value NapiArgUnconverted(napi_env env, napi_callback_info info) {
  using T = typename Numeric<id>::T;
  size_t argc = 1;
  napi_value arg;
  void* data;
  napi_get_cb_info(env, info, &argc, &arg, nullptr, &data);
  const HandleRef* ref = static_cast<const HandleRef*>(data);
  if (__builtin_expect(!ref->live, 0)) return ThrowReleased(env), nullptr;
  if (!ThisThreadBound()) return ThrowNotBound(env), nullptr;
  bench::Add<B, T>(ref->offset, T{1});
  return nullptr;
}

// inc(): no argument at all, only the data pointer.
template <class B, TypeId id>
napi_value NapiNoArg(napi_env env, napi_callback_info info) {
  using T = typename Numeric<id>::T;
  void* data;
  napi_get_cb_info(env, info, nullptr, nullptr, nullptr, &data);
  const HandleRef* ref = static_cast<const HandleRef*>(data);
  if (__builtin_expect(!ref->live, 0)) return ThrowReleased(env), nullptr;
  if (!ThisThreadBound()) return ThrowNotBound(env), nullptr;
  bench::Add<B, T>(ref->offset, T{1});
  return nullptr;
}

// napi_get_value_uint32 instead of _double: NOT exact (it truncates 1.5 to 1 and wraps -1), so
// not a candidate; measured to show what the conversion call itself costs.
template <class B>
napi_value NapiUint32(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  void* data;
  napi_get_cb_info(env, info, &argc, &arg, nullptr, &data);
  const HandleRef* ref = static_cast<const HandleRef*>(data);
  if (__builtin_expect(!ref->live, 0)) return ThrowReleased(env), nullptr;
  if (!ThisThreadBound()) return ThrowNotBound(env), nullptr;
  uint32_t value = 0;
  if (napi_get_value_uint32(env, arg, &value) != napi_ok)
    return ThrowError(env, ErrorKind::kInvalidArg, "a u32 value must be a number"), nullptr;
  bench::Add<B, uint32_t>(ref->offset, value);
  return nullptr;
}

// ---- the V8 API directly (Node 20 is V8 11.3): ToV8/ToNapi are fast_ops.h's, which num()'s
// own fast path uses.
void V8Empty(const v8::FunctionCallbackInfo<v8::Value>&) {}

// The V8 variants are bound like num()'s fast functions (fast_ops.h): a FastOp holding the ref
// and the exact Node-API variant, to which anything off the fast path goes (CallExact).

// The hot path with no Node-API call: data from the function's v8::External, the argument
// converted by V8 inline (a small integer for 8/16/32-bit types, a lossless bigint for 64-bit
// ones); anything else goes to the fallback, which throws exactly as num().add() does.
template <class B, TypeId id>
void V8Add(const v8::FunctionCallbackInfo<v8::Value>& info) {
  using T = typename Numeric<id>::T;
  FastOp* bound = static_cast<FastOp*>(info.Data().As<v8::External>()->Value());
  const HandleRef* ref = bound->ref;
  if (__builtin_expect(!ref->live || !ThisThreadBound() || info.Length() < 1, 0)) return CallExact(info, bound);
  v8::Local<v8::Value> arg = info[0];
  T value;
  if constexpr (!Numeric<id>::kBig) {
    if (__builtin_expect(!arg->IsInt32(), 0)) return CallExact(info, bound);
    const int32_t v = arg.As<v8::Int32>()->Value();
    if (__builtin_expect(static_cast<int64_t>(v) < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
                             static_cast<int64_t>(v) > static_cast<int64_t>(std::numeric_limits<T>::max()),
                         0))
      return CallExact(info, bound);
    value = static_cast<T>(v);
  } else {
    if (__builtin_expect(!arg->IsBigInt(), 0)) return CallExact(info, bound);
    bool lossless = false;
    if constexpr (std::is_signed_v<T>)
      value = static_cast<T>(arg.As<v8::BigInt>()->Int64Value(&lossless));
    else
      value = static_cast<T>(arg.As<v8::BigInt>()->Uint64Value(&lossless));
    if (__builtin_expect(!lossless, 0)) return CallExact(info, bound);
  }
  bench::Add<B, T>(ref->offset, value);
}

// inc() through the V8 API.
template <class B, TypeId id>
void V8NoArg(const v8::FunctionCallbackInfo<v8::Value>& info) {
  using T = typename Numeric<id>::T;
  FastOp* bound = static_cast<FastOp*>(info.Data().As<v8::External>()->Value());
  if (__builtin_expect(!bound->ref->live || !ThisThreadBound(), 0)) return CallExact(info, bound);
  bench::Add<B, T>(bound->ref->offset, T{1});
}

// A Node-API function bound to `ref` (one more JS owner, dropped when the function is collected).
napi_value MakeNapiFunction(napi_env env, const char* name, napi_callback cb, HandleRef* ref) {
  napi_value fn = nullptr;
  if (napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, ref, &fn) != napi_ok) return nullptr;
  if (ref != nullptr) {
    AddHandleOwner(ref);
    napi_add_finalizer(env, fn, ref, [](napi_env, void* data, void*) { DropHandleOwner(static_cast<HandleRef*>(data)); },
                       nullptr, nullptr);
  }
  return fn;
}

// A V8 API function bound to `ref` (a FastOp, freed with the function or at the thread's end),
// falling back to `fallback`; with no ref, a bare function with no data.
napi_value MakeV8Function(napi_env env, v8::FunctionCallback cb, HandleRef* ref, napi_value fallback) {
  if (ref != nullptr) return MakeFastFunction(env, cb, "v8Variant", 1, ref, fallback);
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  v8::Local<v8::Function> fn;
  if (!v8::Function::New(isolate->GetCurrentContext(), cb).ToLocal(&fn)) return nullptr;
  return ToNapi(fn);
}

template <class B, TypeId id>
Napi::Value MakeVariants(Napi::Env env, HandleRef* ref) {
  Napi::Object variants = Napi::Object::New(env);
  const napi_value exact = MakeNapiFunction(env, "napiArg", &OpCallback<id, OpId::add, B>, ref);
  variants.Set("napiEmpty", Napi::Value(env, MakeNapiFunction(env, "napiEmpty", &NapiEmpty, nullptr)));
  variants.Set("napiArg", Napi::Value(env, exact));
  variants.Set("napiArgUnconverted", Napi::Value(env, MakeNapiFunction(env, "napiArgUnconverted", &NapiArgUnconverted<B, id>, ref)));
  variants.Set("napiNoArg", Napi::Value(env, MakeNapiFunction(env, "napiNoArg", &NapiNoArg<B, id>, ref)));
  if constexpr (id == TypeId::u32)
    variants.Set("napiUint32", Napi::Value(env, MakeNapiFunction(env, "napiUint32", &NapiUint32<B>, ref)));
  variants.Set("v8Empty", Napi::Value(env, MakeV8Function(env, &V8Empty, nullptr, nullptr)));
  variants.Set("v8Add", Napi::Value(env, MakeV8Function(env, &V8Add<B, id>, ref, exact)));
  const napi_value exactNoArg = MakeNapiFunction(env, "napiNoArg", &NapiNoArg<B, id>, ref);
  variants.Set("v8NoArg", Napi::Value(env, MakeV8Function(env, &V8NoArg<B, id>, ref, exactNoArg)));
  return variants;
}

// callVariants(handle) -> { napiEmpty, napiArg, ..., v8Add, v8NoArg }: every variant bound to
// this u32 or u64 handle, on the region's backend.
Napi::Value CallVariants(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  HandleRef* ref = nullptr;
  if (!UnwrapHandle(env, info[0], &ref)) return Napi::Value();
  if (!ref->live) return ThrowReleased(env), Napi::Value();
  if (GetRegion() == nullptr) return ThrowError(env, ErrorKind::kNotSetUp, "the per-CPU region is not set up"), Napi::Value();
  if (ref->type != TypeId::u32 && ref->type != TypeId::u64)
    return ThrowError(env, ErrorKind::kInvalidArg, "the call-path experiments take a u32 or u64 variable"), Napi::Value();
  return WithBackend([&]<class B>() {
    return ref->type == TypeId::u32 ? MakeVariants<B, TypeId::u32>(info.Env(), ref) : MakeVariants<B, TypeId::u64>(info.Env(), ref);
  });
}

}  // namespace

void RegisterBench(Napi::Env env, Napi::Object exports) {
  Napi::Object bench = Napi::Object::New(env);
  Napi::Object loops = Napi::Object::New(env);
  for (int i = 0; i < static_cast<int>(Loop::kCount); ++i) {
    if (!PERCPU_HAVE_GS && static_cast<Loop>(i) == Loop::kGs) continue;  // not built
    loops.Set(kLoopNames[i], kLoopSymbols[i]);
  }
  bench.Set("loops", loops);  // method -> the loop function's symbol, for the disassembly
  bench.Set("loop", Napi::Function::New<RunLoop>(env, "loop"));
  bench.Set("threadCpuNs", Napi::Function::New<ThreadCpuTime>(env, "threadCpuNs"));
  bench.Set("sharedCounter", Napi::Function::New<SharedCounterValue>(env, "sharedCounter"));
  bench.Set("resetSharedCounter", Napi::Function::New<ResetSharedCounter>(env, "resetSharedCounter"));
  bench.Set("callVariants", Napi::Function::New<CallVariants>(env, "callVariants"));
  exports.Set("bench", bench);
}

}  // namespace percpu
