// percpu_accel.node: num()'s fast path through V8's C++ API: each op a V8 function with a fast C
// function that optimized code calls directly (V8 fast API calls) and an ordinary V8 API callback
// beside it (fast_ops.h). V8's API has no stable
// ABI, so this module is built for exactly one Node ABI (NODE_MODULE_VERSION) and registers with
// NODE_MODULE_INIT: Node itself refuses it under any other ABI ("was compiled against a different
// Node.js version"), before any of its code runs. The JS loader also compares its exports (the Node
// ABI and V8 line it was built for) with the running Node before it asks the binding to attach it,
// and attach() checks them a third time, with the protocol header, before any op. Only then does
// the binding make num()'s functions here; otherwise num() stays on the binding's Node-API path.
//
// The fast calls' declarations are written per V8 line (v8_fast_api.h); on a line without them
// attach() refuses the module. docs/accelerator.md has the whole picture.
//
// It leans on one fact of Node that Node-API does not promise: a napi_value is a
// v8::Local<v8::Value> (v8impl::JsValueFromV8LocalValue). attach() checks it both ways.
#include <node.h>
#include <node_api.h>
#include <node_version.h>
#include <v8-version.h>
#include <v8.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <unordered_set>

#include "../binding/host_protocol.h"
#include "fast_ops.h"

namespace percpu::accel {

namespace {

#define PERCPU_STR2(x) #x
#define PERCPU_STR(x) PERCPU_STR2(x)
constexpr const char* kV8Version =
    PERCPU_STR(V8_MAJOR_VERSION) "." PERCPU_STR(V8_MINOR_VERSION) "." PERCPU_STR(V8_BUILD_NUMBER) "." PERCPU_STR(V8_PATCH_LEVEL);
constexpr const char* kNodeAbi = PERCPU_STR(NODE_MODULE_VERSION);

const HostTable* g_host = nullptr;  // set once by attach(), before any make_op

static_assert(sizeof(napi_value) == sizeof(v8::Local<v8::Value>), "a napi_value is a v8::Local<v8::Value>");

v8::Local<v8::Value> ToV8(napi_value value) {
  v8::Local<v8::Value> local;
  std::memcpy(static_cast<void*>(&local), &value, sizeof value);
  return local;
}

napi_value ToNapi(v8::Local<v8::Value> local) { return reinterpret_cast<napi_value>(*local); }

// The op functions' callbacks per (backend, type, op): the V8 API callback and, where this V8
// line has one for it, the fast C function (nullptr otherwise).
struct OpCallbacks {
  v8::FunctionCallback slow;
  const v8::CFunction* (*fast)();
};

#if PERCPU_FAST_CALLS
// An operand of a fast C function, one per index of an index sequence.
template <size_t>
using OperandValue = v8::Local<v8::Value>;

// The arguments of a fast C function: the receiver, one v8::Local<v8::Value> per operand, the
// options (its result, CReturn<type> or void, is MakeCFunction's).
template <size_t... I>
constexpr std::array<v8::CTypeInfo, sizeof...(I) + 2> FastArgs(std::index_sequence<I...>) {
  return {v8::CTypeInfo(v8::CTypeInfo::Type::kV8Value), ((void)I, v8::CTypeInfo(v8::CTypeInfo::Type::kV8Value))...,
          v8::CTypeInfo(v8::CTypeInfo::kCallbackOptionsType)};
}

template <class R>
constexpr v8::CTypeInfo::Type kCType = std::is_same_v<R, int32_t>    ? v8::CTypeInfo::Type::kInt32
                                       : std::is_same_v<R, uint32_t> ? v8::CTypeInfo::Type::kUint32
                                       : std::is_same_v<R, int64_t>  ? v8::CTypeInfo::Type::kInt64
                                       : std::is_same_v<R, uint64_t> ? v8::CTypeInfo::Type::kUint64
                                                                     : v8::CTypeInfo::Type::kVoid;

// The CFunction of (type, op, backend), made once (V8 keeps pointers to it and its signature).
template <TypeId id, OpId op, class B, size_t... I>
const v8::CFunction* MakeCFunction(std::index_sequence<I...> operands) {
  static const auto args = FastArgs(operands);
  static const v8::CFunctionInfo info(v8::CTypeInfo(kCType<FastResult<id, op>>), static_cast<unsigned>(args.size()), args.data()
#if PERCPU_V8_LINE >= 1204
                                      ,
                                      Numeric<id>::kBig ? v8::CFunctionInfo::Int64Representation::kBigInt
                                                        : v8::CFunctionInfo::Int64Representation::kNumber
#endif
  );
  static const v8::CFunction function(reinterpret_cast<const void*>(&FastCCallback<id, op, B, OperandValue<I>...>), &info);
  return &function;
}

template <TypeId id, OpId op, class B>
const v8::CFunction* FastCFunction() {
  if constexpr (kHasFastC<id, op>)
    return MakeCFunction<id, op, B>(std::make_index_sequence<kOps[static_cast<int>(op)].operands>());
  else
    return nullptr;
}
#else
template <TypeId id, OpId op, class B>
const v8::CFunction* FastCFunction() { return nullptr; }
#endif

template <TypeId id, class B>
constexpr std::array<OpCallbacks, kOpCount> CallbackRow() {
#define PERCPU_FAST_ENTRY(op, js, operands, returns, form, insn, oper) \
  OpCallbacks{&FastOpCallback<id, OpId::op, B>, &FastCFunction<id, OpId::op, B>},
  return {PERCPU_OPS(PERCPU_FAST_ENTRY)};
#undef PERCPU_FAST_ENTRY
}

template <class B>
constexpr std::array<std::array<OpCallbacks, kOpCount>, kTypeCount> kCallbacks = {
#define PERCPU_FAST_ROW(name, ctype, big) CallbackRow<TypeId::name, B>(),
    PERCPU_NUMERIC_TYPES(PERCPU_FAST_ROW)
#undef PERCPU_FAST_ROW
};

constexpr int kBackends = 2;  // 0 gs, 1 generic (host_protocol.h's make_op)

const OpCallbacks* Callbacks(uint32_t backend, uint32_t type, uint32_t op) {
#if PERCPU_HAVE_GS
  if (backend == 0) return &kCallbacks<GsBackend>[type][op];
#endif
  return backend == 1 ? &kCallbacks<GenericBackend>[type][op] : nullptr;
}

// This thread's templates (one isolate per thread: the main thread or one worker): the holder
// class, whose instances carry a FastOp and are the op functions' only accepted receivers, and one
// op function template per (backend, type, op), made on first use; and the thread's count of
// slow-path op calls, which each of its FastOps points at (FastOp::slow_calls).
struct ThreadTemplates {
  v8::Isolate* isolate;
  v8::Global<v8::FunctionTemplate> holder_class;
  std::array<v8::Global<v8::FunctionTemplate>, kBackends * kTypeCount * kOpCount> ops;
  uint64_t slow_calls = 0;
};
thread_local ThreadTemplates* tls_templates = nullptr;

// This thread's live FastOps (made and collected on it).
thread_local std::unordered_set<FastOp*>* tls_fast_ops = nullptr;

ThreadTemplates* Templates(v8::Isolate* isolate) {
  if (tls_templates == nullptr) {
    auto* made = new ThreadTemplates{isolate, {}, {}, 0};
    v8::Local<v8::FunctionTemplate> holder_class = v8::FunctionTemplate::New(isolate);
    holder_class->InstanceTemplate()->SetInternalFieldCount(kFastOpField + 1);
    made->holder_class.Reset(isolate, holder_class);
    tls_templates = made;
  }
  // One isolate per thread in Node; anything else is refused rather than mixed up.
  return tls_templates->isolate == isolate ? tls_templates : nullptr;
}

v8::Local<v8::FunctionTemplate> OpTemplate(ThreadTemplates* t, uint32_t backend, uint32_t type, uint32_t op,
                                           const OpCallbacks& callbacks) {
  v8::Isolate* isolate = t->isolate;
  v8::Global<v8::FunctionTemplate>& slot = t->ops[(backend * kTypeCount + type) * kOpCount + op];
  if (slot.IsEmpty()) {
    const v8::Local<v8::Signature> holders = v8::Signature::New(isolate, t->holder_class.Get(isolate));
    slot.Reset(isolate, v8::FunctionTemplate::New(isolate, callbacks.slow, v8::Local<v8::Value>(), holders, kOps[op].operands,
                                                  v8::ConstructorBehavior::kThrow, v8::SideEffectType::kHasSideEffect,
                                                  callbacks.fast()));
  }
  return slot.Get(isolate);
}

void Destroy(FastOp* fast) {
  fast->holder.Reset();
  fast->exact.Reset();
  g_host->drop_handle_owner(fast->ref);
  delete fast;
}

void SecondPass(const v8::WeakCallbackInfo<FastOp>& data) {
  FastOp* fast = data.GetParameter();
  if (tls_fast_ops != nullptr) tls_fast_ops->erase(fast);
  Destroy(fast);
}

void FirstPass(const v8::WeakCallbackInfo<FastOp>& data) {
  data.GetParameter()->holder.Reset();  // the first pass may only reset the handle
  data.SetSecondPassCallback(SecondPass);
}

// The checks of attach(): this Node is the one the module was built for, its V8 line is one the
// fast calls are declared for, and napi_value is v8::Local<v8::Value> both ways.
const char* Attach(const HostTable* host, napi_env env) {
  if (const char* why = CheckHeader(&host->header, kHostMagic)) return why;
  // SAFETY: one host per accelerator. Its fast functions read the host's thread states and refs;
  // a second copy of percpu (another binding) attaching the same file would mix two regions.
  if (g_host != nullptr && g_host != host) return "it is already attached to another copy of percpu";
  const napi_node_version* running = nullptr;
  if (napi_get_node_version(env, &running) != napi_ok || running->major != NODE_MAJOR_VERSION)
    return "it was built for another Node major version";
  static char why[160];
  const char* v8_running = v8::V8::GetVersion();
  char line[32];
  snprintf(line, sizeof line, "%d.%d.", V8_MAJOR_VERSION, V8_MINOR_VERSION);
  if (strncmp(v8_running, line, strlen(line)) != 0) {
    snprintf(why, sizeof why, "it was built for V8 %s and this is V8 %s", kV8Version, v8_running);
    return why;
  }
  if (!PERCPU_FAST_CALLS) {
    snprintf(why, sizeof why, "it has no fast-call declarations for V8 %d.%d (declared: %s)", V8_MAJOR_VERSION,
             V8_MINOR_VERSION, PERCPU_FAST_CALL_LINES);
    return why;
  }
  napi_value made;
  if (napi_create_int32(env, 0x5eed, &made) != napi_ok) return "Node-API failed";
  const v8::Local<v8::Value> seen = ToV8(made);
  if (seen.IsEmpty() || !seen->IsInt32() || seen.As<v8::Int32>()->Value() != 0x5eed)
    return "a napi_value is not a v8::Local here";
  int32_t back = 0;
  if (napi_get_value_int32(env, ToNapi(v8::Integer::New(v8::Isolate::GetCurrent(), 0x7ab)), &back) != napi_ok ||
      back != 0x7ab)
    return "a v8::Local is not a napi_value here";
  g_host = host;
  return nullptr;
}

// The op function of `ref` for (backend, type, op): the op template's function bound to a new
// holder carrying a new FastOp, named as the op. nullptr if it cannot be made (the binding then
// uses `exact`).
napi_value MakeOp(napi_env env, uint32_t backend, uint32_t type, uint32_t op, HandleRef* ref, napi_value exact) {
  if (g_host == nullptr || type >= static_cast<uint32_t>(kTypeCount) || op >= static_cast<uint32_t>(kOpCount)) return nullptr;
  const OpCallbacks* callbacks = Callbacks(backend, type, op);
  if (callbacks == nullptr) return nullptr;
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  ThreadTemplates* templates = Templates(isolate);
  if (templates == nullptr) return nullptr;
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  v8::Local<v8::Function> function;
  v8::Local<v8::Object> holder;
  v8::Local<v8::String> name;
  if (!OpTemplate(templates, backend, type, op, *callbacks)->GetFunction(context).ToLocal(&function) ||
      !templates->holder_class.Get(isolate)->InstanceTemplate()->NewInstance(context).ToLocal(&holder) ||
      !v8::String::NewFromUtf8(isolate, kOps[op].name).ToLocal(&name))
    return nullptr;
  // From here the FastOp belongs to the holder: it goes when the holder is collected (or the
  // thread ends), whatever happens below.
  auto* fast = new FastOp{ref, g_host->this_thread(), &templates->slow_calls, {}, {}, OpKind(type, op)};
  holder->SetAlignedPointerInInternalField(kFastOpField, fast);
  fast->exact.Reset(isolate, ToV8(exact).As<v8::Function>());
  fast->holder.Reset(isolate, holder);
  fast->holder.SetWeak(fast, FirstPass, v8::WeakCallbackType::kParameter);
  g_host->add_handle_owner(ref);
  if (tls_fast_ops == nullptr) tls_fast_ops = new std::unordered_set<FastOp*>();
  tls_fast_ops->insert(fast);
  // function.bind(holder): V8 has no C++ API for bound functions, so this is the realm's bind. A
  // program that replaced it gets what its bind returns if that is a bound function of this op's
  // function, else the exact function; either way every receiver is checked against the signature.
  v8::TryCatch try_catch(isolate);
  v8::Local<v8::Value> bind, bound;
  v8::Local<v8::Value> bound_this[1] = {holder};
  if (!function->Get(context, v8::String::NewFromUtf8Literal(isolate, "bind")).ToLocal(&bind) || !bind->IsFunction() ||
      !bind.As<v8::Function>()->Call(context, function, 1, bound_this).ToLocal(&bound) || !bound->IsFunction() ||
      !bound.As<v8::Function>()->GetBoundFunction()->StrictEquals(function))
    return nullptr;
  // A bound function is named "bound add": the op function is named as the op, like the exact one.
  if (bound.As<v8::Object>()
          ->DefineOwnProperty(context, v8::String::NewFromUtf8Literal(isolate, "name"), name,
                              static_cast<v8::PropertyAttribute>(v8::ReadOnly | v8::DontEnum))
          .IsNothing())
    return nullptr;
  return ToNapi(bound);
}

napi_value MakeOpEntry(napi_env env, uint32_t type, uint32_t op, uint32_t backend, HandleRef* ref, napi_value exact) {
  return MakeOp(env, backend, type, op, ref, exact);
}

// Environment teardown: V8 runs no weak callbacks when an isolate goes, so this drops the FastOps
// of the calling thread that are still alive (each gives back its JS ownership), and the thread's
// templates (and with them its slow-call count).
void DropThread() {
  if (tls_fast_ops != nullptr) {
    std::unordered_set<FastOp*> live;
    live.swap(*tls_fast_ops);
    for (FastOp* fast : live) Destroy(fast);
    delete tls_fast_ops;
    tls_fast_ops = nullptr;
  }
  delete tls_templates;  // resets its Globals
  tls_templates = nullptr;
}

// slowCalls(): this thread's count of op calls that did not complete in a fast C function (0
// before its first op function).
void SlowCalls(const v8::FunctionCallbackInfo<v8::Value>& info) {
  info.GetReturnValue().Set(static_cast<double>(tls_templates != nullptr ? tls_templates->slow_calls : 0));
}

// fastOps: {type: [op, ...]}, the (type, op) pairs that have a fast C function on this V8 line.
v8::Local<v8::Object> FastOps(v8::Local<v8::Context> context) {
  v8::Isolate* isolate = context->GetIsolate();
  v8::Local<v8::Object> table = v8::Object::New(isolate);
  for (int type = 0; type < kTypeCount; ++type) {
    v8::Local<v8::Array> ops = v8::Array::New(isolate);
    uint32_t count = 0;
    for (int op = 0; op < kOpCount; ++op) {
      if (kCallbacks<GenericBackend>[type][op].fast() == nullptr) continue;
      ops->CreateDataProperty(context, count++, v8::String::NewFromUtf8(isolate, kOps[op].name).ToLocalChecked()).Check();
    }
    table->CreateDataProperty(context, v8::String::NewFromUtf8(isolate, kTypes[type].name).ToLocalChecked(), ops).Check();
  }
  return table;
}

}  // namespace

v8::MaybeLocal<v8::Value> CallExact(v8::Isolate* isolate, const FastOp* fast, v8::Local<v8::Value> receiver, int argc,
                                    v8::Local<v8::Value>* operands) {
  return fast->exact.Get(isolate)->Call(isolate->GetCurrentContext(), receiver, argc, operands);
}

void CallExact(const v8::FunctionCallbackInfo<v8::Value>& info, const FastOp* fast) {
  v8::Local<v8::Value> args[2];
  const int argc = info.Length() < 2 ? info.Length() : 2;  // no op takes more than two
  for (int i = 0; i < argc; ++i) args[i] = info[i];
  v8::Local<v8::Value> result;
  // An exception, if the exact path threw one, stays pending for our caller.
  if (CallExact(info.GetIsolate(), fast, info.This(), argc, args).ToLocal(&result)) info.GetReturnValue().Set(result);
}

}  // namespace percpu::accel

// The table the binding finds with dlsym (host_protocol.h).
extern "C" __attribute__((visibility("default"))) const percpu::AccelTable percpu_accel_v1;
const percpu::AccelTable percpu_accel_v1 = {
    percpu::MakeHeader(percpu::kAccelMagic),
    NODE_MODULE_VERSION,
    percpu::accel::kV8Version,
    &percpu::accel::Attach,
    &percpu::accel::MakeOpEntry,
    &percpu::accel::DropThread,
};

// What JS reads before it asks the binding to attach this module.
NODE_MODULE_INIT(/* exports, module, context */) {
  v8::Isolate* isolate = context->GetIsolate();
  const auto set = [&](const char* key, const char* value) {
    exports
        ->Set(context, v8::String::NewFromUtf8(isolate, key).ToLocalChecked(),
              v8::String::NewFromUtf8(isolate, value).ToLocalChecked())
        .Check();
  };
  set("nodeAbi", percpu::accel::kNodeAbi);
  set("v8Version", percpu::accel::kV8Version);
  set("nodeVersion", NODE_VERSION_STRING);
  char protocol[16];
  snprintf(protocol, sizeof protocol, "%u", percpu::kProtocolVersion);
  set("protocol", protocol);
  exports->Set(context, v8::String::NewFromUtf8Literal(isolate, "fastOps"), percpu::accel::FastOps(context)).Check();
  exports
      ->Set(context, v8::String::NewFromUtf8Literal(isolate, "slowCalls"),
            v8::Function::New(context, percpu::accel::SlowCalls).ToLocalChecked())
      .Check();
}
