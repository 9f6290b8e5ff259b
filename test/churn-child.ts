/**
 * The allocation churn of test/churn.test.ts, in a child process of its own (run with
 * --expose-gc) so that its resident set size measures only this: `--cycles` newZero/release
 * cycles over every type, half of them one at a time and half against a window of live
 * allocations of random types. Prints one JSON line (ChurnReport).
 *
 * It yields to the event loop every YIELD_EVERY cycles: Node runs the finalizers of collected
 * handle objects from the event loop (not during a synchronous loop), and each pending one holds
 * about 200 bytes of native memory until it runs.
 */
import { parseArgs } from 'node:util';
import { DynamicPerCpu, NUMERIC_TYPES, setup, stats, type AllocatorStats, type NumericType } from '../lib';
import { Rng } from './fuzz/calls';

export const YIELD_EVERY = 10_000;
export const WINDOW = 64;

export interface ChurnReport {
  cycles: number;
  ms: number;
  /** After the warm-up and after the churn: RSS in bytes and the allocator's stats. */
  before: { rss: number; stats: AllocatorStats };
  after: { rss: number; stats: AllocatorStats };
  /** Offsets seen, by type, in the one-at-a-time half. */
  singleOffsets: Record<string, number[]>;
  /** The highest end (offset + size) of any allocation in the windowed half. */
  windowHighWater: number;
  /** Distinct offsets used in the windowed half. */
  windowOffsets: number;
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

async function settle(): Promise<{ rss: number; stats: AllocatorStats }> {
  for (let i = 0; i < 3; i++) {
    global.gc!();
    await tick();
  }
  return { rss: process.memoryUsage().rss, stats: stats() };
}

async function churn(cycles: number, record: boolean, report: Pick<ChurnReport, 'singleOffsets' | 'windowHighWater' | 'windowOffsets'>): Promise<void> {
  const rng = new Rng(cycles);
  const single = Math.floor(cycles / 2);
  const offsets = new Map<NumericType, Set<number>>(NUMERIC_TYPES.map((t) => [t, new Set()]));
  for (let i = 0; i < single; i++) {
    const type = NUMERIC_TYPES[i % NUMERIC_TYPES.length]!;
    const v = DynamicPerCpu.newZero(type);
    if (record) offsets.get(type)!.add(v.offset);
    v.release();
    if (i % YIELD_EVERY === 0) await tick();
  }
  const window: DynamicPerCpu<NumericType>[] = [];
  const used = new Set<number>();
  let highWater = 0;
  for (let i = single; i < cycles; i++) {
    if (window.length === WINDOW) window.splice(rng.int(WINDOW), 1)[0]!.release();
    const type = rng.pick(NUMERIC_TYPES);
    const v = DynamicPerCpu.newZero(type);
    window.push(v);
    if (record) {
      used.add(v.offset);
      highWater = Math.max(highWater, v.offset + (type.endsWith('8') ? 1 : type.endsWith('16') ? 2 : type.endsWith('32') ? 4 : 8));
    }
    if (i % YIELD_EVERY === 0) await tick();
  }
  for (const v of window) v.release();
  if (record) {
    report.singleOffsets = Object.fromEntries([...offsets].map(([t, s]) => [t, [...s]]));
    report.windowHighWater = highWater;
    report.windowOffsets = used.size;
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { cycles: { type: 'string', default: '1000000' }, warmup: { type: 'string', default: '100000' } } });
  const cycles = Number(values.cycles);
  setup({ cpus: 4 });
  const partial = { singleOffsets: {}, windowHighWater: 0, windowOffsets: 0 };
  await churn(Number(values.warmup), false, partial);
  const before = await settle();
  const start = Date.now();
  await churn(cycles, true, partial);
  const ms = Date.now() - start;
  const after = await settle();
  const report: ChurnReport = { cycles, ms, before, after, ...partial };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exitCode = 1;
  });
}
