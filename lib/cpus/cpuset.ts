/**
 * Worker threads as CPUs. A CpuSet of N CPUs binds the calling thread to CPU 0 and starts workers
 * for CPUs 1..N-1 (or, with `mainThread: false`, workers for all of 0..N-1, leaving the calling
 * thread out), each bound before it runs any task. Only the preloads of its execArgv (`--require`,
 * `--import`: workerOptions.execArgv, else this thread's process.execArgv) run on a worker before it
 * is bound.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { SHARE_ENV, Worker, type ResourceLimits, type WorkerOptions } from 'node:worker_threads';
import {
  ConflictError,
  CpuDiedError,
  CpuTakenError,
  GuardError,
  PerCpuRangeError,
  PerCpuTypeError,
  TaskAbandonedError,
  TaskError,
  describeThrown,
} from '../core/errors';
import { addonPath, native } from '../core/native';
import { MAX_CPUS, setup, type RegionOptions } from '../core/region';
import {
  cancelStartBarrier,
  checkTaskRef,
  deserializeError,
  encodeArgs,
  newStartBarrier,
  ownProperty,
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
  type WorkerCpuData,
} from './task';
import { planTsx, type TsxApis } from './typescript';

/**
 * Options for the Worker of each worker CPU (node:worker_threads), checked by CpuSet.start().
 * The rest of Worker's options are the set's own (workerData, eval, transferList) or need the
 * Worker object, which the set keeps (stdin, stdout, stderr).
 */
export interface CpuWorkerOptions {
  /**
   * Node options for each worker. Default: this thread's `process.execArgv`. When they load tsx
   * (`--import tsx`, as `npx tsx` and `node --import tsx` do), the set registers tsx in each worker
   * itself instead, on every Node version, so that tasks in .ts files load there as here.
   */
  execArgv?: readonly string[];
  /**
   * Each worker's initial `process.env`: an object of strings (a variable whose value is undefined
   * is left out, as child_process does), or `SHARE_ENV` to share this thread's. Default: a copy of
   * `process.env`. The variables that choose percpu's native modules are this thread's in every
   * worker: PERCPU_ADDON names the binding this thread loaded, PERCPU_FAST and PERCPU_ACCEL are
   * copied (a worker CPU must load the same copy of the binding).
   */
  env?: Readonly<Record<string, string | undefined>> | typeof SHARE_ENV;
  /** The V8 heap limits of each worker (MB). A worker past them dies: its tasks reject with CpuDiedError. */
  resourceLimits?: ResourceLimits;
  /** Strings appended to `process.argv` in each worker. */
  argv?: readonly string[];
}

export interface CpuSetOptions extends RegionOptions {
  /**
   * Whether this thread is CPU 0 of the set (default true): it is bound to CPU 0 and runs CPU 0's
   * share of every task, between its own events. `false` keeps it out: every CPU, 0..N-1, is a
   * worker, and this thread stays as it was (unbound, or bound to a CPU outside the set); it can
   * still read sums and other CPUs' slots (sum(), readRemote()), and runs no task.
   */
  mainThread?: boolean;
  /** Passed to every worker CPU's Worker: execArgv, env, resourceLimits, argv. */
  workerOptions?: CpuWorkerOptions;
}

export interface CloseOptions {
  /**
   * How long close() waits for the tasks already issued to settle, on every CPU at once, before
   * it abandons them: workers are terminated, the tasks of this thread (CPU 0, unless the set was
   * started with `mainThread: false`) are left to themselves (a JS thread cannot be stopped from
   * outside) and every abandoned task rejects with TaskAbandonedError.
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

const DEFAULT_CLOSE_TIMEOUT_MS = 10_000;
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

  /** Binds the worker to its CPU (after it has loaded what it loads first): resolves once it is bound. */
  start(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onMessage = (message: FromWorker) => {
        if (message.type === 'ready') resolve();
        else if (message.type === 'start-failed') reject(deserializeError(message.error));
        else return;
        this.worker.off('message', onMessage);
      };
      this.worker.on('message', onMessage);
      void this.exited.then(() => reject(new CpuDiedError(this.cpu, this.exitCode ?? -1)));
      this.worker.postMessage({ type: 'bind' } satisfies ToWorker);
    });
  }
}

const workerScript = path.join(__dirname, 'worker.js');
// One set at a time in a thread: when it takes part, this thread is CPU 0 of it.
let openSet: CpuSet | 'starting' | undefined;
let nextTaskId = 1;

function checkTimeout(options: unknown): number {
  if (typeof options !== 'object' || options === null) throw new PerCpuTypeError('close() takes an options object');
  const { timeoutMs = DEFAULT_CLOSE_TIMEOUT_MS } = options as CloseOptions;
  if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs)) throw new PerCpuTypeError('timeoutMs must be a finite number');
  if (timeoutMs < 0 || timeoutMs > MAX_TIMEOUT_MS) throw new PerCpuRangeError(`timeoutMs must be from 0 to ${MAX_TIMEOUT_MS}`);
  return timeoutMs;
}

/** What start() will do, read from its options once (a getter runs once, before anything changes). */
interface StartPlan {
  /** CPUs in the set. */
  readonly size: number;
  /** For setup(): the region to make, or the existing one's CPU count with the other options as given. */
  readonly region: RegionOptions;
  readonly mainThread: boolean;
  /** Each worker's Worker options, and the tsx it registers (./typescript). */
  readonly worker: WorkerOptions;
  readonly tsx: TsxApis | undefined;
}

/** What Node's Worker constructor throws for options it refuses (execArgv flags not allowed in a worker, above all): a PerCpuTypeError of start(). */
const NODE_OPTION_ERRORS = new Set(['ERR_WORKER_INVALID_EXEC_ARGV', 'ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_VALUE']);
const RESOURCE_LIMITS = ['maxOldGenerationSizeMb', 'maxYoungGenerationSizeMb', 'codeRangeSizeMb', 'stackSizeMb'] as const;
const WORKER_OPTIONS = ['execArgv', 'env', 'resourceLimits', 'argv'] as const;

/** An array of strings, copied, or a PerCpuTypeError naming `what`. */
function strings(value: unknown, what: string): string[] {
  if (!Array.isArray(value)) throw new PerCpuTypeError(`${what} must be an array of strings, not ${describeThrown(value)}`);
  const copy = Array.from(value as unknown[]);
  for (const item of copy) if (typeof item !== 'string') throw new PerCpuTypeError(`${what} must hold strings only, not ${describeThrown(item)}`);
  return copy as string[];
}

function plainObject(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new PerCpuTypeError(`${what} must be an object, not ${describeThrown(value)}`);
  return value as Record<string, unknown>;
}

/** The worker options, checked and copied; the tsx plan comes from the execArgv the workers will get. */
function checkWorkerOptions(value: unknown): { worker: WorkerOptions; tsx: TsxApis | undefined } {
  const given = plainObject(value, 'workerOptions');
  for (const key of Reflect.ownKeys(given)) {
    if (!(WORKER_OPTIONS as readonly unknown[]).includes(key)) {
      throw new PerCpuTypeError(
        `workerOptions.${String(key)} is not a CpuSet worker option (${WORKER_OPTIONS.join(', ')}): ` +
          `the set gives its workers their script and workerData, and pass data to tasks as their arguments`,
      );
    }
  }
  const [execArgv, env, resourceLimits, argv] = WORKER_OPTIONS.map((key) => ownProperty(given, key));
  const worker: WorkerOptions = {};
  let inherited = process.execArgv;
  if (execArgv !== undefined) inherited = worker.execArgv = strings(execArgv, 'workerOptions.execArgv');
  if (argv !== undefined) worker.argv = strings(argv, 'workerOptions.argv');
  if (env === SHARE_ENV) worker.env = SHARE_ENV;
  else if (env !== undefined) {
    const copy: Record<string, string> = {};
    for (const [name, text] of Object.entries(plainObject(env, 'workerOptions.env'))) {
      if (text === undefined) continue;
      if (typeof text !== 'string') throw new PerCpuTypeError(`workerOptions.env.${name} must be a string, not ${describeThrown(text)}`);
      copy[name] = text;
    }
    // SAFETY: every CPU of the set must load this thread's copy of the binding (another copy has
    // another region, and its bind() is a NotSetUpError); an env of the user's own may leave out or
    // name other loader variables, so these are this thread's.
    copy['PERCPU_ADDON'] = addonPath;
    for (const name of ['PERCPU_FAST', 'PERCPU_ACCEL']) {
      const here = process.env[name];
      if (here === undefined) delete copy[name];
      else copy[name] = here;
    }
    worker.env = copy;
  }
  if (resourceLimits !== undefined) {
    const limits = plainObject(resourceLimits, 'workerOptions.resourceLimits');
    const copy: ResourceLimits = {};
    for (const key of Reflect.ownKeys(limits)) {
      if (!(RESOURCE_LIMITS as readonly unknown[]).includes(key)) {
        throw new PerCpuTypeError(`workerOptions.resourceLimits.${String(key)} is not a resource limit (${RESOURCE_LIMITS.join(', ')})`);
      }
    }
    for (const key of RESOURCE_LIMITS) {
      const mb = ownProperty(limits, key);
      if (mb === undefined) continue;
      if (typeof mb !== 'number' || !Number.isFinite(mb)) throw new PerCpuTypeError(`workerOptions.resourceLimits.${key} must be a finite number of MB`);
      if (mb <= 0 || mb > 1024 * 1024) throw new PerCpuRangeError(`workerOptions.resourceLimits.${key} must be above 0 and at most 1048576 (MB), got ${mb}`);
      copy[key] = mb;
    }
    worker.resourceLimits = copy;
  }
  const tsx = planTsx(inherited);
  if (tsx !== null) worker.execArgv = tsx.execArgv;
  return { worker, tsx: tsx?.tsx };
}

/** N CPUs: this thread is CPU 0 and worker threads are CPUs 1..N-1; or, without this thread, workers are CPUs 0..N-1. */
export class CpuSet implements AsyncDisposable {
  /** The number of CPUs in the set. */
  readonly cpus: number;
  /** Whether this thread is CPU 0 of the set (the `mainThread` option). */
  readonly mainThread: boolean;
  /** The worker CPUs, from CPU `#firstWorker` on. */
  readonly #workers: WorkerCpu[];
  /** 1, or 0 with `mainThread: false`. */
  readonly #firstWorker: number;
  readonly #boundHere: boolean;
  #cpu0Queue: Promise<unknown> = Promise.resolve();
  readonly #cpu0Pending = new Set<PendingTask>();
  /** The start barriers of onEachCpu() calls not settled yet: close() cancels them. */
  readonly #barriers = new Set<StartBarrier>();
  #closing: Promise<CloseReport> | undefined;

  private constructor(cpus: number, mainThread: boolean, workers: WorkerCpu[], boundHere: boolean) {
    this.cpus = cpus;
    this.mainThread = mainThread;
    this.#workers = workers;
    this.#firstWorker = mainThread ? 1 : 0;
    this.#boundHere = boundHere;
    Object.freeze(this); // cpus and mainThread stay what the set was started with: tasks are routed by them
  }

  /**
   * Sets up the region if needed (with `cpus` CPUs unless it exists), binds this thread to CPU 0
   * (unless `mainThread` is false) and starts a bound worker for every other CPU. Resolves once
   * every CPU is bound. Everything it refuses (the options, this thread bound inside the set, a set
   * already open on this thread, execArgv that Node refuses in a worker) it refuses before it sets
   * up the region or binds anything.
   */
  static async start(options: CpuSetOptions = {}): Promise<CpuSet> {
    if (openSet !== undefined) throw new ConflictError('a CpuSet is already open on this thread: close it first');
    const plan = CpuSet.#check(options); // before the claim: a start that is refused leaves nothing claimed
    openSet = 'starting'; // claimed before the first await, so a concurrent start() is refused
    try {
      return (openSet = await CpuSet.#open(plan));
    } catch (error) {
      openSet = undefined;
      throw error;
    }
  }

  /** What start() refuses before it changes anything, and what it will do. */
  static #check(options: CpuSetOptions): StartPlan {
    if (typeof options !== 'object' || options === null) throw new PerCpuTypeError('CpuSet.start() takes an options object');
    const { cpus, areaSize, backend, mainThread = true, workerOptions = {} } = options;
    if (typeof mainThread !== 'boolean') throw new PerCpuTypeError(`mainThread must be true or false, not ${describeThrown(mainThread)}`);
    const current = native.thisCpu();
    if (mainThread && current > 0) throw new PerCpuRangeError(`this thread is bound to CPU ${current}; a CpuSet needs it on CPU 0 (or mainThread: false)`);
    // An existing region keeps its CPU count (a set may use fewer); another areaSize is a ConflictError.
    const existing = native.region();
    if (cpus !== undefined && !Number.isInteger(cpus)) throw new PerCpuTypeError('cpus must be an integer');
    const size = cpus ?? existing?.cpus ?? os.availableParallelism();
    if (existing !== null && (size < 1 || size > existing.cpus)) {
      throw new PerCpuRangeError(`a CpuSet of ${size} CPUs does not fit the region's ${existing.cpus} CPUs`);
    }
    if (existing === null && (size < 1 || size > MAX_CPUS)) throw new PerCpuRangeError(`cpus must be an integer from 1 to ${MAX_CPUS}, got ${size}`);
    if (!mainThread && current >= 0 && current < size) {
      throw new CpuTakenError(`this thread is bound to CPU ${current}, one of the set's CPUs 0..${size - 1}: unbind it first (mainThread: false leaves it out)`);
    }
    const { worker, tsx } = checkWorkerOptions(workerOptions);
    const region: RegionOptions = { cpus: existing?.cpus ?? size };
    if (areaSize !== undefined) region.areaSize = areaSize;
    if (backend !== undefined) region.backend = backend;
    return { size, region, mainThread, worker, tsx };
  }

  static async #open(plan: StartPlan): Promise<CpuSet> {
    const workers: WorkerCpu[] = [];
    let boundHere = false;
    try {
      // The Workers first: Node refuses some execArgv flags in a worker as it makes one, and then
      // nothing else has been done yet.
      for (let cpu = plan.mainThread ? 1 : 0; cpu < plan.size; cpu++) {
        const workerData: WorkerCpuData = plan.tsx === undefined ? { cpu } : { cpu, tsx: plan.tsx };
        let worker: Worker;
        try {
          worker = new Worker(workerScript, { ...plan.worker, workerData });
        } catch (error) {
          const code = (error as { code?: unknown } | null)?.code;
          if (typeof code !== 'string' || !NODE_OPTION_ERRORS.has(code)) throw error;
          throw new PerCpuTypeError(`workerOptions: ${describeThrown((error as Error).message)}`);
        }
        workers.push(new WorkerCpu(cpu, worker));
      }
      setup(plan.region);
      if (plan.mainThread && native.thisCpu() < 0) {
        native.bind(0);
        boundHere = true;
      }
      // Every worker settles (a failed start terminates the rest), and the lowest CPU's failure is the one thrown.
      const started = await Promise.allSettled(workers.map((w) => w.start()));
      const failed = started.find((s) => s.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
    } catch (error) {
      await Promise.all(workers.map((w) => w.worker.terminate()));
      if (boundHere) native.unbind();
      throw error;
    }
    return new CpuSet(plan.size, plan.mainThread, workers, boundHere);
  }

  /** Whether CPU `cpu`'s thread is alive (this thread, when it is CPU 0, always is while the set is open). */
  isAlive(cpu: number): boolean {
    this.#checkCpu(cpu);
    return this.#closing === undefined && (this.#isHere(cpu) || this.#workerOf(cpu).alive);
  }

  /** Whether CPU `cpu` is this thread. */
  #isHere(cpu: number): boolean {
    return this.mainThread && cpu === 0;
  }

  #workerOf(cpu: number): WorkerCpu {
    return this.#workers[cpu - this.#firstWorker]!;
  }

  /**
   * Runs `task` on every CPU, like the kernel's on_each_cpu(), and resolves with the results by
   * CPU: results[n] is what the task returned on CPU n, the CPU it started on (the scheduler may
   * have moved the set's threads; while the tasks start, each thread is held on its CPU until all
   * have started, so the CPUs are distinct). If it throws anywhere, rejects, after all CPUs have
   * finished, with a TaskError naming the lowest CPU where it threw. Per-CPU variables among the
   * arguments reach each CPU as a new handle to the same slots, released when the task settles.
   * Tasks run on each CPU in the order they were issued. With `mainThread: false` every CPU is a
   * worker: this thread runs none of it.
   */
  async onEachCpu<A extends unknown[], R>(t: Task<A, R>, ...args: TaskArgs<A>): Promise<R[]> {
    const ref = checkTaskRef(t);
    if (this.#closing !== undefined) throw new PerCpuRangeError('this CpuSet is closed');
    const barrier = newStartBarrier(this.cpus);
    this.#barriers.add(barrier);
    // A CPU that never starts its task (its thread died, its arguments could not be sent, or the
    // task's module failed to load there) must not keep the others waiting. A task that failed
    // after the start has passed the barrier with the others: cancelling it then changes nothing.
    const runs = Array.from({ length: this.cpus }, (_, cpu) =>
      this.#run(cpu, ref, args, barrier).catch((error: unknown) => {
        cancelStartBarrier(barrier);
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
   * released when it settles, on CPU 0 as on every other CPU. CPU 0 is this thread, unless the set
   * was started with `mainThread: false`.
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
    if (this.#isHere(cpu)) {
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
      if (this.#isHere(cpu)) this.#sendToCpu0(pending, run);
      else this.#sendToWorker(this.#workerOf(cpu), pending, run);
    }).then((outcome) => {
      if (!outcome.ok) throw new TaskError(outcome.cpu ?? cpu, outcome.error);
      return { cpu: outcome.cpu ?? cpu, value: outcome.value };
    });
  }

  // CPU 0 is this thread (mainThread: true): its tasks run here, one after another, through the same runTask as a
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
   * waits for that one and resolves with the same report. A CpuGuard held on this thread, when it is
   * CPU 0, is a GuardError, and the set stays open. A set started with `mainThread: false` leaves
   * this thread as it found it.
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
