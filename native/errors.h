// Errors the addon throws. Each kind maps to a JS error class that lib/errors.ts registers at load
// time, so native code throws the same named classes, with the same `code`, as the TypeScript layer.
#pragma once

#include <node_api.h>

namespace percpu {

// X(kind, class name registered from JS, code used when no class was registered)
#define PERCPU_ERROR_KINDS(X)                               \
  X(kInvalidArg, PerCpuTypeError, ERR_PERCPU_INVALID_ARG)   \
  X(kOutOfRange, PerCpuRangeError, ERR_PERCPU_OUT_OF_RANGE) \
  X(kNotSetUp, NotSetUpError, ERR_PERCPU_NOT_SET_UP)        \
  X(kNotBound, NotBoundError, ERR_PERCPU_NOT_BOUND)         \
  X(kAlreadyBound, AlreadyBoundError, ERR_PERCPU_ALREADY_BOUND) \
  X(kCpuTaken, CpuTakenError, ERR_PERCPU_CPU_TAKEN)         \
  X(kReleased, ReleasedError, ERR_PERCPU_RELEASED)          \
  X(kNoSpace, NoSpaceError, ERR_PERCPU_NO_SPACE)            \
  X(kConflict, ConflictError, ERR_PERCPU_CONFLICT)          \
  X(kGuard, GuardError, ERR_PERCPU_GUARD)                   \
  X(kSystem, SystemError, ERR_PERCPU_SYSTEM)               \
  X(kBackendUnavailable, BackendUnavailableError, ERR_PERCPU_BACKEND_UNAVAILABLE)

enum class ErrorKind {
#define PERCPU_ERROR_ENUM(kind, cls, code) kind,
  PERCPU_ERROR_KINDS(PERCPU_ERROR_ENUM)
#undef PERCPU_ERROR_ENUM
  kCount
};

// Throws a new error of `kind` with a printf-style message. Always returns false, so that
// callers can write `return ThrowError(...)` from a bool function.
bool ThrowError(napi_env env, ErrorKind kind, const char* format, ...) __attribute__((format(printf, 3, 4)));

// An error found while a lock is held, thrown after the lock is released: throwing runs JS (the
// registered class's constructor), and that JS may call back into the addon.
class DeferredError {
 public:
  void Set(ErrorKind kind, const char* format, ...) __attribute__((format(printf, 3, 4)));
  explicit operator bool() const { return set_; }
  // Throws the error if one was set. Returns false if it threw, like ThrowError.
  bool ThrowIfSet(napi_env env) const;

 private:
  ErrorKind kind_ = ErrorKind::kSystem;
  char message_[256] = {};
  bool set_ = false;
};

// Stores the error classes given by JS (an object of class name -> constructor) for this env.
napi_status RegisterErrorClasses(napi_env env, napi_value classes);

}  // namespace percpu
