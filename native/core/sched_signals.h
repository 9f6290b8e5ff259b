// The scheduler's signal side (internal to native/core): the state its handlers share with the
// scheduler thread, and the handlers themselves (sched_signals.cc). Everything the handlers touch
// is here, so that what they may touch is visible in one place.
//
// SAFETY (async-signal safety), for every handler in sched_signals.cc:
// - They call only async-signal-safe functions: clock_gettime (POSIX lists it; a vDSO call here),
//   sched_yield, the GS write (wrgsbase or a raw arch_prctl system call), and nothing of libc
//   that locks or allocates. errno is saved and restored.
// - They touch only lock-free atomics, the thread's own initial-exec TLS (tls_this_cpu,
//   tls_sched: no __tls_get_addr, which may allocate for a dlopen()ed module), statics
//   constant-initialised at load (g_participants, g_request, g_gate, g_active, g_count), and the
//   region, which is set up before any thread can take part and never changes afterwards.
// - The signal numbers and g_signal_set are written once under g_install_lock before g_installed
//   is released, and a handler is installed only after that, so no handler reads them unset.
// - Both handlers block both signals while they run (sa_mask): no interrupt lands inside a
//   migration, and no migration inside an interrupt.
#pragma once

#include <signal.h>

#include <atomic>
#include <cstdint>
#include <mutex>

#include "region.h"
#include "status.h"

namespace percpu::sched {

// A thread that takes part. Membership (token) changes only under g_lock; cpu is also written by
// the thread's own migration handler, read by the scheduler once the swap is done. `pending`
// holds a bit per signal kind sent and not yet taken: at most one of each is ever queued for a
// thread (a masked interrupt is pending once, as on a real CPU).
struct Participant {
  std::atomic<uint64_t> token{0};  // 0: a free slot
  std::atomic<uint64_t> tid{0};
  std::atomic<int32_t> cpu{-1};
  std::atomic<uint32_t> pending{0};
};
constexpr uint32_t kPendingMigrate = 1, kPendingIrq = 2;

// Participants are bound and a CPU has one thread, so there are never more than kMaxCpus.
extern Participant g_participants[kMaxCpus];
extern std::mutex g_lock;  // membership, sending signals, writing the request
extern uint32_t g_participant_count;  // under g_lock

enum SideState : uint32_t { kIdle, kWaiting, kArrived, kDeclined, kSwitched, kDone, kLeft, kGone };
enum Decision : uint32_t { kUndecided, kCommit, kAbort };

struct Request {
  std::atomic<uint64_t> token[2];
  std::atomic<uint64_t> tid[2];
  std::atomic<int32_t> cpu[2];
  std::atomic<uint32_t> state[2];
  std::atomic<uint32_t> decision;
};
extern Request g_request;
// Handlers inside the request, and whether it may be read: the scheduler closes the gate and
// waits for g_active == 0 before rewriting the request; a handler counts itself in, then checks the
// gate (both sequentially consistent, so one of them sees the other).
extern std::atomic<bool> g_gate;
extern std::atomic<int32_t> g_active;

struct Counters {
  std::atomic<uint64_t> requests, migrations, skipped_guard, timed_out, partner_gone, irqs_sent, irqs_handled,
      irqs_coalesced, migrations_coalesced, checks_passed, check_failures, verifications, violations, strays, stale,
      drained, send_failures;
};
extern Counters g_count;

// The two signals, chosen once among the free real-time signals and never uninstalled, so that a
// late signal can never meet the default action (which would end the process).
extern std::atomic<bool> g_installed;
extern int g_migrate_signal, g_irq_signal;
extern sigset_t g_signal_set;  // both
bool EnsureInstalled(Status* status);

// Per thread, initial-exec like tls_this_cpu.
struct SchedTls {
  uint64_t token;         // this thread's participation, 0 when it does not take part
  Participant* record;
  uint64_t tid;
  uint64_t handled;       // migration signals taken
  uint64_t migrations;    // swaps this thread took part in
  uint64_t declined;      // swaps it declined because preemption was off
  uint64_t irqs;          // interrupts taken
  uint64_t irq_adds;      // adds the interrupt handler made
  uint32_t irq_offset;    // what the interrupt handler adds to (a u64 slot), when irq_kind is set
  uint32_t irq_kind;      // an IrqAction
  uint32_t irq_depth;     // IrqDisable() nesting
};
extern __thread SchedTls tls_sched __attribute__((tls_model("initial-exec")));

bool Decide(uint32_t decision);
int64_t NowNs();

}  // namespace percpu::sched
