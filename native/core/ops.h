// The this_cpu op family, generated from one table of ops (PERCPU_OPS), one table of operand
// sizes (PERCPU_SIZES) and one table of types (PERCPU_NUMERIC_TYPES in numeric.h), as Linux's
// arch/x86/include/asm/percpu.h generates its ops. Two backends implement every op with the same
// static member templates: GsBackend, x86-64's single segment-relative instruction, and
// GenericBackend, the portable two-step path of asm-generic/percpu.h.
#pragma once

#include <cstdint>
#include <type_traits>

#include "gs_base.h"
#include "numeric.h"
#include "region.h"

#if PERCPU_HAVE_GS
#include <cpuid.h>
#endif

namespace percpu {

// The ops: X(id, JS name, operands, returns a value, form, x86 mnemonic, C operator).
// - operands: how many values the JS call takes (0, 1 or 2). An op with none that needs an
//   operand (inc, dec, incReturn, decReturn) uses 1.
// - form: how both backends implement it (below). The mnemonic is used by the Rmw and Unary
//   forms, the C operator by the generic path of Rmw, Unary and Xadd (xadd adds 0 op operand).
// Adding an op of an existing form is one line here and one in lib/core/percpu.ts's NUMERIC_OP_TABLE.
// This file is Node-free: the binding (native/binding/op_callback.h) and the accelerator
// (native/accel/) both instantiate their op callbacks from it.
// (and/or/xor are C++ operator names, hence the trailing underscores of their ids.)
#define PERCPU_OPS(X)                                                  \
  X(read, "read", 0, true, Load, "mov", +)                             \
  X(write, "write", 1, false, Store, "mov", +)                         \
  X(add, "add", 1, false, Rmw, "add", +)                               \
  X(sub, "sub", 1, false, Rmw, "sub", -)                               \
  X(inc, "inc", 0, false, Unary, "inc", +)                             \
  X(dec, "dec", 0, false, Unary, "dec", -)                             \
  X(and_, "and", 1, false, Rmw, "and", &)                              \
  X(or_, "or", 1, false, Rmw, "or", |)                                 \
  X(xor_, "xor", 1, false, Rmw, "xor", ^)                              \
  X(addReturn, "addReturn", 1, true, Xadd, "xadd", +)                  \
  X(subReturn, "subReturn", 1, true, Xadd, "xadd", -)                  \
  X(incReturn, "incReturn", 0, true, Xadd, "xadd", +)                  \
  X(decReturn, "decReturn", 0, true, Xadd, "xadd", -)                  \
  X(xchg, "xchg", 1, true, Xchg, "cmpxchg", +)                         \
  X(cmpxchg, "cmpxchg", 2, true, Cmpxchg, "cmpxchg", +)

enum class OpId : uint8_t {
#define PERCPU_OP_ENUM(id, js, operands, returns, form, insn, oper) id,
  PERCPU_OPS(PERCPU_OP_ENUM)
#undef PERCPU_OP_ENUM
  kCount
};
constexpr int kOpCount = static_cast<int>(OpId::kCount);

struct OpSpec {
  const char* name;
  int operands;
  bool returns;
};

constexpr OpSpec kOps[] = {
#define PERCPU_OP_SPEC(id, js, operands, returns, form, insn, oper) {js, operands, returns},
    PERCPU_OPS(PERCPU_OP_SPEC)
#undef PERCPU_OP_SPEC
};

// Every op has the same C++ shape, so that one callback template serves them all:
// T op(self, offset, a, b) with self = the calling thread's ThreadState (the generic backend's
// this_cpu_ptr() base; the gs backend needs none: GS is the base), a = the first operand (1 when
// the op takes none), b = the second;
// the result is meaningful when the op returns a value. The forms:
//   Load     result = slot                               mov %gs:(off), reg
//   Store    slot = a                                    mov reg, %gs:(off)
//   Rmw      slot = slot OP a                            add/sub/and/or/xor reg, %gs:(off)
//   Unary    slot = slot OP 1                            inc/dec %gs:(off)
//   Xadd     slot = slot OP a; result = new slot         xadd reg, %gs:(off) (reg = +a or -a)
//   Xchg     result = slot; slot = a                     mov, then cmpxchg loop (no lock: a memory xchg always locks)
//   Cmpxchg  result = slot; if (result == a) slot = b    cmpxchg reg, %gs:(off) (rax = a)

#if PERCPU_HAVE_GS
// The operand sizes and their AT&T suffixes: X(bytes, suffix, ...). The suffix is spelled in each
// asm string, not left to the %z modifier, so that each width is distinct code: GCC's
// identical-code folding merged asm statements that differed only in operand size.
#define PERCPU_SIZES(X, ...)   \
  X(1, "b", __VA_ARGS__)       \
  X(2, "w", __VA_ARGS__)       \
  X(4, "l", __VA_ARGS__)       \
  X(8, "q", __VA_ARGS__)

// One asm statement per (form, size). In each, `offset`, `a`, `b` and `result` are the op's.
#define PERCPU_GS_Load(bytes, sfx, insn, oper) \
  if constexpr (sizeof(T) == bytes)            \
    asm volatile("mov" sfx " %%gs:(%[offset]), %[result]" : [result] "=r"(result) : [offset] "r"(offset) : "memory");
#define PERCPU_GS_Store(bytes, sfx, insn, oper) \
  if constexpr (sizeof(T) == bytes)             \
    asm volatile("mov" sfx " %[a], %%gs:(%[offset])" : : [offset] "r"(offset), [a] "r"(a) : "memory");
#define PERCPU_GS_Rmw(bytes, sfx, insn, oper) \
  if constexpr (sizeof(T) == bytes)           \
    asm volatile(insn sfx " %[a], %%gs:(%[offset])" : : [offset] "r"(offset), [a] "r"(a) : "memory", "cc");
#define PERCPU_GS_Unary(bytes, sfx, insn, oper) \
  if constexpr (sizeof(T) == bytes)             \
    asm volatile(insn sfx " %%gs:(%[offset])" : : [offset] "r"(offset) : "memory", "cc");
#define PERCPU_GS_Xadd(bytes, sfx, insn, oper)                                                   \
  if constexpr (sizeof(T) == bytes) {                                                            \
    const T delta = static_cast<T>(static_cast<U>(0) oper static_cast<U>(a));                    \
    T old = delta;                                                                               \
    asm volatile("xadd" sfx " %[old], %%gs:(%[offset])" : [old] "+r"(old) : [offset] "r"(offset) \
                 : "memory", "cc");                                                              \
    result = static_cast<T>(static_cast<U>(old) + static_cast<U>(delta));                        \
  }
// As the kernel's percpu_xchg_op: read, then cmpxchg until no one changed the slot in between
// (only a remote writer can; the owner is this thread).
#define PERCPU_GS_Xchg(bytes, sfx, insn, oper)                         \
  if constexpr (sizeof(T) == bytes)                                    \
    asm volatile("mov" sfx " %%gs:(%[offset]), %[old]\n\t"             \
                 "1: cmpxchg" sfx " %[a], %%gs:(%[offset])\n\t"        \
                 "jnz 1b"                                              \
                 : [old] "=&a"(result)                                 \
                 : [offset] "r"(offset), [a] "r"(a)                    \
                 : "memory", "cc");
#define PERCPU_GS_Cmpxchg(bytes, sfx, insn, oper)                                              \
  if constexpr (sizeof(T) == bytes) {                                                          \
    result = a;                                                                                \
    asm volatile("cmpxchg" sfx " %[b], %%gs:(%[offset])" : "+a"(result) : [offset] "r"(offset), \
                 [b] "r"(b) : "memory", "cc");                                                 \
  }

// SAFETY (every op below): the caller has checked Bound(self) for the calling thread on a region
// whose backend is gs, so this thread's GS base points at its CPU's area, which is mapped until the process exits
// (region.h); `offset` comes from a live allocation of sizeof(T) bytes aligned to sizeof(T)
// inside the area, so %gs:(offset) addresses exactly that CPU's slot. Only the owning thread
// writes through GS, so no lock prefix is needed, and one instruction cannot be torn by a thread
// switch or a signal.
struct GsBackend {
  static constexpr const char* kName = "gs";

#define PERCPU_GS_OP(id, js, operands, returns, form, insn, oper)                                   \
  template <typename T>                                                                             \
  static __attribute__((always_inline)) inline T id([[maybe_unused]] ThreadState& self, uintptr_t offset, \
                                                    [[maybe_unused]] T a, [[maybe_unused]] T b) {   \
    static_assert(sizeof(T) == 1 || sizeof(T) == 2 || sizeof(T) == 4 || sizeof(T) == 8, "no such operand size"); \
    using U [[maybe_unused]] = std::make_unsigned_t<T>;                                             \
    T result = 0;                                                                                   \
    PERCPU_SIZES(PERCPU_GS_##form, insn, oper)                                                      \
    return result;                                                                                  \
  }
  PERCPU_OPS(PERCPU_GS_OP)
#undef PERCPU_GS_OP

  // this_cpu_cmpxchg_double: compares the 16-byte aligned pair at %gs:(offset) with
  // (old_lo, old_hi) and, if equal, stores (new_lo, new_hi), as one cmpxchg16b without lock.
  // SAFETY: as above, for a live 16-byte pair allocation aligned to 16; the caller has checked
  // HasCmpxchgDouble().
  static __attribute__((always_inline)) inline bool cmpxchgDouble(ThreadState&, uintptr_t offset, uint64_t old_lo,
                                                                  uint64_t old_hi, uint64_t new_lo, uint64_t new_hi) {
    bool swapped;
    asm volatile("cmpxchg16b %%gs:(%[offset])"
                 : "=@ccz"(swapped), "+a"(old_lo), "+d"(old_hi)
                 : [offset] "r"(offset), "b"(new_lo), "c"(new_hi)
                 : "memory");
    return swapped;
  }
  // cmpxchg16b exists only where CPUID says CX16; the first x86-64 CPUs lack it.
  static bool HasCmpxchgDouble() {
    unsigned eax, ebx, ecx, edx;
    return __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_CMPXCHG16B) != 0;
  }
};
#endif  // PERCPU_HAVE_GS

// SAFETY (every op below): the caller has checked Bound(self), and `self` is the calling thread's
// ThreadState, so self.area is this thread's CPU's area, mapped until the process exits; `offset` is a live allocation's, as
// for GsBackend. The pointer and the access are two steps, so preemption is held off between
// them, as this_cpu_*() does in asm-generic: the thread's preempt_count (CpuGuard's count) is
// raised for the op. Accesses are relaxed atomics because other threads read the slot remotely;
// only the owner thread writes it, so a load and a store suffice, with no locked
// read-modify-write. Arithmetic is done in the unsigned type: it wraps like the machine, where
// signed overflow would be undefined.
struct GenericBackend {
  static constexpr const char* kName = "generic";

  // preempt_disable()/preempt_enable() for one op. The signal fences keep the compiler from
  // moving the slot access outside the window a signal handler on this thread could observe.
  // SAFETY: the migration handler runs on this same thread and declines while preempt_count > 0,
  // so self.area cannot change inside the window.
  struct PreemptOff {
    explicit PreemptOff(ThreadState& self) : self_(self) {
      ++self_.preempt_count;
      __atomic_signal_fence(__ATOMIC_SEQ_CST);
    }
    ~PreemptOff() {
      __atomic_signal_fence(__ATOMIC_SEQ_CST);
      --self_.preempt_count;
    }
    ThreadState& self_;
  };

  // this_cpu_ptr(): the bound area plus the offset.
  template <typename T>
  static __attribute__((always_inline)) inline T* ThisCpuPtr(ThreadState& self, uintptr_t offset) {
    return reinterpret_cast<T*>(self.area + offset);
  }

  template <typename T>
  static T Load(T* slot) { return __atomic_load_n(slot, __ATOMIC_RELAXED); }
  template <typename T>
  static void Store(T* slot, T value) { __atomic_store_n(slot, value, __ATOMIC_RELAXED); }

#define PERCPU_GENERIC_Load(oper) result = Load(slot);
#define PERCPU_GENERIC_Store(oper) Store(slot, a);
#define PERCPU_GENERIC_Rmw(oper) Store(slot, static_cast<T>(static_cast<U>(Load(slot)) oper static_cast<U>(a)));
#define PERCPU_GENERIC_Unary(oper) PERCPU_GENERIC_Rmw(oper)
#define PERCPU_GENERIC_Xadd(oper)                                                      \
  result = static_cast<T>(static_cast<U>(Load(slot)) oper static_cast<U>(a));          \
  Store(slot, result);
#define PERCPU_GENERIC_Xchg(oper) \
  result = Load(slot);            \
  Store(slot, a);
#define PERCPU_GENERIC_Cmpxchg(oper) \
  result = Load(slot);               \
  if (result == a) Store(slot, b);

#define PERCPU_GENERIC_OP(id, js, operands, returns, form, insn, oper)                      \
  template <typename T>                                                                     \
  static __attribute__((always_inline)) inline T id(ThreadState& self, uintptr_t offset,   \
                                                    [[maybe_unused]] T a, [[maybe_unused]] T b) { \
    using U [[maybe_unused]] = std::make_unsigned_t<T>;                                     \
    PreemptOff off(self);                                                                   \
    T* slot = ThisCpuPtr<T>(self, offset);                                                  \
    T result = 0;                                                                           \
    PERCPU_GENERIC_##form(oper)                                                             \
    return result;                                                                          \
  }
  PERCPU_OPS(PERCPU_GENERIC_OP)
#undef PERCPU_GENERIC_OP

  // The pair's two words compared and stored with preemption off: atomic with respect to this
  // thread's CPU, as the kernel's generic this_cpu_cmpxchg_double; remote readers may see one
  // word of a swap before the other.
  static bool cmpxchgDouble(ThreadState& self, uintptr_t offset, uint64_t old_lo, uint64_t old_hi, uint64_t new_lo,
                            uint64_t new_hi) {
    PreemptOff off(self);
    uint64_t* pair = ThisCpuPtr<uint64_t>(self, offset);
    if (Load(&pair[0]) != old_lo || Load(&pair[1]) != old_hi) return false;
    Store(&pair[0], new_lo);
    Store(&pair[1], new_hi);
    return true;
  }
  static bool HasCmpxchgDouble() { return true; }
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

// Backend::op<T>(offset, a, b) for an OpId known at compile time.
template <class Backend, OpId kOp, typename T>
__attribute__((always_inline)) inline T ApplyOp(ThreadState& self, uintptr_t offset, T a, T b) {
#define PERCPU_APPLY(id, js, operands, returns, form, insn, oper) \
  if constexpr (kOp == OpId::id) return Backend::template id<T>(self, offset, a, b);
  PERCPU_OPS(PERCPU_APPLY)
#undef PERCPU_APPLY
  __builtin_unreachable();
}

// The exact sum over all CPUs of a `T` variable at `offset` (no wrap-around: 1024 CPUs of 64-bit
// values fit in 128 bits), each slot read with one naturally aligned load.
template <typename T>
inline __int128 RemoteSum(const Region* region, uint32_t offset) {
  __int128 total = 0;
  for (uint32_t cpu = 0; cpu < region->nr_cpus; ++cpu)
    total += __atomic_load_n(RemotePtr<T>(region, cpu, offset), __ATOMIC_RELAXED);
  return total;
}

}  // namespace percpu
