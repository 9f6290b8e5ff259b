// The JS face of the addon. Cold paths (set-up, binding, allocation, remote access) use
// node-addon-api; the op path is a raw Node-API callback per (type, op, backend) whose data
// pointer is the handle: JS call -> one argument conversion -> one instruction.
#include <napi.h>

#include <array>
#include <string>

#include "bench.h"
#include "env_data.h"
#include "errors.h"
#include "fast_ops.h"
#include "handle.h"
#include "op_callback.h"
#include "numeric.h"
#include "ops.h"
#include "region.h"
#include "scheduler.h"

namespace percpu {

namespace {

HandleRef* NewRef(Allocation* allocation) {
  return new HandleRef{allocation->offset, true, allocation->is_static, allocation->pair, allocation->type, allocation, 0};
}

void DropLiveRef(HandleRef* ref) {
  if (!ref->live) return;
  ref->live = false;
  PutRef(ref->allocation);
}

void DropOwner(HandleRef* ref) {
  if (--ref->js_owners > 0) return;
  DropLiveRef(ref);  // the handle was only dropped, not released: do what release() would
  delete ref;
}

void FinalizeOpFunction(napi_env, void* data, void*) { DropOwner(static_cast<HandleRef*>(data)); }

// The table of both callbacks per (type, op), for one backend: the fast V8 one and the exact one.
struct OpCallbacks {
  v8::FunctionCallback fast;
  napi_callback exact;
};

template <TypeId id, class B>
constexpr std::array<OpCallbacks, kOpCount> OpRow() {
#define PERCPU_ROW_ENTRY(op, js, operands, returns, form, insn, oper) \
  OpCallbacks{&FastOpCallback<id, OpId::op, B>, &OpCallback<id, OpId::op, B>},
  return {PERCPU_OPS(PERCPU_ROW_ENTRY)};
#undef PERCPU_ROW_ENTRY
}

template <class B>
constexpr std::array<std::array<OpCallbacks, kOpCount>, kTypeCount> kOpTable = {
#define PERCPU_TABLE_ROW(name, ctype, big) OpRow<TypeId::name, B>(),
    PERCPU_NUMERIC_TYPES(PERCPU_TABLE_ROW)
#undef PERCPU_TABLE_ROW
};

// The floor for benchmarks: a raw Node-API call that does nothing.
napi_value EmptyCall(napi_env, napi_callback_info) { return nullptr; }

// ---------------------------------------------------------------- argument helpers (cold)
bool GetInteger(napi_env env, const Napi::Value& value, const char* what, int64_t* out) {
  double d;
  if (!value.IsNumber() || napi_get_value_double(env, value, &d) != napi_ok || !std::isfinite(d) || d != std::trunc(d))
    return ThrowError(env, ErrorKind::kInvalidArg, "%s must be an integer", what);
  if (d < -9007199254740991.0 || d > 9007199254740991.0)
    return ThrowError(env, ErrorKind::kOutOfRange, "%s is out of range", what);
  *out = static_cast<int64_t>(d);
  return true;
}

bool GetTypeId(napi_env env, const Napi::Value& value, TypeId* out) {
  int64_t index = 0;
  if (!GetInteger(env, value, "type", &index)) return false;
  if (index < 0 || index >= kTypeCount)
    return ThrowError(env, ErrorKind::kInvalidArg, "unknown numeric type index %lld", (long long)index);
  *out = static_cast<TypeId>(index);
  return true;
}

bool GetCpu(napi_env env, const Napi::Value& value, uint32_t* cpu) {
  int64_t index = 0;
  if (!GetInteger(env, value, "cpu", &index)) return false;
  const Region* region = GetRegion();
  if (region == nullptr) return ThrowError(env, ErrorKind::kNotSetUp, "the per-CPU region is not set up");
  if (index < 0 || index >= region->nr_cpus)
    return ThrowError(env, ErrorKind::kOutOfRange, "CPU %lld is out of range: the region has CPUs 0 to %u",
                      (long long)index, region->nr_cpus - 1);
  *cpu = static_cast<uint32_t>(index);
  return true;
}

template <TypeId id>
void WriteAllCpus(const Region* region, uint32_t offset, uint64_t bits) {
  using T = typename Numeric<id>::T;
  for (uint32_t cpu = 0; cpu < region->nr_cpus; ++cpu)
    __atomic_store_n(RemotePtr<T>(region, cpu, offset), static_cast<T>(bits), __ATOMIC_RELAXED);
}

using WriteAllFn = void (*)(const Region*, uint32_t, uint64_t);
constexpr WriteAllFn kWriteAll[] = {
#define PERCPU_WRITE_ALL(name, ctype, big) &WriteAllCpus<TypeId::name>,
    PERCPU_NUMERIC_TYPES(PERCPU_WRITE_ALL)
#undef PERCPU_WRITE_ALL
};

template <TypeId id>
bool ToBits(napi_env env, napi_value value, uint64_t* bits) {
  typename Numeric<id>::T v;
  if (!FromJs<id>(env, value, &v)) return false;
  *bits = static_cast<uint64_t>(static_cast<std::make_unsigned_t<typename Numeric<id>::T>>(v));
  return true;
}

bool ValueToBits(napi_env env, TypeId type, napi_value value, uint64_t* bits) {
  return DispatchType(type, [&]<TypeId id>() { return ToBits<id>(env, value, bits); });
}

// ---------------------------------------------------------------- the handle object
// Marks handle objects made by this addon, so that UnwrapHandle accepts no other object.
constexpr napi_type_tag kHandleTypeTag = {0x70657263707568ddULL, 0x68616e646c65a11eULL};

class NativeHandle : public Napi::ObjectWrap<NativeHandle> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeHandle",
                       {
                           InstanceMethod<&NativeHandle::Read>("read"),
                           InstanceMethod<&NativeHandle::Write>("write"),
                           InstanceMethod<&NativeHandle::ReadRemote>("readRemote"),
                           InstanceMethod<&NativeHandle::WriteRemote>("writeRemote"),
                           InstanceMethod<&NativeHandle::Sum>("sum"),
                           InstanceMethod<&NativeHandle::Ops>("ops"),
                           InstanceMethod<&NativeHandle::Clone>("clone"),
                           InstanceMethod<&NativeHandle::Share>("share"),
                           InstanceMethod<&NativeHandle::Release>("release"),
                           InstanceMethod<&NativeHandle::CmpxchgDouble>("cmpxchgDouble"),
                           InstanceMethod<&NativeHandle::ReadPair>("readPair"),
                           InstanceMethod<&NativeHandle::WritePair>("writePair"),
                           InstanceAccessor<&NativeHandle::IsPair>("pair"),
                           InstanceAccessor<&NativeHandle::Live>("live"),
                           InstanceAccessor<&NativeHandle::RefCountGetter>("refCount"),
                           InstanceAccessor<&NativeHandle::Offset>("offset"),
                           InstanceAccessor<&NativeHandle::Type>("type"),
                           InstanceAccessor<&NativeHandle::IsStatic>("isStatic"),
                       });
  }

  // Wraps `ref` in a new JS object. The only way to make one: JS cannot name a ref.
  static Napi::Value Make(Napi::Env env, HandleRef* ref) {
    EnvData* data = EnvData::Get(env);
    napi_value ctor, object = nullptr;
    napi_get_reference_value(env, data->handle_class, &ctor);
    data->pending_ref = ref;
    napi_new_instance(env, ctor, 0, nullptr, &object);
    data->pending_ref = nullptr;
    if (ref->js_owners == 0) {  // construction failed: give back what the ref holds
      DropLiveRef(ref);
      delete ref;
      return Napi::Value();
    }
    return Napi::Value(env, object);
  }

  explicit NativeHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeHandle>(info) {
    EnvData* data = EnvData::Get(info.Env());
    ref_ = data->pending_ref;
    if (ref_ == nullptr) {
      ThrowError(info.Env(), ErrorKind::kInvalidArg, "per-CPU handles are made by the library, not constructed from JS");
      return;
    }
    data->pending_ref = nullptr;
    ref_->js_owners++;
    napi_type_tag_object(info.Env(), info.This(), &kHandleTypeTag);  // for UnwrapHandle
  }

  ~NativeHandle() override {
    if (ref_ != nullptr) DropOwner(ref_);
  }

 private:
  // ref_ is null only in an object that JS tried to construct itself; such a constructor throws,
  // but every method still checks.
  bool RequireLive(napi_env env) const { return (ref_ != nullptr && ref_->live) || ThrowReleased(env); }

  // this_cpu_read / this_cpu_write on the active backend, for the guarded token's slot.
  Napi::Value Read(const Napi::CallbackInfo& info) {
    napi_env env = info.Env();
    if (!RequireLive(env)) return Napi::Value();
    if (!ThisThreadBound()) return ThrowNotBound(env), Napi::Value();
    return Napi::Value(env, WithBackend([&]<class B>() {
                         return DispatchType(ref_->type, [&]<TypeId id>() {
                           return ToJs<id>(env, B::template read<typename Numeric<id>::T>(ref_->offset, 0, 0));
                         });
                       }));
  }

  Napi::Value Write(const Napi::CallbackInfo& info) {
    napi_env env = info.Env();
    if (!RequireLive(env)) return Napi::Value();
    if (!ThisThreadBound()) return ThrowNotBound(env), Napi::Value();
    WithBackend([&]<class B>() {
      return DispatchType(ref_->type, [&]<TypeId id>() {
        typename Numeric<id>::T value;
        if (FromJs<id>(env, info[0], &value)) B::template write<typename Numeric<id>::T>(ref_->offset, value, 0);
        return 0;
      });
    });
    return Napi::Value();
  }

  // per_cpu_ptr(x, cpu): any CPU's slot, from any thread, as one naturally aligned load or store.
  Napi::Value ReadRemote(const Napi::CallbackInfo& info) {
    napi_env env = info.Env();
    uint32_t cpu = 0;
    if (!RequireLive(env) || !GetCpu(env, info[0], &cpu)) return Napi::Value();
    const Region* region = GetRegion();
    return Napi::Value(env, DispatchType(ref_->type, [&]<TypeId id>() {
                         using T = typename Numeric<id>::T;
                         return ToJs<id>(env, __atomic_load_n(RemotePtr<T>(region, cpu, ref_->offset), __ATOMIC_RELAXED));
                       }));
  }

  Napi::Value WriteRemote(const Napi::CallbackInfo& info) {
    napi_env env = info.Env();
    uint32_t cpu = 0;
    if (!RequireLive(env) || !GetCpu(env, info[0], &cpu)) return Napi::Value();
    const Region* region = GetRegion();
    DispatchType(ref_->type, [&]<TypeId id>() {
      using T = typename Numeric<id>::T;
      T value;
      if (FromJs<id>(env, info[1], &value))
        __atomic_store_n(RemotePtr<T>(region, cpu, ref_->offset), value, __ATOMIC_RELAXED);
      return 0;
    });
    return Napi::Value();
  }

  // The exact sum over all CPUs (no wrap-around): a number for 8/16/32-bit types, a bigint otherwise.
  Napi::Value Sum(const Napi::CallbackInfo& info) {
    napi_env env = info.Env();
    if (!RequireLive(env)) return Napi::Value();
    const Region* region = GetRegion();
    return Napi::Value(env, DispatchType(ref_->type, [&]<TypeId id>() -> napi_value {
                         using T = typename Numeric<id>::T;
                         __int128 total = 0;
                         for (uint32_t cpu = 0; cpu < region->nr_cpus; ++cpu)
                           total += __atomic_load_n(RemotePtr<T>(region, cpu, ref_->offset), __ATOMIC_RELAXED);
                         napi_value result;
                         if constexpr (!Numeric<id>::kBig) {
                           napi_create_double(env, static_cast<double>(total), &result);
                         } else {
                           const int sign = total < 0;
                           const unsigned __int128 magnitude =
                               sign ? -static_cast<unsigned __int128>(total) : static_cast<unsigned __int128>(total);
                           const uint64_t words[2] = {static_cast<uint64_t>(magnitude), static_cast<uint64_t>(magnitude >> 64)};
                           napi_create_bigint_words(env, sign, 2, words, &result);
                         }
                         return result;
                       }));
  }

  // The op functions for this handle: {add, sub, ...}, each a raw callback bound to the ref,
  // from the active backend's table.
  Napi::Value Ops(const Napi::CallbackInfo& info) {
    napi_env env = info.Env();
    if (!RequireLive(env)) return Napi::Value();
    const auto& row = WithBackend([&]<class B>() -> const auto& { return kOpTable<B>[static_cast<int>(ref_->type)]; });
    const bool fast = FastPathWorks(env);
    Napi::Object ops = Napi::Object::New(env);
    for (int op = 0; op < kOpCount; ++op) {
      napi_value exact, fn = nullptr;
      napi_create_function(env, kOps[op].name, NAPI_AUTO_LENGTH, row[op].exact, ref_, &exact);
      napi_add_finalizer(env, exact, ref_, FinalizeOpFunction, nullptr, nullptr);
      ref_->js_owners++;
      if (fast) fn = MakeFastFunction(env, row[op].fast, kOps[op].name, kOps[op].operands, ref_, exact);
      ops.Set(kOps[op].name, Napi::Value(env, fn != nullptr ? fn : exact));
    }
    return ops;
  }

  Napi::Value Clone(const Napi::CallbackInfo& info) {
    if (!RequireLive(info.Env())) return Napi::Value();
    GetRef(ref_->allocation);
    return Make(info.Env(), NewRef(ref_->allocation));
  }

  Napi::Value Share(const Napi::CallbackInfo& info) {
    if (!RequireLive(info.Env())) return Napi::Value();
    return Napi::Number::New(info.Env(), static_cast<double>(percpu::Share(ref_->allocation)));
  }

  Napi::Value Release(const Napi::CallbackInfo& info) {
    napi_env env = info.Env();
    if (!RequireLive(env)) return Napi::Value();
    if (ref_->is_static)
      return ThrowError(env, ErrorKind::kInvalidArg, "a static per-CPU variable cannot be released"), Napi::Value();
    DropLiveRef(ref_);
    return Napi::Value();
  }

  // ---- u64 pairs (16 bytes, aligned to 16). Every pair method first checks that this handle is
  // a pair: the others name 8 bytes or fewer, and 16 would run past their allocation.
  bool RequirePair(napi_env env) const {
    if (!RequireLive(env)) return false;
    return ref_->pair || ThrowError(env, ErrorKind::kInvalidArg, "this per-CPU variable is not a u64 pair");
  }

  static bool GetU64(napi_env env, napi_value value, uint64_t* out) { return FromJs<TypeId::u64>(env, value, out); }

  // this_cpu_cmpxchg_double(old_lo, old_hi, new_lo, new_hi): true if this CPU's pair held the old
  // words and now holds the new ones. One cmpxchg16b relative to GS on the gs backend.
  Napi::Value CmpxchgDouble(const Napi::CallbackInfo& info) {
    napi_env env = info.Env();
    if (!RequirePair(env)) return Napi::Value();
    if (!ThisThreadBound()) return ThrowNotBound(env), Napi::Value();
    uint64_t words[4];
    for (int i = 0; i < 4; ++i)
      if (!GetU64(env, info[i], &words[i])) return Napi::Value();
    enum Outcome { kMissed, kSwapped, kNoCx16 };
    const Outcome outcome = WithBackend([&]<class B>() {
      if (!B::HasCmpxchgDouble()) return kNoCx16;
      return B::cmpxchgDouble(ref_->offset, words[0], words[1], words[2], words[3]) ? kSwapped : kMissed;
    });
    if (outcome == kNoCx16)
      return ThrowError(env, ErrorKind::kBackendUnavailable,
                        "cmpxchgDouble on the gs backend needs cmpxchg16b, and this CPU lacks CX16"),
             Napi::Value();
    return Napi::Boolean::New(env, outcome == kSwapped);
  }

  // per_cpu_ptr for a pair: [lo, hi] of any CPU, two naturally aligned loads.
  Napi::Value ReadPair(const Napi::CallbackInfo& info) {
    napi_env env = info.Env();
    uint32_t cpu = 0;
    if (!RequirePair(env) || !GetCpu(env, info[0], &cpu)) return Napi::Value();
    uint64_t* pair = RemotePtr<uint64_t>(GetRegion(), cpu, ref_->offset);
    Napi::Array result = Napi::Array::New(env, 2);
    result.Set(0u, Napi::BigInt::New(env, __atomic_load_n(&pair[0], __ATOMIC_RELAXED)));
    result.Set(1u, Napi::BigInt::New(env, __atomic_load_n(&pair[1], __ATOMIC_RELAXED)));
    return result;
  }

  Napi::Value WritePair(const Napi::CallbackInfo& info) {
    napi_env env = info.Env();
    uint32_t cpu = 0;
    uint64_t lo, hi;
    if (!RequirePair(env) || !GetCpu(env, info[0], &cpu) || !GetU64(env, info[1], &lo) || !GetU64(env, info[2], &hi))
      return Napi::Value();
    uint64_t* pair = RemotePtr<uint64_t>(GetRegion(), cpu, ref_->offset);
    __atomic_store_n(&pair[0], lo, __ATOMIC_RELAXED);
    __atomic_store_n(&pair[1], hi, __ATOMIC_RELAXED);
    return Napi::Value();
  }

  Napi::Value IsPair(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), ref_ != nullptr && ref_->pair); }

  Napi::Value Live(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), ref_ != nullptr && ref_->live); }
  Napi::Value RefCountGetter(const Napi::CallbackInfo& info) {
    if (ref_ == nullptr || !ref_->live) return Napi::Number::New(info.Env(), 0);
    return Napi::Number::New(info.Env(), static_cast<double>(RefCount(ref_->allocation)));
  }
  // Type, static-ness and offset stay readable after release (the ref keeps them).
  Napi::Value Type(const Napi::CallbackInfo& info) {
    if (ref_ == nullptr) return Napi::Value();
    return Napi::Number::New(info.Env(), static_cast<int>(ref_->type));
  }
  Napi::Value IsStatic(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), ref_ != nullptr && ref_->is_static);
  }
  // For diagnostics only; no API takes an offset back.
  Napi::Value Offset(const Napi::CallbackInfo& info) {
    if (ref_ == nullptr) return Napi::Value();
    return Napi::Number::New(info.Env(), ref_->offset);
  }

  HandleRef* ref_ = nullptr;
  friend bool percpu::UnwrapHandle(napi_env, napi_value, HandleRef**);
};

// ---------------------------------------------------------------- module functions
Napi::Value Init(const Napi::CallbackInfo& info) {
  if (!info[0].IsObject()) return ThrowError(info.Env(), ErrorKind::kInvalidArg, "init() takes the error classes"), Napi::Value();
  RegisterErrorClasses(info.Env(), info[0]);
  return Napi::Value();
}

Napi::Value RegionInfo(Napi::Env env, const Region* region) {
  if (region == nullptr) return env.Null();
  Napi::Object result = Napi::Object::New(env);
  result.Set("cpus", region->nr_cpus);
  result.Set("areaSize", region->area_size);
  const bool gs = region->backend == BackendId::kGs;
  result.Set("backend", gs ? "gs" : "generic");
  result.Set("backendReason", region->reason);
  result.Set("fellBack", region->fell_back);
  result.Set("gsMethod", gs ? Napi::Value(Napi::String::New(env, GsMethod())) : env.Null());
  return result;
}

bool GetBackendRequest(napi_env env, const Napi::Value& value, BackendRequest* out) {
  const std::string name = value.IsString() ? value.As<Napi::String>().Utf8Value() : std::string();
  if (name == "auto") *out = BackendRequest::kAuto;
  else if (name == "gs") *out = BackendRequest::kGs;
  else if (name == "generic") *out = BackendRequest::kGeneric;
  else return ThrowError(env, ErrorKind::kInvalidArg, "backend must be 'auto', 'gs' or 'generic'");
  return true;
}

// setup(cpus, areaSize, backend, source): `source` names who chose the backend, for the reason line.
Napi::Value Setup(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  int64_t cpus, area_size;
  BackendRequest backend = BackendRequest::kAuto;
  if (!GetInteger(env, info[0], "cpus", &cpus) || !GetInteger(env, info[1], "areaSize", &area_size) ||
      !GetBackendRequest(env, info[2], &backend))
    return Napi::Value();
  const std::string source = info[3].IsString() ? info[3].As<Napi::String>().Utf8Value().substr(0, 80) : "setup()";
  const Region* region = SetupRegion(env, cpus, area_size, backend, source.c_str());
  return region ? RegionInfo(env, region) : Napi::Value();
}

// This thread's GS base (a bigint), for tests that check which backend is really in use; null
// where it cannot be read (no GS backend in this build).
Napi::Value GsBase(const Napi::CallbackInfo& info) {
  uintptr_t base = 0;
  if (!ReadGsBaseForDiagnostics(&base)) return info.Env().Null();
  return Napi::BigInt::New(info.Env(), static_cast<uint64_t>(base));
}

Napi::Value GetRegionInfo(const Napi::CallbackInfo& info) { return RegionInfo(info.Env(), GetRegion()); }

Napi::Value BindCpu(const Napi::CallbackInfo& info) {
  int64_t cpu;
  if (GetInteger(info.Env(), info[0], "cpu", &cpu)) Bind(info.Env(), cpu);
  return Napi::Value();
}

Napi::Value UnbindCpu(const Napi::CallbackInfo& info) {
  Unbind(info.Env());
  return Napi::Value();
}

// smp_processor_id(): read from offset 0 of this CPU's area like Linux's cpu_number, through
// the active backend (%gs:0 on GS), so it also proves where the backend points.
Napi::Value ThisCpu(const Napi::CallbackInfo& info) {
  if (!ThisThreadBound()) return Napi::Number::New(info.Env(), -1);
  return Napi::Number::New(info.Env(), WithBackend([]<class B>() { return B::template read<int32_t>(kCpuNumberOffset, 0, 0); }));
}

Napi::Value PreemptDisable(const Napi::CallbackInfo& info) {
  if (!ThisThreadBound()) return ThrowNotBound(info.Env()), Napi::Value();
  return Napi::Number::New(info.Env(), ++tls_this_cpu.preempt_count);
}

Napi::Value PreemptEnable(const Napi::CallbackInfo& info) {
  if (!ThisThreadBound() || tls_this_cpu.preempt_count == 0)
    return ThrowError(info.Env(), ErrorKind::kGuard, "no CpuGuard is held on this thread"), Napi::Value();
  return Napi::Number::New(info.Env(), --tls_this_cpu.preempt_count);
}

Napi::Value PreemptCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), tls_this_cpu.preempt_count);
}

// The three ways to make a dynamic variable: allocate(type) zeroes every CPU's slot,
// allocateWith(type, value) sets them all to one value, allocateFrom(type, values) gives each
// CPU its own. Every value is checked before anything is allocated.
enum class InitKind { kZero, kWith, kFrom };

template <InitKind kInit>
Napi::Value Allocate(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  TypeId type{};
  if (!GetTypeId(env, info[0], &type)) return Napi::Value();
  const Region* region = GetRegion();
  if (region == nullptr)
    return ThrowError(env, ErrorKind::kNotSetUp, "the per-CPU region is not set up: call setup() or start a CpuSet first"),
           Napi::Value();
  std::vector<uint64_t> bits(kInit == InitKind::kZero ? 0 : kInit == InitKind::kWith ? 1 : region->nr_cpus);
  if constexpr (kInit == InitKind::kWith) {
    if (!ValueToBits(env, type, info[1], &bits[0])) return Napi::Value();
  } else if constexpr (kInit == InitKind::kFrom) {
    if (!info[1].IsArray() || info[1].As<Napi::Array>().Length() != region->nr_cpus)
      return ThrowError(env, ErrorKind::kInvalidArg, "expected an array of %u initial values, one per CPU", region->nr_cpus),
             Napi::Value();
    Napi::Array values = info[1].As<Napi::Array>();
    for (uint32_t cpu = 0; cpu < region->nr_cpus; ++cpu)
      if (!ValueToBits(env, type, values.Get(cpu), &bits[cpu])) return Napi::Value();
  }
  Allocation* allocation = AllocateDynamic(env, type);  // zeroed on every CPU
  if (allocation == nullptr) return Napi::Value();
  if constexpr (kInit == InitKind::kWith) kWriteAll[static_cast<int>(type)](region, allocation->offset, bits[0]);
  if constexpr (kInit == InitKind::kFrom) {
    DispatchType(type, [&]<TypeId id>() {
      using T = typename Numeric<id>::T;
      for (uint32_t cpu = 0; cpu < region->nr_cpus; ++cpu)
        __atomic_store_n(RemotePtr<T>(region, cpu, allocation->offset), static_cast<T>(bits[cpu]), __ATOMIC_RELAXED);
      return 0;
    });
  }
  return NativeHandle::Make(env, NewRef(allocation));
}

// allocatePair(lo, hi): a u64 pair, 16 bytes aligned to 16 in every area, each CPU's set to (lo, hi).
Napi::Value AllocatePair(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  uint64_t lo, hi;
  if (!FromJs<TypeId::u64>(env, info[0], &lo) || !FromJs<TypeId::u64>(env, info[1], &hi)) return Napi::Value();
  Allocation* allocation = AllocateDynamic(env, TypeId::u64, /*pair=*/true);
  if (allocation == nullptr) return Napi::Value();
  const Region* region = GetRegion();
  for (uint32_t cpu = 0; cpu < region->nr_cpus; ++cpu) {
    uint64_t* pair = RemotePtr<uint64_t>(region, cpu, allocation->offset);
    __atomic_store_n(&pair[0], lo, __ATOMIC_RELAXED);
    __atomic_store_n(&pair[1], hi, __ATOMIC_RELAXED);
  }
  return NativeHandle::Make(env, NewRef(allocation));
}

// A static's name: 1 to 256 UTF-16 code units, well-formed (no lone surrogates, which UTF-8
// cannot hold), without NUL. Checked on the UTF-16 text so that no two names map to one.
bool GetStaticName(napi_env env, const Napi::Value& value, std::string* name) {
  constexpr size_t kMaxName = 256;
  if (!value.IsString()) return ThrowError(env, ErrorKind::kInvalidArg, "a static's name must be a string");
  char16_t units[kMaxName + 2];
  size_t length = 0;
  napi_get_value_string_utf16(env, value, units, kMaxName + 2, &length);
  if (length == 0 || length > kMaxName)
    return ThrowError(env, ErrorKind::kInvalidArg, "a static's name must have 1 to %zu characters", kMaxName);
  for (size_t i = 0; i < length; ++i) {
    const char16_t unit = units[i];
    const bool high = unit >= 0xD800 && unit <= 0xDBFF, low = unit >= 0xDC00 && unit <= 0xDFFF;
    if (unit == 0) return ThrowError(env, ErrorKind::kInvalidArg, "a static's name cannot contain NUL");
    if (low || (high && (i + 1 == length || units[i + 1] < 0xDC00 || units[i + 1] > 0xDFFF)))
      return ThrowError(env, ErrorKind::kInvalidArg, "a static's name must be well-formed Unicode");
    if (high) ++i;
  }
  *name = value.As<Napi::String>().Utf8Value();
  return true;
}

Napi::Value DefineStaticVar(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  TypeId type{};
  uint64_t bits = 0;
  std::string name;
  if (!GetStaticName(env, info[0], &name) || !GetTypeId(env, info[1], &type) || !ValueToBits(env, type, info[2], &bits))
    return Napi::Value();
  Allocation* allocation = DefineStatic(env, name, type, bits, kWriteAll[static_cast<int>(type)]);
  if (allocation == nullptr) return Napi::Value();
  return NativeHandle::Make(env, NewRef(allocation));  // statics ignore references
}

Napi::Value GetStaticVar(const Napi::CallbackInfo& info) {
  std::string name;
  if (!GetStaticName(info.Env(), info[0], &name)) return Napi::Value();
  Allocation* allocation = FindStatic(name);
  if (allocation == nullptr) return info.Env().Null();
  return NativeHandle::Make(info.Env(), NewRef(allocation));
}

bool GetTicket(napi_env env, const Napi::Value& value, uint64_t* ticket) {
  int64_t number;
  if (!GetInteger(env, value, "ticket", &number)) return false;
  if (number <= 0) return ThrowError(env, ErrorKind::kInvalidArg, "not a share ticket");
  *ticket = static_cast<uint64_t>(number);
  return true;
}

Napi::Value RedeemTicket(const Napi::CallbackInfo& info) {
  uint64_t ticket = 0;
  if (!GetTicket(info.Env(), info[0], &ticket)) return Napi::Value();
  Allocation* allocation = Redeem(ticket);
  if (allocation == nullptr)
    return ThrowError(info.Env(), ErrorKind::kReleased, "share ticket %llu is unknown or was already redeemed",
                      (unsigned long long)ticket),
           Napi::Value();
  return NativeHandle::Make(info.Env(), NewRef(allocation));  // adopts the ticket's reference
}

Napi::Value DropShareTicket(const Napi::CallbackInfo& info) {
  uint64_t ticket = 0;
  if (!GetTicket(info.Env(), info[0], &ticket)) return Napi::Value();
  return Napi::Boolean::New(info.Env(), DropTicket(ticket));
}

Napi::Value GetStatsObject(const Napi::CallbackInfo& info) {
  const Stats stats = GetStats();
  Napi::Object result = Napi::Object::New(info.Env());
  result.Set("liveAllocations", static_cast<double>(stats.live_allocations));
  result.Set("bytesInUse", static_cast<double>(stats.bytes_in_use));
  result.Set("freeBytes", static_cast<double>(stats.free_bytes));
  result.Set("largestFree", static_cast<double>(stats.largest_free));
  result.Set("freeBlocks", static_cast<double>(stats.free_blocks));
  result.Set("outstandingTickets", static_cast<double>(stats.tickets));
  return result;
}

Napi::Object ModuleInit(Napi::Env env, Napi::Object exports) {
  auto* data = new EnvData();
  napi_set_instance_data(
      env, data,
      [](napi_env env, void* d, void*) {
        auto* data = static_cast<EnvData*>(d);
        // Node 20 leaves references to their owner: give back the classes' references ourselves.
        for (napi_ref ref : data->error_classes)
          if (ref != nullptr) napi_delete_reference(env, ref);
        if (data->handle_class != nullptr) napi_delete_reference(env, data->handle_class);
        delete data;
      },
      nullptr);
  // A thread that ends while bound gives its CPU back and gets its old GS base.
  // The EnvData makes the hook's (function, argument) pair unique to this load: Node aborts on a
  // duplicate, and a module registry that is reset loads the addon again in the same env.
  napi_add_env_cleanup_hook(
      env,
      [](void*) {
        DropFastOpsForExit();
        UnbindForExit();
      },
      data);

  Napi::Function handle_class = NativeHandle::Define(env);
  napi_create_reference(env, handle_class, 1, &data->handle_class);

  Napi::Array types = Napi::Array::New(env, kTypeCount);
  for (int i = 0; i < kTypeCount; ++i) {
    Napi::Object type = Napi::Object::New(env);
    type.Set("name", kTypes[i].name);
    type.Set("size", kTypes[i].size);
    type.Set("big", kTypes[i].big);
    types.Set(i, type);
  }
  Napi::Array ops = Napi::Array::New(env, kOpCount);
  for (int i = 0; i < kOpCount; ++i) {
    Napi::Object op = Napi::Object::New(env);
    op.Set("name", kOps[i].name);
    op.Set("operands", kOps[i].operands);
    op.Set("returns", kOps[i].returns);
    ops.Set(i, op);
  }

  napi_value empty;
  napi_create_function(env, "emptyCall", NAPI_AUTO_LENGTH, EmptyCall, nullptr, &empty);

  exports.Set("types", types);
  exports.Set("ops", ops);
  Napi::Array backends = Napi::Array::New(env);
#if PERCPU_HAVE_GS
  backends.Set(backends.Length(), GsBackend::kName);
#endif
  backends.Set(backends.Length(), GenericBackend::kName);
  exports.Set("backends", backends);  // the backends this build has
  exports.Set("fastOps", FastPathWorks(env));  // num() runs through the V8 fast path
  // How the gs backend would set GS bases on this machine, before any region exists.
  exports.Set("gsMethod", GsMethod() ? Napi::Value(Napi::String::New(env, GsMethod())) : env.Null());
  exports.Set("emptyCall", Napi::Value(env, empty));
  exports.Set("init", Napi::Function::New<Init>(env, "init"));
  exports.Set("setup", Napi::Function::New<Setup>(env, "setup"));
  exports.Set("region", Napi::Function::New<GetRegionInfo>(env, "region"));
  exports.Set("bind", Napi::Function::New<BindCpu>(env, "bind"));
  exports.Set("unbind", Napi::Function::New<UnbindCpu>(env, "unbind"));
  exports.Set("gsBase", Napi::Function::New<GsBase>(env, "gsBase"));
  exports.Set("thisCpu", Napi::Function::New<ThisCpu>(env, "thisCpu"));
  exports.Set("preemptDisable", Napi::Function::New<PreemptDisable>(env, "preemptDisable"));
  exports.Set("preemptEnable", Napi::Function::New<PreemptEnable>(env, "preemptEnable"));
  exports.Set("preemptCount", Napi::Function::New<PreemptCount>(env, "preemptCount"));
  exports.Set("allocate", Napi::Function::New<Allocate<InitKind::kZero>>(env, "allocate"));
  exports.Set("allocateWith", Napi::Function::New<Allocate<InitKind::kWith>>(env, "allocateWith"));
  exports.Set("allocateFrom", Napi::Function::New<Allocate<InitKind::kFrom>>(env, "allocateFrom"));
  exports.Set("allocatePair", Napi::Function::New<AllocatePair>(env, "allocatePair"));
  exports.Set("defineStatic", Napi::Function::New<DefineStaticVar>(env, "defineStatic"));
  exports.Set("getStatic", Napi::Function::New<GetStaticVar>(env, "getStatic"));
  exports.Set("redeem", Napi::Function::New<RedeemTicket>(env, "redeem"));
  exports.Set("dropTicket", Napi::Function::New<DropShareTicket>(env, "dropTicket"));
  exports.Set("stats", Napi::Function::New<GetStatsObject>(env, "stats"));
  RegisterBench(env, exports);  // exports.bench: benchmark loops and call-path experiments (native/bench.cc)
  RegisterScheduler(env, exports);  // issue 8: exports.sched (native/scheduler.cc)
  return exports;
}

}  // namespace

// ---------------------------------------------------------------- handle access for other files (handle.h)
bool UnwrapHandle(napi_env env, napi_value value, HandleRef** out) {
  bool tagged = false;
  void* wrapped = nullptr;
  if (napi_check_object_type_tag(env, value, &kHandleTypeTag, &tagged) != napi_ok || !tagged ||
      napi_unwrap(env, value, &wrapped) != napi_ok || wrapped == nullptr ||
      static_cast<NativeHandle*>(wrapped)->ref_ == nullptr)
    return ThrowError(env, ErrorKind::kInvalidArg, "expected a per-CPU handle");
  *out = static_cast<NativeHandle*>(wrapped)->ref_;
  return true;
}

void AddHandleOwner(HandleRef* ref) { ref->js_owners++; }
void DropHandleOwner(HandleRef* ref) { DropOwner(ref); }

}  // namespace percpu

static Napi::Object InitPerCpu(Napi::Env env, Napi::Object exports) { return percpu::ModuleInit(env, exports); }

NODE_API_MODULE(NODE_GYP_MODULE_NAME, InitPerCpu)
