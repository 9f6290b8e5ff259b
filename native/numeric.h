// The numeric types of PerCpuNumeric, as one table, and conversion of their values from and to JS.
//
// Every list of types in the addon is generated from PERCPU_NUMERIC_TYPES, the way Linux's
// arch/x86/include/asm/percpu.h generates every op from one table of sizes.
#pragma once

#include <node_api.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "errors.h"

namespace percpu {

// X(name, C type, held in a JS bigint)
// Values of the 64-bit and pointer-sized types do not fit a double exactly, so JS passes bigints.
#define PERCPU_NUMERIC_TYPES(X)  \
  X(i8, int8_t, false)           \
  X(i16, int16_t, false)         \
  X(i32, int32_t, false)         \
  X(i64, int64_t, true)          \
  X(isize, intptr_t, true)       \
  X(u8, uint8_t, false)          \
  X(u16, uint16_t, false)        \
  X(u32, uint32_t, false)        \
  X(u64, uint64_t, true)         \
  X(usize, uintptr_t, true)

enum class TypeId : uint8_t {
#define PERCPU_ENUM(name, ctype, big) name,
  PERCPU_NUMERIC_TYPES(PERCPU_ENUM)
#undef PERCPU_ENUM
  kCount
};

constexpr int kTypeCount = static_cast<int>(TypeId::kCount);

struct TypeInfo {
  const char* name;
  uint32_t size;  // natural alignment == size for every numeric type here
  bool big;
};

constexpr TypeInfo kTypes[] = {
#define PERCPU_INFO(name, ctype, big) {#name, sizeof(ctype), big},
    PERCPU_NUMERIC_TYPES(PERCPU_INFO)
#undef PERCPU_INFO
};

// Traits keyed by TypeId, not by C type: int64_t and intptr_t are the same C type on x86-64.
template <TypeId id>
struct Numeric;
#define PERCPU_TRAITS(tname, ctype, is_big)     \
  template <>                                   \
  struct Numeric<TypeId::tname> {               \
    using T = ctype;                            \
    static constexpr bool kBig = is_big;        \
    static constexpr const char* kName = #tname; \
  };
PERCPU_NUMERIC_TYPES(PERCPU_TRAITS)
#undef PERCPU_TRAITS

// Converts a JS value to T exactly, or throws and returns false. Never truncates, never wraps:
// a non-integer is a TypeError, an integer outside T's range is a RangeError.
template <TypeId id>
inline bool FromJs(napi_env env, napi_value value, typename Numeric<id>::T* out) {
  using T = typename Numeric<id>::T;
  if constexpr (Numeric<id>::kBig) {
    bool lossless = false;
    napi_status status;
    if constexpr (std::is_signed_v<T>) {
      int64_t v;
      status = napi_get_value_bigint_int64(env, value, &v, &lossless);
      *out = static_cast<T>(v);
      if (status == napi_ok && lossless && (v < std::numeric_limits<T>::min() || v > std::numeric_limits<T>::max()))
        lossless = false;
    } else {
      uint64_t v;
      status = napi_get_value_bigint_uint64(env, value, &v, &lossless);
      *out = static_cast<T>(v);
      if (status == napi_ok && lossless && v > std::numeric_limits<T>::max()) lossless = false;
    }
    if (status != napi_ok) return ThrowError(env, ErrorKind::kInvalidArg, "a %s value must be a bigint", Numeric<id>::kName);
    if (!lossless) return ThrowError(env, ErrorKind::kOutOfRange, "value is out of the range of %s", Numeric<id>::kName);
  } else {
    double d;
    if (napi_get_value_double(env, value, &d) != napi_ok)
      return ThrowError(env, ErrorKind::kInvalidArg, "a %s value must be a number", Numeric<id>::kName);
    if (!std::isfinite(d) || d != std::trunc(d))
      return ThrowError(env, ErrorKind::kInvalidArg, "a %s value must be an integer", Numeric<id>::kName);
    if (d < static_cast<double>(std::numeric_limits<T>::min()) || d > static_cast<double>(std::numeric_limits<T>::max()))
      return ThrowError(env, ErrorKind::kOutOfRange, "value %.17g is out of the range of %s", d, Numeric<id>::kName);
    *out = static_cast<T>(d);
  }
  return true;
}

template <TypeId id>
inline napi_value ToJs(napi_env env, typename Numeric<id>::T v) {
  using T = typename Numeric<id>::T;
  napi_value result = nullptr;
  if constexpr (Numeric<id>::kBig) {
    if constexpr (std::is_signed_v<T>)
      napi_create_bigint_int64(env, static_cast<int64_t>(v), &result);
    else
      napi_create_bigint_uint64(env, static_cast<uint64_t>(v), &result);
  } else {
    napi_create_double(env, static_cast<double>(v), &result);
  }
  return result;
}

// Calls fn.template operator()<id>() for the TypeId known only at run time. Cold paths only:
// the hot ops are instantiated per type when their JS functions are created.
template <typename Fn>
inline auto DispatchType(TypeId id, Fn&& fn) {
  switch (id) {
#define PERCPU_CASE(name, ctype, big) \
  case TypeId::name:                  \
    return fn.template operator()<TypeId::name>();
    PERCPU_NUMERIC_TYPES(PERCPU_CASE)
#undef PERCPU_CASE
    default:
      __builtin_unreachable();
  }
}

}  // namespace percpu
