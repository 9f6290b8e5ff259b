/**
 * The race demonstration of issue 8: per-CPU counters updated by several bound threads while the
 * scheduler migrates them between CPUs and/or interrupts them, per method, counting the updates
 * issued against the updates found in the sum over CPUs.
 *
 * - gs: `this_cpu_add()` on x86-64, ONE gs-relative instruction: it computes the slot and updates
 *   it in one step, so neither a migration nor an interrupt can fall between the two. Nothing lost.
 * - raw: the generic path with nothing held off (`raw_cpu_add()`): this CPU's pointer, the load, a
 *   window of `windowNs`, the store. A migration inside the window stores into the old CPU's slot,
 *   which the thread now running there is updating; an interrupt inside it adds to the slot the
 *   store then overwrites. Updates are lost.
 * - guard: the same inside a CpuGuard (preempt_disable): the scheduler skips a thread that holds
 *   one, so no migration loses anything; interrupts still come, and still lose updates. That is
 *   why the kernel's generic this_cpu_add() saves and disables interrupts, not just preemption.
 * - irqsave: the same with interrupts off (local_irq_save: both signals blocked). Nothing lost.
 * - js-add: `num().add(1n)` from JS (gs: one instruction; generic: the addon holds preemption off
 *   around its pointer and store). Nothing lost under migration.
 * - js-rmw: from JS, `thisCpu()` then `readRemote(cpu)` and `writeRemote(cpu, v + 1n)`: the generic
 *   two steps in JS, with no guard. Updates are lost under migration.
 * - js-guard: `getMut(new CpuGuard()).with(slot => slot.value += 1n)`. Nothing lost under migration.
 *
 * The native loops do the heavy counting; the JS ones run at a lower rate.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { BackendUnavailableError, ConflictError, PerCpuRangeError, PerCpuTypeError, describeThrown } from '../core/errors';
import { definePerCpu } from '../core/percpu';
import { BACKENDS, describeBackend, region, setup, thisCpu, type BackendChoice, type BackendName } from '../core/region';
import type { RaceWorkerReply, RaceWorkerRequest } from './race-worker';
import { schedulerStats, startScheduler, stopScheduler, type SchedulerStats } from './scheduler';
import { deserializeError } from '../cpus/task';

export const RACE_SCENARIOS = ['migration', 'interrupts', 'both'] as const;
/** migration: the scheduler swaps threads' CPUs; interrupts: it interrupts every thread; both: both. */
export type RaceScenario = (typeof RACE_SCENARIOS)[number];

export const RACE_METHODS = ['gs', 'raw', 'guard', 'irqsave', 'js-add', 'js-rmw', 'js-guard'] as const;
export type RaceMethod = (typeof RACE_METHODS)[number];

/** What a row should show: no update lost, or at least one lost. */
export type RaceExpectation = 'none lost' | 'some lost';

export interface RaceRowSpec {
  readonly scenario: RaceScenario;
  readonly method: RaceMethod;
  /** The backend of the process the row runs in. Default: gs for the gs method, else this process's. */
  readonly backend?: BackendName;
}

interface MethodInfo {
  readonly label: string;
  /** The native loop (native/scheduler.cc RaceMethod), for native methods. */
  readonly loop?: number;
  readonly needs?: BackendName;
  readonly expect: Partial<Record<RaceScenario, RaceExpectation>>;
}

const ALL_NONE = { migration: 'none lost', interrupts: 'none lost', both: 'none lost' } as const;

const METHODS: Record<RaceMethod, MethodInfo> = {
  gs: { label: 'native gs: this_cpu_add, add %reg,%gs:(off)', loop: 0, needs: 'gs', expect: ALL_NONE },
  raw: {
    label: 'native generic, no guard (raw_cpu_add)',
    loop: 1,
    expect: { migration: 'some lost', interrupts: 'some lost', both: 'some lost' },
  },
  guard: {
    label: 'native generic in a CpuGuard (preempt off)',
    loop: 2,
    expect: { migration: 'none lost', interrupts: 'some lost', both: 'some lost' },
  },
  irqsave: { label: 'native generic, irqs off (local_irq_save)', loop: 3, expect: ALL_NONE },
  'js-add': { label: 'JS num().add(1n)', expect: { migration: 'none lost' } },
  'js-rmw': { label: 'JS thisCpu()+readRemote+writeRemote, no guard', expect: { migration: 'some lost' } },
  'js-guard': { label: 'JS getMut(new CpuGuard()).with(+= 1n)', expect: { migration: 'none lost' } },
};

/** The rows `npx percpu race` prints (the gs ones where this build has a gs backend). */
export const DEFAULT_RACE_ROWS: readonly RaceRowSpec[] = ([
  { scenario: 'migration', method: 'gs' },
  { scenario: 'migration', method: 'raw' },
  { scenario: 'migration', method: 'guard' },
  { scenario: 'migration', method: 'irqsave' },
  { scenario: 'interrupts', method: 'gs' },
  { scenario: 'interrupts', method: 'raw' },
  { scenario: 'interrupts', method: 'guard' },
  { scenario: 'interrupts', method: 'irqsave' },
  { scenario: 'both', method: 'gs' },
  { scenario: 'both', method: 'irqsave' },
  { scenario: 'migration', method: 'js-add', backend: 'gs' },
  { scenario: 'migration', method: 'js-add', backend: 'generic' },
  { scenario: 'migration', method: 'js-rmw' },
  { scenario: 'migration', method: 'js-guard' },
  { scenario: 'interrupts', method: 'js-add', backend: 'gs' },
] satisfies RaceRowSpec[] as RaceRowSpec[]).filter((row) => BACKENDS.includes('gs') || (row.method !== 'gs' && row.backend !== 'gs'));

export interface RaceOptions {
  /** Default: DEFAULT_RACE_ROWS. */
  rows?: readonly RaceRowSpec[];
  /** Seconds each row runs. Default 0.5. */
  seconds?: number;
  /** Swaps per second the scheduler attempts in migration rows. Default 1000. */
  migrateHz?: number;
  /** Interrupts per second to each thread in interrupt rows. Default 1000. */
  irqHz?: number;
  /** Bound threads (workers), each on its own CPU. Default 4 (more than this machine's cores is fine). */
  threads?: number;
  /** The native generic loops' window between load and store, and their work between ops. Default 1000 ns. */
  windowNs?: number;
  /**
   * A row runs for `seconds` and then on until the scheduler has made this many swaps (migration
   * rows) and the threads have taken this many interrupts (interrupt rows), for at most
   * `maxSeconds`. Defaults 1, 1 and 60.
   */
  minMigrations?: number;
  minInterrupts?: number;
  maxSeconds?: number;
  /** The backend if the region is not set up yet. Default: PERCPU_BACKEND, else auto. */
  backend?: BackendChoice;
}

export interface RaceRow {
  readonly scenario: RaceScenario;
  readonly method: RaceMethod;
  /** The backend of the process it ran in. */
  readonly backend: BackendName;
  readonly label: string;
  /** Updates made: the loops' adds plus the interrupt handlers'. */
  readonly issued: number;
  /** The counter's sum over CPUs, less what it was before. */
  readonly found: number;
  readonly lost: number;
  /** Swaps made, swaps skipped because a thread held preemption off, interrupts taken. */
  readonly migrations: number;
  readonly skipped: number;
  readonly interrupts: number;
  readonly seconds: number;
  readonly expected: RaceExpectation;
  /** The swaps and interrupts asked for (minMigrations, minInterrupts) happened. */
  readonly enough: boolean;
  /**
   * Enough happened, and `none lost`: found == issued exactly, or `some lost`: at least one lost
   * (and none invented).
   */
  readonly ok: boolean;
}

export interface RaceResult {
  readonly threads: number;
  readonly seconds: number;
  readonly minMigrations: number;
  readonly minInterrupts: number;
  readonly maxSeconds: number;
  readonly migrateHz: number;
  readonly irqHz: number;
  readonly windowNs: number;
  /** This process's backend, in one line. */
  readonly backend: string;
  readonly rows: RaceRow[];
  /** The scheduler's own checks over the run (child processes included); all but the first two stay 0. */
  readonly safety: RaceSafety;
}

export interface RaceSafety {
  /** Swaps after which a thread found its backend reading its new CPU and the owners table naming both threads (2 per swap). */
  readonly handlerChecks: number;
  /** Times the scheduler found, after a swap, the participants on distinct CPUs and the owners table agreeing. */
  readonly tableChecks: number;
  readonly checkFailures: number;
  readonly violations: number;
  /** Scheduler signals that reached a thread not taking part (never: leaving drains them). */
  readonly strays: number;
}

const SAFETY_KEYS = ['checksPassed', 'verifications', 'checkFailures', 'violations', 'strays'] as const;

function safetySince(before: SchedulerStats): RaceSafety {
  const now = schedulerStats();
  const [handlerChecks, tableChecks, checkFailures, violations, strays] = SAFETY_KEYS.map((k) => now[k] - before[k]) as [number, number, number, number, number];
  return { handlerChecks, tableChecks, checkFailures, violations, strays };
}

function addSafety(a: RaceSafety, b: RaceSafety): RaceSafety {
  return {
    handlerChecks: a.handlerChecks + b.handlerChecks,
    tableChecks: a.tableChecks + b.tableChecks,
    checkFailures: a.checkFailures + b.checkFailures,
    violations: a.violations + b.violations,
    strays: a.strays + b.strays,
  };
}

/** True when no row failed and no safety check did. */
export function raceOk(result: RaceResult): boolean {
  const s = result.safety;
  return result.rows.every((r) => r.ok) && s.checkFailures === 0 && s.violations === 0 && s.strays === 0;
}

/** A row's method, or a PerCpuTypeError: only METHODS' own keys are methods (not `constructor`). */
function methodInfo(spec: RaceRowSpec): MethodInfo {
  if (typeof spec !== 'object' || spec === null) throw new PerCpuTypeError('a race row is { scenario, method, backend? }');
  const { method } = spec;
  if (typeof method !== 'string' || !Object.hasOwn(METHODS, method)) {
    throw new PerCpuTypeError(`unknown race method ${describeThrown(method)} (${RACE_METHODS.join(', ')})`);
  }
  return METHODS[method];
}

/** The expectation for a row, or a PerCpuTypeError for a combination with no exact outcome. */
export function raceExpectation(spec: RaceRowSpec, backend: BackendName): RaceExpectation {
  const info = methodInfo(spec);
  if (!RACE_SCENARIOS.includes(spec.scenario)) {
    throw new PerCpuTypeError(`unknown race scenario ${describeThrown(spec.scenario)} (${RACE_SCENARIOS.join(', ')})`);
  }
  if (spec.backend !== undefined && spec.backend !== 'gs' && spec.backend !== 'generic') {
    throw new PerCpuTypeError(`a race row's backend is 'gs' or 'generic', not ${describeThrown(spec.backend)}`);
  }
  if (spec.method === 'js-add' && spec.scenario !== 'migration' && backend === 'gs') return 'none lost';
  const expected = info.expect[spec.scenario];
  if (expected === undefined) {
    throw new PerCpuTypeError(
      `the ${spec.method} race has no exact outcome under ${spec.scenario}` +
        (spec.method === 'js-add' ? ' on the generic backend (its ops hold preemption off, not interrupts)' : ''),
    );
  }
  return expected;
}

/**
 * The backend a row must run on whatever the process's is: the one it names, the gs method's,
 * and gs for JS num().add under interrupts (only there is it exact). Undefined: any backend.
 */
function requiredBackend(spec: RaceRowSpec): BackendName | undefined {
  const { needs } = methodInfo(spec); // first: it checks that the row is an object
  return spec.backend ?? needs ?? (spec.method === 'js-add' && spec.scenario !== 'migration' ? 'gs' : undefined);
}

function rowBackend(spec: RaceRowSpec, here: BackendName): BackendName {
  return requiredBackend(spec) ?? here;
}

/**
 * Checks every row before anything is set up or started: its method, scenario and backend, that
 * it has an exact outcome, and that this build has the backend it needs.
 */
function checkRows(rows: unknown): readonly RaceRowSpec[] {
  if (!Array.isArray(rows)) throw new PerCpuTypeError('rows must be an array of { scenario, method, backend? }');
  for (const spec of rows as RaceRowSpec[]) {
    const needs = requiredBackend(spec);
    raceExpectation(spec, needs ?? 'generic'); // a row with no required backend has the same outcome on both
    if (needs !== undefined && !BACKENDS.includes(needs)) {
      throw new BackendUnavailableError(`the ${spec.scenario} ${spec.method} race needs the ${needs} backend, which this build of percpu lacks`);
    }
  }
  return rows as RaceRowSpec[];
}

/**
 * What ends with the process: the stop flags of the rows running in this thread, and the child
 * processes running rows for the other backend. The process's 'exit' (process.exit(), the end of
 * the event loop, an uncaught exception) sets every flag, so the native loops return within
 * microseconds and Node's exit does not wait for them, and kills the children.
 */
const running = { stops: new Set<Int32Array>(), children: new Set<ChildProcess>() };
let exitHooked = false;

function stopAllRows(): void {
  for (const stop of running.stops) Atomics.store(stop, 0, 1);
  for (const child of running.children) child.kill();
}

function track<T extends Int32Array | ChildProcess>(item: T, set: Set<T>): () => void {
  if (!exitHooked) {
    exitHooked = true;
    process.on('exit', stopAllRows);
  }
  set.add(item);
  return () => set.delete(item);
}

function positive(name: string, value: number, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > max) {
    throw new PerCpuRangeError(`${name} must be a number above 0 and at most ${max}, got ${String(value)}`);
  }
  return value;
}

/**
 * Runs the rows: those for this process's backend here, on `threads` new worker threads bound to
 * free CPUs; those for the other backend in a child process (`percpu race --json`). Sets up the
 * region (with `threads` CPUs) if it is not set up. Starts and stops the scheduler for each row, so
 * it must not be running already.
 */
export async function runRace(options: RaceOptions = {}): Promise<RaceResult> {
  if (typeof options !== 'object' || options === null) throw new PerCpuTypeError('runRace() takes an options object');
  const seconds = positive('seconds', options.seconds ?? 0.5, 600);
  const migrateHz = positive('migrateHz', options.migrateHz ?? 1000, 100_000);
  const irqHz = positive('irqHz', options.irqHz ?? 1000, 100_000);
  const threads = positive('threads', options.threads ?? 4, 1024);
  const windowNs = options.windowNs ?? 1000;
  const minMigrations = options.minMigrations ?? 1, minInterrupts = options.minInterrupts ?? 1;
  const maxSeconds = positive('maxSeconds', options.maxSeconds ?? 60, 3600);
  for (const [name, value] of [['minMigrations', minMigrations], ['minInterrupts', minInterrupts]] as const) {
    if (!Number.isInteger(value) || value < 0) throw new PerCpuRangeError(`${name} must be a whole number`);
  }
  if (maxSeconds < seconds) throw new PerCpuRangeError('maxSeconds must be at least seconds');
  if (!Number.isInteger(threads) || threads < 2) throw new PerCpuRangeError('threads must be an integer of at least 2');
  if (!Number.isInteger(windowNs) || windowNs < 0 || windowNs > 1e7) throw new PerCpuRangeError('windowNs must be an integer from 0 to 1e7');
  // Everything that can be refused is refused before the region is set up: a call that throws changes nothing.
  const specs = checkRows(options.rows ?? DEFAULT_RACE_ROWS);
  if (schedulerStats().running) throw new ConflictError('runRace starts and stops the scheduler for each row: stop the running scheduler first');
  const info = region() ?? setup({ cpus: threads, ...(options.backend === undefined ? {} : { backend: options.backend }) });
  const here = info.backend;
  const resolved = { threads, seconds, minMigrations, minInterrupts, maxSeconds, migrateHz, irqHz, windowNs };

  const rows = new Map<RaceRowSpec, RaceRow>();
  const before = schedulerStats();
  const local = specs.filter((spec) => rowBackend(spec, here) === here);
  if (local.length > 0) {
    const done = await runHere(local, resolved, here);
    local.forEach((spec, i) => rows.set(spec, done[i]!));
  }
  let safety = safetySince(before);
  for (const backend of BACKENDS.filter((b) => b !== here)) {
    const there = specs.filter((spec) => rowBackend(spec, here) === backend);
    if (there.length === 0) continue;
    const child = await runInChild(backend, there, resolved);
    there.forEach((spec, i) => rows.set(spec, child.rows[i]!));
    safety = addSafety(safety, child.safety);
  }
  return { ...resolved, backend: describeBackend(info), rows: specs.map((spec) => rows.get(spec)!), safety };
}

type Resolved = Pick<RaceResult, 'threads' | 'seconds' | 'minMigrations' | 'minInterrupts' | 'maxSeconds' | 'migrateHz' | 'irqHz' | 'windowNs'>;

const BIN = path.join(__dirname, '..', '..', '..', 'bin', 'percpu.js');

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Encodes rows for `percpu race --rows`: scenario:method[:backend],... */
export function encodeRows(rows: readonly RaceRowSpec[]): string {
  return rows.map((r) => [r.scenario, r.method, ...(r.backend ? [r.backend] : [])].join(':')).join(',');
}

export function decodeRows(text: string): RaceRowSpec[] {
  return text.split(',').map((item) => {
    const [scenario, method, backend, ...rest] = item.split(':');
    if (rest.length > 0 || (backend !== undefined && backend !== 'gs' && backend !== 'generic')) {
      throw new PerCpuTypeError(`a race row is scenario:method[:gs|generic], not '${item}'`);
    }
    return { scenario, method, ...(backend ? { backend } : {}) } as RaceRowSpec;
  });
}

function runInChild(backend: BackendName, rows: readonly RaceRowSpec[], o: Resolved): Promise<RaceResult> {
  const args = [BIN, 'race', '--json', '--backend', backend, '--rows', encodeRows(rows), '--seconds', String(o.seconds),
    '--rate', String(o.migrateHz), '--irq-rate', String(o.irqHz), '--threads', String(o.threads), '--window', String(o.windowNs),
    '--min-migrations', String(o.minMigrations), '--min-interrupts', String(o.minInterrupts), '--max-seconds', String(o.maxSeconds)];
  const env: NodeJS.ProcessEnv = { ...process.env, [RACE_CHILD_ENV]: '1' };
  delete env['PERCPU_BACKEND'];
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, args, { env, encoding: 'utf8', maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      untrack();
      if (error) return reject(new Error(`the ${backend} race in a child process failed: ${stderr.trim() || error.message}`));
      try {
        resolve(JSON.parse(stdout) as RaceResult);
      } catch (cause) {
        reject(new Error(`the ${backend} race in a child process printed no result: ${stdout.slice(0, 200)}`, { cause }));
      }
    });
    const untrack = track(child, running.children);
  });
}

/**
 * Set in a child process that runs rows for runRace. Its stdin is a pipe from the parent: when it
 * ends, the parent is gone (its process exited, or the worker that ran runRace was terminated and
 * its handles closed), and the child exits at once rather than race on for nobody.
 */
const RACE_CHILD_ENV = 'PERCPU_RACE_CHILD';

/** In a child of runRace (see RACE_CHILD_ENV): exits when the parent goes. Called by `percpu race`. */
export function exitWithRaceParent(): void {
  if (process.env[RACE_CHILD_ENV] !== '1') return;
  process.stdin.on('end', () => process.exit(1)).on('error', () => process.exit(1));
  process.stdin.resume();
  process.stdin.unref(); // the pipe alone does not keep this process alive
}

/** One worker thread bound to a CPU and taking part in the scheduler. */
class RaceThread {
  #pending: { resolve(reply: RaceWorkerReply): void; reject(error: unknown): void } | undefined;
  #exit: Error | undefined;
  readonly exited: Promise<void>;

  private constructor(readonly worker: Worker) {
    this.exited = new Promise((resolve) => {
      worker.on('exit', (code) => {
        this.#exit = new Error(`a race thread exited (code ${code})`);
        this.#pending?.reject(this.#exit);
        this.#pending = undefined;
        resolve();
      });
    });
    worker.on('error', (error) => {
      this.#pending?.reject(error);
      this.#pending = undefined;
    });
    worker.on('message', (reply: RaceWorkerReply) => {
      const pending = this.#pending;
      this.#pending = undefined;
      if (reply.type === 'failed') pending?.reject(deserializeError(reply.error)); // CpuTakenError stays a CpuTakenError
      else pending?.resolve(reply);
    });
  }

  static async start(cpu: number): Promise<RaceThread> {
    const thread = new RaceThread(new Worker(path.join(__dirname, 'race-worker.js'), { workerData: { cpu } }));
    await thread.#expect();
    return thread;
  }

  #expect(): Promise<RaceWorkerReply> {
    if (this.#exit) return Promise.reject(this.#exit);
    return new Promise((resolve, reject) => (this.#pending = { resolve, reject }));
  }

  request(message: RaceWorkerRequest): Promise<RaceWorkerReply> {
    const reply = this.#expect();
    this.worker.postMessage(message);
    return reply;
  }

  async close(): Promise<void> {
    if (!this.#exit) this.worker.postMessage({ type: 'close' } satisfies RaceWorkerRequest);
    await this.exited;
  }
}

async function runHere(specs: readonly RaceRowSpec[], o: Resolved, backend: BackendName): Promise<RaceRow[]> {
  const info = region()!;
  const mine = thisCpu();
  const cpus = Array.from({ length: info.cpus }, (_, cpu) => cpu).filter((cpu) => cpu !== mine).slice(0, o.threads);
  if (cpus.length < o.threads) {
    throw new PerCpuRangeError(`a race of ${o.threads} threads needs ${o.threads} free CPUs; the region has ${info.cpus}`);
  }
  const threads: RaceThread[] = [];
  try {
    for (const cpu of cpus) threads.push(await RaceThread.start(cpu));
    const rows: RaceRow[] = [];
    for (const spec of specs) rows.push(await runRow(spec, o, backend, threads, cpus));
    return rows;
  } finally {
    await Promise.all(threads.map((t) => t.close()));
  }
}

async function runRow(spec: RaceRowSpec, o: Resolved, backend: BackendName, threads: RaceThread[], cpus: number[]): Promise<RaceRow> {
  const info = methodInfo(spec);
  const counter = `percpu.race.${spec.scenario}.${spec.method}`;
  const variable = definePerCpu(counter, 'u64', 0n);
  const before = variable.sum();
  const migrate = spec.scenario !== 'interrupts', interrupt = spec.scenario !== 'migration';
  const s0 = schedulerStats();
  const started = process.hrtime.bigint();
  startScheduler({ migrateHz: migrate ? o.migrateHz : 0, irqHz: interrupt ? o.irqHz : 0, cpus });
  const stop = new Int32Array(new SharedArrayBuffer(4));
  const untrack = track(stop, running.stops);
  const enough = () => {
    const now = schedulerStats();
    return (!migrate || now.migrations - s0.migrations >= o.minMigrations) && (!interrupt || now.irqsHandled - s0.irqsHandled >= o.minInterrupts);
  };
  let replies: RaceWorkerReply[];
  try {
    const run: RaceWorkerRequest = {
      type: 'run',
      method: spec.method,
      ...(info.loop === undefined ? {} : { loop: info.loop }),
      counter,
      stop,
      maxMs: o.maxSeconds * 1000,
      windowNs: o.windowNs,
      interrupts: interrupt,
    };
    const running = Promise.all(threads.map((t) => t.request(run)));
    running.catch(() => undefined); // awaited below
    const deadline = Date.now() + o.maxSeconds * 1000;
    await sleep(o.seconds * 1000);
    while (!enough() && Date.now() < deadline) await sleep(5);
    Atomics.store(stop, 0, 1);
    replies = await running;
  } finally {
    Atomics.store(stop, 0, 1);
    untrack();
    stopScheduler();
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const s1 = schedulerStats();
  const found = Number(variable.sum() - before);
  let issued = 0;
  for (const reply of replies) if (reply.type === 'done') issued += reply.iterations + reply.irqAdds;
  const lost = issued - found;
  const expected = raceExpectation(spec, backend);
  const migrations = s1.migrations - s0.migrations, interrupts = s1.irqsHandled - s0.irqsHandled;
  const sawEnough = (!migrate || migrations >= o.minMigrations) && (!interrupt || interrupts >= o.minInterrupts);
  return {
    scenario: spec.scenario,
    method: spec.method,
    backend,
    label: spec.method === 'js-add' ? `${info.label} (${backend})` : info.label,
    issued,
    found,
    lost,
    migrations,
    skipped: s1.skippedGuard - s0.skippedGuard,
    interrupts,
    seconds,
    expected,
    enough: sawEnough,
    ok: sawEnough && lost >= 0 && (expected === 'none lost' ? lost === 0 && found === issued : lost >= 1),
  };
}

/** The result as a table: scenario | method | updates issued | found in sum | lost | ... */
export function formatRaceTable(result: RaceResult): string {
  const head = ['scenario', 'method', 'updates issued', 'found in sum', 'lost', 'migrations', 'skipped (guard)', 'interrupts', 'expected'];
  const body = result.rows.map((r) => [
    r.scenario,
    r.label,
    String(r.issued),
    String(r.found),
    String(r.lost),
    String(r.migrations),
    String(r.skipped),
    String(r.interrupts),
    `${r.expected}: ${r.ok ? 'ok' : r.enough ? 'FAILED' : 'FAILED (too few swaps or interrupts)'}`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const numeric = new Set([2, 3, 4, 5, 6, 7]);
  const line = (cells: string[]) =>
    cells.map((c, i) => (numeric.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ').trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('-|-'), ...body.map(line)].join('\n');
}
