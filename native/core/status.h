// How the core reports failure: a status code and a one-line message, never an exception and
// never a JS value. The binding maps each code to a named JS error class (native/binding/errors.h);
// any other user of the core (a test, a benchmark loop) reads the message.
#pragma once

#include <cstdint>

namespace percpu {

// X(code): every way a core call can fail. The binding's error table has one row per code.
#define PERCPU_STATUS_CODES(X) \
  X(kInvalidArg)               \
  X(kOutOfRange)               \
  X(kNotSetUp)                 \
  X(kNotBound)                 \
  X(kAlreadyBound)             \
  X(kCpuTaken)                 \
  X(kReleased)                 \
  X(kNoSpace)                  \
  X(kConflict)                 \
  X(kGuard)                    \
  X(kSystem)                   \
  X(kBackendUnavailable)

enum class Code : uint8_t {
  kOk,
#define PERCPU_CODE_ENUM(code) code,
  PERCPU_STATUS_CODES(PERCPU_CODE_ENUM)
#undef PERCPU_CODE_ENUM
  kCount
};

// The outcome of a core call. A call that fails sets it and returns false (or nullptr); a call
// that fails has changed nothing, unless its comment says otherwise.
class Status {
 public:
  // Records the failure and returns false, so that a bool function can `return status->Fail(...)`.
  bool Fail(Code code, const char* format, ...) __attribute__((format(printf, 3, 4)));
  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const char* message() const { return message_; }

 private:
  Code code_ = Code::kOk;
  char message_[256] = {};
};

}  // namespace percpu
