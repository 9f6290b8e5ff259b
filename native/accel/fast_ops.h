// The accelerator's op functions. Each num() op is one V8 function with two callbacks, made per
// (type, op, backend) from one FunctionTemplate per thread:
// - FastCCallback, the fast C function V8's optimizing compiler calls straight from optimized
//   code (V8 fast API calls, v8_fast_api.h): the handle is live, the thread bound and every
//   operand a small integer (or a lossless bigint for the 64-bit types)? Then it runs the one
//   instruction and returns. Anything else leaves it (OffFastPath).
// - FastOpCallback, the ordinary V8 API callback for every other call (interpreted or baseline
//   code, or a fast C function's fallback): the same checks and conversions inline, else the op's
//   exact Node-API function in the binding (native/binding/op_callback.h), which converts,
//   validates and throws percpu's named errors.
// Both run the same op, and every error comes from one place, the exact function.
//
// The op function a handle's num() holds is that template's function bound (Function.prototype.bind)
// to a holder object: a FunctionTemplate's function is cached by V8 for the life of the context,
// so one function per handle would never be collected, while bound functions and holders are.
// The holder (an instance of a per-thread holder class, the functions' v8::Signature) carries the
// FastOp in its internal field; V8 checks every receiver against the signature, in both paths.
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
#include "v8_fast_api.h"

namespace percpu::accel {

// What a holder carries: the handle's ref (the holder is one of its JS owners), the ThreadState of
// the thread that made it (a V8 function runs only on its isolate's thread, so this is the
// caller's), that thread's count of slow-path calls, and the exact Node-API function for the same op.
struct FastOp {
  HandleRef* ref;
  ThreadState* self;
  // The op calls of this thread that did not complete in a fast C function: entries into
  // FastOpCallback and (without fallback, V8 12.6 and later) a fast C function's calls of the exact
  // function. Tests read it (slowCalls() of the module) to prove the fast path is taken. It lives in
  // the thread's ThreadTemplates (accel.cc), not in a thread_local: in a dlopen'ed module that is a
  // __tls_get_addr call on every slow-path op. SAFETY: the ThreadTemplates outlive every FastOp of
  // their thread (DropThread destroys the FastOps first), and a FastOp is used only on that thread,
  // so a plain increment through this pointer is valid and unshared.
  uint64_t* slow_calls;
  v8::Global<v8::Function> exact;
  v8::Global<v8::Object> holder;  // weak: the FastOp goes when its holder is collected
  uint16_t kind;                  // OpKind(type, op) of the op function it was made for
};

// What a FastOp was made for, as one number: every callback checks it against its own (type, op)
// before it trusts the ref's offset with its type's width. The holder class is shared by every op
// function of the thread, and binding a function to its holder goes through the realm's
// Function.prototype.bind, which a program may have replaced: such a bind could hand one op
// function another op's holder (of a u8, say, to a u64 add), and only this check keeps the
// instruction inside the allocation.
constexpr uint16_t OpKind(uint32_t type, uint32_t op) { return static_cast<uint16_t>(type * kOpCount + op); }

// The holder's internal field that points at its FastOp.
constexpr int kFastOpField = 0;

// The FastOp of a holder. SAFETY: `holder` passed the functions' signature, so it is an instance
// of this thread's holder class; MakeOp sets the field of every such instance before anything
// else can see it, and the FastOp lives until the holder is collected (FirstPass/SecondPass).
inline FastOp* HolderOp(v8::Local<v8::Object> holder) {
  return static_cast<FastOp*>(holder->GetAlignedPointerFromInternalField(kFastOpField));
}

// Calls `fast`'s exact function with `receiver` and the operands: it either does the op and
// returns its result, or throws the error the Node-API path throws (then empty, the exception
// pending).
v8::MaybeLocal<v8::Value> CallExact(v8::Isolate* isolate, const FastOp* fast, v8::Local<v8::Value> receiver, int argc,
                                    v8::Local<v8::Value>* operands);

// The same with this call's receiver and arguments, its result the call's.
void CallExact(const v8::FunctionCallbackInfo<v8::Value>& info, const FastOp* fast);

// The TypeError of an op function bound to another op's holder (a replaced Function.prototype.bind),
// as V8 refuses a wrong receiver. Cold: out of every callback's way.
__attribute__((noinline, cold)) inline void ThrowForeignHolder(v8::Isolate* isolate) {
  isolate->ThrowException(v8::Exception::TypeError(
      v8::String::NewFromUtf8Literal(isolate, "Illegal invocation: this op function is bound to another op's holder")));
}

// Whether `fast` was made for (id, op) (OpKind); if not, throws (ThrowForeignHolder) and the
// caller returns at once.
template <TypeId id, OpId op>
__attribute__((always_inline)) inline bool OwnHolder(v8::Isolate* isolate, const FastOp* fast) {
  if (__builtin_expect(fast->kind == OpKind(static_cast<uint32_t>(id), static_cast<uint32_t>(op)), 1)) return true;
  ThrowForeignHolder(isolate);
  return false;
}

// A small integer's value: a Smi is read from the tagged word itself, with no call into V8
// (v8-internal.h's inline helpers, as V8's own inline Value::Is* use); any other int32 (a heap
// number) through Value::IsInt32, unless kSmiOnly (the fast C functions: they leave such a value
// to the slow path, and keep no call of their own on the way to the instruction).
template <bool kSmiOnly>
inline bool SmallInteger(v8::Local<v8::Value> value, int64_t* out) {
  using I = v8::internal::Internals;
  const v8::internal::Address word = v8::internal::ValueHelper::ValueAsAddress(*value);
  if (__builtin_expect(!I::HasHeapObjectTag(word), 1)) {
    *out = I::SmiValue(word);
    return true;
  }
  if (kSmiOnly || !value->IsInt32()) return false;
  *out = value.As<v8::Int32>()->Value();
  return true;
}

// An operand converted inline: a small integer in range for 8/16/32-bit types, a bigint that fits
// for 64-bit ones. False for anything else, which the exact path handles.
template <TypeId id, bool kSmiOnly>
inline bool FastOperand(v8::Local<v8::Value> value, typename Numeric<id>::T* out) {
  using T = typename Numeric<id>::T;
  if constexpr (!Numeric<id>::kBig) {
    int64_t v = 0;
    if (!SmallInteger<kSmiOnly>(value, &v)) return false;
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

// The inline checks of both callbacks: the ref is live, the thread bound and every operand
// converted exactly. Then `a` and `b` hold the operands (1 and 0 where the op takes fewer).
template <TypeId id, OpId op, bool kSmiOnly>
__attribute__((always_inline)) inline bool OnFastPath(const FastOp* fast, const v8::Local<v8::Value>* operands,
                                                      typename Numeric<id>::T* a, typename Numeric<id>::T* b) {
  constexpr int kOperands = kOps[static_cast<int>(op)].operands;
  constexpr uint16_t kKind = OpKind(static_cast<uint32_t>(id), static_cast<uint32_t>(op));
  return __builtin_expect(fast->kind == kKind && fast->ref->live && Bound(*fast->self) &&
                              (kOperands < 1 || FastOperand<id, kSmiOnly>(operands[0], a)) &&
                              (kOperands < 2 || FastOperand<id, kSmiOnly>(operands[1], b)),
                          1);
}

// SAFETY: the op runs only after the same checks as the binding's OpCallback (OnFastPath): the ref
// is live (so its offset names a live allocation of this type), the thread is bound (so the
// backend addresses its CPU's area), and every operand converted exactly. The FastOp is the
// receiver's, which V8 checked against the signature (HolderOp).
template <TypeId id, OpId op, class B>
void FastOpCallback(const v8::FunctionCallbackInfo<v8::Value>& info) {
  using T = typename Numeric<id>::T;
  constexpr OpSpec kSpec = kOps[static_cast<int>(op)];
  const FastOp* fast = HolderOp(info.This());
  ++*fast->slow_calls;
  if (!OwnHolder<id, op>(info.GetIsolate(), fast)) return;
  T a = 1, b = 0;  // as in OpCallback: an op without operands that needs one uses 1
  const v8::Local<v8::Value> operands[2] = {info[0], info[1]};
  if (info.Length() >= kSpec.operands && OnFastPath<id, op, false>(fast, operands, &a, &b)) {
    [[maybe_unused]] const T result = ApplyOp<B, op, T>(*fast->self, fast->ref->offset, a, b);
    if constexpr (kSpec.returns) FastReturn<id>(info, result);
    return;
  }
  CallExact(info, fast);
}

#if PERCPU_FAST_CALLS
// The C type a fast C function returns for a type's values: int32_t or uint32_t for the
// 8/16/32-bit types (V8 makes a number of it), int64_t or uint64_t for the 64-bit ones (a bigint:
// Int64Representation::kBigInt, V8 12.4 and later).
template <TypeId id>
using CReturn = std::conditional_t<Numeric<id>::kBig, std::conditional_t<std::is_signed_v<typename Numeric<id>::T>, int64_t, uint64_t>,
                                   std::conditional_t<std::is_signed_v<typename Numeric<id>::T>, int32_t, uint32_t>>;

// Whether (type, op) has a fast C function on this V8 line: none on 11.3 (PERCPU_FAST_C_SAFE); else
// every op of the 8/16/32-bit types; of the 64-bit types, the ops that return nothing, and the
// others where V8 returns a bigint.
template <TypeId id, OpId op>
constexpr bool kHasFastC =
    PERCPU_FAST_C_SAFE && (!Numeric<id>::kBig || !kOps[static_cast<int>(op)].returns || PERCPU_FAST_BIGINT_RETURN);

template <TypeId id, OpId op>
using FastResult = std::conditional_t<kOps[static_cast<int>(op)].returns, CReturn<id>, void>;

// A fast C function's way off the fast path (cold, with the fast C function's own parameters, so
// that the fast one reaches it with a jump and needs no frame of its own): up to V8 12.x it asks V8
// for the ordinary call (fallback), which runs FastOpCallback with the same receiver and
// arguments; later lines have no fallback but let a fast C function call into JS, so it calls the
// exact function itself and returns its result (or nothing, with its exception pending).
template <TypeId id, OpId op, class... Operands>
__attribute__((noinline, cold)) FastResult<id, op> OffFastPath(v8::Local<v8::Object> receiver, Operands... values,
                                                              v8::FastApiCallbackOptions& options) {
  using R = FastResult<id, op>;
#if PERCPU_FAST_FALLBACK
  options.fallback = true;  // FastOpCallback counts the call
  if constexpr (!std::is_void_v<R>) return R{};
#else
  const FastOp* fast = HolderOp(receiver);
  ++*fast->slow_calls;
  v8::Isolate* isolate = options.isolate;
  v8::HandleScope scope(isolate);
  if (!OwnHolder<id, op>(isolate, fast)) {
    if constexpr (!std::is_void_v<R>) return R{};
    else return;
  }
  v8::Local<v8::Value> operands[2] = {values...};
  v8::Local<v8::Value> result;
  const bool returned = CallExact(isolate, fast, receiver, static_cast<int>(sizeof...(Operands)), operands).ToLocal(&result);
  if constexpr (!std::is_void_v<R>) {
    if (!returned) return R{};  // the exact function threw: its exception is pending
    if constexpr (Numeric<id>::kBig) {
      if (!result->IsBigInt()) return R{};
      if constexpr (std::is_signed_v<R>) return result.As<v8::BigInt>()->Int64Value();
      else return result.As<v8::BigInt>()->Uint64Value();
    } else {
      return result->IsNumber() ? static_cast<R>(result.As<v8::Number>()->Value()) : R{};
    }
  }
#endif
}

// The fast C function of (type, op, backend): the receiver (the holder), one v8::Local<v8::Value>
// per operand, and the options. SAFETY: as FastOpCallback's; V8 calls it only with a receiver that
// passed the signature and at least the declared operands.
template <TypeId id, OpId op, class B, class... Operands>
FastResult<id, op> FastCCallback(v8::Local<v8::Object> receiver, Operands... values, v8::FastApiCallbackOptions& options) {
  using T = typename Numeric<id>::T;
  const FastOp* fast = HolderOp(receiver);
  const v8::Local<v8::Value> operands[2] = {values...};
  T a = 1, b = 0;
  if (OnFastPath<id, op, true>(fast, operands, &a, &b)) {
    [[maybe_unused]] const T result = ApplyOp<B, op, T>(*fast->self, fast->ref->offset, a, b);
    if constexpr (kOps[static_cast<int>(op)].returns) return static_cast<CReturn<id>>(result);
    else return;
  }
  return OffFastPath<id, op, Operands...>(receiver, values..., options);
}
#endif  // PERCPU_FAST_CALLS

}  // namespace percpu::accel
