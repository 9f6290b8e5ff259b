/**
 * Tasks the metrics tests run on CPUs: metrics reach them as share()'s plain data (or by name) and
 * are defined again here, on the same slots.
 */
import { thisCpu } from '../lib';
import { PerCpuCounter, PerCpuGauge, PerCpuHistogram, reviveMetric, type SharedPerCpuMetric } from '../lib/metrics';

/** What a metric op is given: a counter's inc, a gauge's inc/dec/set, a histogram's observe. */
export type MetricOp = 'inc' | 'dec' | 'set' | 'observe';

/** Revives `shared` on this CPU and applies `op` to each value in turn. Returns this CPU's number. */
export function update(shared: SharedPerCpuMetric, op: MetricOp, values: (number | bigint | undefined)[]): number {
  const metric = reviveMetric(shared) as unknown as Record<MetricOp, (value?: number | bigint) => void>;
  for (const value of values) metric[op](value);
  return thisCpu()!;
}

/** Defines a counter by name on this CPU (as a module of a server would) and adds `amount`. */
export function incByName(name: string, help: string, amount: number): number {
  new PerCpuCounter({ name, help }).inc(amount);
  return thisCpu()!;
}

/** What one CPU added under load, counted on the side in plain JS: the figures a drain must find. */
export interface LoadTotals {
  cpu: number;
  incs: number;
  /** The sum of the counter's increments. */
  added: bigint;
  /** Observations by bucket (not cumulative; the last is +Inf). */
  buckets: number[];
  observedSum: bigint;
}

/** One CPU's load on a counter and a histogram: the same deterministic updates on every thread. */
export class Load {
  readonly totals: LoadTotals;
  #i = 0;

  constructor(
    readonly counter: PerCpuCounter,
    readonly histogram: PerCpuHistogram,
  ) {
    const cpu = thisCpu()!;
    this.totals = { cpu, incs: 0, added: 0n, buckets: histogram.bounds.map(() => 0).concat(0), observedSum: 0n };
  }

  /** `n` updates of each metric: increments of 1 to 13, observations of 0 to 1199. */
  run(n: number): void {
    const { counter, histogram, totals } = this;
    for (let k = 0; k < n; k++, this.#i++) {
      const amount = 1 + ((this.#i * 7 + totals.cpu) % 13);
      counter.inc(amount);
      totals.incs++;
      totals.added += BigInt(amount);
      const value = (this.#i * 37 + totals.cpu * 11) % 1200;
      histogram.observe(value);
      const bucket = histogram.bounds.findIndex((bound) => value <= bound);
      totals.buckets[bucket === -1 ? histogram.bounds.length : bucket]!++;
      totals.observedSum += BigInt(value);
    }
  }
}

/**
 * Updates the metrics in batches of 500 until `flags[0]` is set: counts itself in `flags[1]` when
 * it starts and its batches in `flags[2 + cpu]`. Returns what it added.
 */
export function loadUntilStopped(counter: SharedPerCpuMetric, histogram: SharedPerCpuMetric, words: SharedArrayBuffer): LoadTotals {
  const flags = new Int32Array(words);
  const load = new Load(reviveMetric(counter) as PerCpuCounter, reviveMetric(histogram) as PerCpuHistogram);
  Atomics.add(flags, 1, 1);
  while (Atomics.load(flags, 0) === 0) {
    load.run(500);
    Atomics.add(flags, 2 + load.totals.cpu, 1);
  }
  return load.totals;
}

/** A gauge's share on this CPU: sets it to `value`. */
export function setGauge(name: string, help: string, value: number): number {
  new PerCpuGauge({ name, help }).set(value);
  return thisCpu()!;
}
