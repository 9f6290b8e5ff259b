#include "errors.h"

#include <array>
#include <cstdarg>
#include <cstdio>

#include "env_data.h"

namespace percpu {

namespace {

struct ErrorSpec {
  const char* class_name;
  const char* code;
};

// Indexed by Code, whatever the order of either table; kOk (row 0) is never thrown.
constexpr std::array<ErrorSpec, static_cast<size_t>(Code::kCount)> MakeSpecs() {
  std::array<ErrorSpec, static_cast<size_t>(Code::kCount)> specs{};
  specs[0] = {"Error", "ERR_PERCPU_UNKNOWN"};
#define PERCPU_ERROR_SPEC(code, cls, err) specs[static_cast<size_t>(Code::code)] = {#cls, #err};
  PERCPU_ERROR_TABLE(PERCPU_ERROR_SPEC)
#undef PERCPU_ERROR_SPEC
  return specs;
}
constexpr auto kErrorSpecs = MakeSpecs();

constexpr bool EveryCodeHasARow() {
  for (const ErrorSpec& spec : kErrorSpecs)
    if (spec.class_name == nullptr) return false;
  return true;
}
static_assert(EveryCodeHasARow(), "every status code (core/status.h) needs a row in PERCPU_ERROR_TABLE");

bool ThrowMessage(napi_env env, Code code, const char* text) {
  const int index = static_cast<int>(code);
  const ErrorSpec& spec = kErrorSpecs[index];
  napi_value message, error = nullptr, ctor = nullptr;
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &message);
  EnvData* data = EnvData::Get(env);
  if (data != nullptr && data->error_classes[index] != nullptr &&
      napi_get_reference_value(env, data->error_classes[index], &ctor) == napi_ok && ctor != nullptr) {
    if (napi_new_instance(env, ctor, 1, &message, &error) != napi_ok) {
      // The constructor threw (a patched class): that exception is pending; let it stand.
      bool pending = false;
      napi_is_exception_pending(env, &pending);
      if (pending) return false;
      error = nullptr;
    }
  }
  if (error == nullptr) {
    // The TypeScript layer was bypassed: still throw an error that carries the code.
    napi_value code_value;
    napi_create_string_utf8(env, spec.code, NAPI_AUTO_LENGTH, &code_value);
    if (code == Code::kInvalidArg)
      napi_create_type_error(env, code_value, message, &error);
    else if (code == Code::kOutOfRange)
      napi_create_range_error(env, code_value, message, &error);
    else
      napi_create_error(env, code_value, message, &error);
  }
  napi_throw(env, error);
  return false;
}

}  // namespace

bool ThrowStatus(napi_env env, const Status& status) { return ThrowMessage(env, status.code(), status.message()); }

bool Throw(napi_env env, Code code, const char* format, ...) {
  char buffer[256];
  va_list args;
  va_start(args, format);
  vsnprintf(buffer, sizeof buffer, format, args);
  va_end(args);
  return ThrowMessage(env, code, buffer);
}

bool RegisterErrorClasses(napi_env env, napi_value classes) {
  EnvData* data = EnvData::Get(env);
  if (data == nullptr) return Throw(env, Code::kSystem, "the addon has no data for this environment");
  napi_value ctors[static_cast<int>(Code::kCount)] = {};
  for (int i = 1; i < static_cast<int>(Code::kCount); ++i) {
    napi_value ctor;
    napi_valuetype type;
    if (napi_get_named_property(env, classes, kErrorSpecs[i].class_name, &ctor) != napi_ok) return false;
    if (napi_typeof(env, ctor, &type) == napi_ok && type == napi_function) ctors[i] = ctor;
  }
  for (int i = 1; i < static_cast<int>(Code::kCount); ++i) {
    if (ctors[i] == nullptr) continue;
    if (data->error_classes[i] != nullptr) napi_delete_reference(env, data->error_classes[i]);
    napi_create_reference(env, ctors[i], 1, &data->error_classes[i]);
  }
  return true;
}

}  // namespace percpu
