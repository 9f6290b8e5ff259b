#include "gs_base.h"

#if PERCPU_HAVE_GS
#include <asm/prctl.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#endif

namespace percpu::gs {

#if PERCPU_HAVE_GS
#ifndef HWCAP2_FSGSBASE
#define HWCAP2_FSGSBASE (1 << 1)
#endif

// The kernel sets HWCAP2_FSGSBASE only when it has enabled the instructions for user space
// (CR4.FSGSBASE); executing them otherwise is #UD.
// SAFETY: first called from Probe() at region set-up, before any signal handler of ours is
// installed, so the handlers only ever read the initialised static.
bool UseFsgsbase() {
  static const bool use = (getauxval(AT_HWCAP2) & HWCAP2_FSGSBASE) != 0;
  return use;
}

int ReadBase(uintptr_t* base) {
  if (UseFsgsbase()) {
    asm volatile("rdgsbase %0" : "=r"(*base));
    return 0;
  }
  unsigned long value = 0;
  if (syscall(SYS_arch_prctl, ARCH_GET_GS, &value) != 0) return errno;
  *base = value;
  return 0;
}

int WriteBase(uintptr_t base) {
  if (UseFsgsbase()) {
    asm volatile("wrgsbase %0" : : "r"(base) : "memory");
    return 0;
  }
  if (syscall(SYS_arch_prctl, ARCH_SET_GS, base) != 0) return errno;
  return 0;
}

int32_t ReadI32(uint32_t offset) {
  int32_t value;
  asm volatile("movl %%gs:(%1), %0" : "=r"(value) : "r"(static_cast<uintptr_t>(offset)) : "memory");
  return value;
}

bool Probe(char* why, size_t size) {
  static int32_t probe_word = 0x67735f70;  // "p_sg"
  uintptr_t saved = 0;
  if (int err = ReadBase(&saved)) {
    snprintf(why, size, "cannot read the GS base with %s: %s", UseFsgsbase() ? "rdgsbase" : "arch_prctl(ARCH_GET_GS)",
             strerror(err));
    return false;
  }
  if (saved != 0) {
    snprintf(why, size, "this thread's GS base is already in use (%#lx)", static_cast<unsigned long>(saved));
    return false;
  }
  if (int err = WriteBase(reinterpret_cast<uintptr_t>(&probe_word))) {
    snprintf(why, size, "cannot set the GS base with %s: %s", UseFsgsbase() ? "wrgsbase" : "arch_prctl(ARCH_SET_GS)",
             strerror(err));
    return false;
  }
  const int32_t seen = ReadI32(0);
  WriteBase(saved);
  if (seen != probe_word) {
    snprintf(why, size, "the GS base was set but %%gs:0 does not read the probe word");
    return false;
  }
  return true;
}

const char* Method() { return UseFsgsbase() ? "wrgsbase" : "arch_prctl"; }
#else
const char* Method() { return nullptr; }
#endif

}  // namespace percpu::gs
