/**
 * Per-CPU variables: StaticPerCpu, DynamicPerCpu, CpuGuard, the guarded token and PerCpuNumeric,
 * mirroring the Rust series' kernel::percpu.
 */
import { GuardError, NotSetUpError, PerCpuTypeError, ReleasedError } from './errors';
import { native, type NativeHandle } from './native';
import { typeInfo, type NumericType, type ValueOf } from './types';

export function isObject(value: unknown): value is object {
  return (typeof value === 'object' && value !== null) || typeof value === 'function';
}

/**
 * A method called with a `this` its class did not make (`Class.prototype.method.call(other)`): a
 * PerCpuTypeError, where reading a private field would throw a TypeError without a code.
 */
export function notA(what: string): PerCpuTypeError {
  return new PerCpuTypeError(`a ${what} method was called on an object that is not a ${what}`);
}

/** True for a guard made by CpuGuard's constructor (a subclass's too), whatever its prototype says. */
let isCpuGuard: (value: unknown) => value is CpuGuard;
/** True while `guard` is not released and preemption is off on this thread. */
let guardHeld: (guard: CpuGuard) => boolean;

/**
 * Holds off "preemption" of this thread from its CPU: while a guard is held the thread cannot be
 * unbound, and the scheduler (startScheduler) does not migrate it: a swap that would move it is
 * skipped, as preempt_disable() holds off the kernel's scheduler. Like Rust's CpuGuard it cannot
 * move to another thread (a JS object cannot).
 */
export class CpuGuard implements Disposable {
  /** The CPU this guard pins. */
  readonly cpu: number;
  #live = true;

  static {
    // What the library trusts about a guard: its own private state (which neither a subclass
    // overriding `live` nor an object made with Object.create(CpuGuard.prototype) can fake) and
    // the native preempt count, which is the truth about whether preemption is off.
    isCpuGuard = (value) => isObject(value) && #live in value;
    guardHeld = (guard) => guard.#live && native.preemptCount() > 0;
  }

  static #own(value: unknown): CpuGuard {
    if (!isCpuGuard(value)) throw notA('CpuGuard');
    return value;
  }

  /** Throws NotBoundError when the calling thread is not bound to a CPU. */
  constructor() {
    native.preemptDisable();
    this.cpu = native.thisCpu();
  }

  get live(): boolean {
    return CpuGuard.#own(this).#live;
  }

  /** Ends the guard. Releasing twice is a GuardError. */
  release(): void {
    const guard = CpuGuard.#own(this);
    if (!guard.#live) throw new GuardError('this CpuGuard was already released');
    guard.#live = false;
    native.preemptEnable();
  }

  [Symbol.dispose](): void {
    if (CpuGuard.#own(this).#live) this.release();
  }
}

/** This CPU's slot of a variable, usable only inside `token.with()`. */
export interface Slot<T extends NumericType> {
  value: ValueOf<T>;
}

/** Exclusive access to this CPU's slot while a guard is held (Rust's PerCpuToken). */
export class PerCpuToken<T extends NumericType> {
  readonly #handle: NativeHandle;
  readonly #guard: CpuGuard;

  /** @internal */
  constructor(handle: NativeHandle, guard: CpuGuard) {
    this.#handle = handle;
    this.#guard = guard;
  }

  /** Runs `fn` on this CPU's slot and returns what it returns. The slot is dead once `fn` returns. */
  with<R>(fn: (slot: Slot<T>) => R): R {
    if (!isObject(this) || !(#guard in this)) throw notA('PerCpuToken');
    if (typeof fn !== 'function') throw new PerCpuTypeError('with() takes a function of the slot');
    const guard = this.#guard;
    const handle = this.#handle;
    if (!guardHeld(guard)) throw new GuardError('the CpuGuard of this token was released');
    let open = true;
    const check = () => {
      if (!open || !guardHeld(guard)) throw new GuardError('a slot is usable only inside with() while its guard is held');
    };
    const slot: Slot<T> = {
      get value() {
        check();
        return handle.read() as ValueOf<T>;
      },
      set value(value: ValueOf<T>) {
        check();
        handle.write(value);
      },
    };
    try {
      return fn(slot);
    } finally {
      open = false;
    }
  }
}

/**
 * The this_cpu op family, in the addon's table order (native/core/ops.h PERCPU_OPS): for each op, how
 * many values it takes and whether it returns one. Adding an op is one line here and one there.
 * On the gs backend each op is ONE gs-prefixed instruction with no lock prefix (xchg: a read, then
 * a cmpxchg loop, as in the kernel); ops that return give the NEW value, except xchg and cmpxchg,
 * which give the value they found.
 */
export const NUMERIC_OP_TABLE = {
  /** this_cpu_read: `mov %gs:(off), reg`. */
  read: { operands: 0, returns: true },
  /** this_cpu_write: `mov reg, %gs:(off)`. */
  write: { operands: 1, returns: false },
  /** this_cpu_add: `add reg, %gs:(off)`. */
  add: { operands: 1, returns: false },
  /** this_cpu_sub: `sub reg, %gs:(off)`. */
  sub: { operands: 1, returns: false },
  /** this_cpu_inc: `inc %gs:(off)`. */
  inc: { operands: 0, returns: false },
  /** this_cpu_dec: `dec %gs:(off)`. */
  dec: { operands: 0, returns: false },
  /** this_cpu_and: `and reg, %gs:(off)`. */
  and: { operands: 1, returns: false },
  /** this_cpu_or: `or reg, %gs:(off)`. */
  or: { operands: 1, returns: false },
  /** this_cpu_xor: `xor reg, %gs:(off)`. */
  xor: { operands: 1, returns: false },
  /** this_cpu_add_return: `xadd reg, %gs:(off)`; the new value. */
  addReturn: { operands: 1, returns: true },
  /** this_cpu_sub_return: `xadd` of the negated value; the new value. */
  subReturn: { operands: 1, returns: true },
  /** this_cpu_inc_return: `xadd` of 1; the new value. */
  incReturn: { operands: 0, returns: true },
  /** this_cpu_dec_return: `xadd` of -1; the new value. */
  decReturn: { operands: 0, returns: true },
  /** this_cpu_xchg: read, then `cmpxchg` until it holds; the old value. */
  xchg: { operands: 1, returns: true },
  /** this_cpu_cmpxchg(old, new): `cmpxchg reg, %gs:(off)`; the value found (swapped only if it equals `old`). */
  cmpxchg: { operands: 2, returns: true },
} as const satisfies Record<string, { operands: 0 | 1 | 2; returns: boolean }>;

export type NumericOp = keyof typeof NUMERIC_OP_TABLE;

/** The names of PerCpuNumeric's ops, in table order. */
export const NUMERIC_OPS = Object.keys(NUMERIC_OP_TABLE) as NumericOp[];

/** An op's JS signature, from its row: `(value) => void`, `() => V`, `(old, new) => V`... */
type OpFunction<V, Row extends { operands: number; returns: boolean }> = (
  ...values: Row['operands'] extends 0 ? [] : Row['operands'] extends 1 ? [value: V] : [old: V, value: V]
) => Row['returns'] extends true ? V : void;

/**
 * Machine-intrinsic ops on this CPU's slot (Rust's `PerCpuNumeric`), needing no guard: each is one
 * gs-prefixed instruction on the gs backend. Arithmetic wraps as the machine's does.
 */
export type PerCpuNumeric<T extends NumericType> = {
  readonly [Op in NumericOp]: OpFunction<ValueOf<T>, (typeof NUMERIC_OP_TABLE)[Op]>;
};

{
  const mine = NUMERIC_OPS.map((name) => `${name}/${NUMERIC_OP_TABLE[name].operands}/${NUMERIC_OP_TABLE[name].returns}`);
  const addon = native.ops.map((op) => `${op.name}/${op.operands}/${op.returns}`);
  if (addon.join() !== mine.join()) {
    throw new Error(`percpu: the addon's op table (${addon.join()}) does not match lib/core/percpu.ts (${mine.join()})`);
  }
}

/**
 * The native handle of a variable that PerCpuVariable's constructor made, else a PerCpuTypeError.
 * Every method reaches its handle through it, never through `this.handle` (a lookup another
 * object answers: a PerCpuPair's `handle`, or an own property).
 */
let handleOf: (self: unknown) => NativeHandle;

/** What StaticPerCpu and DynamicPerCpu share: this CPU's slot, any CPU's slot, the sum, num(). */
export abstract class PerCpuVariable<T extends NumericType> {
  readonly type: T;
  readonly #handle: NativeHandle;
  #numeric: PerCpuNumeric<T> | undefined;

  /** @internal */
  protected constructor(type: T, handle: NativeHandle) {
    this.type = type;
    this.#handle = handle;
  }

  static {
    handleOf = (self) => {
      if (!isObject(self) || !(#handle in self)) throw notA('per-CPU variable');
      return self.#handle;
    };
  }

  /** @internal The native handle (handleOf(this): on another object, a PerCpuTypeError). */
  protected get handle(): NativeHandle {
    return handleOf(this);
  }

  /** The numeric ops (Rust's `.num()`): on gs, `x.num().add(1)` is one `add` instruction relative to GS. */
  num(): PerCpuNumeric<T> {
    // The hot path, inlined into the caller's loop: the brand check and the cached ops (about 1 ns
    // less per num().add() than through handleOf, bench/). Anything else goes through handleOf,
    // which throws the named error for a receiver that is not a variable.
    if (isObject(this) && #numeric in this) {
      const numeric = this.#numeric;
      if (numeric !== undefined) return numeric;
    }
    const handle = handleOf(this);
    return (this.#numeric = Object.freeze(handle.ops()) as unknown as PerCpuNumeric<T>);
  }

  /** This CPU's slot, exclusively, while `guard` is held (Rust's `get_mut`). */
  getMut(guard: CpuGuard): PerCpuToken<T> {
    if (!isCpuGuard(guard)) throw new PerCpuTypeError('getMut() takes a CpuGuard');
    if (!guardHeld(guard)) throw new GuardError('getMut() needs a live CpuGuard');
    const handle = handleOf(this);
    if (!handle.live) throw new ReleasedError('this per-CPU handle has been released');
    return new PerCpuToken(handle, guard);
  }

  /** Any CPU's slot (Rust's `get_remote_ptr(cpu)`), read with one naturally aligned load. */
  readRemote(cpu: number): ValueOf<T> {
    return handleOf(this).readRemote(cpu) as ValueOf<T>;
  }

  /** Writes any CPU's slot with one naturally aligned store. Racy against that CPU's own ops, as in the kernel. */
  writeRemote(cpu: number, value: ValueOf<T>): void {
    handleOf(this).writeRemote(cpu, value);
  }

  /** The exact sum of every CPU's slot (no wrap-around): a number for 8/16/32-bit types, a bigint otherwise. */
  sum(): ValueOf<T> {
    return handleOf(this).sum() as ValueOf<T>;
  }

  /** Every CPU's slot, by CPU. */
  values(): ValueOf<T>[] {
    const cpus = native.region()?.cpus ?? 0;
    return Array.from({ length: cpus }, (_, cpu) => this.readRemote(cpu));
  }

  /** Byte offset in every CPU's area. For diagnostics: no API takes an offset. */
  get offset(): number {
    return handleOf(this).offset;
  }
}

/** A static per-CPU variable (Rust's `define_per_cpu!`): one name, one offset, in every thread. */
export class StaticPerCpu<T extends NumericType> extends PerCpuVariable<T> {
  readonly name: string;

  /** @internal */
  constructor(name: string, type: T, handle: NativeHandle) {
    super(type, handle);
    this.name = name;
  }

  /** Shared access to this CPU's slot (Rust's CheckedPerCpu::get). JS has no borrow checker: same slot as getMut. */
  get(guard: CpuGuard): PerCpuToken<T> {
    return this.getMut(guard);
  }

  /** A plain-data description that another thread turns back into this variable with `revive()`. */
  share(): SharedPerCpu<T> {
    if (!handleOf(this).isStatic) throw notA('StaticPerCpu');
    return { percpu: 'static', type: this.type, name: this.name };
  }
}

/**
 * Defines (or, in another thread, finds) the static per-CPU variable `name`: every CPU's slot
 * starts at `init`. Every thread that defines the same name gets the same offset; a definition
 * with another type or initial value throws ConflictError.
 */
export function definePerCpu<T extends NumericType>(name: string, type: T, init: ValueOf<T>): StaticPerCpu<T> {
  return new StaticPerCpu(name, type, native.defineStatic(name, typeInfo(type).index, init));
}

/** The static defined as `name` (Rust's `get_static_per_cpu!`), or a PerCpuTypeError if there is none. */
export function getStaticPerCpu<T extends NumericType>(name: string, type: T): StaticPerCpu<T> {
  const handle = native.getStatic(name);
  if (handle === null) throw new PerCpuTypeError(`no per-CPU static named '${name}' is defined`);
  return new StaticPerCpu(name, type, checkHandleType(handle, type));
}

function checkHandleType<T extends NumericType>(handle: NativeHandle, type: T): NativeHandle {
  if (handle.type === typeInfo(type).index && !handle.pair) return handle;
  const actual = handle.pair ? 'u64 pair' : native.types[handle.type]?.name;
  if (handle.live && !handle.isStatic) handle.release(); // give back the redeemed reference
  throw new PerCpuTypeError(`the per-CPU variable is a ${actual}, not a ${type}`);
}

/**
 * A dynamically allocated per-CPU variable (Rust's DynamicPerCpu): a reference-counted handle.
 * clone() and share() add references; the allocation is freed when the last one is released.
 */
export class DynamicPerCpu<T extends NumericType> extends PerCpuVariable<T> implements Disposable {
  /** @internal */
  constructor(type: T, handle: NativeHandle) {
    super(type, handle);
  }

  /** Every CPU's slot is 0. Throws NoSpaceError when the area is full. */
  static newZero<T extends NumericType>(type: T): DynamicPerCpu<T> {
    return new DynamicPerCpu(type, native.allocate(typeInfo(type).index));
  }

  /** Every CPU's slot is `value`. */
  static newWith<T extends NumericType>(type: T, value: ValueOf<T>): DynamicPerCpu<T> {
    return new DynamicPerCpu(type, native.allocateWith(typeInfo(type).index, value));
  }

  /** CPU n's slot is `init(n)`. */
  static newFrom<T extends NumericType>(type: T, init: (cpu: number) => ValueOf<T>): DynamicPerCpu<T> {
    const info = typeInfo(type);
    if (typeof init !== 'function') throw new PerCpuTypeError('newFrom() takes a function of the CPU number');
    const cpus = native.region()?.cpus;
    if (cpus === undefined) throw new NotSetUpError('the per-CPU region is not set up: call setup() or start a CpuSet first');
    const values = Array.from({ length: cpus }, (_, cpu) => init(cpu));
    return new DynamicPerCpu(type, native.allocateFrom(info.index, values));
  }

  /** A new handle to the same slots (Rust's Arc clone). */
  clone(): DynamicPerCpu<T> {
    return new DynamicPerCpu(this.type, dynamicHandleOf(this).clone());
  }

  /**
   * A plain-data ticket holding one reference, for another thread (postMessage, task arguments):
   * `revive()` there turns it into a handle. Each ticket revives once.
   */
  share(): SharedPerCpu<T> {
    return { percpu: 'dynamic', type: this.type, ticket: dynamicHandleOf(this).share() };
  }

  /** Drops this handle's reference. Using the handle afterwards throws ReleasedError. */
  release(): void {
    dynamicHandleOf(this).release();
  }

  get released(): boolean {
    return !dynamicHandleOf(this).live;
  }

  /** References to the allocation, across all threads (handles plus unredeemed tickets); 0 once released. */
  get refCount(): number {
    return dynamicHandleOf(this).refCount;
  }

  [Symbol.dispose](): void {
    const handle = dynamicHandleOf(this);
    if (handle.live) handle.release();
  }
}

/** A dynamic variable's handle (the native handle says which kind it is): on a static, or anything else, a PerCpuTypeError. */
function dynamicHandleOf(self: unknown): NativeHandle {
  const handle = handleOf(self);
  if (handle.isStatic) throw notA('DynamicPerCpu');
  return handle;
}

/** A per-CPU variable in a form that crosses threads (structured clone). */
export type SharedPerCpu<T extends NumericType = NumericType> =
  | { readonly percpu: 'dynamic'; readonly type: T; readonly ticket: number }
  | { readonly percpu: 'static'; readonly type: T; readonly name: string };

/** True for what `share()` returns, after any structured clone. */
export function isSharedPerCpu(value: unknown): value is SharedPerCpu {
  const v = value as { percpu?: unknown } | null;
  return typeof v === 'object' && v !== null && (v.percpu === 'dynamic' || v.percpu === 'static');
}

/** Turns a shared description back into a variable on this thread. A dynamic ticket works once. */
export function revive<T extends NumericType>(shared: SharedPerCpu<T>): DynamicPerCpu<T> | StaticPerCpu<T> {
  if (!isSharedPerCpu(shared)) throw new PerCpuTypeError('revive() takes what share() returned');
  const { type } = shared;
  typeInfo(type);
  if (shared.percpu === 'static') return getStaticPerCpu(shared.name, type);
  // The binding refuses a ticket of another type (or a pair's) and leaves it unredeemed.
  return new DynamicPerCpu(type, native.redeem(shared.ticket, typeInfo(type).index, false));
}
