/**
 * PerCpuCounter: a monotonic counter, one u64 slot a CPU (the kernel's percpu_counter without its
 * batch: every CPU adds to its own slot, any thread sums them).
 */
import { PerCpuRangeError } from '../index';
import { PerCpuScalarMetric, compileMethod, sumOf, toSlotAmount, type Drained, type MetricOptions } from './metric';

/** A counter's increment, checked: a non-negative integer (the op itself refuses 2^64 and more). */
function increment(amount: number | bigint): bigint {
  const value = toSlotAmount(amount, 'a counter increment');
  if (value < 0n) throw new PerCpuRangeError('a counter only goes up: inc() takes a non-negative amount');
  return value;
}

/**
 * A monotonic per-CPU counter (Prometheus type `counter`): `inc()` adds to this CPU's slot, on the
 * gs backend with ONE instruction, `add %reg,%gs:(off)` (no lock, no atomic, no message).
 *
 * Reads and their contract, as for Java's LongAdder:
 * - `value()` reads each CPU's slot once, one after another, without a lock. With no concurrent
 *   update it is exact. While CPUs update the counter it is not an atomic snapshot: it includes
 *   every `inc()` that returned before `value()` was called, none that began after it returned,
 *   and any of those concurrent with it may or may not be in it. As the slots only grow, the
 *   result lies between the counter's total when the call began and its total when it returned.
 * - `drain()` returns what was added since this object's previous `drain()` and writes no slot,
 *   so it loses no update: an `inc()` concurrent with a drain is in this period or in the next,
 *   never in both, never in neither. The periods' totals, added up, plus what a last drain finds
 *   once the updates have stopped, are exactly the sum of all `inc()`s.
 *
 * Every thread that creates a counter of the same name gets the same slots (see MetricOptions).
 * Updates need a thread bound to a CPU (a CpuSet's); reads work on any thread.
 */
export class PerCpuCounter extends PerCpuScalarMetric {
  readonly type = 'counter' as const;

  /**
   * Adds `amount` (default 1) to this CPU's slot: a non-negative integer, a number up to 2^53 or a
   * bigint below 2^64. `inc()` is `inc %gs:(off)`, `inc(n)` is `add %reg,%gs:(off)`. Needs no
   * `this`: `const { inc } = counter` works. Throws NotBoundError on a thread that is not a CPU;
   * a call that throws changes nothing.
   */
  readonly inc: (amount?: number | bigint) => void;

  constructor(options: MetricOptions) {
    super('counter', options, 'u64', ['value'], {});
    const { inc, add } = this.parts[0]!.num();
    this.inc = compileMethod('inc', 'amount', 'if (amount === undefined) inc(); else add(increment(amount));', { inc, add, increment });
  }

  /**
   * What was added since this object's previous drain() (or since the counter was defined): each
   * CPU's part, and their total. Writes nothing: every CPU keeps its slot (see the class's contract).
   * Each object keeps its own baseline: two objects of one counter each see every update once.
   */
  drain(): Drained<bigint> {
    const byCpu = this.drainSlots()[0]!;
    return { total: sumOf(byCpu), byCpu };
  }
}
