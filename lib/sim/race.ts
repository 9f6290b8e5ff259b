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
 *
 * The counting threads are the worker CPUs of a CpuSet that leaves the main thread out
 * (`mainThread: false`): each joins the scheduler in a task, and each row's loop is a task run on
 * every CPU at once (./race-tasks). Rows for the other backend run in a child process (./race-child),
 * which streams each row back as it finishes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { BackendUnavailableError, ConflictError, PerCpuRangeError, PerCpuTypeError, describeThrown } from '../core/errors';
import { definePerCpu } from '../core/percpu';
import { BACKENDS, MAX_CPUS, describeBackend, region, setup, type BackendChoice, type BackendName, type RegionInfo } from '../core/region';
import { CpuSet } from '../cpus/cpuset';
import { tasks } from '../cpus/task';
import { schedulerStats, startScheduler, stopScheduler, type SchedulerStats } from './scheduler';
import type { RaceLoop } from './race-tasks';

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
  /**
   * The backend of the process the row runs in. Default: the one its method needs under its
   * scenario (gs for the gs method, and for js-add under interrupts or both), else this process's.
   */
  readonly backend?: BackendName;
}

/** A method under one scenario: what it must give, and the one backend on which it does, if only one. */
interface Outcome {
  readonly expect: RaceExpectation;
  readonly needs?: BackendName;
}

interface MethodInfo {
  /** RaceRow.label. */
  readonly label: string;
  /** What it does, in a line: the legend's (formatRaceLegend) and `percpu race --help`'s. */
  readonly description: string;
  /** The native loop (native/sim/race_loops.cc RaceMethod), for native methods. */
  readonly loop?: number;
  /** The scenarios with an exact outcome; a scenario not here has none (the row is refused). */
  readonly under: Partial<Record<RaceScenario, Outcome>>;
}

const outcomes = (migration: RaceExpectation, interrupts: RaceExpectation, both: RaceExpectation, needs?: BackendName) => {
  const on = needs === undefined ? {} : { needs };
  return { migration: { expect: migration, ...on }, interrupts: { expect: interrupts, ...on }, both: { expect: both, ...on } };
};

const METHODS: Record<RaceMethod, MethodInfo> = {
  gs: {
    label: 'native gs: this_cpu_add, add %reg,%gs:(off)',
    description: 'native this_cpu_add: one add %reg,%gs:(off) (the gs backend only)',
    loop: 0,
    under: outcomes('none lost', 'none lost', 'none lost', 'gs'),
  },
  raw: {
    label: 'native generic, no guard (raw_cpu_add)',
    description: "native generic, nothing held off (raw_cpu_add): this CPU's pointer, load, window, store",
    loop: 1,
    under: outcomes('some lost', 'some lost', 'some lost'),
  },
  guard: {
    label: 'native generic in a CpuGuard (preempt off)',
    description: 'native generic in a CpuGuard (preemption off): safe from migration, not from interrupts',
    loop: 2,
    under: outcomes('none lost', 'some lost', 'some lost'),
  },
  irqsave: {
    label: 'native generic, irqs off (local_irq_save)',
    description: 'native generic with interrupts off (local_irq_save)',
    loop: 3,
    under: outcomes('none lost', 'none lost', 'none lost'),
  },
  'js-add': {
    label: 'JS num().add(1n)',
    description: 'JS num().add(1n): gs, one instruction; generic, preemption held off (not interrupts)',
    // Under interrupts only gs is exact: on generic the addon holds preemption off, not interrupts.
    under: { migration: { expect: 'none lost' }, interrupts: { expect: 'none lost', needs: 'gs' }, both: { expect: 'none lost', needs: 'gs' } },
  },
  'js-rmw': {
    label: 'JS thisCpu()+readRemote+writeRemote, no guard',
    description: 'JS thisCpu(), then readRemote() and writeRemote(), no guard',
    under: { migration: { expect: 'some lost' } },
  },
  'js-guard': {
    label: 'JS getMut(new CpuGuard()).with(+= 1n)',
    description: 'JS getMut(new CpuGuard()).with(slot => slot.value += 1n)',
    under: { migration: { expect: 'none lost' } },
  },
};

/**
 * The backend a row (a checked one: see checkRaceRow) must run on whatever the process's: the one
 * it names, else the one its method needs under its scenario, if any.
 */
export function neededBackend(spec: RaceRowSpec): BackendName | undefined {
  return spec.backend ?? METHODS[spec.method].under[spec.scenario]?.needs;
}

/** The default race's rows, whatever this build has; DEFAULT_RACE_ROWS is those it can run. */
export const ALL_DEFAULT_RACE_ROWS: readonly RaceRowSpec[] = [
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
];

/** The rows `npx percpu race` prints: ALL_DEFAULT_RACE_ROWS but those that need a backend this build lacks (gs). */
export const DEFAULT_RACE_ROWS: readonly RaceRowSpec[] = ALL_DEFAULT_RACE_ROWS.filter((row) => {
  const needs = neededBackend(row);
  return needs === undefined || BACKENDS.includes(needs);
});

/**
 * runRace's numeric options (RaceOptions): each one's default and range, `positive` a number above
 * `min` and at most `max`, `whole` a whole number from `min` to `max`. `percpu race` reads the same.
 */
export const RACE_NUMBERS = {
  seconds: { default: 0.5, kind: 'positive', min: 0, max: 600 },
  migrateHz: { default: 1000, kind: 'positive', min: 0, max: 100_000 },
  irqHz: { default: 1000, kind: 'positive', min: 0, max: 100_000 },
  threads: { default: 4, kind: 'whole', min: 2, max: MAX_CPUS },
  windowNs: { default: 1000, kind: 'whole', min: 0, max: 1e7 },
  minMigrations: { default: 1, kind: 'whole', min: 0, max: 1e9 },
  minInterrupts: { default: 1, kind: 'whole', min: 0, max: 1e9 },
  maxSeconds: { default: 60, kind: 'positive', min: 0, max: 3600 },
} as const satisfies Record<string, { default: number; kind: 'positive' | 'whole'; min: number; max: number }>;

export type RaceNumber = keyof typeof RACE_NUMBERS;

/** runRace's options; each number's default and range are in RACE_NUMBERS. */
export interface RaceOptions {
  /** Default: DEFAULT_RACE_ROWS. */
  rows?: readonly RaceRowSpec[];
  /** Seconds each row runs. Default 0.5. */
  seconds?: number;
  /** Swaps per second the scheduler attempts in migration rows. Default 1000. */
  migrateHz?: number;
  /** Interrupts per second to each thread in interrupt rows. Default 1000. */
  irqHz?: number;
  /**
   * Counting threads: the worker CPUs of a CpuSet of this many CPUs that leaves the calling thread
   * out, so CPUs 0..threads-1 of the region. Default 4 (more than this machine's cores is fine).
   */
  threads?: number;
  /** The native generic loops' window between load and store, and their work between ops. Default 1000 ns. */
  windowNs?: number;
  /**
   * A row runs for `seconds` and then on until the scheduler has made this many swaps (migration
   * rows) and the threads have taken this many interrupts (interrupt rows), for at most
   * `maxSeconds`. Defaults 1, 1 and 60; the counts at most 1e9.
   */
  minMigrations?: number;
  minInterrupts?: number;
  maxSeconds?: number;
  /** The backend if the region is not set up yet. Default: PERCPU_BACKEND, else auto. */
  backend?: BackendChoice;
  /**
   * Called as each row finishes, with the row and its index in `rows` (and in the result's rows):
   * this process's rows first, in order, then those that run in a child process for the other
   * backend. formatRaceRow(row) prints one. A callback that throws ends the race: runRace rejects
   * with what it threw, after stopping its threads.
   */
  onRow?: (row: RaceRow, index: number, total: number) => void;
  /** Called with a line of progress before each step (starting the CPUs, each row, a child process). */
  onProgress?: (message: string) => void;
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

/**
 * A row's outcome under its scenario, every field of the row checked: a PerCpuTypeError for a row
 * that is not an object, an unknown method (only METHODS' own keys are methods, not
 * `constructor`), scenario or backend, or a method with no exact outcome under the scenario.
 */
function outcomeOf(spec: RaceRowSpec): Outcome {
  if (typeof spec !== 'object' || spec === null) throw new PerCpuTypeError('a race row is { scenario, method, backend? }');
  const { method, scenario, backend } = spec;
  if (typeof method !== 'string' || !Object.hasOwn(METHODS, method)) {
    throw new PerCpuTypeError(`unknown race method ${describeThrown(method)} (${RACE_METHODS.join(', ')})`);
  }
  if (!RACE_SCENARIOS.includes(scenario)) {
    throw new PerCpuTypeError(`unknown race scenario ${describeThrown(scenario)} (${RACE_SCENARIOS.join(', ')})`);
  }
  if (backend !== undefined && backend !== 'gs' && backend !== 'generic') {
    throw new PerCpuTypeError(`a race row's backend is 'gs' or 'generic', not ${describeThrown(backend)}`);
  }
  const outcome = METHODS[method].under[scenario];
  if (outcome === undefined) throw new PerCpuTypeError(`the ${method} race has no exact outcome under ${scenario}`);
  return outcome;
}

/** The error for a row on a backend other than the one its method needs under its scenario. */
function onlyOn(spec: RaceRowSpec, needs: BackendName, backend: BackendName): PerCpuTypeError {
  return new PerCpuTypeError(`the ${spec.method} race has an exact outcome under ${spec.scenario} on the ${needs} backend only, not on ${backend}`);
}

/** The expectation for a row on `backend`, or a PerCpuTypeError for a combination with no exact outcome. */
export function raceExpectation(spec: RaceRowSpec, backend: BackendName): RaceExpectation {
  const { expect, needs } = outcomeOf(spec);
  if (needs !== undefined && needs !== backend) throw onlyOn(spec, needs, backend);
  return expect;
}

/**
 * Checks a row: its method, scenario and backend, and that it has an exact outcome (on the backend
 * it names, if it names one): a PerCpuTypeError if not. Returns the backend it must run on whatever
 * the process's is (the one it names, or the one its method needs under its scenario), or
 * undefined for any; a BackendUnavailableError if this build lacks that backend.
 */
export function checkRaceRow(spec: RaceRowSpec): BackendName | undefined {
  const outcome = outcomeOf(spec);
  const needs = neededBackend(spec);
  if (outcome.needs !== undefined && needs !== outcome.needs) throw onlyOn(spec, outcome.needs, needs!);
  if (needs !== undefined && !BACKENDS.includes(needs)) {
    throw new BackendUnavailableError(`the ${spec.scenario} ${spec.method} race needs the ${needs} backend, which this build of percpu lacks`);
  }
  return needs;
}

/** The methods with an exact outcome under `scenario` (on `backend`, if given). */
export function raceMethodsUnder(scenario: RaceScenario, backend?: BackendName): RaceMethod[] {
  return RACE_METHODS.filter((method) => {
    const outcome = METHODS[method].under[scenario];
    return outcome !== undefined && (backend === undefined || outcome.needs === undefined || outcome.needs === backend);
  });
}

/** What a method does, in a line: the legend's and `percpu race --help`'s. */
export function raceMethodDescription(method: RaceMethod): string {
  return METHODS[method].description;
}

function rowBackend(spec: RaceRowSpec, here: BackendName): BackendName {
  return neededBackend(spec) ?? here;
}

/** Checks every row (checkRaceRow) before anything is set up or started. */
function checkRows(rows: unknown): readonly RaceRowSpec[] {
  if (!Array.isArray(rows)) throw new PerCpuTypeError('rows must be an array of { scenario, method, backend? }');
  for (const spec of rows as RaceRowSpec[]) checkRaceRow(spec);
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

/** A numeric option, checked against RACE_NUMBERS: its value, or its default when absent. */
function numberOption(options: RaceOptions, name: RaceNumber): number {
  const { default: fallback, kind, min, max } = RACE_NUMBERS[name];
  const value = options[name] ?? fallback;
  if (kind === 'positive') {
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= min || value > max) {
      throw new PerCpuRangeError(`${name} must be a number above ${min} and at most ${max}, got ${String(value)}`);
    }
  } else if (!Number.isInteger(value) || value < min || value > max) {
    throw new PerCpuRangeError(`${name} must be a whole number from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

/** A callback option: a function, or absent. */
function callback<F extends (...args: never[]) => void>(name: string, value: unknown): F | undefined {
  if (value !== undefined && typeof value !== 'function') throw new PerCpuTypeError(`${name} must be a function, not ${describeThrown(value)}`);
  return value as F | undefined;
}

type Resolved = Pick<RaceResult, 'threads' | 'seconds' | 'minMigrations' | 'minInterrupts' | 'maxSeconds' | 'migrateHz' | 'irqHz' | 'windowNs'>;

/** What a run reports as it goes: a row about to start, a row done (by its index in the run's rows), a line of progress. */
interface RaceEvents {
  starting(index: number, spec: RaceRowSpec, backend: BackendName): void;
  done(index: number, row: RaceRow): void;
  progress(message: string): void;
}

/** The options, every one checked (and read once) before anything is set up. */
function checkOptions(options: RaceOptions): { resolved: Resolved; specs: readonly RaceRowSpec[]; backend: BackendChoice | undefined } & Pick<RaceOptions, 'onRow' | 'onProgress'> {
  if (typeof options !== 'object' || options === null) throw new PerCpuTypeError('runRace() takes an options object');
  const { rows, backend } = options;
  const number = (name: RaceNumber) => numberOption(options, name);
  const seconds = number('seconds'), migrateHz = number('migrateHz'), irqHz = number('irqHz'), threads = number('threads');
  const windowNs = number('windowNs'), minMigrations = number('minMigrations'), minInterrupts = number('minInterrupts');
  const maxSeconds = number('maxSeconds');
  if (maxSeconds < seconds) throw new PerCpuRangeError('maxSeconds must be at least seconds');
  const onRow = callback<NonNullable<RaceOptions['onRow']>>('onRow', options.onRow);
  const onProgress = callback<NonNullable<RaceOptions['onProgress']>>('onProgress', options.onProgress);
  const specs = checkRows(rows ?? DEFAULT_RACE_ROWS);
  return {
    resolved: { threads, seconds, minMigrations, minInterrupts, maxSeconds, migrateHz, irqHz, windowNs },
    specs,
    backend,
    ...(onRow === undefined ? {} : { onRow }),
    ...(onProgress === undefined ? {} : { onProgress }),
  };
}

/**
 * The region runRace runs in: the one set up, else one set up now with `threads` CPUs and `backend`
 * (default: PERCPU_BACKEND, else auto). `percpu race` calls it first to print the backend.
 */
export function raceRegion(threads: number, backend?: BackendChoice): RegionInfo {
  return region() ?? setup({ cpus: threads, ...(backend === undefined ? {} : { backend }) });
}

/**
 * Runs the rows: those for this process's backend here, on the `threads` worker CPUs of a CpuSet
 * that leaves the calling thread out (so none may be open on this thread, and the calling thread
 * may not be bound to one of CPUs 0..threads-1); those for the other backend in a child process.
 * Sets up the region (with `threads` CPUs) if it is not set up. Starts and stops the scheduler for
 * each row, so it must not be running already. Everything it refuses, it refuses before it sets
 * up the region or starts a thread. Rows are reported as they finish (onRow), the steps before
 * they start (onProgress).
 */
export async function runRace(options: RaceOptions = {}): Promise<RaceResult> {
  // Everything that can be refused is refused before the region is set up: a call that throws changes nothing.
  const { resolved, specs, backend, onRow, onProgress } = checkOptions(options);
  if (schedulerStats().running) throw new ConflictError('runRace starts and stops the scheduler for each row: stop the running scheduler first');
  const info = raceRegion(resolved.threads, backend);
  const here = info.backend;
  const total = specs.length;
  const rows: RaceRow[] = [];
  const events: RaceEvents = {
    starting: (index, spec, rowBackend) => onProgress?.(`row ${index + 1}/${total}: ${spec.scenario} ${methodColumn(spec.method, rowBackend)}`),
    done: (index, row) => {
      rows[index] = row;
      onRow?.(row, index, total);
    },
    progress: (message) => onProgress?.(message),
  };
  const indexed = specs.map((spec, index) => ({ spec, index }));
  const before = schedulerStats();
  const local = indexed.filter(({ spec }) => rowBackend(spec, here) === here);
  if (local.length > 0) await raceHere(local, resolved, here, events);
  let safety = safetySince(before);
  for (const other of BACKENDS.filter((b) => b !== here)) {
    const there = indexed.filter(({ spec }) => rowBackend(spec, here) === other);
    if (there.length === 0) continue;
    events.progress(`${there.length} row${there.length === 1 ? '' : 's'} on the ${other} backend: running in a child process`);
    safety = addSafety(safety, await raceInChild(other, there, resolved, events));
  }
  return { ...resolved, backend: describeBackend(info), rows, safety };
}

/** A row and its index in the run's rows. */
interface IndexedSpec {
  readonly spec: RaceRowSpec;
  readonly index: number;
}

const RACE_TASKS = tasks<typeof import('./race-tasks')>(path.join(__dirname, 'race-tasks.js'));

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs rows in this process: a CpuSet of `threads` worker CPUs, all taking part in the scheduler. */
async function raceHere(specs: readonly IndexedSpec[], o: Resolved, backend: BackendName, events: RaceEvents): Promise<void> {
  events.progress(`starting ${o.threads} worker CPUs (${backend} backend) for ${specs.length} row${specs.length === 1 ? '' : 's'}`);
  const set = await CpuSet.start({ cpus: o.threads, mainThread: false });
  try {
    await set.onEachCpu(RACE_TASKS.joinScheduler);
    const cpus = Array.from({ length: o.threads }, (_, cpu) => cpu);
    for (const { spec, index } of specs) {
      events.starting(index, spec, backend);
      events.done(index, await runRow(spec, o, backend, set, cpus));
    }
  } finally {
    await set.close(); // each CPU leaves the scheduler as it unbinds
  }
}

async function runRow(spec: RaceRowSpec, o: Resolved, backend: BackendName, set: CpuSet, cpus: number[]): Promise<RaceRow> {
  const info = METHODS[spec.method];
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
  let counts: { iterations: number; irqAdds: number }[];
  try {
    const loop: RaceLoop = {
      method: spec.method,
      ...(info.loop === undefined ? {} : { loop: info.loop }),
      counter,
      stop,
      maxMs: o.maxSeconds * 1000,
      windowNs: o.windowNs,
      interrupts: interrupt,
    };
    const counting = set.onEachCpu(RACE_TASKS.count, loop);
    counting.catch(() => undefined); // awaited below
    const deadline = Date.now() + o.maxSeconds * 1000;
    await sleep(o.seconds * 1000);
    while (!enough() && Date.now() < deadline) await sleep(5);
    Atomics.store(stop, 0, 1);
    counts = await counting;
  } finally {
    Atomics.store(stop, 0, 1);
    untrack();
    stopScheduler();
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const s1 = schedulerStats();
  const found = Number(variable.sum() - before);
  const issued = counts.reduce((sum, c) => sum + c.iterations + c.irqAdds, 0);
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

/**
 * Set in a child process that runs rows for runRace. Its stdin is a pipe from the parent: when it
 * ends, the parent is gone (its process exited, or the worker that ran runRace was terminated and
 * its handles closed), and the child exits at once rather than race on for nobody.
 */
const RACE_CHILD_ENV = 'PERCPU_RACE_CHILD';

/** In a child of runRace (see RACE_CHILD_ENV): exits when the parent goes. ./race-child calls it. */
export function exitWithRaceParent(): void {
  if (process.env[RACE_CHILD_ENV] !== '1') return;
  process.stdin.on('end', () => process.exit(1)).on('error', () => process.exit(1));
  process.stdin.resume();
  process.stdin.unref(); // the pipe alone does not keep this process alive
}

/** What a parent sends its race child (as its one argument, JSON). */
export interface RaceChildRequest {
  readonly backend: BackendName;
  readonly rows: readonly RaceRowSpec[];
  readonly options: Resolved;
}

/** What a race child prints, one JSON line each: a row starting, a row done (indexes into its rows), then its scheduler checks. */
export type RaceChildEvent =
  | { readonly type: 'starting'; readonly index: number }
  | { readonly type: 'row'; readonly index: number; readonly row: RaceRow }
  | { readonly type: 'safety'; readonly safety: RaceSafety };

/** The child's side (./race-child): runs its rows here, on its backend, and prints each event as a line. */
export async function serveRaceChild(request: RaceChildRequest, emit: (event: RaceChildEvent) => void): Promise<void> {
  const { backend, rows, options } = request;
  const specs = checkRows(rows);
  setup({ cpus: options.threads, backend });
  const before = schedulerStats();
  await raceHere(specs.map((spec, index) => ({ spec, index })), options, backend, {
    starting: (index) => emit({ type: 'starting', index }),
    done: (index, row) => emit({ type: 'row', index, row }),
    progress: () => undefined,
  });
  emit({ type: 'safety', safety: safetySince(before) });
}

const RACE_CHILD = path.join(__dirname, 'race-child.js');

/** Runs rows in a child process on `backend`, reporting each as it finishes; resolves with the child's scheduler checks. */
function raceInChild(backend: BackendName, specs: readonly IndexedSpec[], o: Resolved, events: RaceEvents): Promise<RaceSafety> {
  const request: RaceChildRequest = { backend, rows: specs.map(({ spec }) => spec), options: o };
  const env: NodeJS.ProcessEnv = { ...process.env, [RACE_CHILD_ENV]: '1' };
  delete env['PERCPU_BACKEND'];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [RACE_CHILD, JSON.stringify(request)], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const untrack = track(child, running.children);
    let safety: RaceSafety | undefined;
    let failure: unknown;
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr = (stderr + text).slice(-4096)));
    readline.createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', (line) => {
      if (failure !== undefined) return;
      try {
        const event = JSON.parse(line) as RaceChildEvent;
        if (event.type === 'safety') safety = event.safety;
        else {
          const { spec, index } = specs[event.index]!;
          if (event.type === 'starting') events.starting(index, spec, backend);
          else events.done(index, event.row);
        }
      } catch (error) {
        failure = error; // a callback threw (or the line is not an event): the child has nobody to race for
        child.kill();
      }
    });
    child.on('error', (error) => (failure ??= error));
    child.on('close', (code, signal) => {
      untrack();
      if (failure !== undefined) reject(failure);
      else if (code !== 0 || safety === undefined) {
        reject(new Error(`the ${backend} race in a child process failed (${signal ?? `exit code ${code}`}): ${stderr.trim() || 'no result'}`));
      } else resolve(safety);
    });
  });
}

/**
 * The table's columns: fixed widths, so that a row can be printed alone as it finishes, under a
 * header printed first, and every line fits 100 columns.
 */
const COLUMNS = [
  { head: 'scenario', width: 11, right: false },
  { head: 'method', width: 14, right: false },
  { head: 'issued', width: 12, right: true },
  { head: 'found', width: 12, right: true },
  { head: 'lost', width: 10, right: true },
  { head: 'swaps', width: 6, right: true },
  { head: 'skipped', width: 8, right: true },
  { head: 'irqs', width: 7, right: true },
  { head: '  expected', width: 11, right: false },
  { head: '  result', width: 9, right: false },
] as const;

/** The widest line formatRaceHeader() and formatRaceRow() print. */
export const RACE_TABLE_WIDTH = COLUMNS.reduce((sum, c) => sum + c.width, 0);

/** A count that fits `width - 1` characters: exact, or (past about 10^10) rounded with a k/M/G/T suffix. */
function count(n: number, width: number): string {
  const exact = String(n);
  if (exact.length < width) return exact;
  for (const [suffix, unit] of [['k', 1e3], ['M', 1e6], ['G', 1e9], ['T', 1e12], ['P', 1e15]] as const) {
    const short = `${Math.round(n / unit)}${suffix}`;
    if (short.length < width) return short;
  }
  return `${n.toExponential(0)}`;
}

function line(cells: readonly string[]): string {
  return cells
    .map((cell, i) => {
      const { width, right } = COLUMNS[i]!;
      return right ? cell.padStart(width) : cell.padEnd(width);
    })
    .join('')
    .trimEnd();
}

/** The method column: the method, and for JS num().add the backend it ran on. */
function methodColumn(method: RaceMethod, backend: BackendName): string {
  return method === 'js-add' ? `${method} ${backend}` : method;
}

/** The table's header line (at most RACE_TABLE_WIDTH = 100 columns). */
export function formatRaceHeader(): string {
  return line(COLUMNS.map((c) => c.head));
}

/** One row of the table, as formatRaceHeader() heads it (at most 100 columns). */
export function formatRaceRow(row: RaceRow): string {
  const result = row.ok ? 'ok' : row.enough ? 'FAILED' : 'TOO FEW';
  return line([
    row.scenario,
    methodColumn(row.method, row.backend),
    count(row.issued, 12),
    count(row.found, 12),
    count(row.lost, 10),
    count(row.migrations, 6),
    count(row.skipped, 8),
    count(row.interrupts, 7),
    `  ${row.expected}`,
    `  ${result}`,
  ]);
}

/** What the columns and the methods of `rows` mean, a line each (at most 100 columns). */
export function formatRaceLegend(rows: readonly Pick<RaceRowSpec, 'method'>[]): string {
  const methods = RACE_METHODS.filter((m) => rows.some((r) => r.method === m));
  return [
    'issued: updates made; found: their sum over CPUs; lost: issued - found; swaps: migrations made;',
    'skipped: swaps declined (a thread held preemption off); irqs: interrupts taken.',
    'result: ok, FAILED (not as expected), TOO FEW (fewer swaps or interrupts than asked for).',
    ...methods.map((m) => `${m.padEnd(9)} ${raceMethodDescription(m)}`),
  ].join('\n');
}

/** The result as a table, at most 100 columns wide: the header, a line per row, and the legend. */
export function formatRaceTable(result: RaceResult): string {
  return [formatRaceHeader(), ...result.rows.map(formatRaceRow), '', formatRaceLegend(result.rows)].join('\n');
}
