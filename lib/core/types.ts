/**
 * The numeric types of per-CPU variables, as in the Rust series' PerCpuNumeric.
 */
import { PerCpuTypeError, describeThrown } from './errors';
import { native } from './native';

/** The ten numeric types, in the native table's order (native/core/numeric.h). */
export const NUMERIC_TYPES = ['i8', 'i16', 'i32', 'i64', 'isize', 'u8', 'u16', 'u32', 'u64', 'usize'] as const;

/** A per-CPU numeric type: Rust's `i8 i16 i32 i64 isize u8 u16 u32 u64 usize`. */
export type NumericType = (typeof NUMERIC_TYPES)[number];

/** The types whose values are bigints in JS: 64-bit and pointer-sized. */
export type BigNumericType = 'i64' | 'isize' | 'u64' | 'usize';

/** The JS type of a value of `T`: `number` for 8/16/32-bit types, `bigint` for 64-bit and size types. */
export type ValueOf<T extends NumericType> = T extends BigNumericType ? bigint : number;

/** Facts about one numeric type. */
export interface TypeInfo<T extends NumericType = NumericType> {
  readonly name: T;
  /** Index in the native type table. */
  readonly index: number;
  /** Size (and alignment) in bytes. */
  readonly size: number;
  readonly signed: boolean;
  /** True when values are bigints. */
  readonly big: boolean;
  readonly min: ValueOf<T>;
  readonly max: ValueOf<T>;
}

function describe(name: NumericType, index: number): TypeInfo {
  const fromNative = native.types[index];
  if (fromNative?.name !== name) {
    throw new Error(`percpu: the addon's type table does not match lib/core/types.ts at ${index} (${fromNative?.name} != ${name})`);
  }
  const bits = BigInt(fromNative.size * 8);
  const signed = name.startsWith('i');
  const min = signed ? -(1n << (bits - 1n)) : 0n;
  const max = signed ? (1n << (bits - 1n)) - 1n : (1n << bits) - 1n;
  const big = fromNative.big;
  const asValue = (v: bigint) => (big ? v : Number(v));
  return Object.freeze({ name, index, size: fromNative.size, signed, big, min: asValue(min), max: asValue(max) }) as TypeInfo;
}

const TYPE_INFO: ReadonlyMap<string, TypeInfo> = new Map(NUMERIC_TYPES.map((name, index) => [name, describe(name, index)]));

/** Describes a numeric type; a name that is not one is a PerCpuTypeError. */
export function typeInfo<T extends NumericType>(type: T): TypeInfo<T> {
  const info = typeof type === 'string' ? TYPE_INFO.get(type) : undefined;
  if (info === undefined) {
    throw new PerCpuTypeError(`unknown numeric type ${describeThrown(type)}: expected one of ${NUMERIC_TYPES.join(', ')}`);
  }
  return info as TypeInfo<T>;
}

/**
 * Wraps a mathematical integer into `T` the way the machine does (two's complement), for
 * computing expected values: `wrap('u8', 256) === 0`, `wrap('i64', 2n ** 63n) === -(2n ** 63n)`.
 */
export function wrap<T extends NumericType>(type: T, value: ValueOf<T>): ValueOf<T> {
  const info = typeInfo(type);
  if (typeof value !== (info.big ? 'bigint' : 'number') || (typeof value === 'number' && !Number.isInteger(value))) {
    throw new PerCpuTypeError(`a ${type} value must be ${info.big ? 'a bigint' : 'an integer number'}`);
  }
  const bits = info.size * 8;
  const wide = BigInt(value);
  const wrapped = info.signed ? BigInt.asIntN(bits, wide) : BigInt.asUintN(bits, wide);
  return (info.big ? wrapped : Number(wrapped)) as ValueOf<T>;
}
