// percpu_accel.node: num()'s fast path through V8's C++ API (fast_ops.h). V8's API has no stable
// ABI, so this module is built for exactly one Node ABI (NODE_MODULE_VERSION) and registers with
// NODE_MODULE_INIT: Node itself refuses it under any other ABI ("was compiled against a different
// Node.js version"), before any of its code runs. The JS loader also compares its exports (the Node
// ABI and V8 line it was built for) with the running Node before it asks the binding to attach it,
// and attach() checks them a third time, with the protocol header, before any op. Only then does
// the binding make num()'s functions here; otherwise num() stays on the binding's Node-API path.
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

// The fast callbacks per (backend, type, op).
template <TypeId id, class B>
constexpr std::array<v8::FunctionCallback, kOpCount> FastRow() {
#define PERCPU_FAST_ENTRY(op, js, operands, returns, form, insn, oper) &FastOpCallback<id, OpId::op, B>,
  return {PERCPU_OPS(PERCPU_FAST_ENTRY)};
#undef PERCPU_FAST_ENTRY
}

template <class B>
constexpr std::array<std::array<v8::FunctionCallback, kOpCount>, kTypeCount> kFastTable = {
#define PERCPU_FAST_ROW(name, ctype, big) FastRow<TypeId::name, B>(),
    PERCPU_NUMERIC_TYPES(PERCPU_FAST_ROW)
#undef PERCPU_FAST_ROW
};

v8::FunctionCallback FastCallback(uint32_t backend, uint32_t type, uint32_t op) {
#if PERCPU_HAVE_GS
  if (backend == 0) return kFastTable<GsBackend>[type][op];
#endif
  return backend == 1 ? kFastTable<GenericBackend>[type][op] : nullptr;
}

// The live FastOps of this thread: a thread is one Node environment (the main thread or one
// worker), and its FastOps are made and collected on it.
thread_local std::unordered_set<FastOp*>* tls_fast_ops = nullptr;

void Destroy(FastOp* fast) {
  fast->function.Reset();
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
  data.GetParameter()->function.Reset();  // the first pass may only reset the handle
  data.SetSecondPassCallback(SecondPass);
}

// The checks of attach(): this Node is the one the module was built for, and napi_value is
// v8::Local<v8::Value> both ways.
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

napi_value MakeOp(napi_env env, uint32_t backend, uint32_t type, uint32_t op, HandleRef* ref, napi_value exact) {
  if (g_host == nullptr || type >= static_cast<uint32_t>(kTypeCount) || op >= static_cast<uint32_t>(kOpCount)) return nullptr;
  const v8::FunctionCallback callback = FastCallback(backend, type, op);
  if (callback == nullptr) return nullptr;
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  auto* fast = new FastOp{ref, g_host->this_thread(), {}, {}};
  v8::Local<v8::Function> fn;
  v8::Local<v8::String> name;
  if (!v8::Function::New(context, callback, v8::External::New(isolate, fast), kOps[op].operands,
                         v8::ConstructorBehavior::kThrow)
           .ToLocal(&fn) ||
      !v8::String::NewFromUtf8(isolate, kOps[op].name).ToLocal(&name)) {
    delete fast;
    return nullptr;
  }
  fn->SetName(name);
  fast->exact.Reset(isolate, ToV8(exact).As<v8::Function>());
  fast->function.Reset(isolate, fn);
  fast->function.SetWeak(fast, FirstPass, v8::WeakCallbackType::kParameter);
  g_host->add_handle_owner(ref);
  if (tls_fast_ops == nullptr) tls_fast_ops = new std::unordered_set<FastOp*>();
  tls_fast_ops->insert(fast);
  return ToNapi(fn);
}

napi_value MakeOpEntry(napi_env env, uint32_t type, uint32_t op, uint32_t backend, HandleRef* ref, napi_value exact) {
  return MakeOp(env, backend, type, op, ref, exact);
}

// Environment teardown: V8 runs no weak callbacks when an isolate goes, so this drops the FastOps
// of the calling thread that are still alive (each gives back its JS ownership).
void DropThread() {
  if (tls_fast_ops == nullptr) return;
  std::unordered_set<FastOp*> live;
  live.swap(*tls_fast_ops);
  for (FastOp* fast : live) Destroy(fast);
  delete tls_fast_ops;
  tls_fast_ops = nullptr;
}

}  // namespace

void CallExact(const v8::FunctionCallbackInfo<v8::Value>& info, FastOp* fast) {
  v8::Isolate* isolate = info.GetIsolate();
  v8::Local<v8::Value> args[2];
  const int argc = info.Length() < 2 ? info.Length() : 2;  // no op takes more than two
  for (int i = 0; i < argc; ++i) args[i] = info[i];
  v8::Local<v8::Value> result;
  // An exception, if the exact path threw one, stays pending for our caller.
  if (fast->exact.Get(isolate)->Call(isolate->GetCurrentContext(), info.This(), argc, args).ToLocal(&result))
    info.GetReturnValue().Set(result);
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
}
