// The part of V8's include/v8-fast-api-calls.h that the accelerator uses, declared here because
// Node does not ship that header to addons (nodejs/node#43619). Its layouts and enum values are
// read by V8's optimizing compiler and by the C functions it calls, so a wrong one is silent
// memory corruption: each is written for one V8 line only, from that line's sources, and the
// accelerator refuses every other line (PERCPU_FAST_CALLS is 0 there, and attach() says why).
// Where each declaration comes from, line by line, is in docs/accelerator.md.
//
// The exported functions used here (the CFunctionInfo and CFunction constructors,
// FunctionTemplate::New with a CFunction*) are checked against each Node binary's dynamic symbols
// (`nm -D node | c++filt`), and attach() compares the running V8's major.minor with the one
// compiled for before any of them is called.
#pragma once

#include <v8-version.h>
#include <v8.h>

#include <cstdint>

#define PERCPU_V8_LINE (V8_MAJOR_VERSION * 100 + V8_MINOR_VERSION)

// The V8 lines declared below: Node 20 (V8 11.3), Node 22 (V8 12.4), Node 24 (V8 13.6). The
// string names them for attach()'s refusal: change both together.
#if PERCPU_V8_LINE == 1103 || PERCPU_V8_LINE == 1204 || PERCPU_V8_LINE == 1306
#define PERCPU_FAST_CALLS 1
#else
#define PERCPU_FAST_CALLS 0
#endif
#define PERCPU_FAST_CALL_LINES "11.3, 12.4, 13.6"

// V8 12.4 and later can return a 64-bit integer to JS as a bigint (Int64Representation::kBigInt);
// 11.3 converts it to a number, so no 64-bit op that returns a value gets a fast C function there.
#define PERCPU_FAST_BIGINT_RETURN (PERCPU_V8_LINE >= 1204)
// V8 11.3 (Node 20) loses the exception handler of an optimized call site when the call's fast C
// function asks for the fallback and the fallback throws: `try { ops.add(-1) } catch {}` in a hot
// function lets the PerCpuRangeError escape the catch (test/fast-path-child.ts's caughtInside;
// 12.4 and 13.6 catch it). So on 11.3 no op gets a fast C function: the accelerator's V8 API
// functions (fast_ops.h, FastOpCallback) serve every op there.
#define PERCPU_FAST_C_SAFE (PERCPU_V8_LINE != 1103)
// Up to 12.x a fast C function that cannot do the call sets FastApiCallbackOptions::fallback and
// V8 then makes the ordinary (slow) call; from 12.6 on, fallback is gone and a fast C function may
// call into JavaScript and throw itself.
#define PERCPU_FAST_FALLBACK (PERCPU_V8_LINE < 1206)

#if PERCPU_FAST_CALLS
namespace v8 {

// A C argument or return type. Three bytes: type, sequence type, flags.
class CTypeInfo {
 public:
  // Values as in V8 11.3, 12.4 and 13.6 (kV8Value is 10 in all three).
  enum class Type : uint8_t {
    kVoid,
    kBool,
    kUint8,
    kInt32,
    kUint32,
    kInt64,
    kUint64,
    kFloat32,
    kFloat64,
    kPointer,
    kV8Value,
  };
  // The trailing FastApiCallbackOptions& parameter (not part of Type).
  static constexpr Type kCallbackOptionsType = Type(255);
  enum class SequenceType : uint8_t { kScalar };
  enum class Flags : uint8_t { kNone = 0 };

  explicit constexpr CTypeInfo(Type type) : type_(type), sequence_type_(SequenceType::kScalar), flags_(Flags::kNone) {}

 private:
  Type type_;
  SequenceType sequence_type_;
  Flags flags_;
};

// A C function's signature: its return type and its arguments (the receiver first).
class V8_EXPORT CFunctionInfo {
 public:
#if PERCPU_V8_LINE >= 1204
  enum class Int64Representation : uint8_t { kNumber = 0, kBigInt = 1 };
  CFunctionInfo(const CTypeInfo& return_info, unsigned int arg_count, const CTypeInfo* arg_info,
                Int64Representation repr);
#else
  CFunctionInfo(const CTypeInfo& return_info, unsigned int arg_count, const CTypeInfo* arg_info);
#endif

 private:
  const CTypeInfo return_info_;
#if PERCPU_V8_LINE >= 1204
  const Int64Representation repr_;
#endif
  const unsigned int arg_count_;
  const CTypeInfo* arg_info_;
};

// A C function and its signature, as FunctionTemplate::New takes them.
class V8_EXPORT CFunction {
 public:
  CFunction(const void* address, const CFunctionInfo* type_info);

 private:
  const void* address_;
  const CFunctionInfo* type_info_;
};

// The last parameter of a fast C function that declares kCallbackOptionsType.
struct FastApiCallbackOptions {
#if PERCPU_FAST_FALLBACK
  bool fallback;
  union {
    uintptr_t data_ptr;
    v8::Local<v8::Value> data;
  };
  void* wasm_memory;  // const FastApiTypedArray<uint8_t>*
#else
  v8::Isolate* isolate;
  v8::Local<v8::Value> data;
#endif
};

}  // namespace v8
#endif  // PERCPU_FAST_CALLS
