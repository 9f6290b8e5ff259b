// The GS segment base of the calling thread: wrgsbase/rdgsbase where the kernel allows them
// (AT_HWCAP2 has FSGSBASE), arch_prctl(ARCH_SET_GS/ARCH_GET_GS) otherwise. FS is never touched:
// glibc keeps thread-local storage there. GS is free for applications in user space on x86-64.
#pragma once

#include <cstddef>
#include <cstdint>

// The GS backend exists only where its instructions and system calls do: Linux on x86-64.
// Everywhere else (or built with -DPERCPU_NO_GS) the asm is compiled out and only the generic
// backend is built.
#if defined(__x86_64__) && defined(__linux__) && !defined(PERCPU_NO_GS)
#define PERCPU_HAVE_GS 1
#else
#define PERCPU_HAVE_GS 0
#endif

namespace percpu::gs {

#if PERCPU_HAVE_GS
// True when wrgsbase/rdgsbase may run here (no system call). valgrind hides the bit, so under
// valgrind arch_prctl is used, which valgrind emulates.
bool UseFsgsbase();

// Both return 0 or an errno value.
// SAFETY (async-signal-safe): one instruction, or one raw arch_prctl system call; no lock, no
// allocation, no libc state but errno (which the signal handlers save and restore). The
// scheduler's migration handler calls WriteBase (native/core/sched_signals.cc).
int ReadBase(uintptr_t* base);
int WriteBase(uintptr_t base);

// `mov %gs:offset, %eax`: the i32 at `offset` of the area GS points at.
int32_t ReadI32(uint32_t offset);

// Can this thread point GS at memory and read it back? Tried once, at set-up, on a private probe
// word, before the region exists, and the base is restored. False with the reason when not (a
// seccomp filter refusing arch_prctl, or GS already in use on this thread).
bool Probe(char* why, size_t size);
#endif

// "wrgsbase" or "arch_prctl"; nullptr where there is no GS backend.
const char* Method();

}  // namespace percpu::gs
