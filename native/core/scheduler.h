// Simulated preemption, migration and local interrupts (Node-free): a scheduler thread that swaps
// the CPUs of bound threads at arbitrary instruction boundaries with real-time signals, and
// interrupts them with a second signal. The handlers and their handshake are in
// sched_signals.cc; this is the part that runs in normal thread context.
#pragma once

#include <signal.h>

#include <bitset>
#include <cstdint>

#include "region.h"
#include "status.h"

namespace percpu::sched {

// Rates: 0 (off) or from kMinHz to kMaxHz events per second. Outside that, a period either
// overflows (1e9 / 1e-10 ns) or floods the user's real-time signal queue.
constexpr double kMinHz = 1;
constexpr double kMaxHz = 100'000;

struct Config {
  double migrate_hz = 0;
  double irq_hz = 0;
  bool all_cpus = true;
  std::bitset<kMaxCpus> cpus;

  bool Allows(int32_t cpu) const { return cpu >= 0 && (all_cpus || cpus.test(static_cast<size_t>(cpu))); }
};

// Checks a rate (0, or kMinHz..kMaxHz; finite). `what` names it in the message.
bool CheckRate(double hz, const char* what, Status* status);

// Starts the scheduler thread (one per process). Fails with kConflict when it runs, kOutOfRange
// for a bad rate or CPU, kNotSetUp before the region. On success `*run` identifies this run.
bool Start(const Config& config, uint64_t* run, Status* status);
// Stops the scheduler and waits for its last swap to settle. False if it was not running (or,
// with `only_run` != 0, if the run going on is another one).
bool Stop(uint64_t only_run = 0);

// The calling thread (bound) takes part: it may be migrated and interrupted. False with status
// unset if it already takes part; fails when not bound or the signals cannot be installed.
bool Participate(Status* status);
// The calling thread stops taking part (a no-op when it does not). Also run before every unbind.
void Leave();
bool Participating();

// local_irq_save()/local_irq_restore(): both signals blocked on this thread while the depth is
// above 0. An interrupt that arrives meanwhile is pending once (interrupts coalesce). Enable
// fails with kGuard when the depth is 0. Both return the new depth in `*depth`.
bool IrqDisable(uint32_t* depth, Status* status);
bool IrqEnable(uint32_t* depth, Status* status);
uint32_t IrqDepth();

// What this thread's interrupt handler does: nothing, or add 1 to its CPU's slot of the u64 at
// `offset`, with one gs instruction or the generic raw add.
enum class IrqAction : uint32_t { kNone, kAddGs, kAddGeneric };
// Sets the action and returns the adds made since the last call. Fails (nothing changed) for
// kAddGs where the region is not on the gs backend.
bool SetIrqAction(IrqAction action, uint32_t offset, uint64_t* adds_before, Status* status);
// The adds the handler made on this thread since the action was last set.
uint64_t IrqAdds();

// local_irq_save()/local_irq_restore() around one critical section (the race demo's irqsave
// method): both of the scheduler's signals blocked on this thread, the old mask kept in `saved`.
// Installs the signals if needed.
void BlockSignals(sigset_t* saved);
void RestoreSignals(const sigset_t* saved);

struct Snapshot {
  bool running;
  Config config;
  uint32_t participants;
  bool installed;
  int migrate_signal, irq_signal, sigrtmin;
  uint64_t requests, migrations, skipped_guard, timed_out, partner_gone, irqs_sent, irqs_handled, irqs_coalesced,
      migrations_coalesced, checks_passed, check_failures, verifications, violations, strays, stale, drained,
      send_failures;
};
// Read under the scheduler's locks, returned by value: callers build their JS after the locks are
// released.
Snapshot Stats();

struct ThreadSnapshot {
  bool participating;
  uint64_t tid;
  int32_t cpu;
  uint64_t handled, migrations, declined, irqs;
  uint32_t irq_depth;
};
ThreadSnapshot ThreadStats();

}  // namespace percpu::sched
