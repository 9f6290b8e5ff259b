// Issue 8: preemption and migration, simulated for real; this file is the scheduler thread and the
// calls made in normal thread context. See sched_signals.cc for the handlers and the handshake.
//
// Worker threads stand in for CPUs. A scheduler thread migrates the bound threads that take part
// (Participate()) by swapping the CPUs of two of them at a time: it sends both a real-time signal;
// each handler runs on its own thread, at whatever instruction that thread had reached, and if both
// agree each points its own GS base (gs backend) and tls_this_cpu at the other's CPU and returns.
// A swap is a permutation, so no two threads ever share a CPU.
//
// Preemption control: a thread whose preempt_count is raised (a CpuGuard, or a generic-backend op
// in progress) declines, and the swap is skipped, as preempt_disable() holds off the kernel's
// scheduler. Local interrupts: a second signal whose handler may add to a per-CPU variable on the
// interrupted thread. "Interrupts off" (local_irq_save) blocks both signals on the thread; a
// blocked signal stays pending and is taken when they are unblocked, as a masked interrupt is,
// and the scheduler queues at most one of each kind per thread (Participant::pending).
//
// Leaving and thread exit: Leave() (the region calls it before any unbind, and so at thread exit
// too) blocks both signals on the thread, then under g_lock leaves the participant table and
// aborts a request still waiting for it (side -> kGone), then drains the signals already queued
// for it (sigtimedwait) without running their handlers. The scheduler sends only under g_lock and
// only to registered threads, so no signal is ever sent to a thread that has left (or exited, or
// whose thread id the kernel may have reused), and no handler of ours runs on an unbound thread.
#include "scheduler.h"

#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <condition_variable>
#include <system_error>
#include <thread>

#include "sched_signals.h"

namespace percpu::sched {
namespace {

constexpr int64_t kRequestTimeoutNs = 250'000'000;  // the scheduler gives up on a request after this
uint64_t g_next_token = 0;  // under g_lock

void SleepNs(int64_t ns) {
  timespec ts{0, static_cast<long>(ns)};
  nanosleep(&ts, nullptr);
}

int SendSignal(uint64_t tid, int signal) {
  return syscall(SYS_tgkill, static_cast<pid_t>(getpid()), static_cast<pid_t>(tid), signal) == 0 ? 0 : errno;
}

struct Control {
  std::mutex run_lock;  // start and stop
  bool running = false;
  uint64_t run = 0;     // the current (or last) run's id
  Config config;
  std::thread thread;
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
// wait for the answer: it settles it on a later tick, so one tick costs one wake-up. A participant
// whose last migration signal is still pending (it has interrupts off) is not picked: it could
// not answer, and a second signal would only queue behind the first.
void Propose(const Config& config, uint64_t* rng, InFlight* flight) {
  Request& r = g_request;
  std::lock_guard<std::mutex> lock(g_lock);
  uint16_t eligible[kMaxCpus];
  uint32_t n = 0, seen = 0;
  for (uint32_t i = 0; i < kMaxCpus && seen < g_participant_count; ++i) {
    const Participant& p = g_participants[i];
    if (p.token.load(std::memory_order_relaxed) == 0) continue;
    ++seen;
    if (!config.Allows(p.cpu.load(std::memory_order_acquire))) continue;
    if (p.pending.load(std::memory_order_acquire) & kPendingMigrate) {
      g_count.migrations_coalesced.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    eligible[n++] = static_cast<uint16_t>(i);
  }
  if (n < 2) return;
  const uint32_t a = static_cast<uint32_t>(NextRandom(rng) % n);
  uint32_t b = static_cast<uint32_t>(NextRandom(rng) % (n - 1));
  if (b >= a) ++b;
  g_gate.store(false);
  while (g_active.load() != 0) sched_yield();  // late handlers of the last request; each is bounded
  Participant* chosen[2] = {&g_participants[eligible[a]], &g_participants[eligible[b]]};
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
    chosen[side]->pending.fetch_or(kPendingMigrate, std::memory_order_acq_rel);
    if (SendSignal(r.tid[side].load(), g_migrate_signal) != 0) {  // cannot happen: it is registered
      chosen[side]->pending.fetch_and(~kPendingMigrate, std::memory_order_acq_rel);
      g_count.send_failures.fetch_add(1, std::memory_order_relaxed);
      Decide(kAbort);
    }
  }
}

// One interrupt to every participant in the set, unless its last one is still pending: a masked
// interrupt is pending once, however many arrive (at most one queued signal per thread and kind).
void InterruptAll(const Config& config) {
  std::lock_guard<std::mutex> lock(g_lock);
  uint32_t seen = 0;
  for (uint32_t i = 0; i < kMaxCpus && seen < g_participant_count; ++i) {
    Participant& p = g_participants[i];
    if (p.token.load(std::memory_order_relaxed) == 0) continue;
    ++seen;
    if (!config.Allows(p.cpu.load(std::memory_order_acquire))) continue;
    if (p.pending.fetch_or(kPendingIrq, std::memory_order_acq_rel) & kPendingIrq) {
      g_count.irqs_coalesced.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    if (SendSignal(p.tid.load(), g_irq_signal) == 0) {
      g_count.irqs_sent.fetch_add(1, std::memory_order_relaxed);
    } else {
      p.pending.fetch_and(~kPendingIrq, std::memory_order_acq_rel);
      g_count.send_failures.fetch_add(1, std::memory_order_relaxed);
    }
  }
}

// Rates were checked by CheckRate, so 1e9 / hz is from 1e4 to 1e9 ns.
int64_t PeriodNs(double hz) { return hz > 0 ? static_cast<int64_t>(1e9 / hz) : 0; }

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

}  // namespace

bool CheckRate(double hz, const char* what, Status* status) {
  if (!std::isfinite(hz)) return status->Fail(Code::kInvalidArg, "%s must be a finite number", what);
  if (hz != 0 && (hz < kMinHz || hz > kMaxHz))
    return status->Fail(Code::kOutOfRange, "%s must be 0 (off) or from %g to %g per second, got %g", what, kMinHz,
                        kMaxHz, hz);
  return true;
}

bool Start(const Config& config, uint64_t* run, Status* status) {
  const Region* region = RequireRegion(status);
  if (region == nullptr) return false;
  if (!CheckRate(config.migrate_hz, "migrateHz", status) || !CheckRate(config.irq_hz, "irqHz", status)) return false;
  if (config.migrate_hz == 0 && config.irq_hz == 0)
    return status->Fail(Code::kOutOfRange, "the scheduler needs migrateHz or irqHz above 0");
  if (!config.all_cpus)
    for (size_t cpu = region->nr_cpus; cpu < kMaxCpus; ++cpu)
      if (config.cpus.test(cpu))
        return status->Fail(Code::kOutOfRange, "CPU %zu is out of range: the region has CPUs 0 to %u", cpu,
                            region->nr_cpus - 1);
  if (!EnsureInstalled(status)) return false;
  Control& control = Ctl();
  std::lock_guard<std::mutex> lock(control.run_lock);
  if (control.running) return status->Fail(Code::kConflict, "the scheduler is already running: stop it first");
  control.stopping = false;  // the thread is not running: no one else reads it
  try {
    control.thread = std::thread(SchedulerMain, config);
  } catch (const std::system_error& e) {
    return status->Fail(Code::kSystem, "cannot start the scheduler thread: %s", e.what());
  }
  control.running = true;
  control.config = config;
  *run = ++control.run;
  return true;
}

bool Stop(uint64_t only_run) {
  Control& control = Ctl();
  std::lock_guard<std::mutex> lock(control.run_lock);
  if (!control.running || (only_run != 0 && control.run != only_run)) return false;
  StopLocked(control);
  return true;
}

bool Participate(Status* status) {
  if (!ThisThreadBound()) return status->Fail(Code::kNotBound, "this thread is not bound to a CPU: bind it or run on a CpuSet");
  if (tls_sched.token != 0) return false;
  if (!EnsureInstalled(status)) return false;
  {
    std::lock_guard<std::mutex> lock(g_lock);
    Participant* slot = nullptr;
    for (auto& p : g_participants)
      if (p.token.load(std::memory_order_relaxed) == 0) {
        slot = &p;
        break;
      }
    if (slot == nullptr) return status->Fail(Code::kNoSpace, "the scheduler's participant table is full");
    tls_sched.tid = ThisThreadId();
    tls_sched.record = slot;
    tls_sched.token = ++g_next_token;
    slot->tid.store(tls_sched.tid, std::memory_order_relaxed);
    slot->cpu.store(tls_this_cpu.cpu, std::memory_order_relaxed);
    slot->pending.store(0, std::memory_order_relaxed);
    slot->token.store(tls_sched.token, std::memory_order_release);
    ++g_participant_count;
  }
  // Take the signals, unless this thread has interrupts off (then they wait until it turns them on).
  pthread_sigmask(tls_sched.irq_depth == 0 ? SIG_UNBLOCK : SIG_BLOCK, &g_signal_set, nullptr);
  return true;
}

void Leave() {
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

bool Participating() { return tls_sched.token != 0; }

bool IrqDisable(uint32_t* depth, Status* status) {
  if (!EnsureInstalled(status)) return false;
  if (tls_sched.irq_depth++ == 0) pthread_sigmask(SIG_BLOCK, &g_signal_set, nullptr);
  *depth = tls_sched.irq_depth;
  return true;
}

bool IrqEnable(uint32_t* depth, Status* status) {
  if (tls_sched.irq_depth == 0) return status->Fail(Code::kGuard, "interrupts are not disabled on this thread");
  if (--tls_sched.irq_depth == 0) pthread_sigmask(SIG_UNBLOCK, &g_signal_set, nullptr);  // a pending one runs now
  *depth = tls_sched.irq_depth;
  return true;
}

uint32_t IrqDepth() { return tls_sched.irq_depth; }

bool SetIrqAction(IrqAction action, uint32_t offset, uint64_t* adds_before, Status* status) {
  if (action == IrqAction::kAddGs && (!PERCPU_HAVE_GS || GetRegion() == nullptr || ActiveBackend() != BackendId::kGs))
    return status->Fail(Code::kBackendUnavailable,
                        "GS is not set on this region's threads: the gs interrupt add needs a region on the gs backend");
  // The handler reads kind, then offset: switch it off while the others change.
  tls_sched.irq_kind = static_cast<uint32_t>(IrqAction::kNone);
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  *adds_before = tls_sched.irq_adds;
  tls_sched.irq_adds = 0;
  tls_sched.irq_offset = offset;
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  tls_sched.irq_kind = static_cast<uint32_t>(action);
  return true;
}

uint64_t IrqAdds() { return tls_sched.irq_adds; }

void BlockSignals(sigset_t* saved) {
  Status ignored;
  EnsureInstalled(&ignored);
  pthread_sigmask(SIG_BLOCK, &g_signal_set, saved);
}

void RestoreSignals(const sigset_t* saved) { pthread_sigmask(SIG_SETMASK, saved, nullptr); }

Snapshot Stats() {
  Snapshot s{};
  Control& control = Ctl();
  {
    std::lock_guard<std::mutex> lock(control.run_lock);
    s.running = control.running;
    if (s.running) s.config = control.config;
  }
  {
    std::lock_guard<std::mutex> lock(g_lock);
    s.participants = g_participant_count;
  }
  s.installed = g_installed.load(std::memory_order_acquire);
  s.migrate_signal = s.installed ? g_migrate_signal : 0;
  s.irq_signal = s.installed ? g_irq_signal : 0;
  s.sigrtmin = SIGRTMIN;
  const auto get = [](const std::atomic<uint64_t>& counter) { return counter.load(std::memory_order_relaxed); };
  s.requests = get(g_count.requests);
  s.migrations = get(g_count.migrations);
  s.skipped_guard = get(g_count.skipped_guard);
  s.timed_out = get(g_count.timed_out);
  s.partner_gone = get(g_count.partner_gone);
  s.irqs_sent = get(g_count.irqs_sent);
  s.irqs_handled = get(g_count.irqs_handled);
  s.irqs_coalesced = get(g_count.irqs_coalesced);
  s.migrations_coalesced = get(g_count.migrations_coalesced);
  s.checks_passed = get(g_count.checks_passed);
  s.check_failures = get(g_count.check_failures);
  s.verifications = get(g_count.verifications);
  s.violations = get(g_count.violations);
  s.strays = get(g_count.strays);
  s.stale = get(g_count.stale);
  s.drained = get(g_count.drained);
  s.send_failures = get(g_count.send_failures);
  return s;
}

ThreadSnapshot ThreadStats() {
  ThreadSnapshot s{};
  s.participating = tls_sched.token != 0;
  s.tid = s.participating ? tls_sched.tid : ThisThreadId();
  s.cpu = tls_this_cpu.cpu;
  s.handled = tls_sched.handled;
  s.migrations = tls_sched.migrations;
  s.declined = tls_sched.declined;
  s.irqs = tls_sched.irqs;
  s.irq_depth = tls_sched.irq_depth;
  return s;
}

}  // namespace percpu::sched
