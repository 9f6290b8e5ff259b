// The per-CPU ops, generated from one list of ops (PERCPU_RMW_OPS) and one list of types
// (PERCPU_NUMERIC_TYPES in numeric.h), behind a seam: a backend is a struct with the same
// static member templates. GsBackend is x86-64's single segment-relative instruction.
#pragma once

#include <cstdint>

#include "numeric.h"
#include "region.h"

namespace percpu {

// Read-modify-write ops taking one operand of the variable's type. Adding an op is one line
// here plus its instruction in each backend.
#define PERCPU_RMW_OPS(X) \
  X(add)                  \
  X(sub)

enum class RmwOp : uint8_t {
#define PERCPU_OP_ENUM(op) op,
  PERCPU_RMW_OPS(PERCPU_OP_ENUM)
#undef PERCPU_OP_ENUM
  kCount
};
constexpr int kRmwOpCount = static_cast<int>(RmwOp::kCount);

constexpr const char* kRmwOpNames[] = {
#define PERCPU_OP_NAME(op) #op,
    PERCPU_RMW_OPS(PERCPU_OP_NAME)
#undef PERCPU_OP_NAME
};

#if defined(__x86_64__)
// The operand sizes and their AT&T suffixes: X(arg, bytes, suffix). Every GS op is generated
// from this table, as Linux's percpu.h generates its ops from one switch on size. The suffix is
// spelled in each asm string, not left to the %z modifier, so that each width is distinct code:
// GCC's identical-code folding merged asm statements that differed only in operand size.
#define PERCPU_SIZES(X, arg) \
  X(arg, 1, "b")             \
  X(arg, 2, "w")             \
  X(arg, 4, "l")             \
  X(arg, 8, "q")

#define PERCPU_CHECK_SIZE(T) \
  static_assert(sizeof(T) == 1 || sizeof(T) == 2 || sizeof(T) == 4 || sizeof(T) == 8, "no such operand size")

// SAFETY (every op below): the caller has checked ThisThreadBound(), so this thread's GS base
// points at its CPU's area, which is mapped until the process exits (region.h); `offset` comes
// from a live allocation of sizeof(T) bytes aligned to sizeof(T) inside the area, so
// %gs:(offset) addresses exactly that CPU's slot. Only the owning thread writes through GS, so
// no lock prefix is needed, and one instruction cannot be torn by a thread switch.
struct GsBackend {
  static constexpr const char* kName = "gs";

#define PERCPU_GS_RMW_SIZE(op, bytes, suffix)                   \
  if constexpr (sizeof(T) == bytes)                             \
    asm volatile(#op suffix " %[value], %%gs:(%[offset])"       \
                 :                                              \
                 : [offset] "r"(offset), [value] "r"(value)     \
                 : "memory", "cc");
#define PERCPU_GS_RMW(op)                                                           \
  template <typename T>                                                             \
  static __attribute__((always_inline)) inline void op(uintptr_t offset, T value) { \
    PERCPU_CHECK_SIZE(T);                                                           \
    PERCPU_SIZES(PERCPU_GS_RMW_SIZE, op)                                            \
  }
  PERCPU_RMW_OPS(PERCPU_GS_RMW)
#undef PERCPU_GS_RMW

#define PERCPU_GS_READ_SIZE(unused, bytes, suffix) \
  if constexpr (sizeof(T) == bytes)                \
    asm volatile("mov" suffix " %%gs:(%[offset]), %[value]" : [value] "=r"(value) : [offset] "r"(offset) : "memory");
  template <typename T>
  static __attribute__((always_inline)) inline T read(uintptr_t offset) {
    PERCPU_CHECK_SIZE(T);
    T value;
    PERCPU_SIZES(PERCPU_GS_READ_SIZE, _)
    return value;
  }

#define PERCPU_GS_WRITE_SIZE(unused, bytes, suffix) \
  if constexpr (sizeof(T) == bytes)                 \
    asm volatile("mov" suffix " %[value], %%gs:(%[offset])" : : [offset] "r"(offset), [value] "r"(value) : "memory");
  template <typename T>
  static __attribute__((always_inline)) inline void write(uintptr_t offset, T value) {
    PERCPU_CHECK_SIZE(T);
    PERCPU_SIZES(PERCPU_GS_WRITE_SIZE, _)
  }
};
#endif

template <class Backend, RmwOp kOp, typename T>
__attribute__((always_inline)) inline void ApplyRmw(uintptr_t offset, T value) {
#define PERCPU_APPLY(op) \
  if constexpr (kOp == RmwOp::op) Backend::template op<T>(offset, value);
  PERCPU_RMW_OPS(PERCPU_APPLY)
#undef PERCPU_APPLY
}

}  // namespace percpu
