// The fast path of num()'s ops: a V8 API function per (type, op, backend) that converts its
// operands inline and runs the op, with no Node-API call. Anything off that path (a released
// handle, an unbound thread, a value that is not a small integer or a lossless bigint) is handed
// to the op's exact Node-API callback (OpCallback in addon.cc), which converts, validates and
// throws percpu's named errors: both paths run the same op, and every error comes from one place.
//
// Node-API's own call overhead is about a third of an empty call, and each napi_* call on the op
// path costs about half an empty call again; measured in bench/ (the call-path experiments).
//
// This leans on one fact of Node that Node-API does not promise: a napi_value is a
// v8::Local<v8::Value> (v8impl::JsValueFromV8LocalValue). FastPathWorks() checks it when the addon
// loads; where it does not hold, num() uses the Node-API callbacks alone.
#pragma once

#include <node_api.h>
#include <v8.h>

#include <cstdint>
#include <limits>
#include <type_traits>

#include "handle.h"
#include "numeric.h"
#include "ops.h"

namespace percpu {

static_assert(sizeof(napi_value) == sizeof(v8::Local<v8::Value>), "a napi_value is a v8::Local<v8::Value>");
v8::Local<v8::Value> ToV8(napi_value value);
napi_value ToNapi(v8::Local<v8::Value> local);

// True if napi_value and v8::Local<v8::Value> are the same thing in this Node (checked once).
bool FastPathWorks(napi_env env);

// What a fast function is bound to: the handle's ref (it is one of the ref's JS owners) and the
// exact Node-API function for the same op.
struct FastOp {
  HandleRef* ref;
  v8::Global<v8::Function> exact;
  v8::Global<v8::Function> self;  // weak: the FastOp goes when the function is collected
};

// A V8 function running `callback` on a new FastOp for `ref`, named `name`, with `length`
// parameters; `exact` is the Node-API function to fall back to. nullptr if V8 refused.
napi_value MakeFastFunction(napi_env env, v8::FunctionCallback callback, const char* name, int length, HandleRef* ref,
                            napi_value exact);

// Environment teardown: V8 runs no weak callbacks when an isolate goes, so this drops the
// FastOps of the calling thread that are still alive (each gives back its JS ownership).
void DropFastOpsForExit();

// Calls the exact function with this call's receiver and arguments, and returns its result: it
// either does the op or throws the error the Node-API path throws.
void CallExact(const v8::FunctionCallbackInfo<v8::Value>& info, FastOp* fast);

// An operand converted by V8 inline: a small integer (an Int32) in range for 8/16/32-bit types,
// a bigint that fits for 64-bit ones. False for anything else, which the exact path handles.
template <TypeId id>
inline bool FastOperand(v8::Local<v8::Value> value, typename Numeric<id>::T* out) {
  using T = typename Numeric<id>::T;
  if constexpr (!Numeric<id>::kBig) {
    if (!value->IsInt32()) return false;
    const int64_t v = value.As<v8::Int32>()->Value();
    if (v < static_cast<int64_t>(std::numeric_limits<T>::min()) || v > static_cast<int64_t>(std::numeric_limits<T>::max()))
      return false;
    *out = static_cast<T>(v);
    return true;
  } else {
    if (!value->IsBigInt()) return false;
    bool lossless = false;
    if constexpr (std::is_signed_v<T>) {
      const int64_t v = value.As<v8::BigInt>()->Int64Value(&lossless);
      if (v < static_cast<int64_t>(std::numeric_limits<T>::min()) || v > static_cast<int64_t>(std::numeric_limits<T>::max()))
        return false;
      *out = static_cast<T>(v);
    } else {
      const uint64_t v = value.As<v8::BigInt>()->Uint64Value(&lossless);
      if (v > static_cast<uint64_t>(std::numeric_limits<T>::max())) return false;
      *out = static_cast<T>(v);
    }
    return lossless;
  }
}

// A result as the exact path gives it: a number for 8/16/32-bit types, a bigint otherwise.
template <TypeId id>
inline void FastReturn(const v8::FunctionCallbackInfo<v8::Value>& info, typename Numeric<id>::T value) {
  using T = typename Numeric<id>::T;
  if constexpr (!Numeric<id>::kBig) {
    if constexpr (std::is_signed_v<T>)
      info.GetReturnValue().Set(static_cast<int32_t>(value));
    else
      info.GetReturnValue().Set(static_cast<uint32_t>(value));
  } else if constexpr (std::is_signed_v<T>) {
    info.GetReturnValue().Set(v8::BigInt::New(info.GetIsolate(), static_cast<int64_t>(value)));
  } else {
    info.GetReturnValue().Set(v8::BigInt::NewFromUnsigned(info.GetIsolate(), static_cast<uint64_t>(value)));
  }
}

// SAFETY: the op runs only after the same checks as OpCallback: the ref is live (so its offset
// names a live allocation of this type), the thread is bound (so the backend addresses its CPU's
// area), and every operand converted exactly.
template <TypeId id, OpId op, class B>
void FastOpCallback(const v8::FunctionCallbackInfo<v8::Value>& info) {
  using T = typename Numeric<id>::T;
  constexpr OpSpec kSpec = kOps[static_cast<int>(op)];
  FastOp* fast = static_cast<FastOp*>(info.Data().As<v8::External>()->Value());
  const HandleRef* ref = fast->ref;
  T a = 1, b = 0;  // as in OpCallback: an op without operands that needs one uses 1
  if (__builtin_expect(ref->live && ThisThreadBound() && info.Length() >= kSpec.operands &&
                           (kSpec.operands < 1 || FastOperand<id>(info[0], &a)) &&
                           (kSpec.operands < 2 || FastOperand<id>(info[1], &b)),
                       1)) {
    [[maybe_unused]] const T result = ApplyOp<B, op, T>(ref->offset, a, b);
    if constexpr (kSpec.returns) FastReturn<id>(info, result);
    return;
  }
  CallExact(info, fast);
}

}  // namespace percpu
