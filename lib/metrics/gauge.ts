/**
 * PerCpuGauge: a value that goes up and down, one i64 slot a CPU; the gauge is the sum of the
 * CPUs' shares.
 */
import { PerCpuScalarMetric, toSlotAmount, type MetricOptions } from './metric';

/**
 * A per-CPU gauge (Prometheus type `gauge`): each CPU holds a share in its own i64 slot and the
 * gauge is their sum, as the kernel's per-CPU counts of things in flight are. `inc(n)` is one
 * `add %reg,%gs:(off)` (this_cpu_add), `dec(n)` one `sub` (this_cpu_sub), `set(v)` one `mov`
 * (this_cpu_write): it sets THIS CPU's share, not the total, e.g. each CPU's own queue length.
 * Arithmetic wraps at 64 bits in a slot, as the machine's does; the total is summed without wrapping.
 *
 * Read contract: `value()` reads each CPU's slot once, one after another, without a lock. With no
 * concurrent update it is exact; during updates it includes every update that returned before
 * the call, none begun after it returned, and any concurrent one may or may not be in it: it is
 * not an atomic snapshot, and (unlike a counter's) the total it gives may never have been the
 * gauge's value at any one instant. A gauge has no drain(): it is not a sum of events.
 *
 * Every thread that creates a gauge of the same name gets the same slots (see MetricOptions).
 * Updates need a thread bound to a CPU (a CpuSet's); reads work on any thread.
 */
export class PerCpuGauge extends PerCpuScalarMetric {
  readonly type = 'gauge' as const;
  readonly #inc: () => void;
  readonly #dec: () => void;
  readonly #add: (amount: bigint) => void;
  readonly #sub: (amount: bigint) => void;
  readonly #write: (value: bigint) => void;

  constructor(options: MetricOptions) {
    super('gauge', options, 'i64', ['value'], {});
    const ops = this.parts[0]!.num();
    this.#inc = ops.inc;
    this.#dec = ops.dec;
    this.#add = ops.add;
    this.#sub = ops.sub;
    this.#write = ops.write;
  }

  /** Adds `amount` (default 1) to this CPU's share: an integer, a number up to 2^53 or an i64 bigint. */
  inc(amount?: number | bigint): void {
    if (amount === undefined) this.#inc();
    else this.#add(toSlotAmount(amount, 'a gauge amount'));
  }

  /** Subtracts `amount` (default 1) from this CPU's share. */
  dec(amount?: number | bigint): void {
    if (amount === undefined) this.#dec();
    else this.#sub(toSlotAmount(amount, 'a gauge amount'));
  }

  /** Sets this CPU's share to `value` (the gauge is the sum of every CPU's share). */
  set(value: number | bigint): void {
    this.#write(toSlotAmount(value, 'a gauge value'));
  }
}
