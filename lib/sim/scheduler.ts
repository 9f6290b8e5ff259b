/**
 * Preemption, migration and local interrupts, simulated for real (native/core/scheduler.cc; exports.sched in native/binding/scheduler.cc).
 *
 * A scheduler thread migrates the bound threads that take part (`participate()`) between CPUs at
 * arbitrary instruction boundaries: it swaps the CPUs of two of them at a time with a real-time
 * signal, whose handler, on each thread, points that thread's GS base (and its thread-local CPU
 * record) at its new CPU and returns. No two threads ever share a CPU. A thread holding a CpuGuard
 * (preempt_disable) declines, and the swap is skipped. It can also interrupt the participants: a
 * second signal whose handler may add to a per-CPU variable on the interrupted thread, as an
 * interrupt handler would; `IrqGuard` holds those off (local_irq_save). Off unless started.
 */
import { GuardError, PerCpuTypeError } from '../core/errors';
import { native, type NativeSchedulerStats, type NativeThreadSchedulerStats } from '../core/native';
import { isObject, notA } from '../core/percpu';

export interface SchedulerOptions {
  /** Swaps attempted per second, each between two participating threads (0: none). Default 1000. */
  migrateHz?: number;
  /** Interrupts per second sent to each participating thread (0: none). Default 0. */
  irqHz?: number;
  /** Only participants on these CPUs are migrated and interrupted (a swap keeps both in the set). Default: all. */
  cpus?: readonly number[];
}

/** What the scheduler has done since the process started (counters only grow). */
export interface SchedulerStats extends NativeSchedulerStats {}

/** The calling thread's part. */
export interface ThreadSchedulerStats extends NativeThreadSchedulerStats {}

/**
 * Starts the scheduler thread (one per process). Throws ConflictError when it is already running,
 * NotSetUpError before setup(). It stops by itself when the environment (thread) that started it ends.
 */
export function startScheduler(options: SchedulerOptions = {}): void {
  if (!isObject(options)) throw new PerCpuTypeError('startScheduler() takes an options object');
  const { migrateHz = 1000, irqHz = 0, cpus } = options;
  if (cpus !== undefined && !Array.isArray(cpus)) throw new PerCpuTypeError('cpus must be an array of CPU numbers');
  native.sched.start(migrateHz, irqHz, cpus === undefined ? null : [...cpus]);
}

/** Stops the scheduler and waits for its last swap to settle. False if it was not running. */
export function stopScheduler(): boolean {
  return native.sched.stop();
}

/** The scheduler's counters, and whether it runs. `violations`, `checkFailures` and `strays` stay 0. */
export function schedulerStats(): SchedulerStats {
  return native.sched.stats();
}

/**
 * Lets the scheduler migrate and interrupt the calling thread, which must be bound (NotBoundError
 * otherwise). False if it already takes part. Unbinding (and the thread's end) leaves the scheduler.
 */
export function participate(): boolean {
  return native.sched.participate();
}

/** The calling thread stops taking part. False if it did not. */
export function leaveScheduler(): boolean {
  return native.sched.leave();
}

export function isParticipating(): boolean {
  return native.sched.participating();
}

/** The calling thread's counters: signals taken, swaps made and declined, interrupts taken. */
export function threadSchedulerStats(): ThreadSchedulerStats {
  return native.sched.threadStats();
}

/**
 * local_irq_save(): while held, the calling thread takes no interrupt and no migration (both
 * signals are blocked; one that arrives waits, and is taken when the last IrqGuard is released).
 */
export class IrqGuard implements Disposable {
  #live = true;

  constructor() {
    native.sched.irqDisable();
  }

  static #own(value: unknown): IrqGuard {
    if (!isObject(value) || !(#live in value)) throw notA('IrqGuard');
    return value;
  }

  get live(): boolean {
    return IrqGuard.#own(this).#live;
  }

  /** local_irq_restore(). Releasing twice is a GuardError. */
  release(): void {
    const guard = IrqGuard.#own(this);
    if (!guard.#live) throw new GuardError('this IrqGuard was already released');
    guard.#live = false;
    native.sched.irqEnable();
  }

  [Symbol.dispose](): void {
    if (IrqGuard.#own(this).#live) this.release();
  }
}
