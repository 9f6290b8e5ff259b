// The one table that maps the core's status codes to the named JS errors, and the throwing
// helpers every binding file uses. Each code's class is registered from JS at load time
// (lib/core/errors.ts, through init()), so native code throws the same classes, with the same `code`,
// as the TypeScript layer; without a registered class it throws a plain Error with the code.
#pragma once

#include <node_api.h>

#include "../core/status.h"

namespace percpu {

// X(status code, class name registered from JS, error code)
#define PERCPU_ERROR_TABLE(X)                                                    \
  X(kInvalidArg, PerCpuTypeError, ERR_PERCPU_INVALID_ARG)                        \
  X(kOutOfRange, PerCpuRangeError, ERR_PERCPU_OUT_OF_RANGE)                      \
  X(kNotSetUp, NotSetUpError, ERR_PERCPU_NOT_SET_UP)                             \
  X(kNotBound, NotBoundError, ERR_PERCPU_NOT_BOUND)                              \
  X(kAlreadyBound, AlreadyBoundError, ERR_PERCPU_ALREADY_BOUND)                  \
  X(kCpuTaken, CpuTakenError, ERR_PERCPU_CPU_TAKEN)                              \
  X(kReleased, ReleasedError, ERR_PERCPU_RELEASED)                               \
  X(kNoSpace, NoSpaceError, ERR_PERCPU_NO_SPACE)                                 \
  X(kConflict, ConflictError, ERR_PERCPU_CONFLICT)                               \
  X(kGuard, GuardError, ERR_PERCPU_GUARD)                                        \
  X(kSystem, SystemError, ERR_PERCPU_SYSTEM)                                     \
  X(kBackendUnavailable, BackendUnavailableError, ERR_PERCPU_BACKEND_UNAVAILABLE)

// Throws the status's error (it must have failed). Returns false, so that a bool function can
// `return ThrowStatus(...)`. Throwing runs JS (the registered class's constructor): never call
// it with a native lock held; the core returns its status after unlocking.
bool ThrowStatus(napi_env env, const Status& status);
// Throws a new error of `code` with a printf-style message; returns false.
bool Throw(napi_env env, Code code, const char* format, ...) __attribute__((format(printf, 3, 4)));

inline bool ThrowReleased(napi_env env) { return Throw(env, Code::kReleased, "this per-CPU handle has been released"); }
inline bool ThrowNotBound(napi_env env) {
  return Throw(env, Code::kNotBound, "this thread is not bound to a CPU: bind it or run on a CpuSet");
}

// Stores the error classes given by JS (an object of class name -> constructor) for this env.
// Reads every property before storing any, so a getter that throws leaves the old classes.
bool RegisterErrorClasses(napi_env env, napi_value classes);

}  // namespace percpu
