/**
 * Runs a list of fuzzer calls (./calls) on this thread against the real library and checks each
 * against the model (./model): a call either succeeds with exactly what the model predicts, or
 * throws one of the documented error classes (with its code) that apply and changes nothing.
 * The model tracks every CPU's slot of every allocation this thread made; slots are checked with
 * readRemote, values() and sum(), after every failed call and every few calls.
 *
 * Several threads (the main thread and workers) run engines at once, each on its own
 * allocations and its own two CPUs. Calls that touch the allocator hold a lock shared by all
 * threads, so each can check stats() deltas exactly, and record the bytes it owns in a shared
 * map: an allocation that overlaps anyone's bytes is a failure.
 */
import * as lib from '../../lib';
import * as libSim from '../../lib/sim';
import { CpuGuard, DynamicPerCpu, NUMERIC_OPS, NUMERIC_TYPES, PerCpuPair, StaticPerCpu, definePerCpu, getStaticPerCpu, revive, revivePair, stats, thisCpu, typeInfo, type NumericType, type SharedPerCpu } from '../../lib';
import { IrqGuard } from '../../lib/sim';
import { native, type NativeAddon, type NativeHandle } from '../../lib/core/native';
import { foreignWrapped, handleEntryPoints, handlePrototype, loadSecondCopy, type ForeignWrapped } from '../foreign';
import { FORGERIES, GUARD_MISUSES, RECEIVERS, RESULTS, THROWING, TICKET_SLOTS, VAR_SLOTS, type Call, type CpuSpec, type TypeSpec, type ValueSpec } from './calls';
import type { HostileSetters } from './hostile';
import { applyOp, checkCpu, checkInteger, checkValue, opModel, sumOf, toJs, wrapBig, type Rejection } from './model';

/** A thread's place among the fuzzing threads. */
export interface EngineConfig {
  /** This thread's index, 0 for the main thread. */
  thread: number;
  /** CPUs in the region. */
  cpus: number;
  /** The two CPUs only this thread binds. */
  ownCpus: readonly [number, number];
  /** A CPU another thread holds for the whole run: binding it is a CpuTakenError. */
  foreignCpu: number;
  areaSize: number;
  /** One Int32 shared by all threads: the allocator lock. */
  lock: Int32Array;
  /** One byte per byte of the area, shared: 0 free, else the owner's thread index + 1 (255: the carpet). */
  owners: Uint8Array;
  /** Check every slot of every allocation after this many calls (and after every failed call). */
  verifyEvery: number;
  /** The prototype setters armed on this thread (./hostile), or null. */
  hostile: HostileSetters | null;
  /** A copy of the binding at another path (../foreign copyOfBinding), for receivers of another copy. */
  secondCopy: string;
}

export const CARPET_OWNER = 255;

/** A mismatch between the library and the model. */
export class FuzzFailure extends Error {
  override name = 'FuzzFailure';
}

/** The error kinds a call may throw; each is a class, a code and a name (lib/errors.ts). */
const ERROR_CHECKS = {
  type: (e: unknown) => e instanceof lib.PerCpuTypeError && e.code === 'ERR_PERCPU_INVALID_ARG' && e.name === 'PerCpuTypeError',
  range: (e: unknown) => e instanceof lib.PerCpuRangeError && e.code === 'ERR_PERCPU_OUT_OF_RANGE' && e.name === 'PerCpuRangeError',
  released: (e: unknown) => e instanceof lib.ReleasedError && e.code === 'ERR_PERCPU_RELEASED' && e.name === 'ReleasedError',
  notBound: (e: unknown) => e instanceof lib.NotBoundError && e.code === 'ERR_PERCPU_NOT_BOUND' && e.name === 'NotBoundError',
  alreadyBound: (e: unknown) => e instanceof lib.AlreadyBoundError && e.code === 'ERR_PERCPU_ALREADY_BOUND' && e.name === 'AlreadyBoundError',
  cpuTaken: (e: unknown) => e instanceof lib.CpuTakenError && e.code === 'ERR_PERCPU_CPU_TAKEN' && e.name === 'CpuTakenError',
  conflict: (e: unknown) => e instanceof lib.ConflictError && e.code === 'ERR_PERCPU_CONFLICT' && e.name === 'ConflictError',
  guard: (e: unknown) => e instanceof lib.GuardError && e.code === 'ERR_PERCPU_GUARD' && e.name === 'GuardError',
  noSpace: (e: unknown) => e instanceof lib.NoSpaceError && e.code === 'ERR_PERCPU_NO_SPACE' && e.name === 'NoSpaceError',
  /** What newFrom()'s init function threw, passed through. */
  initThrew: (e: unknown) => e instanceof InitError,
} as const;
type ErrorKind = keyof typeof ERROR_CHECKS;

class InitError extends Error {}

interface Alloc {
  readonly type: NumericType;
  readonly size: number;
  readonly offset: number;
  /** Every CPU's slot, wrapped bigints. */
  readonly values: bigint[];
  /** Handles plus outstanding tickets (dynamic only). */
  refs: number;
  freed: boolean;
  readonly isStatic: boolean;
  /** A static's initial value. */
  readonly init?: bigint;
  /** Live handles, to check the slots through. */
  readonly handles: Set<Entry>;
}

interface Entry {
  readonly v: DynamicPerCpu<NumericType> | StaticPerCpu<NumericType>;
  readonly alloc: Alloc;
  readonly label: string;
  live: boolean;
}

interface Ticket {
  readonly shared: SharedPerCpu;
  readonly alloc: Alloc;
  spent: boolean;
}

export interface RunOptions {
  /** Distinguishes runs of one thread (shrinking reruns), for the names of statics. */
  run: number;
  /** Called with each call as a line of JS before it runs. */
  trace?: (line: string) => void;
}

export interface RunResult {
  /** API calls made (composite calls, such as guard-then-token, count once). */
  executed: number;
  /** Of those, calls that threw the error the model expected. */
  rejected: number;
  /** Calls of the list that had nothing to act on. */
  skipped: number;
  /** Calls made, by call kind (ops by op name). */
  byKind: Record<string, number>;
  /** Rejected calls, by the name of the error they threw. */
  errors: Record<string, number>;
  /** Statics this run defined (they stay allocated), and their bytes. */
  statics: number;
  staticBytes: number;
  failure?: { index: number; message: string };
}

type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

interface StatsDelta {
  live: number;
  bytes: number;
  tickets: number;
}
const NO_CHANGE: StatsDelta = { live: 0, bytes: 0, tickets: 0 };

function fmt(value: unknown): string {
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'number') return Object.is(value, -0) ? '-0' : String(value);
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'symbol') return 'Symbol()';
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'function') return 'function';
  try {
    if (value instanceof DynamicPerCpu || value instanceof StaticPerCpu) return 'a handle';
    return JSON.stringify(value, (_, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v)) ?? lib.describeThrown(value);
  } catch {
    return lib.describeThrown(value); // a revoked Proxy throws even on instanceof
  }
}

function same(a: unknown, b: unknown): boolean {
  return typeof a === typeof b && a === b;
}

/** The engine of one thread. One instance per run: make a new one to run a list again. */
export class Engine {
  readonly #config: EngineConfig;
  #options: RunOptions;
  readonly #slots: (Entry | undefined)[] = new Array(VAR_SLOTS).fill(undefined);
  readonly #tickets: (Ticket | undefined)[] = new Array(TICKET_SLOTS).fill(undefined);
  readonly #statics = new Map<string, Alloc>();
  readonly #allocs = new Set<Alloc>();
  #cpu: number | null = null;
  #nextLabel = 0;
  #index = -1;
  readonly #result: RunResult = { executed: 0, rejected: 0, skipped: 0, byKind: {}, errors: {}, statics: 0, staticBytes: 0 };
  #nativeProto: object | undefined;
  #holdingLock = false;
  /** Receivers made by others (issue 13), made on first use. */
  #foreign: ForeignWrapped | undefined;
  #otherCopy: { addon: NativeAddon; handle: NativeHandle; values: bigint[] } | undefined;
  /** This thread's u64 pair, made on first use, and its words by CPU (only calls that throw touch it). */
  #pair: { pair: PerCpuPair; words: [bigint, bigint][] } | undefined;
  /** Checks of async calls (their rejection), made when they settle: see settled(). */
  readonly #later: Promise<{ index: number; message: string } | null>[] = [];

  constructor(config: EngineConfig, options: RunOptions) {
    this.#config = config;
    this.#options = options;
  }

  /** Runs `calls` (see run()), then waits for the async calls' checks. */
  async runAll(calls: readonly Call[]): Promise<RunResult> {
    const result = this.run(calls);
    for (const check of await Promise.all(this.#later)) {
      if (check !== null && result.failure === undefined) result.failure = check;
    }
    return result;
  }

  /** Runs `calls` from an unbound thread; stops at the first failure. Cleans up after itself. */
  run(calls: readonly Call[]): RunResult {
    if (thisCpu() !== null) lib.unbind();
    try {
      for (let i = 0; i < calls.length; i++) {
        this.#index = i;
        const before = this.#result.executed;
        this.#exec(calls[i]!);
        if (this.#result.executed === before) this.#result.skipped++;
        if ((i + 1) % this.#config.verifyEvery === 0) this.#verifyAll();
      }
      this.#verifyAll();
    } catch (error) {
      if (!(error instanceof FuzzFailure)) throw error;
      this.#result.failure = { index: this.#index, message: error.message };
    } finally {
      this.#cleanUp();
    }
    return this.#result;
  }

  // ------------------------------------------------------------------ checking

  #fail(message: string): never {
    throw new FuzzFailure(message);
  }

  /** Counts a call of `kind` (or, with `call` false, an outcome worth counting: byKind only). */
  #count(kind: string, call = true): void {
    if (call) this.#result.executed++;
    this.#result.byKind[kind] = (this.#result.byKind[kind] ?? 0) + 1;
  }

  /**
   * Makes one API call. With `allowed` empty it must succeed; otherwise it must throw an error of
   * one of the allowed kinds (any one: the model does not fix which check comes first).
   */
  #attempt<T>(kind: string, line: string, fn: () => T, allowed: readonly ErrorKind[], afterFailure?: () => void): Outcome<T> {
    this.#options.trace?.(line);
    this.#count(kind);
    const hostile = this.#config.hostile;
    const before = this.#snapshot();
    const hits = hostile?.hits ?? 0;
    let outcome: Outcome<T>;
    try {
      if (hostile !== null) hostile.inside = true;
      outcome = { ok: true, value: fn() };
    } catch (error) {
      if (error instanceof FuzzFailure) throw error;
      outcome = { ok: false, error };
    } finally {
      if (hostile !== null) hostile.inside = false;
    }
    if (hostile !== null && hostile.hits !== hits) this.#fail(`${line}: ${hostile.hits - hits} prototype setter(s) ran inside the call`);
    if (!outcome.ok) {
      const after = this.#snapshot();
      if (after !== before) this.#fail(`${line}: threw, yet changed this thread's state from ${before} to ${after}`);
    }
    if (outcome.ok && allowed.length > 0) this.#fail(`${line}: succeeded (returned ${fmt(outcome.value)}), expected ${allowed.join(' or ')}`);
    if (!outcome.ok) {
      const error = outcome.error as { name?: unknown; code?: unknown; message?: unknown };
      if (allowed.length === 0 || !allowed.some((k) => ERROR_CHECKS[k](outcome.error as never))) {
        this.#fail(
          `${line}: threw ${String(error?.name)} (code ${String(error?.code)}: ${String(error?.message)}), expected ${allowed.length === 0 ? 'success' : allowed.join(' or ')}`,
        );
      }
      this.#result.rejected++;
      const name = String(error?.name);
      this.#result.errors[name] = (this.#result.errors[name] ?? 0) + 1;
      afterFailure?.(); // what a throwing call is modelled to change (nothing, today: every caller passes NO_CHANGE)
      this.#verifyAll(); // a call that throws changes nothing else
    }
    return outcome;
  }

  /**
   * What a call that throws must leave as it was, besides the model's slots and references (checked
   * by #verifyAll) and the allocator (checked by #allocatorCall): the region, this thread's CPU,
   * preempt count, participation and interrupt depth, whether the scheduler runs, this thread's pair.
   */
  #snapshot(): string {
    const thread = libSim.threadSchedulerStats();
    const pair = this.#pair === undefined ? null : this.#pair.pair.values();
    return JSON.stringify(
      [lib.region(), native.thisCpu(), native.preemptCount(), thread.participating, thread.irqDepth, libSim.schedulerStats().running, pair],
      (_, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v),
    );
  }

  /**
   * #attempt for an async call that must reject: it must change nothing by the time it returns
   * (checked at once), and reject with one of `allowed` (checked when it settles, by runAll()).
   */
  #attemptAsync(kind: string, line: string, fn: () => Promise<unknown>, allowed: readonly ErrorKind[]): void {
    const outcome = this.#attempt(kind, line, () => {
      const promise = fn();
      promise.catch(() => {}); // checked below
      return promise;
    }, []);
    if (!outcome.ok) return;
    const index = this.#index;
    this.#verifyAll();
    this.#later.push(
      outcome.value.then(
        (value) => ({ index, message: `${line}: resolved (${fmt(value)}), expected ${allowed.join(' or ')}` }),
        (error: unknown) => {
          if (allowed.some((k) => ERROR_CHECKS[k](error as never))) return null;
          const e = error as { name?: unknown; code?: unknown; message?: unknown };
          return { index, message: `${line}: rejected with ${String(e?.name)} (code ${String(e?.code)}: ${String(e?.message)}), expected ${allowed.join(' or ')}` };
        },
      ),
    );
  }

  /** #attempt for calls that may allocate or free: under the shared lock, with the stats() delta checked. */
  /** Runs `fn` holding the allocator lock that all fuzzing threads share: every allocation and release happens under it. */
  #locked<T>(fn: () => T): T {
    if (this.#holdingLock) throw new Error('the allocator lock is not reentrant: a locked call made another'); // would wait forever
    const lock = this.#config.lock;
    while (Atomics.compareExchange(lock, 0, 0, 1) !== 0) Atomics.wait(lock, 0, 1, 5);
    this.#holdingLock = true;
    try {
      return fn();
    } finally {
      this.#holdingLock = false;
      Atomics.store(lock, 0, 0);
      Atomics.notify(lock, 0, 1);
    }
  }

  #allocatorCall<T>(kind: string, line: string, fn: () => T, allowed: readonly ErrorKind[], onSuccess: (value: T) => StatsDelta, onFailure: () => StatsDelta = () => NO_CHANGE): Outcome<T> {
    return this.#locked(() => {
      const before = stats();
      let delta = NO_CHANGE;
      const outcome = this.#attempt(kind, line, fn, allowed, () => (delta = onFailure()));
      if (outcome.ok) delta = onSuccess(outcome.value);
      const after = stats();
      const actual = {
        live: after.liveAllocations - before.liveAllocations,
        bytes: after.bytesInUse - before.bytesInUse,
        tickets: after.outstandingTickets - before.outstandingTickets,
      };
      if (actual.live !== delta.live || actual.bytes !== delta.bytes || actual.tickets !== delta.tickets || after.freeBytes - before.freeBytes !== -delta.bytes) {
        this.#fail(`${line}: stats() changed by ${JSON.stringify(actual)} (free ${after.freeBytes - before.freeBytes}), the model expected ${JSON.stringify(delta)}`);
      }
      return outcome;
    });
  }

  /** Records a new allocation's bytes as this thread's (under the lock). */
  #own(alloc: Alloc, line: string): void {
    const { offset, size, type } = alloc;
    if (!Number.isInteger(offset) || offset % size !== 0 || offset < 64 || offset + size > this.#config.areaSize) {
      this.#fail(`${line}: a ${type} at offset ${offset} is misaligned or outside the area`);
    }
    const owners = this.#config.owners;
    for (let b = offset; b < offset + size; b++) {
      if (owners[b] !== 0) this.#fail(`${line}: a ${type} at offset ${offset} overlaps byte ${b}, owned by ${owners[b] === CARPET_OWNER ? 'a sentinel' : `thread ${owners[b]! - 1}`}`);
      owners[b] = this.#config.thread + 1;
    }
  }

  /** Gives an allocation's bytes back (under the lock, right after the release that freed it). */
  #disown(alloc: Alloc): void {
    const owners = this.#config.owners;
    for (let b = alloc.offset; b < alloc.offset + alloc.size; b++) {
      if (owners[b] !== this.#config.thread + 1) this.#fail(`byte ${b} of a freed ${alloc.type} was not this thread's`);
      owners[b] = 0;
    }
  }

  #verifySlot(entry: Entry, cpu: number): void {
    const actual = entry.v.readRemote(cpu) as unknown;
    const expected = toJs(entry.alloc.type, entry.alloc.values[cpu]!);
    if (!same(actual, expected)) this.#fail(`${entry.label} (${entry.alloc.type} at ${entry.alloc.offset}): CPU ${cpu}'s slot is ${fmt(actual)}, the model has ${fmt(expected)}`);
  }

  /** Every CPU's slot of every allocation, its offset and its references; and where this thread is bound. */
  #verifyAll(): void {
    for (const alloc of this.#allocs) {
      const entry = alloc.handles.values().next().value as Entry | undefined;
      if (entry === undefined) continue; // only tickets hold it: checked when revived
      if (entry.v.offset !== alloc.offset) this.#fail(`${entry.label}: offset ${entry.v.offset}, the model has ${alloc.offset}`);
      for (let cpu = 0; cpu < this.#config.cpus; cpu++) this.#verifySlot(entry, cpu);
      if (entry.v instanceof DynamicPerCpu && entry.v.refCount !== alloc.refs) this.#fail(`${entry.label}: refCount ${entry.v.refCount}, the model has ${alloc.refs}`);
    }
    const cpu = thisCpu();
    if (cpu !== this.#cpu) this.#fail(`thisCpu() is ${cpu}, the model has ${this.#cpu}`);
    if (this.#pair !== undefined) {
      const actual = this.#pair.pair.values();
      if (actual.some((words, c) => words[0] !== this.#pair!.words[c]![0] || words[1] !== this.#pair!.words[c]![1])) {
        this.#fail(`the thread's pair holds ${fmt(actual)}, the model has ${fmt(this.#pair.words)}`);
      }
    }
  }

  // ------------------------------------------------------------------ resolving specs

  #label(): string {
    return `h${this.#nextLabel++}`;
  }

  #forgedHandle(): object {
    return Object.create(DynamicPerCpu.prototype) as object;
  }

  /** The JS value a spec stands for, for a variable of `type` (`entry`'s, for 'current'). */
  #value(spec: ValueSpec, type: NumericType, entry?: Entry): unknown {
    const info = typeInfo(type);
    let n: bigint;
    switch (spec.k) {
      case 'current':
        return toJs(type, entry !== undefined && this.#cpu !== null ? entry.alloc.values[this.#cpu]! : 0n);
      case 'bits':
        n = wrapBig(type, (BigInt(spec.hi) << 32n) | BigInt(spec.lo));
        break;
      case 'rel':
        n = (spec.base === 'zero' ? 0n : BigInt(spec.base === 'min' ? info.min : info.max)) + BigInt(spec.d);
        break;
      case 'wide':
        n = BigInt(spec.n);
        break;
      case 'special':
        return this.#special(spec.s);
    }
    const asBig = info.big !== (spec.flip === true);
    return asBig ? n : Number(n);
  }

  #special(s: string): unknown {
    switch (s) {
      case 'NaN': return NaN;
      case 'Infinity': return Infinity;
      case '-Infinity': return -Infinity;
      case '-0': return -0;
      case '0.5': return 0.5;
      case '-1.5': return -1.5;
      case '1e300': return 1e300;
      case 'MAX_SAFE_INTEGER': return Number.MAX_SAFE_INTEGER;
      case '2**53+1': return 2 ** 53 + 1;
      case '-(2**53+1)': return -(2 ** 53 + 1);
      case "'1'": return '1';
      case "''": return '';
      case "'abc'": return 'abc';
      case 'null': return null;
      case 'undefined': return undefined;
      case 'true': return true;
      case '{}': return {};
      case '[]': return [];
      case '[1]': return [1];
      case '{valueOf}': return { valueOf: () => 1, [Symbol.toPrimitive]: () => 1 };
      case 'Object(1)': return Object(1);
      case 'Object(1n)': return Object(1n);
      case 'Symbol()': return Symbol('fuzz');
      case 'function': return () => 1;
      case 'a handle': return this.#slots.find((e) => e !== undefined)?.v ?? this.#forgedHandle();
      case 'a forged handle': return this.#forgedHandle();
      case '2n**128n': return 2n ** 128n;
      case '-(2n**128n)': return -(2n ** 128n);
      default: throw new Error(`unknown special value ${s}`);
    }
  }

  #cpuArg(spec: CpuSpec): unknown {
    const cpus = this.#config.cpus;
    switch (spec.k) {
      case 'any': return spec.n % cpus;
      case 'own': return this.#config.ownCpus[spec.i];
      case 'foreign': return this.#config.foreignCpu;
      case 'raw':
        switch (spec.s) {
          case '-1': return -1;
          case 'cpus': return cpus;
          case 'cpus+1': return cpus + 1;
          case '2**31': return 2 ** 31;
          case '2**32': return 2 ** 32;
          case '2**53+1': return 2 ** 53 + 1;
          case '-(2**53+1)': return -(2 ** 53 + 1);
          case '1.5': return 1.5;
          case 'NaN': return NaN;
          case 'Infinity': return Infinity;
          case "'0'": return '0';
          case '0n': return 0n;
          case 'null': return null;
          case 'undefined': return undefined;
          case '{}': return {};
        }
    }
  }

  /**
   * The handle a call acts on: the live one at `slot` or the next live one. A released handle at
   * `slot` is used as it is one call in four (so released handles keep being tried), or when no
   * handle is live.
   */
  #entryFrom(slot: number): Entry | undefined {
    const here = this.#slots[slot];
    if (here !== undefined && !here.live && this.#index % 4 === 0) return here;
    let dead: Entry | undefined;
    for (let i = 0; i < VAR_SLOTS; i++) {
      const entry = this.#slots[(slot + i) % VAR_SLOTS];
      if (entry?.live) return entry;
      dead ??= entry;
    }
    return dead;
  }

  /** A slot to put a new handle in: `slot` or the next one without a live dynamic handle; else `slot`, released first. */
  #freeSlot(slot: number): number {
    for (let i = 0; i < VAR_SLOTS; i++) {
      const s = (slot + i) % VAR_SLOTS;
      const entry = this.#slots[s];
      if (entry === undefined || !entry.live || !(entry.v instanceof DynamicPerCpu)) return s;
    }
    this.#release(this.#slots[slot]!);
    return slot;
  }

  #put(slot: number, v: DynamicPerCpu<NumericType> | StaticPerCpu<NumericType>, alloc: Alloc, label: string): Entry {
    const old = this.#slots[slot];
    if (old?.live) old.alloc.handles.delete(old); // a static's handle: nothing to release
    const entry: Entry = { v, alloc, label, live: true };
    alloc.handles.add(entry);
    this.#slots[slot] = entry;
    return entry;
  }

  #valueErrors(type: NumericType, values: readonly unknown[]): Rejection[] {
    const errors: Rejection[] = [];
    for (const value of values) {
      const checked = checkValue(type, value);
      if (!checked.ok) errors.push(checked.error);
    }
    return errors;
  }

  #isType(spec: TypeSpec): spec is NumericType {
    return typeof spec === 'string' && (NUMERIC_TYPES as readonly string[]).includes(spec);
  }

  // ------------------------------------------------------------------ the calls

  #exec(call: Call): void {
    switch (call.c) {
      case 'alloc': return this.#alloc(call);
      case 'op': return this.#op(call);
      case 'readRemote': return this.#readRemote(call);
      case 'writeRemote': return this.#writeRemote(call);
      case 'values': return this.#values(call);
      case 'sum': return this.#sum(call);
      case 'token': return this.#token(call);
      case 'release': {
        const entry = this.#entryFrom(call.slot);
        if (entry !== undefined && entry.v instanceof DynamicPerCpu) this.#release(entry);
        return;
      }
      case 'clone': return this.#clone(call);
      case 'share': return this.#share(call);
      case 'revive': return this.#revive(call);
      case 'bind': return this.#bind(call);
      case 'unbind': return this.#unbind();
      case 'static': return this.#static(call);
      case 'forge': return this.#forge(call);
      case 'guard': return this.#guard(call);
      case 'receiver': return this.#receiver(call);
      case 'throwing': return this.#throwing(call);
      case 'result': return this.#resultCall(call);
    }
  }

  #newAlloc(type: NumericType, offset: number, values: bigint[], isStatic: boolean, init?: bigint): Alloc {
    const alloc: Alloc = { type, size: typeInfo(type).size, offset, values, refs: isStatic ? 0 : 1, freed: false, isStatic, handles: new Set(), ...(init === undefined ? {} : { init }) };
    this.#allocs.add(alloc);
    return alloc;
  }

  #alloc(call: Extract<Call, { c: 'alloc' }>): void {
    const slot = this.#freeSlot(call.slot);
    const good = this.#isType(call.type);
    const type: NumericType = good ? (call.type as NumericType) : 'i32';
    const cpus = this.#config.cpus;
    const values = call.vals.map((spec) => this.#value(spec, type));
    const errors: ErrorKind[] = [];
    let line: string;
    let fn: () => DynamicPerCpu<NumericType>;
    const label = this.#label();
    const typeText = fmt(call.type);
    if (call.how === 'zero') {
      line = `${label} = DynamicPerCpu.newZero(${typeText})`;
      fn = () => DynamicPerCpu.newZero(call.type as NumericType);
    } else if (call.how === 'with') {
      line = `${label} = DynamicPerCpu.newWith(${typeText}, ${fmt(values[0])})`;
      fn = () => DynamicPerCpu.newWith(call.type as NumericType, values[0] as never);
      if (good) errors.push(...this.#valueErrors(type, values));
    } else {
      const throwAt = call.throwAt;
      line = `${label} = DynamicPerCpu.newFrom(${typeText}, cpu => [${values.map(fmt).join(', ')}][cpu]${throwAt === undefined ? '' : ` /* throws at CPU ${throwAt} */`})`;
      fn = () =>
        DynamicPerCpu.newFrom(call.type as NumericType, (cpu) => {
          if (cpu === throwAt) throw new InitError(`init throws at CPU ${cpu}`);
          return values[cpu] as never;
        });
      if (good) {
        if (throwAt !== undefined) errors.push('initThrew');
        else errors.push(...this.#valueErrors(type, values));
      }
    }
    if (!good) errors.push('type');
    let alloc: Alloc | undefined;
    const outcome = this.#allocatorCall('alloc', line, fn, errors, (v) => {
      const exact = (x: unknown) => (checkValue(type, x) as { value: bigint }).value;
      const init = call.how === 'from' ? values.map(exact) : new Array<bigint>(cpus).fill(call.how === 'zero' ? 0n : exact(values[0]));
      alloc = this.#newAlloc(type, v.offset, init, false);
      this.#own(alloc, line);
      return { live: 1, bytes: alloc.size, tickets: 0 };
    });
    if (!outcome.ok) return;
    const entry = this.#put(slot, outcome.value, alloc!, label);
    if (outcome.value.type !== type || outcome.value.refCount !== 1 || outcome.value.released) this.#fail(`${line}: type ${outcome.value.type}, refCount ${outcome.value.refCount}`);
    for (let cpu = 0; cpu < cpus; cpu++) this.#verifySlot(entry, cpu);
  }

  #op(call: Extract<Call, { c: 'op' }>): void {
    const entry = this.#entryFrom(call.slot);
    if (entry === undefined) return;
    this.#applyOp(entry, call.op, call.args.map((spec) => this.#value(spec, entry.alloc.type, entry)), undefined);
  }

  /** Calls `op` of `entry` (with `thisArg` as this, when given) and checks it against the model. */
  #applyOp(entry: Entry, op: string, args: unknown[], thisArg: object | undefined): void {
    const { alloc } = entry;
    const model = opModel(op);
    const errors: ErrorKind[] = [];
    if (!entry.live) errors.push('released');
    if (this.#cpu === null) errors.push('notBound');
    const operands: bigint[] = [];
    for (const arg of args.slice(0, model.arity)) {
      const checked = checkValue(alloc.type, arg);
      if (checked.ok) operands.push(checked.value);
      else errors.push(checked.error);
    }
    const line = `${thisArg === undefined ? '' : '/* this = a forgery */ '}${entry.label}.num().${op}(${args.map(fmt).join(', ')})`;
    const outcome = this.#attempt(`op ${op}`, line, () => {
      const fn = (entry.v.num() as unknown as Record<string, (...a: unknown[]) => unknown>)[op];
      if (typeof fn !== 'function') this.#fail(`${entry.label}.num() has no ${op}, though NUMERIC_OPS lists it`);
      return thisArg === undefined ? fn(...args) : fn.call(thisArg, ...args);
    }, errors);
    if (!outcome.ok) return;
    const cpu = this.#cpu!;
    const { next, result } = applyOp(alloc.type, op, alloc.values[cpu]!, operands);
    const expected = result === undefined ? undefined : toJs(alloc.type, result);
    if (!same(outcome.value, expected)) this.#fail(`${line}: returned ${fmt(outcome.value)}, the model expected ${fmt(expected)}`);
    if (op === 'cmpxchg' && next !== alloc.values[cpu]) this.#count('cmpxchg swapped', false);
    alloc.values[cpu] = next;
    this.#verifySlot(entry, cpu);
  }

  #readRemote(call: Extract<Call, { c: 'readRemote' }>): void {
    const entry = this.#entryFrom(call.slot);
    if (entry === undefined) return;
    const cpuArg = this.#cpuArg(call.cpu);
    const cpu = checkCpu(cpuArg, this.#config.cpus);
    const errors: ErrorKind[] = [];
    if (!entry.live) errors.push('released');
    if (!cpu.ok) errors.push(cpu.error);
    const line = `${entry.label}.readRemote(${fmt(cpuArg)})`;
    const outcome = this.#attempt('readRemote', line, () => (entry.v.readRemote as (cpu: unknown) => unknown)(cpuArg), errors);
    if (!outcome.ok) return;
    const expected = toJs(entry.alloc.type, entry.alloc.values[(cpu as { value: number }).value]!);
    if (!same(outcome.value, expected)) this.#fail(`${line}: read ${fmt(outcome.value)}, the model has ${fmt(expected)}`);
  }

  #writeRemote(call: Extract<Call, { c: 'writeRemote' }>): void {
    const entry = this.#entryFrom(call.slot);
    if (entry === undefined) return;
    const cpuArg = this.#cpuArg(call.cpu);
    const value = this.#value(call.val, entry.alloc.type);
    const cpu = checkCpu(cpuArg, this.#config.cpus);
    const checked = checkValue(entry.alloc.type, value);
    const errors: ErrorKind[] = [];
    if (!entry.live) errors.push('released');
    if (!cpu.ok) errors.push(cpu.error);
    if (!checked.ok) errors.push(checked.error);
    const line = `${entry.label}.writeRemote(${fmt(cpuArg)}, ${fmt(value)})`;
    const outcome = this.#attempt('writeRemote', line, () => (entry.v.writeRemote as (cpu: unknown, value: unknown) => unknown)(cpuArg, value), errors);
    if (!outcome.ok) return;
    if (outcome.value !== undefined) this.#fail(`${line}: returned ${fmt(outcome.value)}`);
    const target = (cpu as { value: number }).value;
    entry.alloc.values[target] = (checked as { value: bigint }).value;
    this.#verifySlot(entry, target);
  }

  #values(call: Extract<Call, { c: 'values' }>): void {
    const entry = this.#entryFrom(call.slot);
    if (entry === undefined) return;
    const line = `${entry.label}.values()`;
    const outcome = this.#attempt('values', line, () => entry.v.values() as unknown[], entry.live ? [] : ['released']);
    if (!outcome.ok) return;
    const expected = entry.alloc.values.map((n) => toJs(entry.alloc.type, n));
    if (outcome.value.length !== expected.length || outcome.value.some((x, i) => !same(x, expected[i]))) {
      this.#fail(`${line}: [${outcome.value.map(fmt).join(', ')}], the model has [${expected.map(fmt).join(', ')}]`);
    }
  }

  #sum(call: Extract<Call, { c: 'sum' }>): void {
    const entry = this.#entryFrom(call.slot);
    if (entry === undefined) return;
    const line = `${entry.label}.sum()`;
    const outcome = this.#attempt('sum', line, () => entry.v.sum() as unknown, entry.live ? [] : ['released']);
    if (!outcome.ok) return;
    const expected = sumOf(entry.alloc.type, entry.alloc.values);
    if (!same(outcome.value, expected)) this.#fail(`${line}: ${fmt(outcome.value)}, the model has ${fmt(expected)}`);
  }

  /** A guard, the guarded token, this CPU's slot read (and written) through GS, the guard released. */
  #token(call: Extract<Call, { c: 'token' }>): void {
    const entry = this.#entryFrom(call.slot);
    if (entry === undefined) return;
    const { alloc } = entry;
    const value = call.write === undefined ? undefined : this.#value(call.write, alloc.type);
    const checked = call.write === undefined ? undefined : checkValue(alloc.type, value);
    const errors: ErrorKind[] = [];
    if (this.#cpu === null) errors.push('notBound');
    else if (!entry.live) errors.push('released');
    else if (checked !== undefined && !checked.ok) errors.push(checked.error);
    const expectedCpu = this.#cpu;
    const line = `{ using g = new CpuGuard(); ${entry.label}.getMut(g).with(s => { read s.value${call.write === undefined ? '' : `; s.value = ${fmt(value)}`} }) }`;
    const outcome = this.#attempt('token', line, () => {
      const guard = new CpuGuard();
      try {
        if (guard.cpu !== expectedCpu) this.#fail(`${line}: the guard pins CPU ${guard.cpu}, the model has ${expectedCpu}`);
        return entry.v.getMut(guard).with((slot) => {
          const read = slot.value as unknown;
          if (call.write !== undefined) (slot as { value: unknown }).value = value;
          return read;
        });
      } finally {
        guard.release();
      }
    }, errors);
    if (!outcome.ok) return;
    const cpu = this.#cpu!;
    const expected = toJs(alloc.type, alloc.values[cpu]!);
    if (!same(outcome.value, expected)) this.#fail(`${line}: read ${fmt(outcome.value)} through the token, the model has ${fmt(expected)}`);
    if (checked?.ok) alloc.values[cpu] = checked.value;
    this.#verifySlot(entry, cpu);
  }

  /** Releases a dynamic handle (or finds it already released), with the allocation freed on the last reference. */
  #release(entry: Entry): void {
    const { alloc } = entry;
    const v = entry.v as DynamicPerCpu<NumericType>;
    const line = `${entry.label}.release()`;
    const outcome = this.#allocatorCall('release', line, () => v.release(), entry.live ? [] : ['released'], () => {
      entry.live = false;
      alloc.handles.delete(entry);
      if (--alloc.refs > 0) return NO_CHANGE;
      alloc.freed = true;
      this.#allocs.delete(alloc);
      this.#disown(alloc);
      return { live: -1, bytes: -alloc.size, tickets: 0 };
    });
    if (outcome.ok && (!v.released || v.refCount !== 0)) this.#fail(`${line}: released ${v.released}, refCount ${v.refCount} after release`);
  }

  #clone(call: Extract<Call, { c: 'clone' }>): void {
    const source = this.#entryFrom(call.slot);
    if (source === undefined || !(source.v instanceof DynamicPerCpu)) return;
    const slot = this.#freeSlot(call.dst);
    const v = source.v;
    const { alloc } = source;
    const label = this.#label();
    const line = `${label} = ${source.label}.clone()`;
    const outcome = this.#allocatorCall('clone', line, () => v.clone(), source.live ? [] : ['released'], () => {
      alloc.refs++;
      return NO_CHANGE;
    });
    if (!outcome.ok) return;
    const entry = this.#put(slot, outcome.value, alloc, label);
    if (outcome.value.offset !== alloc.offset || outcome.value.refCount !== alloc.refs) this.#fail(`${line}: offset ${outcome.value.offset}, refCount ${outcome.value.refCount}`);
    this.#verifySlot(entry, 0);
  }

  #share(call: Extract<Call, { c: 'share' }>): void {
    const entry = this.#entryFrom(call.slot);
    if (entry === undefined) return;
    let index = call.ticket;
    for (let i = 0; i < TICKET_SLOTS; i++) {
      const t = this.#tickets[(call.ticket + i) % TICKET_SLOTS];
      if (t === undefined || t.spent || t.shared.percpu === 'static') {
        index = (call.ticket + i) % TICKET_SLOTS;
        break;
      }
    }
    const held = this.#tickets[index];
    if (held !== undefined && !held.spent && held.shared.percpu === 'dynamic') {
      // Every ticket slot holds a live ticket: redeem this one and drop the handle.
      const revived = this.#reviveInto(index, this.#freeSlot(call.slot), false);
      if (revived !== undefined) this.#release(revived);
    }
    const { alloc } = entry;
    const isDynamic = entry.v instanceof DynamicPerCpu;
    const line = `t${index} = ${entry.label}.share()`;
    const outcome = this.#allocatorCall('share', line, () => entry.v.share(), entry.live ? [] : ['released'], () => {
      if (!isDynamic) return NO_CHANGE;
      alloc.refs++;
      return { live: 0, bytes: 0, tickets: 1 };
    });
    if (!outcome.ok) return;
    const shared = outcome.value;
    if (shared.type !== alloc.type || shared.percpu !== (isDynamic ? 'dynamic' : 'static')) this.#fail(`${line}: returned ${fmt(shared)}`);
    this.#tickets[index] = { shared: structuredClone(shared), alloc, spent: false };
  }

  #revive(call: Extract<Call, { c: 'revive' }>): void {
    if (this.#tickets[call.ticket] === undefined) return;
    this.#reviveInto(call.ticket, this.#freeSlot(call.dst), call.wrongType === true);
  }

  /** revive() of ticket slot `index` into variable slot `slot`; with `wrongType`, under another type. */
  #reviveInto(index: number, slot: number, wrongType: boolean): Entry | undefined {
    const ticket = this.#tickets[index]!;
    const { alloc, shared } = ticket;
    const isDynamic = shared.percpu === 'dynamic';
    const otherType = NUMERIC_TYPES[(typeInfo(alloc.type).index + 1) % NUMERIC_TYPES.length]!;
    const offered = wrongType ? { ...shared, type: otherType } : shared;
    const errors: ErrorKind[] = [];
    if (isDynamic && ticket.spent) errors.push('released');
    else if (wrongType) errors.push('type');
    const label = this.#label();
    const line = `${label} = revive(${fmt(offered)})`;
    const outcome = this.#allocatorCall('revive', line, () => revive(offered as SharedPerCpu<NumericType>), errors, () => {
      if (!isDynamic) return NO_CHANGE;
      ticket.spent = true;
      return { live: 0, bytes: 0, tickets: -1 };
    }, () => NO_CHANGE); // a call that throws changes nothing: a ticket revived as the wrong type stays unspent
    if (!outcome.ok) return undefined;
    const v = outcome.value;
    const entry = this.#put(slot, v, alloc, label);
    if (v.offset !== alloc.offset || v.type !== alloc.type || (v instanceof DynamicPerCpu ? !isDynamic || v.refCount !== alloc.refs : isDynamic)) {
      this.#fail(`${line}: offset ${v.offset}, type ${v.type}, ${v instanceof DynamicPerCpu ? `refCount ${v.refCount}` : 'a static'}`);
    }
    for (let cpu = 0; cpu < this.#config.cpus; cpu++) this.#verifySlot(entry, cpu);
    return entry;
  }

  #bind(call: Extract<Call, { c: 'bind' }>): void {
    const arg = this.#cpuArg(call.cpu);
    const cpu = checkCpu(arg, this.#config.cpus);
    const errors: ErrorKind[] = [];
    if (!cpu.ok) errors.push(cpu.error);
    if (this.#cpu !== null) errors.push('alreadyBound');
    else if (cpu.ok && cpu.value === this.#config.foreignCpu) errors.push('cpuTaken');
    const outcome = this.#attempt('bind', `bind(${fmt(arg)})`, () => lib.bind(arg as number), errors);
    if (outcome.ok) this.#cpu = (cpu as { value: number }).value;
    const now = thisCpu();
    if (now !== this.#cpu) this.#fail(`bind(${fmt(arg)}): thisCpu() is ${now}, the model has ${this.#cpu}`);
  }

  #unbind(): void {
    const outcome = this.#attempt('unbind', 'unbind()', () => lib.unbind(), this.#cpu === null ? ['notBound'] : []);
    if (outcome.ok) this.#cpu = null;
    if (thisCpu() !== this.#cpu) this.#fail(`unbind(): thisCpu() is ${thisCpu()}, the model has ${this.#cpu}`);
  }

  #static(call: Extract<Call, { c: 'static' }>): void {
    const name = `fuzz.${this.#config.thread}.${this.#options.run}.${call.name}`;
    const good = this.#isType(call.type);
    const type: NumericType = good ? (call.type as NumericType) : 'i32';
    const existing = this.#statics.get(name);
    const slot = this.#freeSlot(call.dst);
    const label = this.#label();
    const cpus = this.#config.cpus;
    if (call.get) {
      const line = `${label} = getStaticPerCpu(${fmt(name)}, ${fmt(call.type)})`;
      const ok = good && existing !== undefined && existing.type === type;
      const outcome = this.#allocatorCall('static', line, () => getStaticPerCpu(name, call.type as NumericType), ok ? [] : ['type'], () => NO_CHANGE);
      if (!outcome.ok) return;
      const entry = this.#put(slot, outcome.value, existing!, label);
      if (outcome.value.offset !== existing!.offset) this.#fail(`${line}: offset ${outcome.value.offset}, the model has ${existing!.offset}`);
      this.#verifySlot(entry, 0);
      return;
    }
    const init = this.#value(call.init, type);
    const checked = checkValue(type, init);
    const errors: ErrorKind[] = [];
    if (!good) errors.push('type');
    else {
      if (!checked.ok) errors.push(checked.error);
      if (existing !== undefined && (existing.type !== type || (checked.ok && existing.init !== checked.value))) errors.push('conflict');
    }
    const line = `${label} = definePerCpu(${fmt(name)}, ${fmt(call.type)}, ${fmt(init)})`;
    let alloc = existing;
    const outcome = this.#allocatorCall('static', line, () => definePerCpu(name, call.type as NumericType, init as never), errors, (v) => {
      if (alloc !== undefined) return NO_CHANGE;
      const value = (checked as { value: bigint }).value;
      alloc = this.#newAlloc(type, v.offset, new Array<bigint>(cpus).fill(value), true, value);
      this.#statics.set(name, alloc);
      this.#own(alloc, line);
      this.#result.statics++;
      this.#result.staticBytes += alloc.size;
      return { live: 1, bytes: alloc.size, tickets: 0 };
    });
    if (!outcome.ok) return;
    const entry = this.#put(slot, outcome.value, alloc!, label);
    if (outcome.value.offset !== alloc!.offset || outcome.value.name !== name) this.#fail(`${line}: offset ${outcome.value.offset}, the model has ${alloc!.offset}`);
    for (let cpu = 0; cpu < cpus; cpu++) this.#verifySlot(entry, cpu);
  }

  #proto(): { proto: Record<string, (...args: unknown[]) => unknown>; ctor: new () => unknown } {
    if (this.#nativeProto === undefined) {
      this.#nativeProto = this.#locked(() => {
        const probe = DynamicPerCpu.newZero('u8'); // only to reach the native class; released at once
        const proto = Object.getPrototypeOf((probe as unknown as { handle: object }).handle) as object;
        probe.release();
        return proto;
      });
    }
    const proto = this.#nativeProto as Record<string, (...args: unknown[]) => unknown>;
    return { proto, ctor: proto.constructor as unknown as new () => unknown };
  }

  /** A forgery: a native method or accessor on an object the addon did not make, a forged ticket or guard, a forged this. */
  #forge(call: Extract<Call, { c: 'forge' }>): void {
    const kind = FORGERIES[call.kind]!;
    const entry = this.#entryFrom(call.slot);
    const value = this.#value(call.val, entry?.alloc.type ?? 'u32');
    const cpuArg = this.#cpuArg(call.cpu);
    const { proto, ctor } = this.#proto();
    const fake = () => Object.create(proto) as object;
    // Own data properties (not Object.assign, a [[Set]]): a hostile setter must meet only percpu's own code inside the call.
    const dynamicShaped = (handle: unknown) =>
      Object.defineProperties(Object.create(DynamicPerCpu.prototype) as object, {
        type: { value: entry?.alloc.type ?? 'u32', enumerable: true },
        handle: { value: handle, enumerable: true },
      }) as unknown as DynamicPerCpu<NumericType>;
    const ticketBase = 2 ** 45 + call.kind; // never issued: tickets count up from 1
    let fn: () => unknown;
    let errors: ErrorKind[] = ['type']; // every forged receiver: a PerCpuTypeError with its code
    switch (kind) {
      case 'new NativeHandle()':
        fn = () => new ctor();
        errors = ['type'];
        break;
      case 'native readRemote on Object.create(proto)':
        fn = () => proto.readRemote!.call(fake(), cpuArg);
        break;
      case 'native writeRemote on a plain copy': {
        const copy = entry === undefined ? {} : { live: true, offset: entry.alloc.offset, type: typeInfo(entry.alloc.type).index, isStatic: false, refCount: 1 };
        fn = () => proto.writeRemote!.call(copy, cpuArg, value);
        break;
      }
      case 'native sum on {}':
        fn = () => proto.sum!.call({});
        break;
      case 'native release on Object.create(proto)':
        fn = () => proto.release!.call(fake());
        break;
      case 'native clone on {}':
        fn = () => proto.clone!.call({});
        break;
      case 'native share on Object.create(proto)':
        fn = () => proto.share!.call(fake());
        break;
      case 'native ops on {}':
        fn = () => proto.ops!.call({});
        break;
      case 'native accessor on a forgery': {
        const names = ['live', 'refCount', 'offset', 'type', 'isStatic'];
        const name = names[Math.abs(typeof cpuArg === 'number' && Number.isInteger(cpuArg) ? cpuArg : 0) % names.length]!;
        fn = () => Reflect.get(proto, name, fake());
        break;
      }
      case 'readRemote of Object.create(DynamicPerCpu.prototype)':
        fn = () => DynamicPerCpu.prototype.readRemote.call(Object.create(DynamicPerCpu.prototype) as DynamicPerCpu<'u32'>, cpuArg as number);
        break;
      case 'num() of a DynamicPerCpu-shaped object': {
        const shaped = dynamicShaped({ ...(entry === undefined ? {} : { offset: entry.alloc.offset, live: true }) });
        fn = () => DynamicPerCpu.prototype.num.call(shaped);
        break;
      }
      case 'writeRemote of a DynamicPerCpu around Object.create(proto)': {
        const shaped = dynamicShaped(fake());
        fn = () => DynamicPerCpu.prototype.writeRemote.call(shaped, cpuArg as number, value as never);
        break;
      }
      case 'revive of an unknown ticket':
        fn = () => revive({ percpu: 'dynamic', type: 'u32', ticket: ticketBase });
        errors = ['released'];
        break;
      case 'revive of a bad ticket': {
        const checked = checkInteger(cpuArg);
        fn = () => revive({ percpu: 'dynamic', type: 'u32', ticket: cpuArg as number });
        if (checked.ok && checked.value > 0) return; // could be a live ticket of another thread's
        errors = [checked.ok ? 'type' : checked.error];
        break;
      }
      case 'revive of a bad type':
        fn = () => revive({ percpu: 'dynamic', type: 'u128' as NumericType, ticket: ticketBase });
        errors = ['type'];
        break;
      case 'revive of a non-share':
        fn = () => revive(value as SharedPerCpu);
        errors = ['type'];
        break;
      case 'getMut with a forged guard':
        if (entry === undefined) return;
        fn = () => entry.v.getMut({ live: true, cpu: this.#cpu ?? 0, release() {} } as unknown as CpuGuard);
        errors = ['type'];
        break;
      case 'op called with a forged this': {
        if (entry === undefined) return;
        const ops = lib.NUMERIC_OPS as readonly string[];
        const op = ops[(call.cpu.k === 'any' ? call.cpu.n : 0) % ops.length]!;
        this.#applyOp(entry, op, new Array(opModel(op).arity).fill(value), fake());
        return;
      }
    }
    this.#attempt(`forge`, `/* ${kind} */ ${kind.replace(/ /g, '_')}(${fmt(cpuArg)}, ${fmt(value)})`, fn, errors);
  }

  #guard(call: Extract<Call, { c: 'guard' }>): void {
    const misuse = GUARD_MISUSES[call.kind]!;
    const entry = this.#entryFrom(call.slot);
    const errors: ErrorKind[] = [];
    let fn: () => unknown;
    switch (misuse) {
      case 'unbind while held':
        fn = () => {
          const guard = new CpuGuard();
          try {
            lib.unbind();
          } catch (error) {
            guard.release();
            throw error;
          }
          this.#fail('unbind() succeeded while a CpuGuard was held');
        };
        errors.push(this.#cpu === null ? 'notBound' : 'guard');
        break;
      case 'release twice':
        fn = () => {
          const guard = new CpuGuard();
          guard.release();
          guard.release();
        };
        errors.push(this.#cpu === null ? 'notBound' : 'guard');
        break;
      case 'token after release':
      case 'slot outside with()':
        if (entry === undefined) return;
        fn = () => {
          const guard = new CpuGuard();
          let token;
          try {
            token = entry.v.getMut(guard);
          } catch (error) {
            guard.release();
            throw error;
          }
          if (misuse === 'token after release') {
            guard.release();
            return token.with((slot) => slot.value);
          }
          try {
            let escaped: { value: unknown } | undefined;
            token.with((slot) => {
              escaped = slot;
            });
            return escaped!.value;
          } finally {
            guard.release();
          }
        };
        errors.push(this.#cpu === null ? 'notBound' : !entry.live ? 'released' : 'guard');
        break;
    }
    this.#attempt('guard', `/* CpuGuard misuse: ${misuse} */`, fn, errors);
    this.#verifyAll();
  }

  // ---------------------------------------------------------------- issue 13's classes

  /** This thread's pair: made on first use, under the lock, its 16 bytes recorded as this thread's. */
  #threadPair(): { pair: PerCpuPair; words: [bigint, bigint][] } {
    if (this.#pair !== undefined) return this.#pair;
    const words = Array.from({ length: this.#config.cpus }, (_, cpu): [bigint, bigint] => [BigInt(this.#config.thread * 1000 + cpu), ~BigInt(cpu) & 0xffffffffffffffffn]);
    const pair = this.#locked(() => {
      const made = PerCpuPair.newZero();
      words.forEach((w, cpu) => made.writeRemote(cpu, w));
      const offset = made.handle.offset;
      const owners = this.#config.owners;
      for (let b = offset; b < offset + 16; b++) {
        if (owners[b] !== 0) this.#fail(`the thread's pair at offset ${offset} overlaps byte ${b}`);
        owners[b] = this.#config.thread + 1;
      }
      return made;
    });
    return (this.#pair = { pair, words });
  }

  /** The second copy of the binding on this thread, and a u64 of its own (values 3 * cpu + 1). */
  #other(): { addon: NativeAddon; handle: NativeHandle; values: bigint[] } {
    if (this.#otherCopy !== undefined) return this.#otherCopy;
    const addon = loadSecondCopy(this.#config.secondCopy, this.#config.cpus);
    const values = Array.from({ length: this.#config.cpus }, (_, cpu) => BigInt(3 * cpu + 1));
    const handle = addon.allocateFrom(typeInfo('u64').index, values);
    return (this.#otherCopy = { addon, handle, values });
  }

  /** The class methods a receiver of another kind is offered (each a PerCpuTypeError on anything its class did not make). */
  #classEntryPoints(): { name: string; call: (self: unknown) => unknown }[] {
    const method = (proto: object, className: string, name: string, ...args: unknown[]) => ({
      name: `${className}.${name}`,
      call: (self: unknown) => {
        const d = Object.getOwnPropertyDescriptor(proto, name)!;
        return d.get !== undefined ? d.get.call(self) : (d.value as (...a: unknown[]) => unknown).apply(self, args);
      },
    });
    return [
      method(lib.PerCpuVariable.prototype, 'PerCpuVariable', 'num'),
      method(lib.PerCpuVariable.prototype, 'PerCpuVariable', 'readRemote', 0),
      method(lib.PerCpuVariable.prototype, 'PerCpuVariable', 'sum'),
      method(lib.PerCpuVariable.prototype, 'PerCpuVariable', 'offset'),
      method(DynamicPerCpu.prototype, 'DynamicPerCpu', 'release'),
      method(DynamicPerCpu.prototype, 'DynamicPerCpu', 'share'),
      method(DynamicPerCpu.prototype, 'DynamicPerCpu', 'refCount'),
      method(StaticPerCpu.prototype, 'StaticPerCpu', 'share'),
      method(PerCpuPair.prototype, 'PerCpuPair', 'readRemote', 0),
      method(PerCpuPair.prototype, 'PerCpuPair', 'release'),
      method(PerCpuPair.prototype, 'PerCpuPair', 'handle'),
      method(CpuGuard.prototype, 'CpuGuard', 'live'),
      method(CpuGuard.prototype, 'CpuGuard', 'release'),
      method(IrqGuard.prototype, 'IrqGuard', 'release'),
      method(lib.PerCpuToken.prototype, 'PerCpuToken', 'with', () => 1),
    ];
  }

  #receiver(call: Extract<Call, { c: 'receiver' }>): void {
    const kind = RECEIVERS[call.kind]!;
    const entry = this.#entryFrom(call.slot);
    const bits = (BigInt(call.hi) << 32n) | BigInt(call.lo);
    const foreign = (this.#foreign ??= foreignWrapped(bits));
    foreign.fill(bits);
    const other = this.#other();
    const ours = this.#proto().proto;
    const pick = <T>(items: readonly T[]) => items[call.point % items.length]!;
    let name: string;
    let fn: () => unknown;
    switch (kind) {
      case 'native method on a foreign wrapped object':
      case "native method on the other copy's handle": {
        const point = pick(handleEntryPoints(ours));
        const receiver = kind === 'native method on a foreign wrapped object' ? foreign : other.handle;
        name = `NativeHandle.${point.name}`;
        fn = () => point.call(receiver);
        break;
      }
      case "the other copy's native method on our handle": {
        if (entry === undefined) return;
        const point = pick(handleEntryPoints(handlePrototype(other.handle)));
        const handle = (entry.v as unknown as { handle: NativeHandle }).handle;
        name = `the other copy's NativeHandle.${point.name}`;
        fn = () => point.call(handle);
        break;
      }
      case 'class method on a foreign wrapped object':
      case "class method on the other copy's handle": {
        const point = pick(this.#classEntryPoints());
        const receiver = kind === 'class method on a foreign wrapped object' ? foreign : other.handle;
        name = point.name;
        fn = () => point.call(receiver);
        break;
      }
    }
    this.#count(`receiver: ${kind}`, false);
    this.#attempt('receiver', `/* ${kind} */ ${name}.call(receiver) /* words ${fmt(bits)} */`, fn, ['type']);
    const words = foreign.words();
    if (words.some((w) => w !== bits)) this.#fail(`${kind}: the foreign object's words changed to ${fmt(words)}`);
    const theirs = Array.from({ length: this.#config.cpus }, (_, cpu) => other.handle.readRemote(cpu));
    if (theirs.some((v, cpu) => v !== other.values[cpu])) this.#fail(`${kind}: the other copy's slots changed to ${fmt(theirs)}`);
    this.#verifyAll();
  }

  #throwing(call: Extract<Call, { c: 'throwing' }>): void {
    const kind = THROWING[call.kind]!;
    const cfg = this.#config;
    const entry = this.#entryFrom(call.slot);
    const pick = <T>(items: readonly T[]) => items[call.n % items.length]!;
    const line = (text: string) => {
      this.#count(`throwing: ${kind}`, false);
      return `/* must throw: ${kind} */ ${text}`;
    };
    const plain = (text: string, fn: () => unknown, errors: ErrorKind[]) => void this.#attempt('throwing', line(text), fn, errors);
    const allocator = (text: string, fn: () => unknown, errors: ErrorKind[]) =>
      void this.#allocatorCall('throwing', line(text), fn, errors, () => this.#fail(`${text} succeeded`));
    switch (kind) {
      case 'setup with another CPU count':
        return plain(`setup({ cpus: ${cfg.cpus + 1} })`, () => lib.setup({ cpus: cfg.cpus + 1 }), ['conflict']);
      case 'setup with another area size':
        return plain(`setup({ areaSize: ${cfg.areaSize * 2} })`, () => lib.setup({ areaSize: cfg.areaSize * 2 }), ['conflict']);
      case 'setup with a bad backend': {
        const backend = pick(hostileValues());
        return plain(`setup({ backend: ${fmt(backend)} })`, () => lib.setup({ backend: backend as never }), ['type']);
      }
      case 'typeInfo of a bad type': {
        const type = pick(hostileValues());
        return plain(`typeInfo(${fmt(type)})`, () => typeInfo(type as never), ['type']);
      }
      case 'wrap of a bad value': {
        const type = entry?.alloc.type ?? 'u8';
        const value = this.#value(call.val, type);
        const big = typeInfo(type).big;
        if (typeof value === (big ? 'bigint' : 'number') && (typeof value !== 'number' || Number.isInteger(value))) return; // wrap() wraps any integer of the type's JS type
        return plain(`wrap(${fmt(type)}, ${fmt(value)})`, () => lib.wrap(type, value as never), ['type']);
      }
      case 'startScheduler at a bad rate': {
        const rate = pick<unknown>([1e-10, 0.5, -1, 100_000.5, 1e6, -1e-300, NaN, Infinity, -Infinity, '1000', null, 1n, {}]);
        const key = call.n & 1 ? 'irqHz' : 'migrateHz';
        const errors: ErrorKind[] = typeof rate === 'number' && Number.isFinite(rate) ? ['range'] : ['type'];
        return plain(`startScheduler({ migrateHz: 0, ${key}: ${fmt(rate)} })`, () => libSim.startScheduler({ migrateHz: 0, [key]: rate }), errors);
      }
      case 'startScheduler on bad CPUs': {
        const cpus = pick<unknown>([[0.5], [-1], [cfg.cpus], [1024], [2 ** 32], 5, ['0'], [NaN], [0n], { length: 1, 0: 0 }, null, [{}]]);
        const range = Array.isArray(cpus) && typeof cpus[0] === 'number' && Number.isInteger(cpus[0]);
        return plain(`startScheduler({ cpus: ${fmt(cpus)} })`, () => libSim.startScheduler({ cpus: cpus as number[] }), [range ? 'range' : 'type']);
      }
      case 'participate unbound':
        if (this.#cpu !== null) return; // bound, it would take part
        return plain('participate()', () => libSim.participate(), ['notBound']);
      case 'IrqGuard released twice':
        return plain('{ const g = new IrqGuard(); g.release(); g.release(); }', () => {
          const guard = new IrqGuard();
          guard.release();
          guard.release();
        }, ['guard']);
      case 'irqEnable without irqDisable':
        return plain('native.sched.irqEnable()', () => native.sched.irqEnable(), ['guard']);
      case 'PerCpuPair.newWith bad words': {
        const words = pick(BAD_PAIRS);
        return allocator(`PerCpuPair.newWith(${fmt(words)})`, () => PerCpuPair.newWith(words as never), pairErrors(words));
      }
      case 'cmpxchgDouble with bad words': {
        const { pair } = this.#threadPair();
        const words = pick(BAD_PAIRS);
        const errors = pairErrors(words);
        if (this.#cpu === null) errors.push('notBound');
        const [old, value] = call.n & 1 ? [words, [0n, 0n]] : [[0n, 0n], words];
        return plain(`pair.cmpxchgDouble(${fmt(old)}, ${fmt(value)})`, () => pair.cmpxchgDouble(old as never, value as never), errors);
      }
      case 'pair writeRemote to a bad CPU': {
        const { pair } = this.#threadPair();
        const cpuArg = this.#cpuArg(call.cpu);
        const cpu = checkCpu(cpuArg, cfg.cpus);
        if (cpu.ok) return; // a good CPU: the write would land
        return plain(`pair.writeRemote(${fmt(cpuArg)}, [1n, 2n])`, () => pair.writeRemote(cpuArg as number, [1n, 2n]), [cpu.error]);
      }
      case "revivePair of a variable's ticket": {
        if (entry === undefined || !entry.live || !(entry.v instanceof DynamicPerCpu)) return;
        const v = entry.v;
        this.#locked(() => {
          const shared = v.share() as SharedPerCpu & { ticket: number };
          entry.alloc.refs++; // the ticket's reference, until it is revived and released below
          const before = stats();
          try {
            this.#attempt('throwing', line(`revivePair({ percpu: 'pair', ticket: ${shared.ticket} })`), () => revivePair({ percpu: 'pair', ticket: shared.ticket }), ['type']);
            const after = stats();
            if (JSON.stringify(after) !== JSON.stringify(before)) this.#fail(`revivePair of a variable's ticket changed stats() from ${fmt(before)} to ${fmt(after)}`);
          } finally {
            (revive(shared) as DynamicPerCpu<NumericType>).release(); // the ticket was left to redeem
            entry.alloc.refs--;
          }
        });
        return;
      }
      case 'task with a bad module': {
        const [module, name] = pick<[unknown, unknown]>([['./tasks', 'f'], ['tasks.js', 'f'], ['', 'f'], [5, 'f'], [null, 'f'], [{}, 'f'], ['/abs/tasks.js', ''], ['/abs/tasks.js', 5], ['/abs/tasks.js', null]]);
        return plain(`task(${fmt(module)}, ${fmt(name)})`, () => lib.task(module as string, name as string), ['type']);
      }
      case 'runRace with a bad row': {
        const rows = pick<unknown>([
          [{ scenario: 'migration', method: 'bogus' }],
          [{ scenario: 'migration', method: 'constructor' }],
          [{ scenario: 'toString', method: 'raw' }],
          [{ scenario: 'interrupts', method: 'js-rmw' }],
          [{ scenario: 'interrupts', method: 'js-add', backend: 'generic' }],
          [{ scenario: 'migration', method: 'raw', backend: 'fast' }],
          [null],
          'migration:raw',
        ]);
        return this.#attemptAsync('throwing', line(`runRace({ rows: ${fmt(rows)} })`), () => libSim.runRace({ rows: rows as never }), ['type']);
      }
      case 'CpuSet.start with more CPUs than the region':
        return this.#attemptAsync('throwing', line(`CpuSet.start({ cpus: ${cfg.cpus + 1} })`), () => lib.CpuSet.start({ cpus: cfg.cpus + 1 }), ['range']);
      case 'tasks with a bad module': {
        const module = pick<unknown>(['./tasks', 'tasks.js', '', 5, null, {}, 'https://example.com/tasks.js', new URL('data:text/javascript,1')]);
        return plain(`tasks(${fmt(module)})`, () => lib.tasks(module as string), ['type']);
      }
      case 'CpuSet.start with bad options': {
        // Each with what CpuSet.#check (lib/cpus/cpuset.ts) refuses it with, when this thread is
        // not bound to a CPU other than 0.
        const [options, kind] = pick<[object, ErrorKind]>([
          [{ mainThread: 'no' }, 'type'],
          [{ workerOptions: null }, 'type'],
          [{ workerOptions: { workerData: 1 } }, 'type'],
          [{ workerOptions: { execArgv: [1] } }, 'type'],
          [{ workerOptions: { env: { A: 1 } } }, 'type'],
          [{ workerOptions: { resourceLimits: { maxOldGenerationSizeMb: NaN } } }, 'type'],
          [{ workerOptions: { resourceLimits: { stackSizeMb: -1 } } }, 'range'],
        ]);
        // A mainThread that is no boolean is refused first; then, with mainThread true (the
        // default), a thread bound to a CPU other than 0, with a PerCpuRangeError, before the
        // worker options are looked at.
        const mainThread = (options as { mainThread?: unknown }).mainThread ?? true;
        const refused: ErrorKind = mainThread === true && this.#cpu !== null && this.#cpu > 0 ? 'range' : kind;
        return this.#attemptAsync('throwing', line(`CpuSet.start(${fmt(options)})`), () => lib.CpuSet.start(options as never), [refused]);
      }
    }
  }

  /** A result the binding builds: right, made of own data properties, with no prototype setter run (#attempt checks that). */
  #resultCall(call: Extract<Call, { c: 'result' }>): void {
    const kind = RESULTS[call.kind]!;
    const ownData = (value: unknown, keys: readonly string[], what: string) => {
      const names = Object.getOwnPropertyNames(value).sort();
      if (names.join() !== [...keys].sort().join()) this.#fail(`${what}: own properties ${names.join()}, expected ${[...keys].sort().join()}`);
      for (const name of names) {
        if (!('value' in Object.getOwnPropertyDescriptor(value, name)!)) this.#fail(`${what}.${name} is not a data property`);
      }
    };
    switch (kind) {
      case 'stats()': {
        const outcome = this.#attempt('result', 'stats()', () => stats(), []);
        if (outcome.ok) ownData(outcome.value, ['liveAllocations', 'bytesInUse', 'freeBytes', 'largestFree', 'freeBlocks', 'outstandingTickets'], 'stats()');
        return;
      }
      case 'region()': {
        const outcome = this.#attempt('result', 'region()', () => lib.region(), []);
        if (!outcome.ok) return;
        ownData(outcome.value, ['cpus', 'areaSize', 'backend', 'backendReason', 'fellBack', 'gsMethod'], 'region()');
        if (outcome.value?.cpus !== this.#config.cpus || outcome.value.areaSize !== this.#config.areaSize) this.#fail(`region() is ${fmt(outcome.value)}`);
        return;
      }
      case 'schedulerStats()': {
        const outcome = this.#attempt('result', 'schedulerStats()', () => libSim.schedulerStats(), []);
        if (!outcome.ok) return;
        if (outcome.value.running !== false || outcome.value.cpus !== null) this.#fail(`schedulerStats() is ${fmt(outcome.value)}`);
        ownData(outcome.value, SCHEDULER_STATS_KEYS, 'schedulerStats()');
        return;
      }
      case 'threadSchedulerStats()': {
        const outcome = this.#attempt('result', 'threadSchedulerStats()', () => libSim.threadSchedulerStats(), []);
        if (!outcome.ok) return;
        ownData(outcome.value, ['participating', 'tid', 'cpu', 'handled', 'migrations', 'declined', 'irqs', 'irqDepth'], 'threadSchedulerStats()');
        if (outcome.value.cpu !== (this.#cpu ?? -1) || outcome.value.participating || outcome.value.irqDepth !== 0) this.#fail(`threadSchedulerStats() is ${fmt(outcome.value)}`);
        return;
      }
      case 'num() of a clone': {
        const source = this.#entryFrom(call.slot);
        if (source === undefined || !source.live || !(source.v instanceof DynamicPerCpu)) return;
        const v = source.v;
        this.#locked(() => {
          const clone = v.clone();
          try {
            const outcome = this.#attempt('result', `${source.label}.clone().num()`, () => clone.num(), []);
            if (!outcome.ok) return;
            ownData(outcome.value, NUMERIC_OPS, 'num()');
            if (!Object.isFrozen(outcome.value)) this.#fail('num() is not frozen');
          } finally {
            clone.release();
          }
        });
        return;
      }
      case 'pair readRemote': {
        const model = this.#threadPair();
        const cpuArg = this.#cpuArg(call.cpu);
        const cpu = checkCpu(cpuArg, this.#config.cpus);
        const outcome = this.#attempt('result', `pair.readRemote(${fmt(cpuArg)})`, () => model.pair.readRemote(cpuArg as number), cpu.ok ? [] : [cpu.error]);
        if (!outcome.ok) return;
        ownData(outcome.value, ['0', '1', 'length'], 'pair.readRemote()');
        const expected = model.words[(cpu as { value: number }).value]!;
        if (outcome.value[0] !== expected[0] || outcome.value[1] !== expected[1]) this.#fail(`pair.readRemote(${fmt(cpuArg)}) is ${fmt(outcome.value)}, the model has ${fmt(expected)}`);
        return;
      }
    }
  }

  /** Releases this thread's pair under the lock, and gives its bytes back. */
  #releasePair(): void {
    const held = this.#pair;
    if (held === undefined) return;
    this.#pair = undefined;
    this.#locked(() => {
      const offset = held.pair.handle.offset;
      held.pair.release();
      this.#config.owners.fill(0, offset, offset + 16);
    });
  }

  /** Releases a handle under the lock; gives its bytes back if stats() says that freed the allocation. */
  #forceRelease(handle: () => DynamicPerCpu<NumericType>, alloc: Alloc): void {
    this.#locked(() => {
      try {
        const before = stats().liveAllocations;
        handle().release();
        if (stats().liveAllocations < before && !alloc.freed) {
          alloc.freed = true;
          const owners = this.#config.owners;
          for (let b = alloc.offset; b < alloc.offset + alloc.size; b++) if (owners[b] === this.#config.thread + 1) owners[b] = 0;
        }
      } catch {
        // left allocated: its bytes stay this thread's
      }
    });
  }

  /** Releases whatever the run still holds (a failed run too, as far as it can) and unbinds. */
  #cleanUp(): void {
    const failed = this.#result.failure !== undefined;
    const trace = this.#options.trace;
    if (trace !== undefined) this.#options.trace = (line) => trace(`/* clean-up */ ${line}`);
    try {
      for (let i = 0; i < TICKET_SLOTS; i++) {
        const ticket = this.#tickets[i];
        if (ticket === undefined || ticket.spent || ticket.shared.percpu !== 'dynamic') continue;
        const entry = this.#reviveInto(i, this.#freeSlot(0), false);
        if (entry !== undefined) this.#release(entry);
      }
      for (const entry of this.#slots) if (entry?.live && entry.v instanceof DynamicPerCpu) this.#release(entry);
      for (const alloc of this.#allocs) if (!alloc.isStatic) this.#fail(`a ${alloc.type} at ${alloc.offset} is still allocated after every handle and ticket was released`);
      this.#releasePair();
      this.#otherCopy?.handle.release();
      this.#otherCopy = undefined;
      if (thisCpu() !== null) lib.unbind();
    } catch (error) {
      if (!failed) {
        this.#result.failure = { index: this.#index, message: `cleaning up: ${error instanceof Error ? error.message : String(error)}` };
      }
      // A failed run cleans up as well as it can, trusting stats() rather than its model.
      for (const ticket of this.#tickets) {
        if (ticket === undefined || ticket.spent || ticket.shared.percpu !== 'dynamic') continue;
        ticket.spent = true;
        this.#forceRelease(() => revive(ticket.shared) as DynamicPerCpu<NumericType>, ticket.alloc);
      }
      for (const entry of this.#slots) {
        if (entry?.live && entry.v instanceof DynamicPerCpu && !entry.v.released) {
          const v = entry.v;
          this.#forceRelease(() => v, entry.alloc);
        }
      }
      try {
        this.#releasePair();
      } catch {
        // left allocated
      }
      if (thisCpu() !== null) {
        try {
          lib.unbind();
        } catch {
          // a guard left held by the failure: the thread stays bound
        }
      }
    }
  }
}

/** Values that are no type name and no backend name: not strings, strings of no meaning, or worse. */
function hostileValues(): unknown[] {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  return [Object.create(null), 'u128', 'U8', '', 8, null, Symbol('x'), {}, ['u8'], { toString: () => 'u8' }, proxy, 1n, 'bogus'];
}

/** Words a pair refuses: not two, not bigints, out of u64. */
const BAD_PAIRS: readonly unknown[] = [[1n], [1n, 2n, 3n], [1, 2n], [1n, -1n], [2n ** 64n, 0n], 'ab', null, [0n, 0.5], [0n, Object(1n)], {}];

/** The error a pair's words give: a PerCpuTypeError for a shape or a JS type, a PerCpuRangeError for a bigint out of u64. */
function pairErrors(words: unknown): ErrorKind[] {
  if (!Array.isArray(words) || words.length !== 2) return ['type'];
  return words.some((w) => typeof w !== 'bigint') ? ['type'] : ['range'];
}

/** What schedulerStats() has, every one an own data property. */
const SCHEDULER_STATS_KEYS = [
  'running', 'migrateHz', 'irqHz', 'cpus', 'participants', 'signals', 'requests', 'migrations', 'skippedGuard', 'timedOut', 'partnerGone',
  'irqsSent', 'irqsHandled', 'irqsCoalesced', 'migrationsCoalesced', 'checksPassed', 'checkFailures', 'verifications', 'violations',
  'strays', 'staleSignals', 'drained', 'sendFailures',
];
