/**
 * PerCpuHistogram: fixed buckets, one u64 slot a bucket and one for the sum, on every CPU.
 */
import { PerCpuRangeError, PerCpuTypeError } from '../index';
import type { MetricSample } from './exposition';
import { PerCpuMetric, compileMethod, sumOf, toSlotAmount, type Drained, type MetricOptions, type Series } from './metric';

/** The most buckets a histogram may have (each is a slot on every CPU). */
export const MAX_BUCKETS = 256;

const U64_MAX = (1n << 64n) - 1n;

export interface HistogramOptions extends MetricOptions {
  /**
   * The buckets' upper bounds (Prometheus's `le`), in the histogram's integer unit: 1 to 256
   * non-negative safe integers, strictly increasing. The `+Inf` bucket is always there, after them.
   */
  readonly buckets: readonly number[];
}

/** A histogram read (or drained) once: buckets, sum and count agree as Prometheus wants. */
export interface HistogramSnapshot {
  /**
   * Cumulative counts, one a bound and one for `+Inf`: `buckets[i]` observations were at most
   * `bounds[i]`; the last is every observation, `count`.
   */
  readonly buckets: bigint[];
  /** The sum of the observations, in the histogram's integer unit. */
  readonly sum: bigint;
  /** The number of observations (the `+Inf` bucket). */
  readonly count: bigint;
}

/** The bounds, checked and copied. */
function readBounds(buckets: unknown): number[] {
  if (!Array.isArray(buckets)) throw new PerCpuTypeError('a histogram takes buckets: an array of upper bounds');
  const bounds = [...(buckets as unknown[])];
  if (bounds.length < 1 || bounds.length > MAX_BUCKETS) throw new PerCpuRangeError(`a histogram has 1 to ${MAX_BUCKETS} bucket bounds (+Inf is implicit)`);
  bounds.forEach((bound, i) => {
    if (typeof bound !== 'number' || !Number.isSafeInteger(bound)) {
      throw new PerCpuTypeError('bucket bounds are safe integers, in the histogram\'s integer unit (see decimals)');
    }
    if (bound < 0 || (i > 0 && bound <= (bounds[i - 1] as number))) throw new PerCpuRangeError('bucket bounds are non-negative and strictly increasing');
  });
  return bounds as number[];
}

/** An observation that is not a non-negative number up to 2^53: checked the slow way. */
function observation(value: number | bigint): bigint {
  const amount = toSlotAmount(value, 'an observation');
  if (amount < 0n || amount > U64_MAX) throw new PerCpuRangeError('a histogram observes integers from 0 to 2^64 - 1');
  return amount;
}

/**
 * A per-CPU histogram (Prometheus type `histogram`) with fixed buckets. `observe(v)` finds v's
 * bucket (a binary search of the bounds), then adds 1 to this CPU's slot of that bucket and v to
 * this CPU's slot of the sum: two single instructions on the gs backend (`inc %gs:(off)`, then
 * `add %reg,%gs:(off)`). The count is not a slot of its own: it is the sum of the buckets, so the
 * `+Inf` bucket and `_count` are equal in every read, and cumulative buckets never decrease.
 *
 * Values are integers in the histogram's unit, e.g. nanoseconds from `process.hrtime.bigint()`
 * with `decimals: 9` to export seconds, or microseconds with `decimals: 6`.
 *
 * Read contract (as for Java's LongAdder): a read takes each CPU's slots once each, without a
 * lock. With no concurrent observe() it is exact. During observations it is not an atomic
 * snapshot: it includes every observe() that returned before the read began, none begun after it
 * returned, and of one concurrent with it possibly only its bucket (then the sum lacks its value)
 * or only its value in the sum; buckets and count always agree with each other. drain() writes no
 * slot and loses nothing: each observation's bucket lands in exactly one period, and so does its
 * value in the sum (possibly the next period's, when the drain raced it).
 *
 * Every thread that creates a histogram of the same name, buckets and decimals gets the same
 * slots (see MetricOptions). Updates need a thread bound to a CPU; reads work on any thread.
 */
export class PerCpuHistogram extends PerCpuMetric {
  readonly type = 'histogram' as const;
  /** The buckets' upper bounds, without `+Inf`. */
  readonly bounds: readonly number[];
  /**
   * Counts `value` (a non-negative integer in the histogram's unit: a number up to 2^53 or a
   * bigint below 2^64) in its bucket, on this CPU, and adds it to this CPU's sum. Needs no
   * `this`. Throws NotBoundError on a thread that is not a CPU; a call that throws changes nothing.
   */
  readonly observe: (value: number | bigint) => void;
  /** The `le` label of each bucket, in the exported unit. */
  readonly #le: string[];

  constructor(options: HistogramOptions) {
    const bounds = readBounds(typeof options === 'object' && options !== null ? options.buckets : undefined);
    super('histogram', options, 'u64', [...bounds.map((_, i) => `bucket${i}`), 'bucketInf', 'sum'], { buckets: Object.freeze([...bounds]) });
    this.bounds = Object.freeze([...bounds]);
    // This histogram's own observe() (see compileMethod): the value is checked first; a binary
    // search of numbers (a bigint beyond 2^53 is past every bound, which are safe integers) finds
    // the first bound >= value, or +Inf (bounds.length); each bucket's `inc` has a call site of its
    // own in the switch, then the sum's `add`. The source holds integers only.
    const incs = this.parts.slice(0, -1).map((bucket) => bucket.num().inc);
    const cases = incs.map((_, i) => `case ${i}: inc${i}(); break;`).join(' ');
    this.observe = compileMethod(
      'observe',
      'value',
      `let amount;
      let key; // the value as a number for the search: exact up to 2^53, past every bound beyond
      if (typeof value === 'number' && value >= 0 && Number.isSafeInteger(value)) {
        amount = BigInt(value);
        key = value;
      } else {
        amount = observation(value);
        key = amount > 9007199254740991n ? Infinity : Number(amount);
      }
      let low = 0;
      let high = ${bounds.length};
      while (low < high) {
        const middle = (low + high) >>> 1;
        if (key <= bounds[middle]) high = middle;
        else low = middle + 1;
      }
      switch (low) { ${cases} }
      sumAdd(amount);`,
      { bounds, observation, sumAdd: this.parts.at(-1)!.num().add, ...Object.fromEntries(incs.map((inc, i) => [`inc${i}`, inc])) },
    );
    this.#le = [...bounds.map((bound) => this.format(BigInt(bound))), '+Inf'];
  }

  /** The histogram over every CPU, read now (see the class's read contract). */
  snapshot(): HistogramSnapshot {
    return this.#snapshotOf(this.readTotals());
  }

  /** Each CPU's own histogram, by CPU. */
  snapshots(): HistogramSnapshot[] {
    return this.#byCpu(this.readSlots());
  }

  /**
   * The observations since this object's previous drain() (or since the histogram was defined),
   * in all and by CPU. Writes nothing (see the class's contract): each object keeps its own baseline.
   */
  drain(): Drained<HistogramSnapshot> {
    const changes = this.drainSlots();
    return { total: this.#snapshotOf(changes.map(sumOf)), byCpu: this.#byCpu(changes) };
  }

  #byCpu(slots: readonly (readonly bigint[])[]): HistogramSnapshot[] {
    return Array.from({ length: this.cpus }, (_, cpu) => this.#snapshotOf(slots.map((row) => row[cpu]!)));
  }

  /** A snapshot from each part's value: the buckets (not cumulative), then the sum. */
  #snapshotOf(parts: readonly bigint[]): HistogramSnapshot {
    const buckets: bigint[] = [];
    let count = 0n;
    for (let i = 0; i < parts.length - 1; i++) buckets.push((count += parts[i]!));
    return { buckets, sum: parts.at(-1)!, count };
  }

  /** @internal */
  samplesOf(series: readonly Series[]): MetricSample[] {
    return series.flatMap(({ labels, values }) => {
      const { buckets, sum, count } = this.#snapshotOf(values);
      return [
        ...buckets.map((cumulative, i) => ({ name: `${this.name}_bucket`, labels: { ...labels, le: this.#le[i]! }, value: cumulative.toString() })),
        { name: `${this.name}_sum`, labels, value: this.format(sum) },
        { name: `${this.name}_count`, labels, value: count.toString() },
      ];
    });
  }
}
