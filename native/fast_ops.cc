#include "fast_ops.h"

#include <cstring>
#include <unordered_set>

namespace percpu {

v8::Local<v8::Value> ToV8(napi_value value) {
  v8::Local<v8::Value> local;
  std::memcpy(static_cast<void*>(&local), &value, sizeof value);
  return local;
}

napi_value ToNapi(v8::Local<v8::Value> local) { return reinterpret_cast<napi_value>(*local); }

bool FastPathWorks(napi_env env) {
  static const bool works = [env] {
    napi_value made;
    if (napi_create_int32(env, 0x5eed, &made) != napi_ok) return false;
    const v8::Local<v8::Value> seen = ToV8(made);
    if (seen.IsEmpty() || !seen->IsInt32() || seen.As<v8::Int32>()->Value() != 0x5eed) return false;
    int32_t back = 0;
    return napi_get_value_int32(env, ToNapi(v8::Integer::New(v8::Isolate::GetCurrent(), 0x7ab)), &back) == napi_ok &&
           back == 0x7ab;
  }();
  return works;
}

namespace {

// The live FastOps of this thread: a thread is one Node environment (the main thread or one
// worker), and its FastOps are made and collected on it.
thread_local std::unordered_set<FastOp*>* tls_fast_ops = nullptr;

void Destroy(FastOp* fast) {
  fast->self.Reset();
  fast->exact.Reset();
  DropHandleOwner(fast->ref);
  delete fast;
}

void SecondPass(const v8::WeakCallbackInfo<FastOp>& data) {
  FastOp* fast = data.GetParameter();
  if (tls_fast_ops != nullptr) tls_fast_ops->erase(fast);
  Destroy(fast);
}

void FirstPass(const v8::WeakCallbackInfo<FastOp>& data) {
  data.GetParameter()->self.Reset();  // the first pass may only reset the handle
  data.SetSecondPassCallback(SecondPass);
}

}  // namespace

napi_value MakeFastFunction(napi_env env, v8::FunctionCallback callback, const char* name, int length, HandleRef* ref,
                            napi_value exact) {
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  auto* fast = new FastOp{ref, {}, {}};
  v8::Local<v8::Function> fn;
  v8::Local<v8::String> fn_name;
  if (!v8::Function::New(context, callback, v8::External::New(isolate, fast), length, v8::ConstructorBehavior::kThrow)
           .ToLocal(&fn) ||
      !v8::String::NewFromUtf8(isolate, name).ToLocal(&fn_name)) {
    delete fast;
    return nullptr;
  }
  fn->SetName(fn_name);
  fast->exact.Reset(isolate, ToV8(exact).As<v8::Function>());
  fast->self.Reset(isolate, fn);
  fast->self.SetWeak(fast, FirstPass, v8::WeakCallbackType::kParameter);
  AddHandleOwner(ref);
  if (tls_fast_ops == nullptr) tls_fast_ops = new std::unordered_set<FastOp*>();
  tls_fast_ops->insert(fast);
  return ToNapi(fn);
}

void DropFastOpsForExit() {
  if (tls_fast_ops == nullptr) return;
  std::unordered_set<FastOp*> live;
  live.swap(*tls_fast_ops);
  for (FastOp* fast : live) Destroy(fast);
  delete tls_fast_ops;
  tls_fast_ops = nullptr;
}

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

}  // namespace percpu
