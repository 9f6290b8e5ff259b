/**
 * The Rust sample module (samples/rust/rust_percpu.rs), ported: run on every CPU of a CpuSet,
 * printing the module's messages, a table with one row per check, and a summary.
 */
import { fastPath } from '../core/native';
import { CpuSet } from '../cpus/cpuset';
import { DynamicPerCpu } from '../core/percpu';
import { describeBackend, region, stats, type BackendChoice, type BackendName, type RegionInfo } from '../core/region';
import type * as SampleTasks from './sample-tasks';
import { task } from '../cpus/task';
import { NUMERIC_TYPES, type NumericType } from '../core/types';
import { fold, measure, tableLine, tableRule } from './text';

export interface SampleOptions {
  /** CPUs to run on. Default: the region's, or os.availableParallelism(). */
  cpus?: number;
  /** The backend, if the region is not set up yet. Default: PERCPU_BACKEND, else auto. */
  backend?: BackendChoice;
  /** Where the module's messages, the table and the summary go, line by line. Default: console.log. */
  log?: (line: string) => void;
}

/** One check of the sample: made on every CPU, or once for the whole process. */
export interface SampleCheck {
  readonly check: string;
  readonly expected: string;
  /** True for a check made on every CPU (`actual` has a value per CPU), false for one made once. */
  readonly perCpu: boolean;
  /** What each CPU saw, in CPU order; one value for a check made once for the process. */
  readonly actual: string[];
  readonly ok: boolean[];
}

/** What `percpu sample --json` prints. */
export interface SampleResult {
  readonly cpus: number;
  /** The backend that ran, and why it was chosen. */
  readonly backend: BackendName;
  readonly backendReason: string;
  /** How num()'s ops reach the addon: the accelerator, or Node-API and why. */
  readonly numPath: string;
  /** Checks passed and failed, counted once per CPU for a check made on every CPU. */
  readonly passed: number;
  readonly failed: number;
  readonly checks: SampleCheck[];
}

const tasksModule = require.resolve('./sample-tasks');
const staticTests = task<typeof SampleTasks.staticTests>(tasksModule, 'staticTests');
const increment = task<typeof SampleTasks.increment>(tasksModule, 'increment');
const check = task<typeof SampleTasks.check>(tasksModule, 'check');
const keepClone = task<typeof SampleTasks.keepClone>(tasksModule, 'keepClone');
const dropClone = task<typeof SampleTasks.dropClone>(tasksModule, 'dropClone');
const numericSequence = task<typeof SampleTasks.numericSequence>(tasksModule, 'numericSequence');

/** Runs the sample. Resolves with the results; `failed > 0` means a check failed. */
export async function runSample(options: SampleOptions = {}): Promise<SampleResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  await using set = await CpuSet.start({
    ...(options.cpus === undefined ? {} : { cpus: options.cpus }),
    ...(options.backend === undefined ? {} : { backend: options.backend }),
  });
  const checks: SampleCheck[] = [];
  const cpus = Array.from({ length: set.cpus }, (_, cpu) => cpu);

  // A check of `actual[cpu]` against `expected` on every CPU, or (once) of one value for the process.
  const record = (name: string, expected: unknown, actual: unknown[], perCpu: boolean) => {
    const ok = actual.map((value) => String(value) === String(expected));
    checks.push({ check: name, expected: String(expected), perCpu, actual: actual.map(String), ok });
    ok.forEach((good, cpu) => {
      if (!good) {
        for (const line of fold(`FAILED${perCpu ? ` on CPU ${cpu}` : ''}: ${name}: expected ${String(expected)}, got ${String(actual[cpu])}`)) log(line);
      }
    });
  };
  const row = (name: string, expected: unknown, actual: unknown[]) => record(name, expected, actual, true);
  const once = (name: string, expected: unknown, actual: unknown) => record(name, expected, [actual], false);

  log('rust percpu test start');

  // Every CPU runs the static tests on its own slots; the module's messages are CPU 0's, the
  // table has every CPU's.
  const staticSteps = await set.onEachCpu(staticTests);
  for (const s of staticSteps[0]!) log(`Native: ${s.expected}, ${s.what}: ${s.actual}`);
  staticSteps[0]!.forEach((s, i) => row(s.what, s.expected, cpus.map((cpu) => staticSteps[cpu]![i]!.actual)));
  log('rust static percpu test done');

  log('rust dynamic percpu test start');
  {
    using test = DynamicPerCpu.newZero('u64');
    // on_each_cpu(inc_percpu, wait = 0) three times, then once waiting: each CPU runs them in order.
    const noWait = [set.onEachCpu(increment, test), set.onEachCpu(increment, test), set.onEachCpu(increment, test)];
    const waited = await set.onEachCpu(increment, test);
    for (const done of [...(await Promise.all(noWait)), waited]) for (const cpu of done) log(`Incrementing on ${cpu}`);
    row('new_zero, 4 x on_each_cpu(inc)', 4n, await set.onEachCpu(check, test));
    row('new_zero, remote read', 4n, test.values());
  }
  {
    using test = DynamicPerCpu.newWith('u64', 100n);
    for (let i = 0; i < 4; i++) await set.onEachCpu(increment, test);
    row('new_with(100), 4 x on_each_cpu(inc)', 104n, await set.onEachCpu(check, test));
  }
  {
    const before = stats().liveAllocations;
    const test = DynamicPerCpu.newZero('u64');
    await set.onEachCpu(keepClone, test);
    once('release: refCount with a clone on every CPU', set.cpus + 1, test.refCount);
    row('release: clones dropped', true, await set.onEachCpu(dropClone));
    once('release: refCount of the last handle', 1, test.refCount);
    test.release();
    once('release: allocation freed by the last handle', before, stats().liveAllocations);
    let threw = '';
    try {
      test.num().add(1n);
    } catch (error) {
      threw = (error as { code?: string }).code ?? String(error);
    }
    once('release: released handle throws', 'ERR_PERCPU_RELEASED', threw);
  }
  log('rust dynamic percpu test done');

  log('rust numeric optimizations test start');
  // The Rust sample's order: unsigned types first.
  const order = [...NUMERIC_TYPES.filter((t) => t.startsWith('u')), ...NUMERIC_TYPES.filter((t) => t.startsWith('i'))];
  for (const type of order) {
    using test = DynamicPerCpu.newZero(type);
    const seen = await set.onEachCpu(numericSequence, test as DynamicPerCpu<NumericType>);
    row(`${type}: set 10, add 1`, 11, seen.map((s) => s[0]));
    row(`${type}: add 10`, 21, seen.map((s) => s[1]));
    row(`${type}: sub 5`, 16, seen.map((s) => s[2]));
    row(`${type}: remote read`, 16, test.values());
  }
  log('rust numeric optimizations test done');

  const info = region()!;
  const passed = checks.reduce((n, c) => n + c.ok.filter(Boolean).length, 0);
  const result: SampleResult = {
    cpus: set.cpus,
    backend: info.backend,
    backendReason: info.backendReason,
    numPath: fastPath.reason,
    passed,
    failed: checks.reduce((n, c) => n + c.actual.length, 0) - passed,
    checks,
  };
  log('');
  for (const line of formatChecks(result)) log(line);
  log('');
  for (const line of formatSummary(result, info)) log(line);
  return result;
}

/** A check's outcome in a few words: `ok on CPUs 0-3`, `FAILED on CPU 2`, `ok (once)`. */
function outcome(check: SampleCheck): string {
  const failed = check.ok.flatMap((good, cpu) => (good ? [] : [cpu]));
  if (!check.perCpu) return failed.length === 0 ? 'ok (once)' : 'FAILED (once)';
  const n = check.ok.length;
  if (failed.length === 0) return n === 1 ? 'ok on CPU 0' : `ok on CPUs 0-${n - 1}`;
  return failed.length === 1 ? `FAILED on CPU ${failed[0]}` : `FAILED on ${failed.length} of ${n} CPUs`;
}

/**
 * The table: one row per check, its expected value, and its outcome over the CPUs (the values
 * each CPU saw are in --json, and a FAILED line above the table names each that differs).
 */
export function formatChecks(result: SampleResult): string[] {
  const rows = [['check', 'expected', 'result'], ...result.checks.map((c) => [c.check, c.expected, outcome(c)])];
  const columns = measure(rows);
  return [tableLine(rows[0]!, columns), tableRule(columns), ...rows.slice(1).map((cells) => tableLine(cells, columns))];
}

/** The last lines: the backend (the region's that ran), num()'s path, and the counts (the very last line). */
export function formatSummary(result: SampleResult, info: RegionInfo): string[] {
  return [
    ...fold(`backend: ${describeBackend(info)}`),
    ...fold(`num() through: ${result.numPath}`),
    `percpu sample on ${result.cpus} CPUs, ${result.backend}: ${result.passed} checks passed, ${result.failed} failed`,
  ];
}
