/**
 * PerCpuGauge: a value that goes up and down, one i64 slot a CPU; the gauge is the sum of the
 * CPUs' shares.
 */
import { PerCpuScalarMetric, compileMethod, toSlotAmount, type MetricOptions } from './metric';

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
  /** Adds `amount` (default 1) to this CPU's share: an integer, a number up to 2^53 or an i64 bigint. */
  readonly inc: (amount?: number | bigint) => void;
  /** Subtracts `amount` (default 1) from this CPU's share. */
  readonly dec: (amount?: number | bigint) => void;
  /** Sets this CPU's share to `value` (the gauge is the sum of every CPU's share). */
  readonly set: (value: number | bigint) => void;

  // Each method is this gauge's own (see compileMethod) and needs no `this`. A call that throws
  // (NotBoundError on a thread that is not a CPU, a bad amount) changes nothing.
  constructor(options: MetricOptions) {
    super('gauge', options, 'i64', ['value'], {});
    const { inc, dec, add, sub, write } = this.parts[0]!.num();
    this.inc = compileMethod('inc', 'amount', 'if (amount === undefined) inc(); else add(toSlotAmount(amount, "a gauge amount"));', { inc, add, toSlotAmount });
    this.dec = compileMethod('dec', 'amount', 'if (amount === undefined) dec(); else sub(toSlotAmount(amount, "a gauge amount"));', { dec, sub, toSlotAmount });
    this.set = compileMethod('set', 'value', 'write(toSlotAmount(value, "a gauge value"));', { write, toSlotAmount });
  }
}
