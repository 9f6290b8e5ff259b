// The accelerator's op functions: a V8 API function per (type, op, backend) that converts its
// operands inline and runs the op, with no Node-API call. Anything off that path (a released
// handle, an unbound thread, a value that is not a small integer or a lossless bigint) is handed
// to the op's exact Node-API callback in the binding (native/binding/op_callback.h), which
// converts, validates and throws percpu's named errors: both paths run the same op, and every
// error comes from one place.
#pragma once

#include <node_api.h>
#include <v8.h>

#include <cstdint>
#include <limits>
#include <type_traits>

#include "../core/handle_ref.h"
#include "../core/numeric.h"
#include "../core/ops.h"
#include "../core/region.h"

namespace percpu::accel {

// What a fast function is bound to: the handle's ref (the function is one of its JS owners), the
// ThreadState of the thread that made it (a V8 function runs only on its isolate's thread, so
// this is the caller's), and the exact Node-API function for the same op.
struct FastOp {
  HandleRef* ref;
  ThreadState* self;
  v8::Global<v8::Function> exact;
  v8::Global<v8::Function> function;  // weak: the FastOp goes when the function is collected
};

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

// SAFETY: the op runs only after the same checks as the binding's OpCallback: the ref is live (so
// its offset names a live allocation of this type), the thread is bound (so the backend addresses
// its CPU's area), and every operand converted exactly. `fast` comes from the function's own
// v8::External, which only the accelerator creates.
template <TypeId id, OpId op, class B>
void FastOpCallback(const v8::FunctionCallbackInfo<v8::Value>& info) {
  using T = typename Numeric<id>::T;
  constexpr OpSpec kSpec = kOps[static_cast<int>(op)];
  FastOp* fast = static_cast<FastOp*>(info.Data().As<v8::External>()->Value());
  const HandleRef* ref = fast->ref;
  ThreadState& self = *fast->self;
  T a = 1, b = 0;  // as in OpCallback: an op without operands that needs one uses 1
  if (__builtin_expect(ref->live && Bound(self) && info.Length() >= kSpec.operands &&
                           (kSpec.operands < 1 || FastOperand<id>(info[0], &a)) &&
                           (kSpec.operands < 2 || FastOperand<id>(info[1], &b)),
                       1)) {
    [[maybe_unused]] const T result = ApplyOp<B, op, T>(self, ref->offset, a, b);
    if constexpr (kSpec.returns) FastReturn<id>(info, result);
    return;
  }
  CallExact(info, fast);
}

}  // namespace percpu::accel
