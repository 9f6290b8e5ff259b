// Reading a Node-API call's receiver and arguments, with the checks written once: each reader
// converts exactly or throws a named error and returns false. Nothing here coerces a value (no
// valueOf, no toString), so no user JS runs while arguments are read, except where a reader says
// so (array elements, which may be getters).
#pragma once

#include <node_api.h>

#include <cmath>
#include <cstdio>
#include <cstdint>
#include <string>

#include "../core/numeric.h"
#include "../core/region.h"
#include "errors.h"

namespace percpu {

class Call {
 public:
  static constexpr size_t kMaxArgs = 6;

  Call(napi_env env, napi_callback_info info) : env_(env) {
    argc_ = kMaxArgs;
    napi_get_cb_info(env, info, &argc_, argv_, &this_, &data_);
    napi_value undefined;
    napi_get_undefined(env, &undefined);
    for (size_t i = argc_; i < kMaxArgs; ++i) argv_[i] = undefined;
  }

  napi_env env() const { return env_; }
  napi_value self() const { return this_; }
  void* data() const { return data_; }
  size_t count() const { return argc_; }
  napi_value operator[](size_t i) const { return argv_[i]; }

  napi_valuetype TypeOf(size_t i) const {
    napi_valuetype type = napi_undefined;
    napi_typeof(env_, argv_[i], &type);
    return type;
  }
  bool IsNullish(size_t i) const {
    const napi_valuetype type = TypeOf(i);
    return type == napi_undefined || type == napi_null;
  }

  // A safe integer (|v| <= 2^53 - 1).
  bool Integer(size_t i, const char* what, int64_t* out) const {
    double d;
    if (TypeOf(i) != napi_number || napi_get_value_double(env_, argv_[i], &d) != napi_ok || !std::isfinite(d) ||
        d != std::trunc(d))
      return Throw(env_, Code::kInvalidArg, "%s must be an integer", what);
    if (d < -9007199254740991.0 || d > 9007199254740991.0) return Throw(env_, Code::kOutOfRange, "%s is out of range", what);
    *out = static_cast<int64_t>(d);
    return true;
  }

  // A finite number from `min` to `max`.
  bool Number(size_t i, const char* what, double min, double max, double* out) const {
    double d;
    if (TypeOf(i) != napi_number || napi_get_value_double(env_, argv_[i], &d) != napi_ok)
      return Throw(env_, Code::kInvalidArg, "%s must be a number", what);
    if (!std::isfinite(d)) return Throw(env_, Code::kInvalidArg, "%s must be a finite number", what);
    if (d < min || d > max) return Throw(env_, Code::kOutOfRange, "%s must be from %g to %g, got %g", what, min, max, d);
    *out = d;
    return true;
  }

  // An index into the numeric type table.
  bool Type(size_t i, TypeId* out) const {
    int64_t index = 0;
    if (!Integer(i, "type", &index)) return false;
    if (index < 0 || index >= kTypeCount) return Throw(env_, Code::kInvalidArg, "unknown numeric type index %lld", (long long)index);
    *out = static_cast<TypeId>(index);
    return true;
  }

  // A CPU of the region.
  bool Cpu(size_t i, uint32_t* cpu) const {
    int64_t index = 0;
    if (!Integer(i, "cpu", &index)) return false;
    const Region* region = GetRegion();
    if (region == nullptr) return Throw(env_, Code::kNotSetUp, "the per-CPU region is not set up");
    if (index < 0 || index >= region->nr_cpus)
      return Throw(env_, Code::kOutOfRange, "CPU %lld is out of range: the region has CPUs 0 to %u", (long long)index,
                   region->nr_cpus - 1);
    *cpu = static_cast<uint32_t>(index);
    return true;
  }

  // A string of at most `max_bytes` bytes of UTF-8.
  bool String(size_t i, const char* what, size_t max_bytes, std::string* out) const {
    if (TypeOf(i) != napi_string) return Throw(env_, Code::kInvalidArg, "%s must be a string", what);
    size_t length = 0;
    napi_get_value_string_utf8(env_, argv_[i], nullptr, 0, &length);
    if (length > max_bytes) return Throw(env_, Code::kInvalidArg, "%s is longer than %zu bytes", what, max_bytes);
    out->resize(length);
    napi_get_value_string_utf8(env_, argv_[i], out->data(), length + 1, &length);
    return true;
  }

 private:
  napi_env env_;
  size_t argc_;
  napi_value argv_[kMaxArgs];
  napi_value this_ = nullptr;
  void* data_ = nullptr;
};

// A result object built with own data properties (napi_define_properties), never with [[Set]]:
// a setter on Object.prototype is not called, so no user JS runs while it is filled.
class ObjectBuilder {
 public:
  explicit ObjectBuilder(napi_env env) : env_(env) {}
  ObjectBuilder& Set(const char* name, napi_value value) {
    if (count_ < kMax) properties_[count_++] = {name, nullptr, nullptr, nullptr, nullptr, value, napi_default_jsproperty, nullptr};
    return *this;
  }
  ObjectBuilder& Number(const char* name, double value) {
    napi_value v;
    napi_create_double(env_, value, &v);
    return Set(name, v);
  }
  ObjectBuilder& Bool(const char* name, bool value) {
    napi_value v;
    napi_get_boolean(env_, value, &v);
    return Set(name, v);
  }
  ObjectBuilder& Str(const char* name, const char* value) {
    napi_value v;
    if (value == nullptr) napi_get_null(env_, &v);
    else napi_create_string_utf8(env_, value, NAPI_AUTO_LENGTH, &v);
    return Set(name, v);
  }
  ObjectBuilder& Null(const char* name) {
    napi_value v;
    napi_get_null(env_, &v);
    return Set(name, v);
  }
  napi_value Build() {
    napi_value object;
    napi_create_object(env_, &object);
    napi_define_properties(env_, object, count_, properties_);
    return object;
  }

 private:
  static constexpr size_t kMax = 32;
  napi_env env_;
  napi_property_descriptor properties_[kMax];
  size_t count_ = 0;
};

// A new array of `values`, its elements defined as own properties (napi_set_element would be a
// [[Set]], which calls a setter someone put on Array.prototype[0]).
inline napi_value MakeArray(napi_env env, const napi_value* values, size_t count) {
  napi_value array;
  napi_create_array_with_length(env, count, &array);
  for (size_t i = 0; i < count; ++i) {
    char digits[24];
    snprintf(digits, sizeof digits, "%zu", i);
    const napi_property_descriptor element = {digits, nullptr, nullptr, nullptr, nullptr, values[i], napi_default_jsproperty, nullptr};
    napi_define_properties(env, array, 1, &element);
  }
  return array;
}

}  // namespace percpu
