// Issue 8: preemption and migration, simulated for real.
//
// Worker threads stand in for CPUs. A scheduler thread migrates the bound threads that take part
// (participate()) by swapping the CPUs of two of them at a time: it sends both a real-time signal;
// each handler runs on its own thread, at whatever instruction that thread had reached, takes part
// in a two-phase handshake through atomics (below), and if both agree each points its own GS base
// (gs backend) and tls_this_cpu at the other's CPU and returns. A swap is a permutation, so no two
// threads ever share a CPU, and while it happens both threads are inside their handlers, so neither
// runs user code on a CPU the other still holds. The GS base set in a handler survives its return.
//
// Preemption control: a thread whose preempt_count is raised (a CpuGuard, or a generic-backend op
// in progress) declines, and the swap is skipped, as preempt_disable() holds off the kernel's
// scheduler. Local interrupts: a second signal whose handler adds to a per-CPU variable on the
// interrupted thread. "Interrupts off" (local_irq_save) blocks both signals on the thread: a
// blocked signal stays pending and is taken when they are unblocked, as a masked interrupt is.
// Both handlers block both signals while they run (sa_mask): no interrupt lands inside a
// migration, and no migration inside an interrupt.
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
//
// Leaving and thread exit: LeaveScheduler() (region.cc calls it before any unbind, and so at thread
// exit too) blocks both signals on the thread, then under g_lock leaves the participant table and
// aborts a request still waiting for it (side -> kGone), then drains the signals already queued
// for it (sigtimedwait) without running their handlers. The scheduler sends only under g_lock and
// only to registered threads, so no signal is ever sent to a thread that has left (or exited, or
// whose thread id the kernel may have reused), and no handler of ours runs on an unbound thread.
#include "scheduler.h"

#include <napi.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bitset>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <system_error>
#include <thread>

#include "errors.h"
#include "ops.h"
#include "region.h"

namespace percpu {
namespace {

constexpr int64_t kArriveTimeoutNs = 50'000'000;    // a handler waits this long for its partner
constexpr int64_t kRequestTimeoutNs = 250'000'000;  // the scheduler gives up on a request after this
constexpr double kMaxHz = 100'000;
constexpr int kFirstSignal = 6;                     // the search for free signals starts at SIGRTMIN+6

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);  // async-signal-safe (POSIX), a vDSO call here
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

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
// then yield the core (it may be waiting for this one).
inline void Backoff(uint32_t* spins) {
  if (++*spins < 2000) CpuRelax();
  else sched_yield();
}

// Busy work for `ns` nanoseconds (the race loops' window and the work between ops).
void SpinNs(int64_t ns) {
  if (ns <= 0) return;
  const int64_t end = NowNs() + ns;
  while (NowNs() < end) CpuRelax();
}

void SleepNs(int64_t ns) {
  timespec ts{0, static_cast<long>(ns)};
  nanosleep(&ts, nullptr);
}

uint64_t ThisTid() { return static_cast<uint64_t>(syscall(SYS_gettid)); }

int SendSignal(uint64_t tid, int signal) {
  return syscall(SYS_tgkill, static_cast<pid_t>(getpid()), static_cast<pid_t>(tid), signal) == 0 ? 0 : errno;
}

// ---------------------------------------------------------------- state
// A thread that takes part. Membership (token) changes only under g_lock; cpu is also written by
// the thread's own migration handler, read by the scheduler once the swap is done.
struct Participant {
  std::atomic<uint64_t> token{0};  // 0: a free slot
  std::atomic<uint64_t> tid{0};
  std::atomic<int32_t> cpu{-1};
};
// Participants are bound and a CPU has one thread, so there are never more than kMaxCpus.
Participant g_participants[kMaxCpus];
std::mutex g_lock;  // membership, sending signals, writing the request (constant-initialized, no-op destructor)
uint64_t g_next_token = 0;
uint32_t g_participant_count = 0;

enum SideState : uint32_t { kIdle, kWaiting, kArrived, kDeclined, kSwitched, kDone, kLeft, kGone };
enum Decision : uint32_t { kUndecided, kCommit, kAbort };

struct Request {
  std::atomic<uint64_t> token[2];
  std::atomic<uint64_t> tid[2];
  std::atomic<int32_t> cpu[2];
  std::atomic<uint32_t> state[2];
  std::atomic<uint32_t> decision;
};
Request g_request;
// Handlers inside the request, and whether it may be read: the scheduler closes the gate and
// waits for g_active == 0 before rewriting the request; a handler counts itself in, then checks the
// gate (both sequentially consistent, so one of them sees the other).
std::atomic<bool> g_gate{false};
std::atomic<int32_t> g_active{0};

struct Counters {
  std::atomic<uint64_t> requests, migrations, skipped_guard, timed_out, partner_gone, irqs_sent, irqs_handled,
      checks_passed, check_failures, verifications, violations, strays, stale, drained, send_failures;
};
Counters g_count;

// The two signals, chosen once among the free real-time signals and never uninstalled, so that a
// late signal can never meet the default action (which would end the process).
std::mutex g_install_lock;
std::atomic<bool> g_installed{false};
int g_migrate_signal = 0, g_irq_signal = 0;
sigset_t g_signal_set;  // both; written once under g_install_lock before g_installed

enum IrqKind : uint32_t { kIrqNone, kIrqGs, kIrqGeneric };

// Per thread, initial-exec like tls_this_cpu: the handlers read it without __tls_get_addr (which
// may allocate, and is not async-signal-safe, for a dlopen()ed module).
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
  uint32_t irq_kind;
  uint32_t irq_depth;     // localIrqDisable() nesting
};
__thread SchedTls tls_sched __attribute__((tls_model("initial-exec")));

// ---------------------------------------------------------------- the handlers
int32_t CpuNumberThroughBackend() {
  return WithBackend([]<class B>() { return B::template read<int32_t>(kCpuNumberOffset, 0, 0); });
}

bool Decide(uint32_t decision) {
  uint32_t undecided = kUndecided;
  return g_request.decision.compare_exchange_strong(undecided, decision, std::memory_order_acq_rel);
}

void MigrateHandlerBody() {
  ++tls_sched.handled;
  const uint64_t me = tls_sched.token;
  if (me == 0 || tls_this_cpu.cpu < 0) {  // never happens: LeaveScheduler drains before unbinding
    g_count.strays.fetch_add(1, std::memory_order_relaxed);
    return;
  }
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
  uint64_t* slot = GenericBackend::ThisCpuPtr<uint64_t>(offset);
  __atomic_store_n(slot, __atomic_load_n(slot, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

void OnIrqSignal(int) {
  const int saved_errno = errno;
  if (tls_sched.token == 0 || tls_this_cpu.cpu < 0) {
    g_count.strays.fetch_add(1, std::memory_order_relaxed);
  } else {
    ++tls_sched.irqs;
    g_count.irqs_handled.fetch_add(1, std::memory_order_relaxed);
    const uint32_t kind = tls_sched.irq_kind;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    if (kind == kIrqGeneric) {
      GenericRawIncrement(tls_sched.irq_offset);
      ++tls_sched.irq_adds;
    }
#if PERCPU_HAVE_GS
    if (kind == kIrqGs) {
      GsBackend::add<uint64_t>(tls_sched.irq_offset, 1, 0);
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

// Installs both handlers (once per process), on the first two adjacent real-time signals from
// SIGRTMIN+6 that nobody handles.
bool EnsureInstalled(DeferredError* error) {
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
  if (chosen == 0) {
    error->Set(ErrorKind::kSystem, "no two free real-time signals from SIGRTMIN+%d for the scheduler", kFirstSignal);
    return false;
  }
  sigemptyset(&g_signal_set);
  sigaddset(&g_signal_set, chosen);
  sigaddset(&g_signal_set, chosen + 1);
  struct sigaction action {};
  action.sa_flags = SA_RESTART;
  action.sa_mask = g_signal_set;
  action.sa_handler = OnMigrateSignal;
  if (sigaction(chosen, &action, nullptr) == 0) {
    action.sa_handler = OnIrqSignal;
    if (sigaction(chosen + 1, &action, nullptr) == 0) {
      g_migrate_signal = chosen;
      g_irq_signal = chosen + 1;
      g_installed.store(true, std::memory_order_release);
      return true;
    }
  }
  error->Set(ErrorKind::kSystem, "sigaction for the scheduler's signals failed: %s", strerror(errno));
  return false;
}

// ---------------------------------------------------------------- joining and leaving
bool Join(DeferredError* error) {
  if (!EnsureInstalled(error)) return false;
  {
    std::lock_guard<std::mutex> lock(g_lock);
    Participant* slot = nullptr;
    for (auto& p : g_participants)
      if (p.token.load(std::memory_order_relaxed) == 0) {
        slot = &p;
        break;
      }
    if (slot == nullptr) {
      error->Set(ErrorKind::kNoSpace, "the scheduler's participant table is full");
      return false;
    }
    tls_sched.tid = ThisTid();
    tls_sched.record = slot;
    tls_sched.token = ++g_next_token;
    slot->tid.store(tls_sched.tid, std::memory_order_relaxed);
    slot->cpu.store(tls_this_cpu.cpu, std::memory_order_relaxed);
    slot->token.store(tls_sched.token, std::memory_order_release);
    ++g_participant_count;
  }
  // Take the signals, unless this thread has interrupts off (then they wait until it turns them on).
  pthread_sigmask(tls_sched.irq_depth == 0 ? SIG_UNBLOCK : SIG_BLOCK, &g_signal_set, nullptr);
  return true;
}

}  // namespace

void LeaveScheduler() {
  if (tls_sched.token == 0) return;
  sigset_t old;
  pthread_sigmask(SIG_BLOCK, &g_signal_set, &old);  // from here no handler of ours runs on this thread
  {
    std::lock_guard<std::mutex> lock(g_lock);
    const uint64_t me = tls_sched.token;
    for (int side = 0; side < 2; ++side) {
      if (g_request.token[side].load() != me) continue;
      uint32_t waiting = kWaiting;
      if (g_request.state[side].compare_exchange_strong(waiting, kGone)) Decide(kAbort);  // release the partner now
    }
    tls_sched.record->token.store(0, std::memory_order_release);
    tls_sched.record->cpu.store(-1, std::memory_order_relaxed);
    tls_sched.record = nullptr;
    tls_sched.token = 0;
    --g_participant_count;
  }
  // Every signal sent to this thread was sent under g_lock while it was registered, so it is
  // queued by now: drop them all without running their handlers.
  const timespec zero{0, 0};
  while (sigtimedwait(&g_signal_set, nullptr, &zero) > 0) g_count.drained.fetch_add(1, std::memory_order_relaxed);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

namespace {

// ---------------------------------------------------------------- the scheduler thread
struct Config {
  double migrate_hz = 0;
  double irq_hz = 0;
  bool all_cpus = true;
  std::bitset<kMaxCpus> cpus;

  bool Allows(int32_t cpu) const { return cpu >= 0 && (all_cpus || cpus.test(static_cast<size_t>(cpu))); }
};

struct HookToken {};

struct Control {
  std::mutex run_lock;  // start and stop
  bool running = false;
  Config config;
  std::thread thread;
  napi_env owner = nullptr;  // the environment that started it: its teardown stops the scheduler
  HookToken* hook = nullptr;
  std::mutex wake_lock;
  std::condition_variable wake;
  bool stopping = false;  // under wake_lock
};

// Never destroyed: the scheduler thread may still run while the process exits.
Control& Ctl() {
  static Control* control = new Control();
  return *control;
}

uint64_t NextRandom(uint64_t* state) {
  uint64_t x = *state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *state = x;
}

// Under g_lock: the participants' CPUs are distinct and the owners table names each one at its CPU.
void VerifyLocked() {
  const Region* region = GetRegion();
  std::bitset<kMaxCpus> seen;
  bool ok = true;
  for (const auto& p : g_participants) {
    if (p.token.load(std::memory_order_acquire) == 0) continue;
    const int32_t cpu = p.cpu.load(std::memory_order_acquire);
    if (cpu < 0 || static_cast<uint32_t>(cpu) >= region->nr_cpus || seen.test(static_cast<size_t>(cpu))) {
      ok = false;
      continue;
    }
    seen.set(static_cast<size_t>(cpu));
    if (region->owners[cpu].load(std::memory_order_acquire) != p.tid.load(std::memory_order_relaxed)) ok = false;
  }
  g_count.verifications.fetch_add(1, std::memory_order_relaxed);
  if (!ok) g_count.violations.fetch_add(1, std::memory_order_relaxed);
}

// The request in flight, seen from the scheduler thread (only it reads or writes this).
struct InFlight {
  bool active = false;
  int64_t sent_ns = 0;
};

// Settles the request in flight if it is over: a decision, and on commit both sides done. Counts
// the outcome and, after a swap, verifies the table. False while it is still under way. A request
// nobody decided within kRequestTimeoutNs is aborted here.
bool Settle(InFlight* flight) {
  if (!flight->active) return true;
  Request& r = g_request;
  uint32_t decision = r.decision.load(std::memory_order_acquire);
  if (decision == kUndecided) {
    if (NowNs() - flight->sent_ns <= kRequestTimeoutNs) return false;
    Decide(kAbort);
    decision = r.decision.load(std::memory_order_acquire);
  }
  if (decision == kCommit) {
    if (r.state[0].load() != kDone || r.state[1].load() != kDone) return false;  // both are switching
    g_count.migrations.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard<std::mutex> lock(g_lock);
    VerifyLocked();
  } else {
    const uint32_t s0 = r.state[0].load(), s1 = r.state[1].load();
    if (s0 == kDeclined || s1 == kDeclined) g_count.skipped_guard.fetch_add(1, std::memory_order_relaxed);
    else if (s0 == kGone || s1 == kGone) g_count.partner_gone.fetch_add(1, std::memory_order_relaxed);
    else g_count.timed_out.fetch_add(1, std::memory_order_relaxed);
  }
  flight->active = false;
  return true;
}

// Picks two participants whose CPUs are in the set and asks them to swap. The scheduler does not
// wait for the answer: it settles it on a later tick, so one tick costs one wake-up.
void Propose(const Config& config, uint64_t* rng, InFlight* flight) {
  Request& r = g_request;
  std::lock_guard<std::mutex> lock(g_lock);
  uint16_t eligible[kMaxCpus];
  uint32_t n = 0;
  for (uint32_t i = 0; i < kMaxCpus && n < g_participant_count; ++i) {
    const Participant& p = g_participants[i];
    if (p.token.load(std::memory_order_relaxed) != 0 && config.Allows(p.cpu.load(std::memory_order_acquire)))
      eligible[n++] = static_cast<uint16_t>(i);
  }
  if (n < 2) return;
  const uint32_t a = static_cast<uint32_t>(NextRandom(rng) % n);
  uint32_t b = static_cast<uint32_t>(NextRandom(rng) % (n - 1));
  if (b >= a) ++b;
  g_gate.store(false);
  while (g_active.load() != 0) sched_yield();  // late handlers of the last request; each is bounded
  const Participant* chosen[2] = {&g_participants[eligible[a]], &g_participants[eligible[b]]};
  for (int side = 0; side < 2; ++side) {
    r.token[side].store(chosen[side]->token.load());
    r.tid[side].store(chosen[side]->tid.load());
    r.cpu[side].store(chosen[side]->cpu.load());
    r.state[side].store(kWaiting);
  }
  r.decision.store(kUndecided);
  g_gate.store(true);
  g_count.requests.fetch_add(1, std::memory_order_relaxed);
  flight->active = true;
  flight->sent_ns = NowNs();
  for (int side = 0; side < 2; ++side) {
    if (SendSignal(r.tid[side].load(), g_migrate_signal) != 0) {  // cannot happen: it is registered
      g_count.send_failures.fetch_add(1, std::memory_order_relaxed);
      Decide(kAbort);
    }
  }
}

void InterruptAll(const Config& config) {
  std::lock_guard<std::mutex> lock(g_lock);
  uint32_t seen = 0;
  for (uint32_t i = 0; i < kMaxCpus && seen < g_participant_count; ++i) {
    const Participant& p = g_participants[i];
    if (p.token.load(std::memory_order_relaxed) == 0) continue;
    ++seen;
    if (!config.Allows(p.cpu.load(std::memory_order_acquire))) continue;
    if (SendSignal(p.tid.load(), g_irq_signal) == 0) g_count.irqs_sent.fetch_add(1, std::memory_order_relaxed);
    else g_count.send_failures.fetch_add(1, std::memory_order_relaxed);  // e.g. the signal queue is full
  }
}

int64_t PeriodNs(double hz) { return hz > 0 ? std::max<int64_t>(1, static_cast<int64_t>(1e9 / hz)) : 0; }

void SchedulerMain(Config config) {
  Control& control = Ctl();
  uint64_t rng = static_cast<uint64_t>(NowNs()) | 1;
  InFlight flight;
  const int64_t migrate_period = PeriodNs(config.migrate_hz), irq_period = PeriodNs(config.irq_hz);
  int64_t next_migrate = NowNs() + migrate_period, next_irq = NowNs() + irq_period;
  std::unique_lock<std::mutex> lock(control.wake_lock);
  while (!control.stopping) {
    const int64_t now = NowNs();
    const int64_t next = std::min(migrate_period ? next_migrate : INT64_MAX, irq_period ? next_irq : INT64_MAX);
    if (now < next) {
      control.wake.wait_for(lock, std::chrono::nanoseconds(next - now));
      continue;
    }
    lock.unlock();
    if (migrate_period && now >= next_migrate) {
      if (Settle(&flight)) Propose(config, &rng, &flight);  // else this tick waits for the last one
      next_migrate = std::max(next_migrate + migrate_period, NowNs());  // no burst to catch up
    }
    if (irq_period && now >= next_irq) {
      InterruptAll(config);
      next_irq = std::max(next_irq + irq_period, NowNs());
    }
    lock.lock();
  }
  lock.unlock();
  while (!Settle(&flight)) SleepNs(100'000);  // the last request: bounded by kRequestTimeoutNs
}

// Under run_lock.
void StopLocked(Control& control) {
  {
    std::lock_guard<std::mutex> lock(control.wake_lock);
    control.stopping = true;
  }
  control.wake.notify_all();
  control.thread.join();  // at most one request's wait (kRequestTimeoutNs) away
  control.running = false;
}

void OnOwnerCleanup(void* arg) {
  auto* token = static_cast<HookToken*>(arg);
  Control& control = Ctl();
  {
    std::lock_guard<std::mutex> lock(control.run_lock);
    if (control.running && control.hook == token) {
      StopLocked(control);
      control.hook = nullptr;
      control.owner = nullptr;
    }
  }
  delete token;
}

// ---------------------------------------------------------------- JS functions
bool GetNumber(napi_env env, const Napi::Value& value, const char* what, double min, double max, double* out) {
  if (!value.IsNumber()) return ThrowError(env, ErrorKind::kInvalidArg, "%s must be a number", what);
  const double d = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d)) return ThrowError(env, ErrorKind::kInvalidArg, "%s must be a finite number", what);
  if (d < min || d > max) return ThrowError(env, ErrorKind::kOutOfRange, "%s must be from %g to %g, got %g", what, min, max, d);
  *out = d;
  return true;
}

bool RequireRegion(napi_env env) {
  if (GetRegion() != nullptr) return true;
  return ThrowError(env, ErrorKind::kNotSetUp, "the per-CPU region is not set up: call setup() or start a CpuSet first");
}

bool ThrowNotBound(napi_env env) {
  return ThrowError(env, ErrorKind::kNotBound, "this thread is not bound to a CPU: bind it or run on a CpuSet");
}

// start(migrateHz, irqHz, cpus | null)
Napi::Value Start(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  if (!RequireRegion(env)) return Napi::Value();
  Config config;
  if (!GetNumber(env, info[0], "migrateHz", 0, kMaxHz, &config.migrate_hz) ||
      !GetNumber(env, info[1], "irqHz", 0, kMaxHz, &config.irq_hz))
    return Napi::Value();
  if (config.migrate_hz == 0 && config.irq_hz == 0)
    return ThrowError(env, ErrorKind::kOutOfRange, "the scheduler needs migrateHz or irqHz above 0"), Napi::Value();
  if (!info[2].IsNull() && !info[2].IsUndefined()) {
    if (!info[2].IsArray()) return ThrowError(env, ErrorKind::kInvalidArg, "cpus must be an array of CPU numbers"), Napi::Value();
    Napi::Array cpus = info[2].As<Napi::Array>();
    const uint32_t nr_cpus = GetRegion()->nr_cpus;
    for (uint32_t i = 0; i < cpus.Length(); ++i) {
      double cpu;
      if (!GetNumber(env, cpus.Get(i), "a CPU number", 0, nr_cpus - 1, &cpu)) return Napi::Value();
      if (cpu != std::trunc(cpu)) return ThrowError(env, ErrorKind::kInvalidArg, "a CPU number must be an integer"), Napi::Value();
      config.cpus.set(static_cast<size_t>(cpu));
    }
    config.all_cpus = false;
  }
  DeferredError error;
  if (EnsureInstalled(&error)) {
    Control& control = Ctl();
    std::lock_guard<std::mutex> lock(control.run_lock);
    if (control.running) {
      error.Set(ErrorKind::kConflict, "the scheduler is already running: stop it first");
    } else {
      control.stopping = false;  // the thread is not running: no one else reads it
      try {
        control.thread = std::thread(SchedulerMain, config);
        control.running = true;
        control.config = config;
        control.hook = new HookToken();
        control.owner = env;
        napi_add_env_cleanup_hook(env, OnOwnerCleanup, control.hook);
      } catch (const std::system_error& e) {
        error.Set(ErrorKind::kSystem, "cannot start the scheduler thread: %s", e.what());
      }
    }
  }
  error.ThrowIfSet(env);
  return Napi::Value();
}

Napi::Value Stop(const Napi::CallbackInfo& info) {
  Control& control = Ctl();
  std::lock_guard<std::mutex> lock(control.run_lock);
  if (!control.running) return Napi::Boolean::New(info.Env(), false);
  StopLocked(control);
  if (control.owner == static_cast<napi_env>(info.Env())) {
    napi_remove_env_cleanup_hook(info.Env(), OnOwnerCleanup, control.hook);
    delete control.hook;
  }  // else the owner's hook finds it is no longer current, and frees its token at teardown
  control.hook = nullptr;
  control.owner = nullptr;
  return Napi::Boolean::New(info.Env(), true);
}

Napi::Value Participate(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  if (!ThisThreadBound()) return ThrowNotBound(env), Napi::Value();
  if (tls_sched.token != 0) return Napi::Boolean::New(env, false);
  DeferredError error;
  const bool joined = Join(&error);
  error.ThrowIfSet(env);
  return joined ? Napi::Boolean::New(env, true) : Napi::Value();
}

Napi::Value Leave(const Napi::CallbackInfo& info) {
  const bool was = tls_sched.token != 0;
  LeaveScheduler();
  return Napi::Boolean::New(info.Env(), was);
}

Napi::Value Participating(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), tls_sched.token != 0); }

double D(const std::atomic<uint64_t>& counter) { return static_cast<double>(counter.load(std::memory_order_relaxed)); }

Napi::Value SchedStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object result = Napi::Object::New(env);
  Control& control = Ctl();
  {
    std::lock_guard<std::mutex> lock(control.run_lock);
    result.Set("running", control.running);
    result.Set("migrateHz", control.running ? control.config.migrate_hz : 0);
    result.Set("irqHz", control.running ? control.config.irq_hz : 0);
    if (control.running && !control.config.all_cpus) {
      Napi::Array cpus = Napi::Array::New(env);
      for (size_t cpu = 0; cpu < kMaxCpus; ++cpu)
        if (control.config.cpus.test(cpu)) cpus.Set(cpus.Length(), static_cast<double>(cpu));
      result.Set("cpus", cpus);
    } else {
      result.Set("cpus", env.Null());
    }
  }
  {
    std::lock_guard<std::mutex> lock(g_lock);
    result.Set("participants", g_participant_count);
  }
  if (g_installed.load(std::memory_order_acquire)) {
    Napi::Object signals = Napi::Object::New(env);
    signals.Set("migrate", g_migrate_signal);
    signals.Set("irq", g_irq_signal);
    signals.Set("sigrtmin", SIGRTMIN);
    result.Set("signals", signals);
  } else {
    result.Set("signals", env.Null());
  }
  result.Set("requests", D(g_count.requests));
  result.Set("migrations", D(g_count.migrations));
  result.Set("skippedGuard", D(g_count.skipped_guard));
  result.Set("timedOut", D(g_count.timed_out));
  result.Set("partnerGone", D(g_count.partner_gone));
  result.Set("irqsSent", D(g_count.irqs_sent));
  result.Set("irqsHandled", D(g_count.irqs_handled));
  result.Set("checksPassed", D(g_count.checks_passed));
  result.Set("checkFailures", D(g_count.check_failures));
  result.Set("verifications", D(g_count.verifications));
  result.Set("violations", D(g_count.violations));
  result.Set("strays", D(g_count.strays));
  result.Set("staleSignals", D(g_count.stale));
  result.Set("drained", D(g_count.drained));
  result.Set("sendFailures", D(g_count.send_failures));
  return result;
}

Napi::Value ThreadStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object result = Napi::Object::New(env);
  result.Set("participating", tls_sched.token != 0);
  result.Set("tid", static_cast<double>(tls_sched.token != 0 ? tls_sched.tid : ThisTid()));
  result.Set("cpu", tls_this_cpu.cpu);
  result.Set("handled", static_cast<double>(tls_sched.handled));
  result.Set("migrations", static_cast<double>(tls_sched.migrations));
  result.Set("declined", static_cast<double>(tls_sched.declined));
  result.Set("irqs", static_cast<double>(tls_sched.irqs));
  result.Set("irqDepth", tls_sched.irq_depth);
  return result;
}

// local_irq_save(): both signals blocked on this thread (nesting). A blocked signal stays pending.
Napi::Value IrqDisable(const Napi::CallbackInfo& info) {
  DeferredError error;
  if (!EnsureInstalled(&error)) return error.ThrowIfSet(info.Env()), Napi::Value();
  if (tls_sched.irq_depth++ == 0) pthread_sigmask(SIG_BLOCK, &g_signal_set, nullptr);
  return Napi::Number::New(info.Env(), tls_sched.irq_depth);
}

Napi::Value IrqEnable(const Napi::CallbackInfo& info) {
  if (tls_sched.irq_depth == 0)
    return ThrowError(info.Env(), ErrorKind::kGuard, "interrupts are not disabled on this thread"), Napi::Value();
  if (--tls_sched.irq_depth == 0) pthread_sigmask(SIG_UNBLOCK, &g_signal_set, nullptr);  // pending ones run now
  return Napi::Number::New(info.Env(), tls_sched.irq_depth);
}

// The u64 static per-CPU variable `name` (statics live as long as the region: the offset stays valid).
bool GetCounter(napi_env env, const Napi::Value& value, uint32_t* offset) {
  if (!value.IsString()) return ThrowError(env, ErrorKind::kInvalidArg, "a race counter is named by a string");
  const Allocation* allocation = FindStatic(value.As<Napi::String>().Utf8Value());
  if (allocation == nullptr || allocation->type != TypeId::u64)
    return ThrowError(env, ErrorKind::kInvalidArg, "a race counter must be a u64 static per-CPU variable");
  *offset = allocation->offset;
  return true;
}

enum class RaceMethod : uint32_t { kGs, kRaw, kGuard, kIrqSave, kCount };

bool GsUsable(napi_env env) {
#if PERCPU_HAVE_GS
  if (ActiveBackend() == BackendId::kGs) return true;
#endif
  return ThrowError(env, ErrorKind::kBackendUnavailable,
                    "GS is not set on this region's threads: the gs race needs a region on the gs backend");
}

// The generic add with its window held open: this CPU's pointer, the load, `window_ns` of work,
// the store. A migration or an interrupt inside the window makes the store stale.
inline void GenericIncrementWithWindow(uint32_t offset, int64_t window_ns) {
  __atomic_signal_fence(__ATOMIC_SEQ_CST);  // this_cpu_ptr() is computed afresh for every op
  uint64_t* slot = GenericBackend::ThisCpuPtr<uint64_t>(offset);
  const uint64_t old = __atomic_load_n(slot, __ATOMIC_RELAXED);
  SpinNs(window_ns);
  __atomic_store_n(slot, old + 1, __ATOMIC_RELAXED);
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
}

// local_irq_save()/local_irq_restore() around one op.
struct IrqsOff {
  sigset_t old;
  IrqsOff() { pthread_sigmask(SIG_BLOCK, &g_signal_set, &old); }
  ~IrqsOff() { pthread_sigmask(SIG_SETMASK, &old, nullptr); }
};

template <RaceMethod kMethod>
uint64_t RaceLoop(uint32_t offset, const int32_t* stop, int64_t end_ns, int64_t window_ns) {
  const auto over = [&] { return __atomic_load_n(stop, __ATOMIC_RELAXED) != 0 || NowNs() >= end_ns; };
  uint64_t n = 0;
  if constexpr (kMethod == RaceMethod::kGs) {
    // this_cpu_add(): one instruction, add %reg,%gs:(off), back to back. It has no window to widen:
    // a migration or an interrupt lands before it or after it, never inside.
    for (;; ++n) {
      if ((n & 1023) == 0 && over()) return n;
#if PERCPU_HAVE_GS
      GsBackend::add<uint64_t>(offset, 1, 0);
#endif
    }
  } else {
    for (;; ++n) {
      if ((n & 15) == 0 && over()) return n;
      if constexpr (kMethod == RaceMethod::kRaw) {
        GenericIncrementWithWindow(offset, window_ns);  // raw_cpu_add(): nothing held off
      } else if constexpr (kMethod == RaceMethod::kGuard) {
        GenericBackend::PreemptOff off;  // preempt_disable() (a CpuGuard): no migration; interrupts still come
        GenericIncrementWithWindow(offset, window_ns);
      } else {
        IrqsOff off;  // local_irq_save(): no interrupt, and no migration (its signal waits too)
        GenericIncrementWithWindow(offset, window_ns);
      }
      SpinNs(window_ns);  // as much work again between ops, with nothing held off
    }
  }
}

// raceLoop(method, counterName, stop, maxMs, windowNs): adds 1 to this CPU's slot of the counter in
// a loop until stop[0] (an Int32Array, on a SharedArrayBuffer) is not 0, or for at most `maxMs`;
// meanwhile the interrupt handler adds 1 to the same slot (a gs add for the gs method, a raw
// generic add otherwise). Returns { iterations, irqAdds }.
Napi::Value RaceLoopJs(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  double method = 0, ms = 0, window = 0;
  uint32_t offset = 0;
  if (!GetNumber(env, info[0], "method", 0, static_cast<double>(RaceMethod::kCount) - 1, &method) ||
      !GetCounter(env, info[1], &offset))
    return Napi::Value();
  if (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
      info[2].As<Napi::TypedArray>().ElementLength() < 1)
    return ThrowError(env, ErrorKind::kInvalidArg, "stop must be an Int32Array"), Napi::Value();
  // The array's memory lives at least as long as this call: the argument holds it.
  const int32_t* stop = info[2].As<Napi::Int32Array>().Data();
  if (!GetNumber(env, info[3], "maxMs", 0, 3'600'000, &ms) || !GetNumber(env, info[4], "windowNs", 0, 1e7, &window))
    return Napi::Value();
  if (!ThisThreadBound()) return ThrowNotBound(env), Napi::Value();
  const auto kind = static_cast<RaceMethod>(static_cast<uint32_t>(method));
  if (kind == RaceMethod::kGs && !GsUsable(env)) return Napi::Value();
  DeferredError error;
  if (!EnsureInstalled(&error)) return error.ThrowIfSet(env), Napi::Value();
  tls_sched.irq_adds = 0;
  tls_sched.irq_offset = offset;
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  tls_sched.irq_kind = kind == RaceMethod::kGs ? kIrqGs : kIrqGeneric;
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  const int64_t end = NowNs() + static_cast<int64_t>(ms * 1e6), window_ns = static_cast<int64_t>(window);
  uint64_t n = 0;
  switch (kind) {
    case RaceMethod::kGs: n = RaceLoop<RaceMethod::kGs>(offset, stop, end, window_ns); break;
    case RaceMethod::kRaw: n = RaceLoop<RaceMethod::kRaw>(offset, stop, end, window_ns); break;
    case RaceMethod::kGuard: n = RaceLoop<RaceMethod::kGuard>(offset, stop, end, window_ns); break;
    default: n = RaceLoop<RaceMethod::kIrqSave>(offset, stop, end, window_ns); break;
  }
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  tls_sched.irq_kind = kIrqNone;
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  Napi::Object result = Napi::Object::New(env);
  result.Set("iterations", static_cast<double>(n));
  result.Set("irqAdds", static_cast<double>(tls_sched.irq_adds));
  return result;
}

// irqAction(counterName, 'gs' | 'generic') makes this thread's interrupt handler add 1 to its slot
// of the counter; irqAction(null) stops that. Either way returns the adds made since the last call.
Napi::Value IrqAction(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  uint32_t kind = kIrqNone, offset = 0;
  if (!info[0].IsNull()) {
    if (!GetCounter(env, info[0], &offset)) return Napi::Value();
    const std::string how = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
    if (how == "gs") {
      if (!GsUsable(env)) return Napi::Value();
      kind = kIrqGs;
    } else if (how == "generic") {
      kind = kIrqGeneric;
    } else {
      return ThrowError(env, ErrorKind::kInvalidArg, "the interrupt's add is 'gs' or 'generic'"), Napi::Value();
    }
  }
  tls_sched.irq_kind = kIrqNone;
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  const uint64_t adds = tls_sched.irq_adds;
  tls_sched.irq_adds = 0;
  tls_sched.irq_offset = offset;
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  tls_sched.irq_kind = kind;
  return Napi::Number::New(env, static_cast<double>(adds));
}

}  // namespace

void RegisterScheduler(napi_env raw_env, napi_value raw_exports) {
  Napi::Env env(raw_env);
  Napi::Object exports(raw_env, raw_exports);
  Napi::Object sched = Napi::Object::New(env);
  sched.Set("start", Napi::Function::New<Start>(env, "start"));
  sched.Set("stop", Napi::Function::New<Stop>(env, "stop"));
  sched.Set("participate", Napi::Function::New<Participate>(env, "participate"));
  sched.Set("leave", Napi::Function::New<Leave>(env, "leave"));
  sched.Set("participating", Napi::Function::New<Participating>(env, "participating"));
  sched.Set("stats", Napi::Function::New<SchedStats>(env, "stats"));
  sched.Set("threadStats", Napi::Function::New<ThreadStats>(env, "threadStats"));
  sched.Set("irqDisable", Napi::Function::New<IrqDisable>(env, "irqDisable"));
  sched.Set("irqEnable", Napi::Function::New<IrqEnable>(env, "irqEnable"));
  sched.Set("raceLoop", Napi::Function::New<RaceLoopJs>(env, "raceLoop"));
  sched.Set("irqAction", Napi::Function::New<IrqAction>(env, "irqAction"));
  exports.Set("sched", sched);
}

}  // namespace percpu
