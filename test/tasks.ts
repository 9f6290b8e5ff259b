/**
 * Task functions the tests run on CPUs (worker threads, and the main thread as CPU 0).
 * Reference them as `task<typeof tasks.fn>(require.resolve('./tasks'), 'fn')`, or with
 * `taskOf('fn')` from ./helpers. Per-CPU variables given as arguments arrive here as handles
 * to the same slots; CpuSet releases them after the task.
 */
import * as workerThreads from 'node:worker_threads';
import * as lib from '../lib';
import * as libSim from '../lib/sim';
import {
  CpuGuard,
  NUMERIC_OPS,
  DynamicPerCpu,
  definePerCpu,
  getStaticPerCpu,
  revive,
  stats,
  thisCpu,
  typeInfo,
  type NumericOp,
  type NumericType,
  type PerCpuVariable,
  type SharedPerCpu,
} from '../lib';
import { native } from '../lib/core/native';
import { Rng, deriveSeed } from './fuzz/calls';

/** Any per-CPU variable, whatever its type (the tasks are untyped in the value). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyVar = PerCpuVariable<any>;
export type Value = number | bigint;

/** An error as plain data, with the class checks done on the thread that caught it. */
export interface ErrorInfo {
  name: string;
  code: unknown;
  message: string;
  /** `error instanceof lib[name]` on the throwing thread. */
  isNamedClass: boolean;
  isTypeError: boolean;
  isRangeError: boolean;
  isPerCpuError: boolean;
}

export function describeError(error: unknown): ErrorInfo {
  if (!(error instanceof Error)) throw new Error(`not an Error: ${String(error)}`);
  const cls = (lib as unknown as Record<string, unknown>)[error.name];
  return {
    name: error.name,
    code: (error as { code?: unknown }).code,
    message: error.message,
    isNamedClass: typeof cls === 'function' && error instanceof (cls as new (...args: never[]) => unknown),
    isTypeError: error instanceof TypeError,
    isRangeError: error instanceof RangeError,
    isPerCpuError: error instanceof lib.PerCpuError,
  };
}

/** Runs `fn`, returning what it threw as plain data, or null if it did not throw. */
export function caught(fn: () => unknown): ErrorInfo | null {
  try {
    fn();
  } catch (error) {
    return describeError(error);
  }
  return null;
}

function cpu(): number {
  const n = thisCpu();
  if (n === null) throw new Error('this task runs on a thread that is not bound to a CPU');
  return n;
}

/** The JS value of `n` for `type`: a bigint for 64-bit and size types. */
function val(type: NumericType, n: Value): Value {
  return typeInfo(type).big ? BigInt(n) : Number(n);
}

/** This CPU's slot, read through GS under a guard (Rust's get_mut().with()). */
export function readThisSlot(v: AnyVar): Value {
  const guard = new CpuGuard();
  try {
    return v.getMut(guard).with((slot) => slot.value) as Value;
  } finally {
    guard.release();
  }
}

function writeThisSlot(v: AnyVar, value: Value): void {
  const guard = new CpuGuard();
  try {
    v.getMut(guard).with((slot) => {
      slot.value = value;
    });
  } finally {
    guard.release();
  }
}

export function whoAmI(): number | null {
  return thisCpu();
}

/** The CPU number a CpuGuard taken here pins. */
export function guardCpu(): number {
  const guard = new CpuGuard();
  try {
    return guard.cpu;
  } finally {
    guard.release();
  }
}

/**
 * The Rust sample's numeric check on this CPU: set the slot to 10 through the guarded token,
 * then num().add(1), add(10), sub(5); returns what the slot held after each step, read through
 * the token, and the same slot read as a remote slot.
 */
export function sampleSequence(v: AnyVar): { cpu: number; steps: Value[]; remote: Value } {
  const type = v.type as NumericType;
  const steps: Value[] = [];
  const guard = new CpuGuard();
  try {
    const token = v.getMut(guard);
    token.with((slot) => {
      slot.value = val(type, 10);
    });
    steps.push(token.with((slot) => slot.value) as Value);
    v.num().add(val(type, 1));
    steps.push(token.with((slot) => slot.value) as Value);
    v.num().add(val(type, 10));
    steps.push(token.with((slot) => slot.value) as Value);
    v.num().sub(val(type, 5));
    steps.push(token.with((slot) => slot.value) as Value);
  } finally {
    guard.release();
  }
  return { cpu: cpu(), steps, remote: v.readRemote(cpu()) as Value };
}

/** One step of an op sequence: optionally set the slot, then apply `op` with `operand`. */
export interface OpStep {
  set?: Value;
  op: NumericOp;
  operand: Value;
}

/**
 * Applies each step to this CPU's slot and returns the slot's value after each, read as a
 * remote slot (per_cpu_ptr(x, this CPU)), so that these checks depend only on the op itself.
 */
export function applySteps(v: AnyVar, steps: OpStep[]): Value[] {
  return steps.map((step) => {
    if (step.set !== undefined) writeThisSlot(v, step.set);
    callOp(v, step.op, [step.operand]);
    return v.readRemote(cpu()) as Value;
  });
}

/** Calls num()[op] with `operands`, whatever the op's signature. */
export function callOp(v: AnyVar, op: NumericOp, operands: Value[]): Value | undefined {
  return (v.num()[op] as (...values: Value[]) => Value | undefined)(...operands);
}

/** One step of the op family: set this CPU's slot, apply `op` with `operands`. */
export interface FamilyStep {
  set: Value;
  op: NumericOp;
  operands: Value[];
}

/** Applies each step on this CPU; returns what the op returned and the slot after it (read remotely). */
export function applyFamily(v: AnyVar, steps: FamilyStep[]): { cpu: number; results: { returned: Value | undefined; after: Value }[] } {
  const results = steps.map((step) => {
    writeThisSlot(v, step.set);
    const returned = callOp(v, step.op, step.operands);
    return { returned, after: v.readRemote(cpu()) as Value };
  });
  return { cpu: cpu(), results };
}

/** Writes each value through the guarded token, then reads it back through the token (GS) and remotely. */
export function tokenRoundTrip(v: AnyVar, values: Value[]): { mine: Value; remote: Value }[] {
  return values.map((value) => {
    writeThisSlot(v, value);
    return { mine: readThisSlot(v), remote: v.readRemote(cpu()) as Value };
  });
}

/** Adds 1 (of the variable's type) to this CPU's slot; returns the CPU. */
export function increment(v: AnyVar): number {
  v.num().add(val(v.type as NumericType, 1));
  return cpu();
}

/** Adds `amount` to this CPU's slot; returns the CPU. */
export function addToThis(v: AnyVar, amount: Value): number {
  v.num().add(amount);
  return cpu();
}

/** Adds this CPU's number to this CPU's slot; returns the CPU. */
export function addCpuNumber(v: AnyVar): number {
  v.num().add(val(v.type as NumericType, cpu()));
  return cpu();
}

/** Sets this CPU's slot to slot * 10 + digit, so a run of digits records the order tasks ran in. */
export function appendDigit(v: AnyVar, digit: number): number {
  const before = readThisSlot(v) as bigint;
  writeThisSlot(v, before * 10n + BigInt(digit));
  return cpu();
}

/** Like appendDigit, but finishes only after a few turns of the event loop. */
export async function appendDigitLater(v: AnyVar, digit: number): Promise<number> {
  const before = readThisSlot(v) as bigint;
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
  writeThisSlot(v, before * 10n + BigInt(digit));
  return cpu();
}

/** This CPU's slot of each argument. */
export function readEach(...vars: AnyVar[]): Value[] {
  return vars.map(readThisSlot);
}

export function readThis(v: AnyVar): Value {
  return readThisSlot(v);
}

export function writeThis(v: AnyVar, value: Value): number {
  writeThisSlot(v, value);
  return cpu();
}

/** Every CPU's slot, read from this CPU with remote reads. */
export function readAll(v: AnyVar): Value[] {
  return v.values() as Value[];
}

/** This CPU's slot through GS and every slot through remote reads. */
export function readThisAndAll(v: AnyVar): { cpu: number; mine: Value; all: Value[] } {
  return { cpu: cpu(), mine: readThisSlot(v), all: v.values() as Value[] };
}

/** definePerCpu on this CPU; returns where the static is and what this CPU sees in it. */
export function defineStatic(name: string, type: NumericType, init: Value): { cpu: number; offset: number; mine: Value } {
  const s = definePerCpu(name, type, init as never);
  return { cpu: cpu(), offset: s.offset, mine: readThisSlot(s) };
}

/** getStaticPerCpu on this CPU, then adds `amount` to this CPU's slot. */
export function addToStatic(name: string, type: NumericType, amount: Value): { cpu: number; offset: number; mine: Value } {
  const s = getStaticPerCpu(name, type);
  s.num().add(amount as never);
  return { cpu: cpu(), offset: s.offset, mine: readThisSlot(s) };
}

/**
 * revive() of a share() that came as plain data through postMessage; adds `amount` to this
 * CPU's slot and releases the revived handle.
 */
export function reviveAndAdd(shared: SharedPerCpu, amount: Value): { cpu: number; refCountInside: number; offset: number } {
  const v = revive(shared);
  try {
    v.num().add(amount as never);
    return { cpu: cpu(), refCountInside: v instanceof DynamicPerCpu ? v.refCount : -1, offset: v.offset };
  } finally {
    if (v instanceof DynamicPerCpu) v.release();
  }
}

/** The variable's reference count as this CPU sees it while the task holds its handle. */
export function refCountHere(v: AnyVar): number {
  return (v as DynamicPerCpu<NumericType>).refCount;
}

/** Clones the argument on this CPU and shares the clone back as a ticket; the clone is released. */
export function shareBack(v: AnyVar): SharedPerCpu {
  const clone = (v as DynamicPerCpu<NumericType>).clone();
  try {
    return clone.share();
  } finally {
    clone.release();
  }
}

/** Allocates here, writes this CPU's number into this CPU's slot and hands the variable back as a ticket. */
export function allocateHere(type: NumericType): SharedPerCpu {
  const v = DynamicPerCpu.newZero(type);
  try {
    writeThisSlot(v, val(type, cpu() + 1));
    return v.share();
  } finally {
    v.release();
  }
}

/** Tries each bad value with every write path on this CPU; returns what each threw. */
export function tryBadValues(v: AnyVar, values: unknown[]): { add: ErrorInfo | null; sub: ErrorInfo | null; set: ErrorInfo | null; writeRemote: ErrorInfo | null }[] {
  const ops = v.num() as unknown as Record<NumericOp, (value: unknown) => void>;
  return values.map((bad) => ({
    add: caught(() => ops.add(bad)),
    sub: caught(() => ops.sub(bad)),
    set: caught(() => {
      const guard = new CpuGuard();
      try {
        v.getMut(guard).with((slot) => {
          (slot as { value: unknown }).value = bad;
        });
      } finally {
        guard.release();
      }
    }),
    writeRemote: caught(() => (v.writeRemote as (cpu: number, value: unknown) => void)(cpu(), bad)),
  }));
}

export class TaskFailure extends Error {
  readonly code = 'E_TEST_TASK';
  constructor(message: string) {
    super(message);
    this.name = 'TaskFailure';
  }
}

/** Throws on the CPUs listed; returns the CPU elsewhere. */
export function throwOn(cpus: number[], message: string): number {
  if (cpus.includes(cpu())) throw new TaskFailure(`${message} on CPU ${cpu()}`);
  return cpu();
}

/** Rejects (asynchronously) on the CPUs listed. */
export async function rejectOn(cpus: number[], message: string): Promise<number> {
  await new Promise((resolve) => setImmediate(resolve));
  if (cpus.includes(cpu())) throw new TaskFailure(`${message} on CPU ${cpu()}`);
  return cpu();
}

/** Adds 1 to this CPU's slot, then throws on the CPUs listed. */
export function incrementAndThrowOn(v: AnyVar, cpus: number[]): number {
  v.num().add(val(v.type as NumericType, 1));
  if (cpus.includes(cpu())) throw new TaskFailure(`after the increment on CPU ${cpu()}`);
  return cpu();
}

/** Ends this CPU's worker thread while this task holds a handle to `v`. */
export function exitHolding(v: AnyVar, code: number): never {
  v.num().add(val(v.type as NumericType, 1));
  process.exit(code);
}

/** Ends this CPU's worker thread. */
export function exitThread(code: number): never {
  process.exit(code);
}

export function allocatorStats(): ReturnType<typeof stats> {
  return stats();
}

/** Throws a value that String() cannot describe. */
export function throwNullPrototype(): never {
  throw Object.create(null);
}

/** Throws an Error whose code cannot be cloned to another thread. */
export function throwUncloneableCode(): never {
  throw Object.assign(new Error('uncloneable code'), { code: () => 1 });
}

/** This thread's CPU and GS base (null without a GS backend), and the sample sequence on it. */
export function backendProbe(v: AnyVar): { cpu: number | null; gsBase: bigint | null; steps: Value[] } {
  return { cpu: thisCpu(), gsBase: native.gsBase(), steps: sampleSequence(v).steps };
}

/** cmpxchgDouble on this CPU's pair: whether it swapped and the pair after, read remotely. */
export function pairSwaps(pair: lib.PerCpuPair, steps: { set: lib.U64Pair; old: lib.U64Pair; value: lib.U64Pair }[]): { cpu: number; results: { swapped: boolean; after: [bigint, bigint] }[] } {
  const results = steps.map((step) => {
    pair.writeRemote(cpu(), step.set);
    const swapped = pair.cmpxchgDouble(step.old, step.value);
    return { swapped, after: pair.readRemote(cpu()) };
  });
  return { cpu: cpu(), results };
}

/** What soak() leaves: the value each variable's slot on this CPU must hold, and how many ops ran. */
export interface SoakResult {
  cpu: number;
  expected: Value[];
  ops: number;
  byOp: Record<string, number>;
}

/** The machine's wrap-around into `type`, on JS numbers (8/16/32-bit) or bigints (64-bit): fast, for the soak's local model. */
function wrapper(type: NumericType): (x: Value) => Value {
  const { size, signed } = typeInfo(type);
  if (size === 8) return signed ? (x) => BigInt.asIntN(64, x as bigint) : (x) => BigInt.asUintN(64, x as bigint);
  if (size === 4) return signed ? (x) => (x as number) | 0 : (x) => (x as number) >>> 0;
  const shift = 32 - size * 8;
  return signed ? (x) => ((x as number) << shift) >> shift : (x) => (x as number) & ((1 << (size * 8)) - 1);
}

/**
 * The soak's loop on one CPU: for `ms` milliseconds, mixed add and sub (and inc and dec, when
 * NUMERIC_OPS lists them) with random operands across each type's whole range, on this CPU's
 * slot of each variable, while keeping the expected value of each slot locally. Every so often it
 * also reads every CPU's slots remotely (values(), sum()), racing the other CPUs' ops.
 */
export function soak(seed: number, ms: number, ...vars: AnyVar[]): SoakResult {
  const me = cpu();
  const rng = new Rng(deriveSeed(seed, me));
  const ops = NUMERIC_OPS.filter((op) => op === 'add' || op === 'sub' || op === 'inc' || op === 'dec') as string[];
  const fns = vars.map((v) => ops.map((op) => (v.num() as unknown as Record<string, (value?: Value) => void>)[op]!));
  const types = vars.map((v) => v.type as NumericType);
  const wraps = types.map(wrapper);
  const big = types.map((t) => typeInfo(t).big);
  const expected = vars.map(readThisSlot);
  const counts = ops.map(() => 0);
  const end = Date.now() + ms;
  let n = 0;
  for (;;) {
    if ((n & 4095) === 0) {
      if (Date.now() >= end) break;
      const other = vars[n % vars.length]!;
      other.values();
      other.sum();
    }
    const i = n % vars.length;
    const k = rng.int(ops.length);
    const op = ops[k]!;
    counts[k]!++;
    n++;
    if (op === 'inc' || op === 'dec') {
      fns[i]![k]!();
      expected[i] = wraps[i]!(big[i] ? (expected[i] as bigint) + (op === 'inc' ? 1n : -1n) : (expected[i] as number) + (op === 'inc' ? 1 : -1));
      continue;
    }
    // Small operands half the time, any value of the type the other half.
    const operand = wraps[i]!(big[i] ? (rng.chance(0.5) ? BigInt(rng.range(-3, 3)) : (BigInt(rng.next()) << 32n) | BigInt(rng.next())) : rng.chance(0.5) ? rng.range(-3, 3) : rng.next());
    fns[i]![k]!(operand);
    const sign = op === 'add' ? 1 : -1;
    expected[i] = wraps[i]!(big[i] ? (expected[i] as bigint) + BigInt(sign) * (operand as bigint) : (expected[i] as number) + sign * (operand as number));
  }
  return { cpu: me, expected, ops: n, byOp: Object.fromEntries(ops.map((op, k) => [op, counts[k]!])) };
}

// ---------------------------------------------------------------- issue 13 (test/hardening.test.ts)

/** A task that never settles (close() must not wait for it forever). */
export function neverSettles(): Promise<never> {
  return new Promise<never>(() => {});
}

/** Releases the handle it was given; true if it was released here. */
export function releaseArgument(v: AnyVar): boolean {
  (v as lib.DynamicPerCpu<NumericType>).release();
  return (v as lib.DynamicPerCpu<NumericType>).released;
}

const kept = new Map<string, AnyVar>();

/** Keeps the handle it was given, under `key`, for a later task on this CPU (useKept). */
export function keepArgument(key: string, v: AnyVar): number {
  kept.set(key, v);
  return cpu();
}

/** Reads this CPU's slot through a handle kept by keepArgument: the error it throws, or its value. */
export function useKept(key: string): ErrorInfo | Value {
  const v = kept.get(key)!;
  kept.delete(key);
  try {
    return v.readRemote(cpu()) as Value;
  } catch (error) {
    return describeError(error);
  }
}

/** Throws a revoked Proxy: instanceof, String() and even Object.prototype.toString throw on it. */
export function throwRevokedProxy(): never {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  throw proxy;
}

/** Takes part in the scheduler from this CPU's thread; returns this CPU. */
export function participateHere(): number {
  libSim.participate();
  return cpu();
}

/** Which thread this is: the CPU the set started it for (0 for the main thread). */
export function startedAs(): number {
  return workerThreads.isMainThread ? 0 : (workerThreads.workerData as { cpu: number }).cpu;
}

/** Changes the object it was given and returns it: the caller's own object must not change. */
export function mutateArgument(object: { touched: number[] }): { touched: number[] } {
  object.touched.push(cpu());
  return object;
}

// ---------------------------------------------------------------- workerOptions (test/cpuset.test.ts)

/** What this CPU's thread was started with (CpuSet's mainThread and workerOptions). */
export function threadView(envNames: string[]): {
  cpu: number | null;
  isMainThread: boolean;
  env: (string | null)[];
  argv: string[];
  execArgv: string[];
  maxOldGenerationSizeMb: number | null;
} {
  return {
    cpu: thisCpu(),
    isMainThread: workerThreads.isMainThread,
    env: envNames.map((name) => process.env[name] ?? null),
    argv: process.argv.slice(2),
    execArgv: process.execArgv,
    maxOldGenerationSizeMb: workerThreads.isMainThread ? null : (workerThreads.resourceLimits.maxOldGenerationSizeMb ?? null),
  };
}

/** Sets an environment variable on this thread (SHARE_ENV shares it with the others). */
export function setEnv(name: string, value: string): number | null {
  process.env[name] = value;
  return thisCpu();
}

/** Allocates until the heap limit ends this thread (a worker started with small resourceLimits). */
export function exhaustHeap(): never {
  const kept: number[][] = [];
  for (;;) kept.push(new Array<number>(1 << 16).fill(kept.length));
}
