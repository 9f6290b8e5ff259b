/**
 * Worker threads as CPUs. A CpuSet of N CPUs binds the calling thread to CPU 0 and starts
 * workers for CPUs 1..N-1, each bound before any user code runs on it.
 */
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import {
  ConflictError,
  CpuDiedError,
  GuardError,
  PerCpuRangeError,
  PerCpuTypeError,
  TaskAbandonedError,
  TaskError,
} from '../core/errors';
import { native } from '../core/native';
import { setup, type RegionOptions } from '../core/region';
import {
  cancelStartBarrier,
  checkTaskRef,
  deserializeError,
  encodeArgs,
  newStartBarrier,
  runTask,
  runnerPinCount,
  type FromWorker,
  type StartBarrier,
  type Task,
  type TaskArgs,
  type TaskOutcome,
  type TaskRef,
  type TaskRun,
  type ToWorker,
} from './task';

export interface CpuSetOptions extends RegionOptions {}

export interface CloseOptions {
  /**
   * How long close() waits for the tasks already issued to settle, on every CPU at once, before
   * it abandons them: workers are terminated, CPU 0's tasks are left to themselves (a JS thread
   * cannot be stopped from outside) and every abandoned task rejects with TaskAbandonedError.
   * Milliseconds, from 0 to 2^31 - 1. Default 10 000.
   */
  timeoutMs?: number;
}

/** A task close() stopped waiting for. */
export interface AbandonedTask {
  /** The CPU it was sent to (the thread the set started for that CPU). */
  readonly cpu: number;
  readonly module: string;
  readonly name: string;
}

/** What close() did: the tasks it abandoned (none when every task settled in time). */
export interface CloseReport {
  readonly abandoned: readonly AbandonedTask[];
}

export const DEFAULT_CLOSE_TIMEOUT_MS = 10_000;
const MAX_TIMEOUT_MS = 2 ** 31 - 1; // setTimeout's limit

/** A task sent to a CPU and not settled yet. */
interface PendingTask {
  /** The CPU it was sent to. */
  readonly cpu: number;
  readonly task: TaskRef;
  /** Share tickets its arguments hold, dropped when it settles (a ticket its CPU redeemed is gone already). */
  readonly tickets: number[];
  resolve(outcome: TaskOutcome): void;
  reject(error: unknown): void;
  settled: boolean;
}

/** Settles a task once, and gives back the references its tickets held if its CPU never redeemed them. */
function settle(pending: PendingTask, fn: () => void): void {
  if (pending.settled) return;
  pending.settled = true;
  for (const ticket of pending.tickets) native.dropTicket(ticket);
  fn();
}

/** One worker-thread CPU, seen from the main side. */
class WorkerCpu {
  readonly pending = new Map<number, PendingTask>();
  exitCode: number | null = null;
  readonly exited: Promise<void>;

  constructor(
    readonly cpu: number,
    readonly worker: Worker,
  ) {
    this.exited = new Promise((resolve) => {
      worker.on('exit', (code) => {
        this.exitCode = code;
        for (const [, pending] of this.pending) settle(pending, () => pending.reject(new CpuDiedError(cpu, code)));
        this.pending.clear();
        resolve();
      });
    });
    worker.on('error', () => {
      // An uncaught error kills the worker; 'exit' follows and rejects what was pending.
    });
    worker.on('message', (message: FromWorker) => {
      if (message.type !== 'done') return;
      const pending = this.pending.get(message.id);
      if (pending === undefined) return;
      this.pending.delete(message.id);
      const outcome: TaskOutcome = message.ok
        ? { cpu: message.cpu, ok: true, value: message.value }
        : { cpu: message.cpu, ok: false, error: deserializeError(message.error) };
      settle(pending, () => pending.resolve(outcome));
    });
  }

  get alive(): boolean {
    return this.exitCode === null;
  }
}

const workerScript = path.join(__dirname, 'worker.js');
// One set at a time: this thread is CPU 0 of it.
let openSet: CpuSet | 'starting' | undefined;
let nextTaskId = 1;

function checkTimeout(options: unknown): number {
  if (typeof options !== 'object' || options === null) throw new PerCpuTypeError('close() takes an options object');
  const { timeoutMs = DEFAULT_CLOSE_TIMEOUT_MS } = options as CloseOptions;
  if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs)) throw new PerCpuTypeError('timeoutMs must be a finite number');
  if (timeoutMs < 0 || timeoutMs > MAX_TIMEOUT_MS) throw new PerCpuRangeError(`timeoutMs must be from 0 to ${MAX_TIMEOUT_MS}`);
  return timeoutMs;
}

/** N CPUs: this thread is CPU 0, worker threads are CPUs 1..N-1. */
export class CpuSet implements AsyncDisposable {
  /** The number of CPUs in the set. */
  readonly cpus: number;
  readonly #workers: WorkerCpu[];
  readonly #boundHere: boolean;
  #cpu0Queue: Promise<unknown> = Promise.resolve();
  readonly #cpu0Pending = new Set<PendingTask>();
  /** The start barriers of onEachCpu() calls not settled yet: close() cancels them. */
  readonly #barriers = new Set<StartBarrier>();
  #closing: Promise<CloseReport> | undefined;

  private constructor(cpus: number, workers: WorkerCpu[], boundHere: boolean) {
    this.cpus = cpus;
    this.#workers = workers;
    this.#boundHere = boundHere;
  }

  /**
   * Sets up the region if needed (with `cpus` CPUs unless it exists), binds this thread to CPU 0
   * and starts a bound worker for every other CPU. Resolves once every CPU is bound.
   */
  static async start(options: CpuSetOptions = {}): Promise<CpuSet> {
    if (openSet !== undefined) throw new ConflictError('a CpuSet is already open in this process: close it first');
    CpuSet.#check(options); // before the claim: a start that is refused leaves nothing claimed
    openSet = 'starting'; // claimed before the first await, so a concurrent start() is refused
    try {
      return (openSet = await CpuSet.#open(options));
    } catch (error) {
      openSet = undefined;
      throw error;
    }
  }

  /** What start() refuses before it changes anything. */
  static #check(options: CpuSetOptions): void {
    if (typeof options !== 'object' || options === null) throw new PerCpuTypeError('CpuSet.start() takes an options object');
    const current = native.thisCpu();
    if (current > 0) throw new PerCpuRangeError(`this thread is bound to CPU ${current}; a CpuSet needs it on CPU 0`);
    // An existing region keeps its CPU count (a set may use fewer); another areaSize is a ConflictError.
    const existing = native.region();
    const cpus = options.cpus ?? existing?.cpus;
    if (cpus !== undefined && !Number.isInteger(cpus)) throw new PerCpuTypeError('cpus must be an integer');
    if (existing !== null && cpus !== undefined && (cpus < 1 || cpus > existing.cpus)) {
      throw new PerCpuRangeError(`a CpuSet of ${cpus} CPUs does not fit the region's ${existing.cpus} CPUs`);
    }
  }

  static async #open(options: CpuSetOptions): Promise<CpuSet> {
    const current = native.thisCpu();
    const existing = native.region();
    const cpus = options.cpus ?? existing?.cpus;
    const region = setup(existing === null ? options : { ...options, cpus: existing.cpus });
    const size = cpus ?? region.cpus;
    const boundHere = current < 0;
    if (boundHere) native.bind(0);
    const workers: WorkerCpu[] = [];
    try {
      for (let cpu = 1; cpu < size; cpu++) {
        const worker = new Worker(workerScript, { workerData: { cpu } });
        workers.push(new WorkerCpu(cpu, worker));
        await new Promise<void>((resolve, reject) => {
          const onMessage = (message: FromWorker) => {
            if (message.type === 'ready') resolve();
            else if (message.type === 'bind-failed') reject(deserializeError(message.error));
          };
          worker.once('message', onMessage);
          worker.once('exit', (code) => reject(new CpuDiedError(cpu, code)));
        });
      }
    } catch (error) {
      await Promise.all(workers.map((w) => w.worker.terminate()));
      if (boundHere) native.unbind();
      throw error;
    }
    return new CpuSet(size, workers, boundHere);
  }

  /** Whether CPU `cpu`'s thread is alive (CPU 0, this thread, always is while the set is open). */
  isAlive(cpu: number): boolean {
    this.#checkCpu(cpu);
    return this.#closing === undefined && (cpu === 0 || this.#workers[cpu - 1]!.alive);
  }

  /**
   * Runs `task` on every CPU, like the kernel's on_each_cpu(), and resolves with the results by
   * CPU: results[n] is what the task returned on CPU n, the CPU it started on (the scheduler may
   * have moved the set's threads; while the tasks start, each thread is held on its CPU until all
   * have started, so the CPUs are distinct). If it throws anywhere, rejects, after all CPUs have
   * finished, with a TaskError naming the lowest CPU where it threw. Per-CPU variables among the
   * arguments reach each CPU as a new handle to the same slots, released when the task settles.
   * Tasks run on each CPU in the order they were issued.
   */
  async onEachCpu<A extends unknown[], R>(t: Task<A, R>, ...args: TaskArgs<A>): Promise<R[]> {
    const ref = checkTaskRef(t);
    if (this.#closing !== undefined) throw new PerCpuRangeError('this CpuSet is closed');
    const barrier = newStartBarrier(this.cpus);
    this.#barriers.add(barrier);
    // A CPU that never starts its task (its thread died, or its arguments could not be sent) must
    // not keep the others waiting.
    const runs = Array.from({ length: this.cpus }, (_, cpu) =>
      this.#run(cpu, ref, args, barrier).catch((error: unknown) => {
        if (!(error instanceof TaskError)) cancelStartBarrier(barrier);
        throw error;
      }),
    );
    const settled = await Promise.allSettled(runs);
    this.#barriers.delete(barrier);
    const failures = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as unknown] : []));
    if (failures.length > 0) {
      // The lowest CPU's (an argument that could not be sent names none: it comes first).
      const cpuOf = (error: unknown) => {
        const cpu = (error as { cpu?: unknown } | null)?.cpu;
        return typeof cpu === 'number' ? cpu : -1;
      };
      throw failures.sort((a, b) => cpuOf(a) - cpuOf(b))[0];
    }
    const done = settled.map((s) => (s as PromiseFulfilledResult<{ cpu: number; value: R }>).value);
    return done.sort((a, b) => a.cpu - b.cpu).map((d) => d.value);
  }

  /**
   * Runs `task` on one CPU: on the thread the set started for CPU `cpu` (the scheduler may have
   * moved it; the task can read thisCpu()). Rejects with a TaskError carrying the CPU it ran on if
   * it throws. Per-CPU variables among the arguments reach it as a new handle to the same slots,
   * released when it settles, on CPU 0 as on every other CPU.
   */
  runOn<A extends unknown[], R>(cpu: number, t: Task<A, R>, ...args: TaskArgs<A>): Promise<R> {
    this.#checkCpu(cpu);
    const ref = checkTaskRef(t);
    return this.#run(cpu, ref, args, undefined).then((done) => done.value as R);
  }

  /** Sends a task to CPU `cpu`'s thread; resolves with the CPU it ran on and its value. */
  #run(cpu: number, task: TaskRef, args: unknown[], barrier: StartBarrier | undefined): Promise<{ cpu: number; value: unknown }> {
    if (this.#closing !== undefined) return Promise.reject(new PerCpuRangeError('this CpuSet is closed'));
    let encoded: TaskRun['args'];
    let tickets: number[];
    try {
      ({ encoded, tickets } = encodeArgs(args)); // a released argument throws: nothing is sent
    } catch (error) {
      return Promise.reject(error);
    }
    if (cpu === 0) {
      // What postMessage does for a worker: the task gets a copy, taken now (or a DataCloneError).
      try {
        encoded = structuredClone(encoded);
      } catch (error) {
        for (const ticket of tickets) native.dropTicket(ticket);
        return Promise.reject(error);
      }
    }
    const run: TaskRun = { task, args: encoded, ...(barrier === undefined ? {} : { barrier }) };
    return new Promise<TaskOutcome>((resolve, reject) => {
      const pending: PendingTask = { cpu, task, tickets, resolve, reject, settled: false };
      if (cpu === 0) this.#sendToCpu0(pending, run);
      else this.#sendToWorker(this.#workers[cpu - 1]!, pending, run);
    }).then((outcome) => {
      if (!outcome.ok) throw new TaskError(outcome.cpu ?? cpu, outcome.error);
      return { cpu: outcome.cpu ?? cpu, value: outcome.value };
    });
  }

  // CPU 0 is this thread: its tasks run here, one after another, through the same runTask as a
  // worker's (their per-CPU arguments are revived from tickets, so a task never holds the caller's
  // own handle).
  #sendToCpu0(pending: PendingTask, run: TaskRun): void {
    this.#cpu0Pending.add(pending);
    const done = this.#cpu0Queue.then(async () => {
      if (pending.settled) return; // abandoned by close() before its turn
      const outcome = await runTask(run, () => pending.settled);
      settle(pending, () => pending.resolve(outcome));
    });
    this.#cpu0Queue = done.finally(() => this.#cpu0Pending.delete(pending));
  }

  #sendToWorker(target: WorkerCpu, pending: PendingTask, run: TaskRun): void {
    if (!target.alive) return settle(pending, () => pending.reject(new CpuDiedError(target.cpu, target.exitCode ?? -1)));
    const id = nextTaskId++;
    target.pending.set(id, pending);
    try {
      target.worker.postMessage({ type: 'run', id, ...run } satisfies ToWorker);
    } catch (error) {
      target.pending.delete(id);
      settle(pending, () => pending.reject(error));
    }
  }

  #checkCpu(cpu: number): void {
    if (!Number.isInteger(cpu)) throw new PerCpuTypeError('a CPU number must be an integer');
    if (cpu < 0 || cpu >= this.cpus) throw new PerCpuRangeError(`CPU ${cpu} is not in this set of ${this.cpus} CPUs`);
  }

  /**
   * Lets the tasks already issued finish, for at most `timeoutMs` (then abandons the rest and says
   * which), stops every worker, and unbinds this thread if the set bound it, wherever the scheduler
   * moved it (which also takes it out of the scheduler). A second close() while one is under way
   * waits for that one and resolves with the same report. A CpuGuard held on this thread is a
   * GuardError, and the set stays open.
   */
  close(options: CloseOptions = {}): Promise<CloseReport> {
    if (this.#closing !== undefined) return this.#closing;
    try {
      const timeoutMs = checkTimeout(options);
      if (this.#boundHere && native.preemptCount() > runnerPinCount()) {
        throw new GuardError('close() while a CpuGuard is held on CPU 0: release the guard first');
      }
      return (this.#closing = this.#shutDown(timeoutMs));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async #shutDown(timeoutMs: number): Promise<CloseReport> {
    for (const w of this.#workers) if (w.alive) w.worker.postMessage({ type: 'close' } satisfies ToWorker);
    const drained = Promise.all([this.#cpu0Queue, ...this.#workers.map((w) => w.exited)]).then(() => true);
    let timer: NodeJS.Timeout | undefined;
    const inTime = await Promise.race([drained, new Promise<false>((resolve) => (timer = setTimeout(resolve, timeoutMs, false)))]);
    clearTimeout(timer);
    const abandoned: AbandonedTask[] = [];
    if (!inTime) {
      const abandon = (pending: PendingTask) => {
        if (pending.settled) return;
        abandoned.push({ cpu: pending.cpu, module: pending.task.module, name: pending.task.name });
        settle(pending, () => pending.reject(new TaskAbandonedError(pending.cpu, pending.task.name, timeoutMs)));
      };
      for (const pending of this.#cpu0Pending) abandon(pending);
      for (const w of this.#workers) {
        for (const pending of w.pending.values()) abandon(pending);
        w.pending.clear();
      }
      for (const barrier of this.#barriers) cancelStartBarrier(barrier);
      await Promise.all(this.#workers.map((w) => w.worker.terminate()));
      // CPU 0's runner, if it waits at a start barrier, holds preemption off until it sees the cancel.
      for (let turns = 0; runnerPinCount() > 0 && turns < 1000; turns++) await new Promise((resolve) => setImmediate(resolve));
    }
    openSet = undefined;
    if (this.#boundHere && native.thisCpu() >= 0) native.unbind(); // leaves the scheduler first
    return { abandoned };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
