/**
 * A plain model of percpu, for the fuzzer, the soak and the tests that check them: what every
 * PerCpuNumeric op does to a slot and returns (wrap-around at the type's width, two's complement,
 * exactly as the machine does), and which values and CPU numbers the addon accepts.
 *
 * The model covers the ops the library has today (add, sub) and those it is getting (read, write,
 * inc, dec, and, or, xor, addReturn, subReturn, incReturn, decReturn, xchg, cmpxchg), so that
 * the fuzzer exercises each one as soon as NUMERIC_OPS lists it. All arithmetic is on bigints.
 */
import { typeInfo, type NumericType } from '../../lib';

export type Value = number | bigint;

/** One op: how many operands of the variable's type it takes, its effect and what it returns. */
export interface OpModel {
  readonly arity: 0 | 1 | 2;
  /** 'none': undefined; 'new': the slot's value after the op; 'old': the value before it (for cmpxchg, the value found). */
  readonly returns: 'none' | 'new' | 'old';
  /** The slot's next value before wrapping, from the current value and the operands (all wrapped bigints). */
  next(current: bigint, operands: readonly bigint[]): bigint;
}

const one = (next: (current: bigint, operand: bigint) => bigint) => (current: bigint, operands: readonly bigint[]) =>
  next(current, operands[0]!);

/** Every op the library has or is getting, by its name in NUMERIC_OPS. */
export const OP_MODELS: Readonly<Record<string, OpModel>> = Object.freeze({
  read: { arity: 0, returns: 'old', next: (current) => current },
  write: { arity: 1, returns: 'none', next: one((_, v) => v) },
  add: { arity: 1, returns: 'none', next: one((c, v) => c + v) },
  sub: { arity: 1, returns: 'none', next: one((c, v) => c - v) },
  inc: { arity: 0, returns: 'none', next: (c) => c + 1n },
  dec: { arity: 0, returns: 'none', next: (c) => c - 1n },
  // Bitwise ops on two's-complement bit patterns: JS bigint bitwise ops treat negative values as
  // infinitely sign-extended two's complement, so wrapping the result gives the machine's bits.
  and: { arity: 1, returns: 'none', next: one((c, v) => c & v) },
  or: { arity: 1, returns: 'none', next: one((c, v) => c | v) },
  xor: { arity: 1, returns: 'none', next: one((c, v) => c ^ v) },
  addReturn: { arity: 1, returns: 'new', next: one((c, v) => c + v) },
  subReturn: { arity: 1, returns: 'new', next: one((c, v) => c - v) },
  incReturn: { arity: 0, returns: 'new', next: (c) => c + 1n },
  decReturn: { arity: 0, returns: 'new', next: (c) => c - 1n },
  xchg: { arity: 1, returns: 'old', next: one((_, v) => v) },
  // cmpxchg(old, new): swaps only when the slot holds `old`; returns the value found either way.
  cmpxchg: { arity: 2, returns: 'old', next: (c, [expected, replacement]) => (c === expected ? replacement! : c) },
});

/** The model of `op`, or an error naming the file to extend when the library lists an op the model lacks. */
export function opModel(op: string): OpModel {
  const model = Object.prototype.hasOwnProperty.call(OP_MODELS, op) ? OP_MODELS[op] : undefined;
  if (model === undefined) throw new Error(`the library lists the op '${op}' but test/fuzz/model.ts has no model of it: add one`);
  return model;
}

/** `n` wrapped into `type`, as the machine does (two's complement at the type's width). */
export function wrapBig(type: NumericType, n: bigint): bigint {
  const info = typeInfo(type);
  return info.signed ? BigInt.asIntN(info.size * 8, n) : BigInt.asUintN(info.size * 8, n);
}

/** A wrapped bigint as the JS value percpu uses for `type`: a bigint for 64-bit and size types, else a number. */
export function toJs(type: NumericType, n: bigint): Value {
  return typeInfo(type).big ? n : Number(n);
}

/** Applies `op` to a slot holding `current`: the slot's next value, and what the call returns. */
export function applyOp(type: NumericType, op: string, current: bigint, operands: readonly bigint[]): { next: bigint; result: bigint | undefined } {
  const model = opModel(op);
  if (operands.length !== model.arity) throw new Error(`${op} takes ${model.arity} operands, the model got ${operands.length}`);
  const next = wrapBig(type, model.next(current, operands));
  const result = model.returns === 'none' ? undefined : model.returns === 'new' ? next : current;
  return { next, result };
}

/** Why the addon refuses an argument: a PerCpuTypeError ('type') or a PerCpuRangeError ('range'). */
export type Rejection = 'type' | 'range';

export type Checked<T> = { ok: true; value: T } | { ok: false; error: Rejection };

/**
 * What the addon makes of `value` as a `type` value (native/numeric.h FromJs): the exact integer,
 * or why it is refused. No coercion: a number for a bigint type, a bigint for a number type, a
 * boxed number, a string or a non-integer is a 'type' error; an integer outside the range is 'range'.
 */
export function checkValue(type: NumericType, value: unknown): Checked<bigint> {
  const info = typeInfo(type);
  let n: bigint;
  if (info.big) {
    if (typeof value !== 'bigint') return { ok: false, error: 'type' };
    n = value;
  } else {
    if (typeof value !== 'number' || !Number.isInteger(value)) return { ok: false, error: 'type' };
    n = BigInt(value); // -0 is 0
  }
  if (n < BigInt(info.min) || n > BigInt(info.max)) return { ok: false, error: 'range' };
  return { ok: true, value: n };
}

/**
 * What the addon makes of an integer argument that is not a value (a CPU, a share ticket;
 * native/addon.cc GetInteger): a number that is a safe integer, else 'type' (not a finite
 * integer number) or 'range' (beyond +-(2**53 - 1)).
 */
export function checkInteger(value: unknown): Checked<number> {
  if (typeof value !== 'number' || !Number.isInteger(value)) return { ok: false, error: 'type' };
  if (Math.abs(value) > Number.MAX_SAFE_INTEGER) return { ok: false, error: 'range' };
  return { ok: true, value: value === 0 ? 0 : value };
}

/** A CPU number as readRemote, writeRemote and bind check it: an integer from 0 to cpus - 1. */
export function checkCpu(value: unknown, cpus: number): Checked<number> {
  const checked = checkInteger(value);
  if (!checked.ok) return checked;
  if (checked.value < 0 || checked.value >= cpus) return { ok: false, error: 'range' };
  return checked;
}

/** The exact sum of slots, as sum() returns it: a number for 8/16/32-bit types, a bigint otherwise. */
export function sumOf(type: NumericType, slots: readonly bigint[]): Value {
  return toJs(type, slots.reduce((a, b) => a + b, 0n));
}
