// Values of the numeric types, from and to JS: numbers for the 8/16/32-bit types, bigints for the
// 64-bit and pointer-sized ones (a double cannot hold them exactly).
#pragma once

#include <node_api.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "../core/numeric.h"
#include "errors.h"

namespace percpu {

// Converts a JS value to T exactly, or throws and returns false. Never truncates, never wraps, never
// coerces: a non-integer is a PerCpuTypeError, an integer outside T's range a PerCpuRangeError.
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
    if (status != napi_ok) return Throw(env, Code::kInvalidArg, "a %s value must be a bigint", Numeric<id>::kName);
    if (!lossless) return Throw(env, Code::kOutOfRange, "value is out of the range of %s", Numeric<id>::kName);
  } else {
    double d;
    if (napi_get_value_double(env, value, &d) != napi_ok)
      return Throw(env, Code::kInvalidArg, "a %s value must be a number", Numeric<id>::kName);
    if (!std::isfinite(d) || d != std::trunc(d))
      return Throw(env, Code::kInvalidArg, "a %s value must be an integer", Numeric<id>::kName);
    if (d < static_cast<double>(std::numeric_limits<T>::min()) || d > static_cast<double>(std::numeric_limits<T>::max()))
      return Throw(env, Code::kOutOfRange, "value %.17g is out of the range of %s", d, Numeric<id>::kName);
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

// A value of `type` as its raw bits (two's complement), for the core's initialisers.
inline bool ValueToBits(napi_env env, TypeId type, napi_value value, uint64_t* bits) {
  return DispatchType(type, [&]<TypeId id>() {
    typename Numeric<id>::T v = 0;
    if (!FromJs<id>(env, value, &v)) return false;
    *bits = static_cast<uint64_t>(static_cast<std::make_unsigned_t<typename Numeric<id>::T>>(v));
    return true;
  });
}

// An exact sum (RemoteSum): a number for 8/16/32-bit types (exact: at most 1024 * 2^32), a bigint
// otherwise.
template <TypeId id>
inline napi_value SumToJs(napi_env env, __int128 total) {
  napi_value result = nullptr;
  if constexpr (!Numeric<id>::kBig) {
    napi_create_double(env, static_cast<double>(total), &result);
  } else {
    const int sign = total < 0;
    const unsigned __int128 magnitude = sign ? -static_cast<unsigned __int128>(total) : static_cast<unsigned __int128>(total);
    const uint64_t words[2] = {static_cast<uint64_t>(magnitude), static_cast<uint64_t>(magnitude >> 64)};
    napi_create_bigint_words(env, sign, 2, words, &result);
  }
  return result;
}

}  // namespace percpu
