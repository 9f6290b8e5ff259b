// The handle class. Cold paths (remote access, sum, sharing) are plain Node-API callbacks; ops()
// makes the op functions, whose callbacks (op_callback.h, or the accelerator's) are bound to the
// ref, not to the receiver.
#include "handle.h"

#include <sys/random.h>

#include <array>
#include <cstring>
#include <mutex>

#include "../core/ops.h"
#include "convert.h"
#include "env_data.h"
#include "errors.h"
#include "host.h"
#include "op_callback.h"

namespace percpu {

namespace {

// Drawn once per loaded copy of the binding: two copies of percpu in one process (two versions in
// node_modules) tag their handles differently, so neither accepts the other's.
const napi_type_tag& CopyTypeTag() {
  static const napi_type_tag tag = [] {
    napi_type_tag t{0x70657263707568ddULL, 0x68616e646c65a11eULL};
    uint64_t words[2];
    if (getrandom(words, sizeof words, 0) == static_cast<ssize_t>(sizeof words)) {
      t.lower ^= words[0];
      t.upper ^= words[1];
    } else {  // no entropy: the copy's own address still differs between copies
      t.lower ^= reinterpret_cast<uintptr_t>(&t);
    }
    return t;
  }();
  return tag;
}

void FinalizeOwner(napi_env, void* data, void*) { DropHandleOwner(static_cast<HandleRef*>(data)); }

// The op callbacks per (type, op) for one backend.
template <TypeId id, class B>
constexpr std::array<napi_callback, kOpCount> OpRow() {
#define PERCPU_ROW_ENTRY(op, js, operands, returns, form, insn, oper) &OpCallback<id, OpId::op, B>,
  return {PERCPU_OPS(PERCPU_ROW_ENTRY)};
#undef PERCPU_ROW_ENTRY
}

template <class B>
constexpr std::array<std::array<napi_callback, kOpCount>, kTypeCount> kOpTable = {
#define PERCPU_TABLE_ROW(name, ctype, big) OpRow<TypeId::name, B>(),
    PERCPU_NUMERIC_TYPES(PERCPU_TABLE_ROW)
#undef PERCPU_TABLE_ROW
};

// Only the library constructs handles (MakeHandle sets pending_ref around napi_new_instance).
napi_value Construct(napi_env env, napi_callback_info info) {
  Call call(env, info);
  EnvData* data = EnvData::Get(env);
  HandleRef* ref = data->pending_ref;
  if (ref == nullptr) return Throw(env, Code::kInvalidArg, "per-CPU handles are made by the library, not constructed from JS"), nullptr;
  data->pending_ref = nullptr;
  if (napi_type_tag_object(env, call.self(), &CopyTypeTag()) != napi_ok) return nullptr;
  if (napi_wrap(env, call.self(), ref, FinalizeOwner, nullptr, nullptr) != napi_ok) return nullptr;
  AddHandleOwner(ref);
  return call.self();
}

// Methods that need a live ref.
bool ReceiverLive(const Call& call, HandleRef** ref) {
  if (!ReceiverHandle(call, ref)) return false;
  return (*ref)->live || ThrowReleased(call.env());
}

// Refuses the pair methods' and the variable methods' wrong kind: a pair names 16 bytes.
bool ReceiverVariable(const Call& call, HandleRef** ref) {
  if (!ReceiverLive(call, ref)) return false;
  return !(*ref)->pair || Throw(call.env(), Code::kInvalidArg, "this per-CPU handle is a u64 pair: use the pair methods");
}

// this_cpu_read / this_cpu_write on the active backend (the guarded token's slot).
napi_value Read(napi_env env, napi_callback_info info) {
  Call call(env, info);
  HandleRef* ref = nullptr;
  if (!ReceiverVariable(call, &ref)) return nullptr;
  ThreadState& self = tls_this_cpu;
  if (!Bound(self)) return ThrowNotBound(env), nullptr;
  return WithBackend([&]<class B>() {
    return DispatchType(ref->type, [&]<TypeId id>() {
      return ToJs<id>(env, B::template read<typename Numeric<id>::T>(self, ref->offset, 0, 0));
    });
  });
}

napi_value Write(napi_env env, napi_callback_info info) {
  Call call(env, info);
  HandleRef* ref = nullptr;
  if (!ReceiverVariable(call, &ref)) return nullptr;
  ThreadState& self = tls_this_cpu;
  if (!Bound(self)) return ThrowNotBound(env), nullptr;
  WithBackend([&]<class B>() {
    return DispatchType(ref->type, [&]<TypeId id>() {
      typename Numeric<id>::T value = 0;
      if (FromJs<id>(env, call[0], &value)) B::template write<typename Numeric<id>::T>(self, ref->offset, value, 0);
      return 0;
    });
  });
  return nullptr;
}

// per_cpu_ptr(x, cpu): any CPU's slot, from any thread, as one naturally aligned load or store.
napi_value ReadRemote(napi_env env, napi_callback_info info) {
  Call call(env, info);
  HandleRef* ref = nullptr;
  uint32_t cpu = 0;
  if (!ReceiverVariable(call, &ref) || !call.Cpu(0, &cpu)) return nullptr;
  const Region* region = GetRegion();
  return DispatchType(ref->type, [&]<TypeId id>() {
    using T = typename Numeric<id>::T;
    return ToJs<id>(env, __atomic_load_n(RemotePtr<T>(region, cpu, ref->offset), __ATOMIC_RELAXED));
  });
}

napi_value WriteRemote(napi_env env, napi_callback_info info) {
  Call call(env, info);
  HandleRef* ref = nullptr;
  uint32_t cpu = 0;
  if (!ReceiverVariable(call, &ref) || !call.Cpu(0, &cpu)) return nullptr;
  const Region* region = GetRegion();
  DispatchType(ref->type, [&]<TypeId id>() {
    using T = typename Numeric<id>::T;
    T value = 0;
    if (FromJs<id>(env, call[1], &value)) __atomic_store_n(RemotePtr<T>(region, cpu, ref->offset), value, __ATOMIC_RELAXED);
    return 0;
  });
  return nullptr;
}

// The exact sum over all CPUs (no wrap-around): a number for 8/16/32-bit types, a bigint otherwise.
napi_value Sum(napi_env env, napi_callback_info info) {
  Call call(env, info);
  HandleRef* ref = nullptr;
  if (!ReceiverVariable(call, &ref)) return nullptr;
  const Region* region = GetRegion();
  return DispatchType(ref->type, [&]<TypeId id>() {
    return SumToJs<id>(env, RemoteSum<typename Numeric<id>::T>(region, ref->offset));
  });
}

// ops(nodeApiOnly?): the op functions for this handle, {add, sub, ...}, each bound to the ref (one
// more JS owner), from the active backend's table; through the accelerator when one is attached,
// unless `nodeApiOnly` is true (the benchmarks measure both paths in one process).
napi_value Ops(napi_env env, napi_callback_info info) {
  Call call(env, info);
  HandleRef* ref = nullptr;
  if (!ReceiverVariable(call, &ref)) return nullptr;
  bool node_api_only = false;
  if (call.TypeOf(0) == napi_boolean) napi_get_value_bool(env, call[0], &node_api_only);
  const auto& row = WithBackend([&]<class B>() -> const auto& { return kOpTable<B>[static_cast<int>(ref->type)]; });
  const uint32_t backend = ActiveBackend() == BackendId::kGs ? 0 : 1;
  const AccelTable* accel = node_api_only ? nullptr : AttachedAccelerator();
  ObjectBuilder ops(env);
  for (int op = 0; op < kOpCount; ++op) {
    napi_value exact, fn = nullptr;
    if (napi_create_function(env, kOps[op].name, NAPI_AUTO_LENGTH, row[op], ref, &exact) != napi_ok) return nullptr;
    if (napi_add_finalizer(env, exact, ref, FinalizeOwner, nullptr, nullptr) != napi_ok) return nullptr;
    AddHandleOwner(ref);
    if (accel != nullptr) fn = accel->make_op(env, static_cast<uint32_t>(ref->type), static_cast<uint32_t>(op), backend, ref, exact);
    ops.Set(kOps[op].name, fn != nullptr ? fn : exact);
  }
  return ops.Build();
}

napi_value Clone(napi_env env, napi_callback_info info) {
  Call call(env, info);
  HandleRef* ref = nullptr;
  if (!ReceiverLive(call, &ref)) return nullptr;
  GetRef(ref->allocation);
  return MakeHandle(env, NewHandleRef(ref->allocation));
}

napi_value Share(napi_env env, napi_callback_info info) {
  Call call(env, info);
  HandleRef* ref = nullptr;
  if (!ReceiverLive(call, &ref)) return nullptr;
  napi_value ticket;
  napi_create_double(env, static_cast<double>(percpu::Share(ref->allocation)), &ticket);
  return ticket;
}

napi_value Release(napi_env env, napi_callback_info info) {
  Call call(env, info);
  HandleRef* ref = nullptr;
  if (!ReceiverLive(call, &ref)) return nullptr;
  if (ref->is_static) return Throw(env, Code::kInvalidArg, "a static per-CPU variable cannot be released"), nullptr;
  ReleaseHandleRef(ref);
  return nullptr;
}

// Accessors: each reads one thing of the receiver's ref. Type, static-ness, pair-ness and offset
// stay readable after release (the ref keeps them).
template <napi_status (*kMake)(napi_env, const HandleRef&, napi_value*)>
napi_value Accessor(napi_env env, napi_callback_info info) {
  Call call(env, info);
  HandleRef* ref = nullptr;
  if (!ReceiverHandle(call, &ref)) return nullptr;
  napi_value result = nullptr;
  kMake(env, *ref, &result);
  return result;
}

napi_status LiveOf(napi_env env, const HandleRef& ref, napi_value* out) { return napi_get_boolean(env, ref.live, out); }
napi_status RefCountOf(napi_env env, const HandleRef& ref, napi_value* out) {
  return napi_create_double(env, ref.live ? static_cast<double>(RefCount(ref.allocation)) : 0, out);
}
napi_status TypeOf(napi_env env, const HandleRef& ref, napi_value* out) {
  return napi_create_uint32(env, static_cast<uint32_t>(ref.type), out);
}
napi_status IsStaticOf(napi_env env, const HandleRef& ref, napi_value* out) { return napi_get_boolean(env, ref.is_static, out); }
napi_status IsPairOf(napi_env env, const HandleRef& ref, napi_value* out) { return napi_get_boolean(env, ref.pair, out); }
// For diagnostics only; no API takes an offset back.
napi_status OffsetOf(napi_env env, const HandleRef& ref, napi_value* out) { return napi_create_uint32(env, ref.offset, out); }

}  // namespace

bool UnwrapHandle(napi_env env, napi_value value, HandleRef** out) {
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_object) return false;
  bool tagged = false;
  if (napi_check_object_type_tag(env, value, &CopyTypeTag(), &tagged) != napi_ok || !tagged) return false;
  void* wrapped = nullptr;
  if (napi_unwrap(env, value, &wrapped) != napi_ok || wrapped == nullptr) return false;
  *out = static_cast<HandleRef*>(wrapped);
  return true;
}

bool ReceiverHandle(const Call& call, HandleRef** out) {
  if (UnwrapHandle(call.env(), call.self(), out)) return true;
  return Throw(call.env(), Code::kInvalidArg, "the receiver is not a per-CPU handle of this copy of percpu");
}

bool DefineHandleClass(napi_env env) {
  const auto method = [](const char* name, napi_callback cb) {
    return napi_property_descriptor{name, nullptr, cb, nullptr, nullptr, nullptr, napi_default_method, nullptr};
  };
  const auto getter = [](const char* name, napi_callback cb) {
    return napi_property_descriptor{name, nullptr, nullptr, cb, nullptr, nullptr, napi_configurable, nullptr};
  };
  const napi_property_descriptor properties[] = {
      method("read", Read),
      method("write", Write),
      method("readRemote", ReadRemote),
      method("writeRemote", WriteRemote),
      method("sum", Sum),
      method("ops", Ops),
      method("clone", Clone),
      method("share", Share),
      method("release", Release),
      method("cmpxchgDouble", PairCmpxchgDouble),
      method("readPair", PairRead),
      method("writePair", PairWrite),
      getter("pair", Accessor<IsPairOf>),
      getter("live", Accessor<LiveOf>),
      getter("refCount", Accessor<RefCountOf>),
      getter("offset", Accessor<OffsetOf>),
      getter("type", Accessor<TypeOf>),
      getter("isStatic", Accessor<IsStaticOf>),
  };
  // The methods and accessors go on the prototype with napi_define_properties, not as
  // napi_define_class's properties: there V8 would check a method's receiver against the class
  // (a signature) and throw its own "Illegal invocation", a TypeError without a code. Every
  // callback checks its receiver itself (ReceiverHandle: this copy's type tag), so every foreign
  // receiver, another addon's wrapped object or another copy's handle, is a PerCpuTypeError.
  napi_value ctor, prototype;
  if (napi_define_class(env, "NativeHandle", NAPI_AUTO_LENGTH, Construct, nullptr, 0, nullptr, &ctor) != napi_ok ||
      napi_get_named_property(env, ctor, "prototype", &prototype) != napi_ok ||
      napi_define_properties(env, prototype, sizeof properties / sizeof properties[0], properties) != napi_ok)
    return false;
  return napi_create_reference(env, ctor, 1, &EnvData::Get(env)->handle_class) == napi_ok;
}

napi_value MakeHandle(napi_env env, HandleRef* ref) {
  EnvData* data = EnvData::Get(env);
  napi_value ctor, object = nullptr;
  napi_get_reference_value(env, data->handle_class, &ctor);
  data->pending_ref = ref;
  napi_new_instance(env, ctor, 0, nullptr, &object);
  data->pending_ref = nullptr;
  if (ref->js_owners == 0) {  // construction failed: give back what the ref holds
    ReleaseHandleRef(ref);
    delete ref;
    return nullptr;
  }
  return object;
}

}  // namespace percpu
