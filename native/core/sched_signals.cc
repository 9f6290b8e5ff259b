// The scheduler's signal handlers: migration (a two-phase swap handshake) and local interrupts.
// Async-signal-safe throughout; the rules they keep are in sched_signals.h.
//
// The handshake (one request at a time; every shared field is an atomic):
//   scheduler: under g_lock, picks two participants whose CPUs are in its set, closes the gate and
//              waits until no handler is inside the request, writes it (their tokens, CPUs, thread
//              ids; both sides kWaiting; decision kUndecided), opens the gate, tgkill()s both and
//              unlocks; then waits for the decision and, on commit, for both sides' kDone, and
//              checks (under g_lock) that the participants' CPUs are distinct and the owners table
//              names each participant at its CPU.
//   handler:   counts itself in g_active, checks the gate and that the request names it, then
//              - preempt_count > 0: its side kWaiting -> kDeclined, decision -> kAbort, return;
//              - else its side kWaiting -> kArrived, and until decided: partner kArrived ->
//                decision kCommit; partner declined or gone, or kArriveTimeoutNs passed -> kAbort.
//                The decision is one compare-and-swap, so both sides follow the same one.
//              - commit: MigrateFromSignalHandler(the partner's CPU), record it, side -> kSwitched,
//                wait for the partner's kSwitched, check that the backend reads the new CPU's number
//                (%gs:0, or area+0 on generic) and that the owners table names both threads where
//                they now are, side -> kDone, wait for the partner's kDone, return (so neither runs
//                user code, which may unbind, before both have checked). Abort: side -> kLeft, return.
//   A commit needs both sides kArrived, i.e. both threads inside their handlers, and a thread cannot
//   leave its handler early (unbinding and worker termination happen on the thread itself, between
//   handlers), so a committed swap always completes on both threads.
#include "sched_signals.h"

#include <sched.h>
#include <time.h>

#include <cerrno>
#include <cstring>

#include "ops.h"
#include "scheduler.h"

namespace percpu::sched {

Participant g_participants[kMaxCpus];
std::mutex g_lock;  // constant-initialised, no-op destructor
uint32_t g_participant_count = 0;
Request g_request;
std::atomic<bool> g_gate{false};
std::atomic<int32_t> g_active{0};
Counters g_count;
std::atomic<bool> g_installed{false};
int g_migrate_signal = 0, g_irq_signal = 0;
sigset_t g_signal_set;
__thread SchedTls tls_sched __attribute__((tls_model("initial-exec")));

namespace {

constexpr int64_t kArriveTimeoutNs = 50'000'000;  // a handler waits this long for its partner
constexpr int kFirstSignal = 6;                   // the search for free signals starts at SIGRTMIN+6
std::mutex g_install_lock;

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#else
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
#endif
}

// Waiting for the partner inside a handler: spin briefly (it is usually running on another core),
// then yield the core (it may be waiting for this one). sched_yield is a plain system call.
inline void Backoff(uint32_t* spins) {
  if (++*spins < 2000) CpuRelax();
  else sched_yield();
}

int32_t CpuNumberThroughBackend() {
  return WithBackend([]<class B>() { return B::template read<int32_t>(tls_this_cpu, kCpuNumberOffset, 0, 0); });
}

void MigrateHandlerBody() {
  ++tls_sched.handled;
  const uint64_t me = tls_sched.token;
  if (me == 0 || tls_this_cpu.cpu < 0) {  // never happens: Leave() drains before unbinding
    g_count.strays.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  tls_sched.record->pending.fetch_and(~kPendingMigrate, std::memory_order_acq_rel);
  Request& r = g_request;
  const int side = !g_gate.load() ? -1 : r.token[0].load() == me ? 0 : r.token[1].load() == me ? 1 : -1;
  if (side < 0) {  // a request that was given up before this signal arrived
    g_count.stale.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const int other = 1 - side;
  uint32_t waiting = kWaiting;
  if (tls_this_cpu.preempt_count > 0) {  // preempt_disable(): this thread stays where it is
    if (r.state[side].compare_exchange_strong(waiting, kDeclined, std::memory_order_acq_rel)) {
      Decide(kAbort);
      ++tls_sched.declined;
    } else {
      g_count.stale.fetch_add(1, std::memory_order_relaxed);
    }
    return;
  }
  if (!r.state[side].compare_exchange_strong(waiting, kArrived, std::memory_order_acq_rel)) {
    g_count.stale.fetch_add(1, std::memory_order_relaxed);  // this side already answered
    return;
  }
  const int32_t from = tls_this_cpu.cpu;
  if (from != r.cpu[side].load()) {  // never happens: a participant's CPU changes only here
    g_count.check_failures.fetch_add(1, std::memory_order_relaxed);
    Decide(kAbort);
  }
  const int64_t deadline = NowNs() + kArriveTimeoutNs;
  uint32_t decision, spins = 0;
  while ((decision = r.decision.load(std::memory_order_acquire)) == kUndecided) {
    const uint32_t partner = r.state[other].load(std::memory_order_acquire);
    if (partner == kArrived) Decide(kCommit);
    else if (partner != kWaiting || NowNs() > deadline) Decide(kAbort);
    else Backoff(&spins);
  }
  if (decision == kAbort) {
    r.state[side].store(kLeft, std::memory_order_release);
    return;
  }
  // Committed: the partner is inside its handler too and does the mirror image.
  const int32_t to = r.cpu[other].load();
  const uint64_t partner_tid = r.tid[other].load();
  const bool moved = MigrateFromSignalHandler(to, tls_sched.tid);
  tls_sched.record->cpu.store(to, std::memory_order_release);
  r.state[side].store(kSwitched, std::memory_order_release);
  spins = 0;
  while (r.state[other].load(std::memory_order_acquire) < kSwitched) Backoff(&spins);
  const Region* region = GetRegion();
  const bool ok = moved && tls_this_cpu.cpu == to && CpuNumberThroughBackend() == to &&
                  region->owners[to].load(std::memory_order_acquire) == tls_sched.tid &&
                  region->owners[from].load(std::memory_order_acquire) == partner_tid;
  (ok ? g_count.checks_passed : g_count.check_failures).fetch_add(1, std::memory_order_relaxed);
  ++tls_sched.migrations;
  // Neither returns before both have checked: once back in user code, the partner may unbind.
  r.state[side].store(kDone, std::memory_order_release);
  spins = 0;
  while (r.state[other].load(std::memory_order_acquire) < kDone) Backoff(&spins);
}

void OnMigrateSignal(int) {
  const int saved_errno = errno;
  g_active.fetch_add(1);
  MigrateHandlerBody();
  g_active.fetch_sub(1);
  errno = saved_errno;
}

// raw_cpu_add(x, 1) on a u64: this CPU's slot, plain load and store. Inside the interrupt handler
// it is safe (nothing else runs on this thread until it returns, and migration is blocked).
inline void GenericRawIncrement(uint32_t offset) {
  uint64_t* slot = GenericBackend::ThisCpuPtr<uint64_t>(tls_this_cpu, offset);
  __atomic_store_n(slot, __atomic_load_n(slot, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

void OnIrqSignal(int) {
  const int saved_errno = errno;
  if (tls_sched.token == 0 || tls_this_cpu.cpu < 0) {
    g_count.strays.fetch_add(1, std::memory_order_relaxed);
  } else {
    // Taken: the scheduler may queue the next one.
    tls_sched.record->pending.fetch_and(~kPendingIrq, std::memory_order_acq_rel);
    ++tls_sched.irqs;
    g_count.irqs_handled.fetch_add(1, std::memory_order_relaxed);
    const uint32_t kind = tls_sched.irq_kind;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    if (kind == static_cast<uint32_t>(IrqAction::kAddGeneric)) {
      GenericRawIncrement(tls_sched.irq_offset);
      ++tls_sched.irq_adds;
    }
#if PERCPU_HAVE_GS
    if (kind == static_cast<uint32_t>(IrqAction::kAddGs)) {
      GsBackend::add<uint64_t>(tls_this_cpu, tls_sched.irq_offset, 1, 0);
      ++tls_sched.irq_adds;
    }
#endif
  }
  errno = saved_errno;
}

bool IsFree(int signal) {
  struct sigaction current;
  if (sigaction(signal, nullptr, &current) != 0) return false;
  return !(current.sa_flags & SA_SIGINFO) && current.sa_handler == SIG_DFL;
}

}  // namespace

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);  // async-signal-safe (POSIX), a vDSO call here
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

bool Decide(uint32_t decision) {
  uint32_t undecided = kUndecided;
  return g_request.decision.compare_exchange_strong(undecided, decision, std::memory_order_acq_rel);
}

// Installs both handlers (once per process), on the first two adjacent real-time signals from
// SIGRTMIN+6 that nobody handles.
bool EnsureInstalled(Status* status) {
  if (g_installed.load(std::memory_order_acquire)) return true;
  std::lock_guard<std::mutex> lock(g_install_lock);
  if (g_installed.load(std::memory_order_acquire)) return true;
  int chosen = 0;
  for (int signal = SIGRTMIN + kFirstSignal; signal + 1 <= SIGRTMAX; ++signal) {
    if (IsFree(signal) && IsFree(signal + 1)) {
      chosen = signal;
      break;
    }
  }
  if (chosen == 0)
    return status->Fail(Code::kSystem, "no two free real-time signals from SIGRTMIN+%d for the scheduler", kFirstSignal);
  // SAFETY: the numbers and the set are written before either handler is installed, and
  // published by g_installed (release) to the threads that send or block them.
  sigemptyset(&g_signal_set);
  sigaddset(&g_signal_set, chosen);
  sigaddset(&g_signal_set, chosen + 1);
  g_migrate_signal = chosen;
  g_irq_signal = chosen + 1;
  struct sigaction action {};
  action.sa_flags = SA_RESTART;
  action.sa_mask = g_signal_set;
  action.sa_handler = OnMigrateSignal;
  if (sigaction(chosen, &action, nullptr) == 0) {
    action.sa_handler = OnIrqSignal;
    if (sigaction(chosen + 1, &action, nullptr) == 0) {
      // A unbinding participant leaves first (the region calls back; it knows nothing else of us).
      SetBeforeUnbindHook(&Leave);
      g_installed.store(true, std::memory_order_release);
      return true;
    }
  }
  return status->Fail(Code::kSystem, "sigaction for the scheduler's signals failed: %s", strerror(errno));
}

}  // namespace percpu::sched
