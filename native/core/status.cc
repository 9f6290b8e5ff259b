#include "status.h"

#include <cstdarg>
#include <cstdio>

namespace percpu {

bool Status::Fail(Code code, const char* format, ...) {
  va_list args;
  va_start(args, format);
  vsnprintf(message_, sizeof message_, format, args);
  va_end(args);
  code_ = code;
  return false;
}

}  // namespace percpu
