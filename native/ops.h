// The per-CPU ops, generated from one list of ops (PERCPU_RMW_OPS) and one list of types
// (PERCPU_NUMERIC_TYPES in numeric.h), behind a seam: a backend is a struct with the same
// static member templates. GsBackend is x86-64's single segment-relative instruction;
// GenericBackend is the portable two-step path of Linux's asm-generic/percpu.h.
#pragma once

#include <cstdint>
#include <type_traits>

#include "numeric.h"
#include "region.h"

namespace percpu {

// Read-modify-write ops taking one operand of the variable's type: X(name, C operator).
// Adding an op is one line here; the GS instruction is the op's name, the generic path uses
// the operator.
#define PERCPU_RMW_OPS(X) \
  X(add, +)               \
  X(sub, -)

enum class RmwOp : uint8_t {
#define PERCPU_OP_ENUM(op, oper) op,
  PERCPU_RMW_OPS(PERCPU_OP_ENUM)
#undef PERCPU_OP_ENUM
  kCount
};
constexpr int kRmwOpCount = static_cast<int>(RmwOp::kCount);

constexpr const char* kRmwOpNames[] = {
#define PERCPU_OP_NAME(op, oper) #op,
    PERCPU_RMW_OPS(PERCPU_OP_NAME)
#undef PERCPU_OP_NAME
};

#if PERCPU_HAVE_GS
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
#define PERCPU_GS_RMW(op, oper)                                                     \
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

// SAFETY (every op below): the caller has checked ThisThreadBound(), so tls_this_cpu.area is
// this thread's CPU's area, mapped until the process exits; `offset` is a live allocation's, as
// for GsBackend. The pointer and the access are two steps, so preemption is held off between
// them, as this_cpu_*() does in asm-generic: the thread's preempt_count (CpuGuard's count) is
// raised for the op. Accesses are relaxed
// atomics because other threads read the slot remotely; only the owner thread writes it, so
// a load and a store suffice, with no locked read-modify-write.
struct GenericBackend {
  static constexpr const char* kName = "generic";

  // preempt_disable()/preempt_enable() for one op. The signal fences keep the compiler from
  // moving the slot access outside the window a signal handler on this thread could observe.
  struct PreemptOff {
    PreemptOff() {
      ++tls_this_cpu.preempt_count;
      __atomic_signal_fence(__ATOMIC_SEQ_CST);
    }
    ~PreemptOff() {
      __atomic_signal_fence(__ATOMIC_SEQ_CST);
      --tls_this_cpu.preempt_count;
    }
  };

  // this_cpu_ptr(): the bound area plus the offset.
  template <typename T>
  static __attribute__((always_inline)) inline T* ThisCpuPtr(uintptr_t offset) {
    return reinterpret_cast<T*>(tls_this_cpu.area + offset);
  }

  // Arithmetic in the unsigned type wraps like the machine; signed overflow would be undefined.
#define PERCPU_GENERIC_RMW(op, oper)                                                \
  template <typename T>                                                             \
  static __attribute__((always_inline)) inline void op(uintptr_t offset, T value) { \
    using U = std::make_unsigned_t<T>;                                              \
    PreemptOff off;                                                                 \
    T* slot = ThisCpuPtr<T>(offset);                                                \
    const U old = static_cast<U>(__atomic_load_n(slot, __ATOMIC_RELAXED));          \
    __atomic_store_n(slot, static_cast<T>(static_cast<U>(old oper static_cast<U>(value))), __ATOMIC_RELAXED); \
  }
  PERCPU_RMW_OPS(PERCPU_GENERIC_RMW)
#undef PERCPU_GENERIC_RMW

  template <typename T>
  static __attribute__((always_inline)) inline T read(uintptr_t offset) {
    PreemptOff off;
    return __atomic_load_n(ThisCpuPtr<T>(offset), __ATOMIC_RELAXED);
  }

  template <typename T>
  static __attribute__((always_inline)) inline void write(uintptr_t offset, T value) {
    PreemptOff off;
    __atomic_store_n(ThisCpuPtr<T>(offset), value, __ATOMIC_RELAXED);
  }
};

// Calls fn.template operator()<Backend>() for the region's backend. Cold paths only: the hot
// ops are instantiated per backend when their JS functions are created.
template <typename Fn>
inline auto WithBackend(Fn&& fn) {
#if PERCPU_HAVE_GS
  if (ActiveBackend() == BackendId::kGs) return fn.template operator()<GsBackend>();
#endif
  return fn.template operator()<GenericBackend>();
}

template <class Backend, RmwOp kOp, typename T>
__attribute__((always_inline)) inline void ApplyRmw(uintptr_t offset, T value) {
#define PERCPU_APPLY(op, oper) \
  if constexpr (kOp == RmwOp::op) Backend::template op<T>(offset, value);
  PERCPU_RMW_OPS(PERCPU_APPLY)
#undef PERCPU_APPLY
}

}  // namespace percpu
