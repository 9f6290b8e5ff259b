/**
 * Errors thrown by percpu. Every one has a stable `code`; the native addon throws these same
 * classes (they are registered with it when it loads).
 */

/** Base class of the named percpu errors that are neither TypeErrors nor RangeErrors. */
export class PerCpuError extends Error {
  readonly code: string = 'ERR_PERCPU';
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A value of the wrong JS type: a non-integer, a number for a bigint type or the reverse, a bad handle. */
export class PerCpuTypeError extends TypeError {
  readonly code = 'ERR_PERCPU_INVALID_ARG';
  constructor(message: string) {
    super(message);
    this.name = 'PerCpuTypeError';
  }
}

/** An integer outside the type's range, or a CPU number outside the region. */
export class PerCpuRangeError extends RangeError {
  readonly code = 'ERR_PERCPU_OUT_OF_RANGE';
  constructor(message: string) {
    super(message);
    this.name = 'PerCpuRangeError';
  }
}

function coded<C extends string>(code: C) {
  return class extends PerCpuError {
    override readonly code: C = code;
  };
}

/** The per-CPU region has not been set up in this process yet. */
export class NotSetUpError extends coded('ERR_PERCPU_NOT_SET_UP') {}
/** An op ran on a thread that is not bound to a CPU. */
export class NotBoundError extends coded('ERR_PERCPU_NOT_BOUND') {}
/** bind() on a thread that is already bound. */
export class AlreadyBoundError extends coded('ERR_PERCPU_ALREADY_BOUND') {}
/** bind() of a CPU that another thread holds. */
export class CpuTakenError extends coded('ERR_PERCPU_CPU_TAKEN') {}
/** A released handle (or an unknown or spent share ticket) was used. */
export class ReleasedError extends coded('ERR_PERCPU_RELEASED') {}
/** The per-CPU area has no room left (the kernel's alloc_percpu returns NULL). */
export class NoSpaceError extends coded('ERR_PERCPU_NO_SPACE') {}
/** A definition that disagrees with an existing one: a static of another type or value, another region. */
export class ConflictError extends coded('ERR_PERCPU_CONFLICT') {}
/** A CpuGuard misused: released twice, used after release, held while unbinding. */
export class GuardError extends coded('ERR_PERCPU_GUARD') {}
/** The operating system refused something (mmap, arch_prctl). */
export class SystemError extends coded('ERR_PERCPU_SYSTEM') {}

/** The backend asked for by name (`gs`) cannot work on this machine; the message says why. */
export class BackendUnavailableError extends coded('ERR_PERCPU_BACKEND_UNAVAILABLE') {}

/**
 * Any value as text, whatever it is: String() itself throws on Object.create(null), and
 * `instanceof`, a `message` getter and even Object.prototype.toString throw on a revoked Proxy.
 * Never throws.
 */
export function describeThrown(value: unknown): string {
  try {
    return value instanceof Error ? String(value.message) : String(value);
  } catch {
    try {
      return Object.prototype.toString.call(value);
    } catch {
      return `an indescribable ${typeof value}`;
    }
  }
}

/** A task passed to onEachCpu / runOn threw on one CPU. */
export class TaskError extends PerCpuError {
  override readonly code = 'ERR_PERCPU_TASK_FAILED';
  constructor(
    /** The CPU whose task threw. */
    readonly cpu: number,
    override readonly cause: unknown,
  ) {
    super(`task failed on CPU ${cpu}: ${describeThrown(cause)}`);
  }
}

/**
 * CpuSet.close() stopped waiting for a task that had not settled when its time ran out: the task
 * never started, or it was still running (on CPU 0 it may still settle later; its result is
 * dropped). close() resolves with the list of the tasks it abandoned.
 */
export class TaskAbandonedError extends PerCpuError {
  override readonly code = 'ERR_PERCPU_TASK_ABANDONED';
  constructor(
    /** The CPU (the thread the set started for it) the task was sent to. */
    readonly cpu: number,
    /** The task's exported function name. */
    readonly task: string,
    timeoutMs: number,
  ) {
    super(`CpuSet.close() abandoned task '${task}' on CPU ${cpu}: it had not settled after ${timeoutMs} ms`);
  }
}

/** The worker thread standing in for a CPU died (exited or was terminated) before a task finished. */
export class CpuDiedError extends PerCpuError {
  override readonly code = 'ERR_PERCPU_CPU_DIED';
  constructor(
    readonly cpu: number,
    readonly exitCode: number,
  ) {
    super(`the worker thread of CPU ${cpu} exited with code ${exitCode}`);
  }
}

/** The classes the native addon throws, by the names it knows them by (native/binding/errors.h). */
export const nativeErrorClasses = {
  PerCpuTypeError,
  PerCpuRangeError,
  NotSetUpError,
  NotBoundError,
  AlreadyBoundError,
  CpuTakenError,
  ReleasedError,
  NoSpaceError,
  ConflictError,
  GuardError,
  SystemError,
  BackendUnavailableError,
};
