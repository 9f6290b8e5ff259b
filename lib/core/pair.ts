/**
 * A per-CPU pair of u64, 16 bytes aligned to 16, swapped as one unit by cmpxchgDouble: the
 * kernel's this_cpu_cmpxchg_double (cmpxchg16b relative to GS on the gs backend).
 */
import { PerCpuTypeError } from './errors';
import { isObject, notA } from './percpu';
import { typeInfo } from './types';
import { native, type NativeHandle } from './native';

/** The two words of a pair: [low, high]. */
export type U64Pair = readonly [bigint, bigint];

/** The form of a PerCpuPair that crosses threads (structured clone); `revivePair()` turns it back. */
export interface SharedPerCpuPair {
  readonly percpu: 'pair';
  readonly ticket: number;
}

function words(pair: U64Pair, what: string): [bigint, bigint] {
  if (!Array.isArray(pair) || pair.length !== 2) throw new PerCpuTypeError(`${what} must be a [low, high] pair of bigints`);
  return [pair[0], pair[1]];
}

/**
 * A dynamically allocated per-CPU u64 pair, reference counted like DynamicPerCpu. Its slots are
 * reached only through the pair methods.
 */
export class PerCpuPair implements Disposable {
  readonly #handle: NativeHandle;

  /** @internal */
  constructor(handle: NativeHandle) {
    // A call that throws changes nothing: the handle is not released here.
    if (!handle.pair) throw new PerCpuTypeError('the per-CPU variable is not a u64 pair');
    this.#handle = handle;
  }

  /**
   * The native handle of a pair this class made, else a PerCpuTypeError. Every method reaches its
   * handle here, never through `this.handle` (which a variable answers with its own).
   */
  static #handleOf(self: unknown): NativeHandle {
    if (!isObject(self) || !(#handle in self)) throw notA('PerCpuPair');
    return self.#handle;
  }

  /** @internal */
  get handle(): NativeHandle {
    return PerCpuPair.#handleOf(this);
  }

  /** Every CPU's pair is [0n, 0n]. Throws NoSpaceError when the area is full. */
  static newZero(): PerCpuPair {
    return new PerCpuPair(native.allocatePair(0n, 0n));
  }

  /** Every CPU's pair is `pair`. */
  static newWith(pair: U64Pair): PerCpuPair {
    const [lo, hi] = words(pair, 'newWith()');
    return new PerCpuPair(native.allocatePair(lo, hi));
  }

  /**
   * this_cpu_cmpxchg_double: if this CPU's pair is `old`, makes it `value` and returns true;
   * otherwise changes nothing and returns false. One cmpxchg16b relative to GS (no lock) on the gs
   * backend, where the CPU must have CX16 (BackendUnavailableError otherwise); on generic, both
   * words are compared and stored with preemption held off.
   */
  cmpxchgDouble(old: U64Pair, value: U64Pair): boolean {
    const [oldLo, oldHi] = words(old, 'old');
    const [lo, hi] = words(value, 'value');
    return PerCpuPair.#handleOf(this).cmpxchgDouble(oldLo, oldHi, lo, hi);
  }

  /** CPU `cpu`'s pair, read as two naturally aligned loads (not one atomic unit). */
  readRemote(cpu: number): [bigint, bigint] {
    return PerCpuPair.#handleOf(this).readPair(cpu);
  }

  /** Writes CPU `cpu`'s pair as two naturally aligned stores. Racy against that CPU's own ops. */
  writeRemote(cpu: number, pair: U64Pair): void {
    const [lo, hi] = words(pair, 'writeRemote()');
    PerCpuPair.#handleOf(this).writePair(cpu, lo, hi);
  }

  /** Every CPU's pair, by CPU. */
  values(): [bigint, bigint][] {
    const cpus = native.region()?.cpus ?? 0;
    return Array.from({ length: cpus }, (_, cpu) => this.readRemote(cpu));
  }

  clone(): PerCpuPair {
    return new PerCpuPair(PerCpuPair.#handleOf(this).clone());
  }

  /** A ticket holding one reference, for another thread: `revivePair()` there. Task arguments do this for you. */
  share(): SharedPerCpuPair {
    return { percpu: 'pair', ticket: PerCpuPair.#handleOf(this).share() };
  }

  release(): void {
    PerCpuPair.#handleOf(this).release();
  }

  get released(): boolean {
    return !PerCpuPair.#handleOf(this).live;
  }

  get refCount(): number {
    return PerCpuPair.#handleOf(this).refCount;
  }

  [Symbol.dispose](): void {
    const handle = PerCpuPair.#handleOf(this);
    if (handle.live) handle.release();
  }
}

/** True for what PerCpuPair.share() returns, after any structured clone. */
export function isSharedPerCpuPair(value: unknown): value is SharedPerCpuPair {
  const v = value as { percpu?: unknown } | null;
  return typeof v === 'object' && v !== null && v.percpu === 'pair';
}

/** Turns a shared pair back into a PerCpuPair on this thread. Each ticket works once. */
export function revivePair(shared: SharedPerCpuPair): PerCpuPair {
  if (!isSharedPerCpuPair(shared)) throw new PerCpuTypeError('revivePair() takes what PerCpuPair.share() returned');
  // The binding refuses a ticket that is not a pair's and leaves it unredeemed.
  return new PerCpuPair(native.redeem(shared.ticket, typeInfo('u64').index, true));
}
