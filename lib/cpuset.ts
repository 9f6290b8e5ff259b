/**
 * Worker threads as CPUs. A CpuSet of N CPUs binds the calling thread to CPU 0 and starts
 * workers for CPUs 1..N-1, each bound before any user code runs on it.
 */
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { ConflictError, CpuDiedError, GuardError, PerCpuRangeError, PerCpuTypeError, TaskError } from './errors';
import { native } from './native';
import { setup, type RegionOptions } from './region';
import {
  deserializeError,
  encodeArgs,
  runHere,
  type FromWorker,
  type Task,
  type TaskRef,
  type TaskArgs,
  type ToWorker,
} from './task';

export interface CpuSetOptions extends RegionOptions {}

interface Pending {
  resolve(value: unknown): void;
  reject(error: unknown): void;
  tickets: number[];
}

/** One worker-thread CPU, seen from the main side. */
class WorkerCpu {
  readonly pending = new Map<number, Pending>();
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
      settle(pending, () =>
        message.ok ? pending.resolve(message.value) : pending.reject(deserializeError(message.error)),
      );
    });
  }

  get alive(): boolean {
    return this.exitCode === null;
  }
}

/** Settles a task and gives back the references its tickets held if the CPU never redeemed them. */
function settle(pending: Pending, fn: () => void): void {
  for (const ticket of pending.tickets) native.dropTicket(ticket);
  fn();
}

const workerScript = path.join(__dirname, 'worker.js');
// One set at a time: this thread is CPU 0 of it.
let openSet: CpuSet | 'starting' | undefined;
let nextTaskId = 1;

/** N CPUs: this thread is CPU 0, worker threads are CPUs 1..N-1. */
export class CpuSet implements AsyncDisposable {
  /** The number of CPUs in the set. */
  readonly cpus: number;
  readonly #workers: WorkerCpu[];
  readonly #boundHere: boolean;
  #cpu0Queue: Promise<unknown> = Promise.resolve();
  #closed = false;

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
    openSet = 'starting'; // claimed before the first await, so a concurrent start() is refused
    try {
      return (openSet = await CpuSet.#open(options));
    } catch (error) {
      openSet = undefined;
      throw error;
    }
  }

  static async #open(options: CpuSetOptions): Promise<CpuSet> {
    // An existing region keeps its CPU count (a set may use fewer); another areaSize is a ConflictError.
    const existing = native.region();
    const region = setup(existing === null ? options : { ...options, cpus: existing.cpus });
    const cpus = options.cpus ?? region.cpus;
    if (!Number.isInteger(cpus)) throw new PerCpuTypeError('cpus must be an integer');
    if (cpus < 1 || cpus > region.cpus) {
      throw new PerCpuRangeError(`a CpuSet of ${cpus} CPUs does not fit the region's ${region.cpus} CPUs`);
    }
    const current = native.thisCpu();
    if (current > 0) throw new PerCpuRangeError(`this thread is bound to CPU ${current}; a CpuSet needs it on CPU 0`);
    const boundHere = current < 0;
    if (boundHere) native.bind(0);
    const workers: WorkerCpu[] = [];
    try {
      for (let cpu = 1; cpu < cpus; cpu++) {
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
    return new CpuSet(cpus, workers, boundHere);
  }

  /** Whether CPU `cpu`'s thread is alive (CPU 0, this thread, always is while the set is open). */
  isAlive(cpu: number): boolean {
    this.#checkCpu(cpu);
    return !this.#closed && (cpu === 0 || this.#workers[cpu - 1]!.alive);
  }

  /**
   * Runs `task` on every CPU, like the kernel's on_each_cpu(), and resolves with the results by
   * CPU. If it throws anywhere, rejects with a TaskError naming the lowest such CPU, after all
   * CPUs have finished. Per-CPU variables among the arguments reach each CPU as handles to the
   * same slots. Tasks run on each CPU in the order they were issued.
   */
  async onEachCpu<A extends unknown[], R>(t: Task<A, R>, ...args: TaskArgs<A>): Promise<R[]> {
    const runs = Array.from({ length: this.cpus }, (_, cpu) => this.runOn(cpu, t, ...args));
    const settled = await Promise.allSettled(runs);
    const failed = settled.find((s) => s.status === 'rejected') as PromiseRejectedResult | undefined;
    if (failed !== undefined) throw failed.reason;
    return settled.map((s) => (s as PromiseFulfilledResult<R>).value);
  }

  /** Runs `task` on one CPU. Rejects with a TaskError carrying the CPU number if it throws. */
  runOn<A extends unknown[], R>(cpu: number, t: Task<A, R>, ...args: TaskArgs<A>): Promise<R> {
    this.#checkCpu(cpu);
    if (this.#closed) return Promise.reject(new PerCpuRangeError('this CpuSet is closed'));
    const run = cpu === 0 ? this.#runOnCpu0(t, args) : this.#runOnWorker(this.#workers[cpu - 1]!, t, args);
    return run.catch((error: unknown) => {
      throw error instanceof CpuDiedError ? error : new TaskError(cpu, error);
    }) as Promise<R>;
  }

  #runOnCpu0(t: TaskRef, args: unknown[]): Promise<unknown> {
    const run = this.#cpu0Queue.then(() => runHere(t, args));
    this.#cpu0Queue = run.catch(() => undefined);
    return run;
  }

  #runOnWorker(target: WorkerCpu, t: TaskRef, args: unknown[]): Promise<unknown> {
    if (!target.alive) return Promise.reject(new CpuDiedError(target.cpu, target.exitCode ?? -1));
    const id = nextTaskId++;
    return new Promise((resolve, reject) => {
      const { encoded, tickets } = encodeArgs(args); // a released argument throws: reject
      target.pending.set(id, { resolve, reject, tickets });
      const message: ToWorker = { type: 'run', id, task: { module: t.module, name: t.name }, args: encoded };
      try {
        target.worker.postMessage(message);
      } catch (error) {
        target.pending.delete(id);
        settle({ resolve, reject, tickets }, () => reject(error));
      }
    });
  }

  #checkCpu(cpu: number): void {
    if (!Number.isInteger(cpu)) throw new PerCpuTypeError('a CPU number must be an integer');
    if (cpu < 0 || cpu >= this.cpus) throw new PerCpuRangeError(`CPU ${cpu} is not in this set of ${this.cpus} CPUs`);
  }

  /** Lets queued tasks finish, then unbinds and stops every worker and unbinds CPU 0. */
  async close(): Promise<void> {
    if (this.#closed) return;
    if (this.#boundHere && native.preemptCount() > 0) {
      throw new GuardError('close() while a CpuGuard is held on CPU 0: release the guard first');
    }
    this.#closed = true;
    await this.#cpu0Queue;
    await Promise.all(
      this.#workers.map(async (w) => {
        if (!w.alive) return;
        w.worker.postMessage({ type: 'close' } satisfies ToWorker);
        const timeout = setTimeout(() => void w.worker.terminate(), 10_000);
        await w.exited;
        clearTimeout(timeout);
      }),
    );
    if (this.#boundHere && native.thisCpu() === 0) native.unbind();
    openSet = undefined;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
