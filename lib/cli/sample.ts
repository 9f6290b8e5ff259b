/**
 * The Rust sample module (samples/rust/rust_percpu.rs), ported: run on every CPU of a CpuSet,
 * printing the module's messages and a per-CPU table of results.
 */
import { fastPath } from '../core/native';
import { CpuSet } from '../cpus/cpuset';
import { DynamicPerCpu } from '../core/percpu';
import { describeBackend, region, stats, type BackendChoice } from '../core/region';
import type * as SampleTasks from './sample-tasks';
import { task } from '../cpus/task';
import { NUMERIC_TYPES, type NumericType } from '../core/types';

export interface SampleOptions {
  /** CPUs to run on. Default: the region's, or os.availableParallelism(). */
  cpus?: number;
  /** The backend, if the region is not set up yet. Default: PERCPU_BACKEND, else auto. */
  backend?: BackendChoice;
  /** Where messages go. Default: console.log. */
  log?: (line: string) => void;
}

export interface SampleResult {
  cpus: number;
  passed: number;
  failed: number;
  /** One row per check, one cell per CPU (one cell only for a check made once for the process). */
  table: { check: string; expected: string; byCpu: string[]; ok: boolean[] }[];
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
  const result: SampleResult = { cpus: set.cpus, passed: 0, failed: 0, table: [] };
  const cpus = Array.from({ length: set.cpus }, (_, cpu) => cpu);

  // One table row: `actual[cpu]` against `expected`, for every CPU; or, for a check made once for
  // the whole process, one cell (counted once).
  const row = (name: string, expected: unknown, actual: unknown[]) => {
    const ok = actual.map((value) => String(value) === String(expected));
    for (const good of ok) good ? result.passed++ : result.failed++;
    result.table.push({ check: name, expected: String(expected), byCpu: actual.map(String), ok });
    ok.forEach((good, cpu) => {
      if (!good) log(`FAILED${actual.length > 1 ? ` on CPU ${cpu}` : ''}: ${name}: expected ${String(expected)}, got ${String(actual[cpu])}`);
    });
  };
  const once = (name: string, expected: unknown, actual: unknown) => row(`${name} (process)`, expected, [actual]);

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

  log('');
  for (const line of formatTable(result)) log(line);
  const info = region()!;
  log('');
  log(
    `percpu sample on ${set.cpus} CPUs, ${describeBackend(info)}: ` +
      `${result.passed} checks passed, ${result.failed} failed; num() through ${fastPath.reason}`,
  );
  return result;
}

/** The per-CPU table: one row per check, one column per CPU. */
export function formatTable(result: SampleResult): string[] {
  const header = ['check', 'expected', ...Array.from({ length: result.cpus }, (_, cpu) => `CPU ${cpu}`)];
  const cells = (r: SampleResult['table'][number]) => r.byCpu.map((v, cpu) => `${v} ${r.ok[cpu] ? 'ok' : 'FAIL'}`);
  const rows = result.table.map((r) => [r.check, r.expected, ...cells(r), ...Array<string>(result.cpus - r.byCpu.length).fill('')]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.map(line)];
}
