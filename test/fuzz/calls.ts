/**
 * The fuzzer's calls as plain data, and their generator. A call names what to do in terms that do
 * not depend on the state it meets (a variable slot, an op name, a value "max + 1 of whatever
 * type the variable has"), so any subsequence of a generated list still runs, which is what the
 * shrinker needs. The engine (./engine) resolves each call against the state and checks it.
 */
import { NUMERIC_TYPES, type NumericType } from '../../lib';
import { opModel } from './model';

/** A small, fast, seedable generator (sfc32). Seeds are unsigned 32-bit integers. */
export class Rng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(seed: number) {
    this.#a = 0x9e3779b9;
    this.#b = 0x243f6a88;
    this.#c = 0xb7e15162;
    this.#d = seed >>> 0;
    for (let i = 0; i < 16; i++) this.next();
  }

  /** An unsigned 32-bit integer. */
  next(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  /** An integer from 0 to n - 1. */
  int(n: number): number {
    return Math.floor((this.next() / 2 ** 32) * n);
  }

  /** An integer from lo to hi inclusive. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.next() / 2 ** 32 < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  /** One of `choices` by weight. */
  weighted<T>(choices: readonly (readonly [number, T])[]): T {
    const total = choices.reduce((sum, [w]) => sum + w, 0);
    let r = this.int(total);
    for (const [w, choice] of choices) {
      if (r < w) return choice;
      r -= w;
    }
    return choices[choices.length - 1]![1];
  }
}

/** A seed derived from another and an index (for threads, runs): a 32-bit mix of both. */
export function deriveSeed(seed: number, index: number): number {
  let h = (seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** Values that are not integers of the variable's representation, or sit at the edges of what JS holds. */
export const SPECIALS = [
  'NaN', 'Infinity', '-Infinity', '-0', '0.5', '-1.5', '1e300', 'MAX_SAFE_INTEGER', '2**53+1', '-(2**53+1)',
  "'1'", "''", "'abc'", 'null', 'undefined', 'true', '{}', '[]', '[1]', '{valueOf}', 'Object(1)', 'Object(1n)',
  'Symbol()', 'function', 'a handle', 'a forged handle', '2n**128n', '-(2n**128n)',
] as const;
export type Special = (typeof SPECIALS)[number];

/**
 * A value, resolved against the variable's type when the call runs. `flip` passes the integer in
 * the other representation (a number for a bigint type, a bigint for a number type).
 */
export type ValueSpec =
  /** 64 random bits, wrapped into the type: always in range. */
  | { k: 'bits'; hi: number; lo: number; flip?: true }
  /** The type's min, max or 0, plus a small delta: across and just beyond the range. */
  | { k: 'rel'; base: 'min' | 'max' | 'zero'; d: number; flip?: true }
  /** An exact integer (decimal), whatever the type: 2**8, 2**64 + 1, -(2**63) - 1, ... */
  | { k: 'wide'; n: string; flip?: true }
  | { k: 'special'; s: Special }
  /** What this CPU's slot holds, as the model has it: cmpxchg's expected value, so that it swaps. */
  | { k: 'current' };

/** A CPU number: one in the region, one of this thread's own two CPUs, the held "foreign" CPU, or a bad one. */
export type CpuSpec =
  | { k: 'any'; n: number }
  | { k: 'own'; i: 0 | 1 }
  | { k: 'foreign' }
  | { k: 'raw'; s: RawCpu };

export const RAW_CPUS = ['-1', 'cpus', 'cpus+1', '2**31', '2**32', '2**53+1', '-(2**53+1)', '1.5', 'NaN', 'Infinity', "'0'", '0n', 'null', 'undefined', '{}'] as const;
export type RawCpu = (typeof RAW_CPUS)[number];

/** A type name, or a bad one. */
export type TypeSpec = NumericType | 'u128' | 'U8' | '' | 8 | null;
const BAD_TYPES: readonly TypeSpec[] = ['u128', 'U8', '', 8, null];

/** Forgeries tried against the native handle class and the TS classes (see the engine). */
export const FORGERIES = [
  'new NativeHandle()', 'native readRemote on Object.create(proto)', 'native writeRemote on a plain copy', 'native sum on {}',
  'native release on Object.create(proto)', 'native clone on {}', 'native share on Object.create(proto)', 'native ops on {}',
  'native accessor on a forgery', 'readRemote of Object.create(DynamicPerCpu.prototype)', 'num() of a DynamicPerCpu-shaped object',
  'writeRemote of a DynamicPerCpu around Object.create(proto)', 'revive of an unknown ticket', 'revive of a bad ticket',
  'revive of a bad type', 'revive of a non-share', 'getMut with a forged guard', 'op called with a forged this',
] as const;

export const GUARD_MISUSES = ['unbind while held', 'release twice', 'token after release', 'slot outside with()'] as const;

/**
 * Receivers percpu did not make (issue 13, findings 1 and 2): an entry point of this copy's
 * native handle class on another addon's wrapped object (its words set from the call's bits) or
 * on a handle of a second copy of the binding, that copy's entry points on our handles, and the
 * TS classes' methods on both. Every one is a PerCpuTypeError that touches nothing.
 */
export const RECEIVERS = [
  'native method on a foreign wrapped object',
  "native method on the other copy's handle",
  "the other copy's native method on our handle",
  'class method on a foreign wrapped object',
  "class method on the other copy's handle",
] as const;

/**
 * Calls that must throw, whatever the state (each is skipped in a state where it would not), for
 * "a call that throws changes nothing": the region, this thread's binding, preempt count,
 * participation and interrupt depth, the scheduler, the allocator, every slot and reference the
 * model holds, the thread's pair, are checked unchanged after each. The async ones reject
 * before anything happens; their state is checked at once and their error when they settle.
 */
export const THROWING = [
  'setup with another CPU count',
  'setup with another area size',
  'setup with a bad backend',
  'typeInfo of a bad type',
  'wrap of a bad value',
  'startScheduler at a bad rate',
  'startScheduler on bad CPUs',
  'participate unbound',
  'IrqGuard released twice',
  'irqEnable without irqDisable',
  'PerCpuPair.newWith bad words',
  'cmpxchgDouble with bad words',
  'pair writeRemote to a bad CPU',
  "revivePair of a variable's ticket",
  'task with a bad module',
  'runRace with a bad row',
  'CpuSet.start with more CPUs than the region',
  'tasks with a bad module',
  'CpuSet.start with bad options',
] as const;

/** Results the binding builds (own data properties only: no prototype setter may run while they are made). */
export const RESULTS = ['stats()', 'region()', 'schedulerStats()', 'threadSchedulerStats()', 'num() of a clone', 'pair readRemote'] as const;

/** The variable slots and ticket slots a thread's calls use. */
export const VAR_SLOTS = 6;
export const TICKET_SLOTS = 3;
export const STATIC_NAMES = 2;

export type Call =
  | { c: 'alloc'; slot: number; type: TypeSpec; how: 'zero' | 'with' | 'from'; vals: ValueSpec[]; throwAt?: number }
  | { c: 'op'; slot: number; op: string; args: ValueSpec[] }
  | { c: 'readRemote'; slot: number; cpu: CpuSpec }
  | { c: 'writeRemote'; slot: number; cpu: CpuSpec; val: ValueSpec }
  | { c: 'values'; slot: number }
  | { c: 'sum'; slot: number }
  | { c: 'token'; slot: number; write?: ValueSpec }
  | { c: 'release'; slot: number }
  | { c: 'clone'; slot: number; dst: number }
  | { c: 'share'; slot: number; ticket: number }
  | { c: 'revive'; ticket: number; dst: number; wrongType?: true }
  | { c: 'bind'; cpu: CpuSpec }
  | { c: 'unbind' }
  | { c: 'static'; name: number; type: TypeSpec; init: ValueSpec; get: boolean; dst: number }
  | { c: 'forge'; slot: number; kind: number; val: ValueSpec; cpu: CpuSpec }
  | { c: 'guard'; slot: number; kind: number }
  | { c: 'receiver'; slot: number; kind: number; point: number; hi: number; lo: number }
  | { c: 'throwing'; slot: number; kind: number; val: ValueSpec; cpu: CpuSpec; n: number }
  | { c: 'result'; slot: number; kind: number; cpu: CpuSpec };

const WIDE_EXPONENTS = [7, 8, 15, 16, 31, 32, 52, 53, 54, 63, 64, 65, 100, 128];

export function genValue(rng: Rng): ValueSpec {
  const kind = rng.weighted([
    [35, 'bits'],
    [30, 'rel'],
    [13, 'wide'],
    [12, 'special'],
    [10, 'flip'],
  ] as const);
  switch (kind) {
    case 'bits':
      return { k: 'bits', hi: rng.next(), lo: rng.next() };
    case 'rel':
      return { k: 'rel', base: rng.pick(['min', 'max', 'zero'] as const), d: rng.chance(0.7) ? rng.range(-2, 2) : rng.range(-1000, 1000) };
    case 'wide': {
      const e = BigInt(rng.pick(WIDE_EXPONENTS));
      const n = (rng.chance(0.5) ? -1n : 1n) * (2n ** e) + BigInt(rng.range(-1, 1));
      return { k: 'wide', n: String(n) };
    }
    case 'special':
      return { k: 'special', s: rng.pick(SPECIALS) };
    case 'flip':
      return rng.chance(0.5) ? { k: 'bits', hi: rng.next(), lo: rng.next(), flip: true } : { k: 'rel', base: rng.pick(['min', 'max', 'zero'] as const), d: rng.range(-2, 2), flip: true };
  }
}

/** A value that is mostly valid: ops and writes should mostly succeed, so the state evolves. */
function genOperand(rng: Rng): ValueSpec {
  if (rng.chance(0.75)) {
    return rng.chance(0.5) ? { k: 'bits', hi: rng.next(), lo: rng.next() } : { k: 'rel', base: rng.pick(['min', 'max', 'zero', 'zero'] as const), d: rng.range(-3, 3) };
  }
  return genValue(rng);
}

function genCpu(rng: Rng, cpus: number): CpuSpec {
  return rng.chance(0.85) ? { k: 'any', n: rng.int(cpus) } : { k: 'raw', s: rng.pick(RAW_CPUS) };
}

function genType(rng: Rng): TypeSpec {
  return rng.chance(0.04) ? rng.pick(BAD_TYPES) : rng.pick(NUMERIC_TYPES);
}

export interface GenOptions {
  /** The ops the library lists at run time (NUMERIC_OPS). */
  ops: readonly string[];
  /** CPUs in the region. */
  cpus: number;
}

/** One random call. */
export function genCall(rng: Rng, options: GenOptions): Call {
  const slot = rng.int(VAR_SLOTS);
  const kind = rng.weighted([
    [40, 'op'],
    [7, 'readRemote'],
    [7, 'writeRemote'],
    [3, 'values'],
    [2, 'sum'],
    [6, 'token'],
    [8, 'alloc'],
    [5, 'release'],
    [3, 'clone'],
    [3, 'share'],
    [3, 'revive'],
    [4, 'bind'],
    [1, 'unbind'],
    [2, 'static'],
    [4, 'forge'],
    [1, 'guard'],
    [3, 'receiver'],
    [4, 'throwing'],
    [2, 'result'],
  ] as const);
  switch (kind) {
    case 'op': {
      const op = rng.pick(options.ops);
      const args = Array.from({ length: opModel(op).arity }, () => genOperand(rng));
      if (op === 'cmpxchg' && rng.chance(0.5)) args[0] = { k: 'current' };
      return { c: 'op', slot, op, args };
    }
    case 'readRemote':
      return { c: 'readRemote', slot, cpu: genCpu(rng, options.cpus) };
    case 'writeRemote':
      return { c: 'writeRemote', slot, cpu: genCpu(rng, options.cpus), val: genOperand(rng) };
    case 'values':
    case 'sum':
    case 'release':
      return { c: kind, slot };
    case 'token':
      return rng.chance(0.5) ? { c: 'token', slot, write: genOperand(rng) } : { c: 'token', slot };
    case 'alloc': {
      const how = rng.pick(['zero', 'with', 'from'] as const);
      const count = how === 'zero' ? 0 : how === 'with' ? 1 : options.cpus;
      const vals = Array.from({ length: count }, () => (rng.chance(0.9) ? genOperand(rng) : genValue(rng)));
      const call: Call = { c: 'alloc', slot, type: genType(rng), how, vals };
      if (how === 'from' && rng.chance(0.03)) call.throwAt = rng.int(options.cpus);
      return call;
    }
    case 'clone':
      return { c: 'clone', slot, dst: rng.int(VAR_SLOTS) };
    case 'share':
      return { c: 'share', slot, ticket: rng.int(TICKET_SLOTS) };
    case 'revive':
      return rng.chance(0.1) ? { c: 'revive', ticket: rng.int(TICKET_SLOTS), dst: slot, wrongType: true } : { c: 'revive', ticket: rng.int(TICKET_SLOTS), dst: slot };
    case 'bind': {
      const cpu: CpuSpec = rng.weighted([
        [6, { k: 'own', i: 0 }],
        [3, { k: 'own', i: 1 }],
        [1, { k: 'foreign' }],
        [2, { k: 'raw', s: rng.pick(RAW_CPUS) }],
      ] as const);
      return { c: 'bind', cpu };
    }
    case 'unbind':
      return { c: 'unbind' };
    case 'static':
      return { c: 'static', name: rng.int(STATIC_NAMES), type: genType(rng), init: genOperand(rng), get: rng.chance(0.4), dst: slot };
    case 'forge':
      return { c: 'forge', slot, kind: rng.int(FORGERIES.length), val: genValue(rng), cpu: genCpu(rng, options.cpus) };
    case 'guard':
      return { c: 'guard', slot, kind: rng.int(GUARD_MISUSES.length) };
    case 'receiver':
      return { c: 'receiver', slot, kind: rng.int(RECEIVERS.length), point: rng.next(), hi: rng.next(), lo: rng.next() };
    case 'throwing':
      return { c: 'throwing', slot, kind: rng.int(THROWING.length), val: genValue(rng), cpu: genCpu(rng, options.cpus), n: rng.next() };
    case 'result':
      return { c: 'result', slot, kind: rng.int(RESULTS.length), cpu: genCpu(rng, options.cpus) };
  }
}

/**
 * A thread's list of calls: bind to its first CPU and fill the variable slots, then `count`
 * random calls. Depends only on the seed and the options.
 */
export function genCalls(seed: number, count: number, options: GenOptions): Call[] {
  const rng = new Rng(seed);
  const calls: Call[] = [{ c: 'bind', cpu: { k: 'own', i: 0 } }];
  for (let slot = 0; slot < VAR_SLOTS; slot++) {
    calls.push({ c: 'alloc', slot, type: rng.pick(NUMERIC_TYPES), how: 'with', vals: [genOperand(rng)] });
  }
  while (calls.length < count) calls.push(genCall(rng, options));
  return calls;
}
