// percpu_bench_fast.node: the floor of a V8 fast API call, for the benchmarks only (never shipped).
// `emptyFast(x)` is made as the accelerator makes a num() op (native/accel/fast_ops.h): a function
// template with a holder signature, one v8::Local<v8::Value> operand and the callback options, its
// function bound to a holder; its fast C function does nothing at all. So its cost from optimized
// JS is what any op of the accelerator pays before its own checks and its one instruction, and the
// benchmark reports it beside the empty Node-API call ("how close to 0 can a JS call get here").
// Built per Node ABI like the accelerator (it uses V8's C++ API); on a V8 line with no fast-call
// declarations (v8_fast_api.h) `emptyFast` is an ordinary V8 API function and `fastCalls` is false.
#include <node.h>
#include <v8.h>

#include <cstdint>

#include "../accel/v8_fast_api.h"

namespace {

// Calls that did not run in the fast C function: entries into the ordinary callback.
thread_local uint64_t tls_slow_calls = 0;

void EmptySlow(const v8::FunctionCallbackInfo<v8::Value>&) { ++tls_slow_calls; }

void SlowCalls(const v8::FunctionCallbackInfo<v8::Value>& info) {
  info.GetReturnValue().Set(v8::BigInt::NewFromUnsigned(info.GetIsolate(), tls_slow_calls));
}

#if PERCPU_FAST_CALLS
// SAFETY: reads nothing; V8 calls it only with a receiver that passed the signature.
void EmptyFast(v8::Local<v8::Object>, v8::Local<v8::Value>, v8::FastApiCallbackOptions&) {}

const v8::CFunction* EmptyCFunction() {
  static const v8::CTypeInfo args[] = {v8::CTypeInfo(v8::CTypeInfo::Type::kV8Value), v8::CTypeInfo(v8::CTypeInfo::Type::kV8Value),
                                       v8::CTypeInfo(v8::CTypeInfo::kCallbackOptionsType)};
  static const v8::CFunctionInfo info(v8::CTypeInfo(v8::CTypeInfo::Type::kVoid), 3, args
#if PERCPU_V8_LINE >= 1204
                                      ,
                                      v8::CFunctionInfo::Int64Representation::kNumber
#endif
  );
  static const v8::CFunction function(reinterpret_cast<const void*>(&EmptyFast), &info);
  return &function;
}
#else
const v8::CFunction* EmptyCFunction() { return nullptr; }
#endif

// emptyFast(): a new bound function each call (as num() makes one per variable).
void MakeEmptyFast(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  v8::Local<v8::FunctionTemplate> holder_class = v8::FunctionTemplate::New(isolate);
  v8::Local<v8::FunctionTemplate> empty =
      v8::FunctionTemplate::New(isolate, EmptySlow, v8::Local<v8::Value>(), v8::Signature::New(isolate, holder_class), 1,
                                v8::ConstructorBehavior::kThrow, v8::SideEffectType::kHasSideEffect, EmptyCFunction());
  v8::Local<v8::Function> function;
  v8::Local<v8::Object> holder;
  v8::Local<v8::Value> bind, bound;
  if (!empty->GetFunction(context).ToLocal(&function) || !holder_class->InstanceTemplate()->NewInstance(context).ToLocal(&holder) ||
      !function->Get(context, v8::String::NewFromUtf8Literal(isolate, "bind")).ToLocal(&bind) || !bind->IsFunction())
    return;
  v8::Local<v8::Value> bound_this[1] = {holder};
  if (bind.As<v8::Function>()->Call(context, function, 1, bound_this).ToLocal(&bound)) info.GetReturnValue().Set(bound);
}

}  // namespace

NODE_MODULE_INIT(/* exports, module, context */) {
  v8::Isolate* isolate = context->GetIsolate();
  const auto set = [&](const char* key, v8::Local<v8::Value> value) {
    exports->Set(context, v8::String::NewFromUtf8(isolate, key).ToLocalChecked(), value).Check();
  };
  set("fastCalls", v8::Boolean::New(isolate, PERCPU_FAST_CALLS != 0));
  set("makeEmptyFast", v8::Function::New(context, MakeEmptyFast).ToLocalChecked());
  set("slowCalls", v8::Function::New(context, SlowCalls).ToLocalChecked());
}
