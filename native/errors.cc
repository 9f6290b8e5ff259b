#include "errors.h"

#include <cstdarg>
#include <cstdio>

#include "env_data.h"

namespace percpu {

namespace {

struct ErrorSpec {
  const char* class_name;
  const char* code;
};

constexpr ErrorSpec kErrorSpecs[] = {
#define PERCPU_ERROR_SPEC(kind, cls, code) {#cls, #code},
    PERCPU_ERROR_KINDS(PERCPU_ERROR_SPEC)
#undef PERCPU_ERROR_SPEC
};

}  // namespace

static bool ThrowMessage(napi_env env, ErrorKind kind, const char* buffer) {
  const ErrorSpec& spec = kErrorSpecs[static_cast<int>(kind)];
  napi_value message, error = nullptr, ctor = nullptr;
  napi_create_string_utf8(env, buffer, NAPI_AUTO_LENGTH, &message);
  EnvData* data = EnvData::Get(env);
  if (data != nullptr && data->error_classes[static_cast<int>(kind)] != nullptr &&
      napi_get_reference_value(env, data->error_classes[static_cast<int>(kind)], &ctor) == napi_ok && ctor != nullptr) {
    napi_new_instance(env, ctor, 1, &message, &error);
  }
  if (error == nullptr) {
    // The TypeScript layer was bypassed: still throw a plain error that carries the code.
    napi_value code;
    napi_create_string_utf8(env, spec.code, NAPI_AUTO_LENGTH, &code);
    if (kind == ErrorKind::kInvalidArg)
      napi_create_type_error(env, code, message, &error);
    else if (kind == ErrorKind::kOutOfRange)
      napi_create_range_error(env, code, message, &error);
    else
      napi_create_error(env, code, message, &error);
  }
  napi_throw(env, error);
  return false;
}

bool ThrowError(napi_env env, ErrorKind kind, const char* format, ...) {
  char buffer[256];
  va_list args;
  va_start(args, format);
  vsnprintf(buffer, sizeof buffer, format, args);
  va_end(args);
  return ThrowMessage(env, kind, buffer);
}

void DeferredError::Set(ErrorKind kind, const char* format, ...) {
  va_list args;
  va_start(args, format);
  vsnprintf(message_, sizeof message_, format, args);
  va_end(args);
  kind_ = kind;
  set_ = true;
}

bool DeferredError::ThrowIfSet(napi_env env) const { return !set_ || ThrowMessage(env, kind_, message_); }

napi_status RegisterErrorClasses(napi_env env, napi_value classes) {
  EnvData* data = EnvData::Get(env);
  if (data == nullptr) return napi_generic_failure;
  for (int i = 0; i < static_cast<int>(ErrorKind::kCount); ++i) {
    napi_value ctor;
    napi_valuetype type;
    if (napi_get_named_property(env, classes, kErrorSpecs[i].class_name, &ctor) != napi_ok) return napi_pending_exception;
    napi_typeof(env, ctor, &type);
    if (type != napi_function) continue;
    if (data->error_classes[i] != nullptr) napi_delete_reference(env, data->error_classes[i]);
    napi_create_reference(env, ctor, 1, &data->error_classes[i]);
  }
  return napi_ok;
}

}  // namespace percpu
