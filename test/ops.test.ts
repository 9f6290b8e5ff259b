/**
 * The whole this_cpu op family on num(), for all ten types, on every CPU: exact results and
 * slots against a model written here with BigInt (not the library's wrap()), wrap-around at the
 * bounds, the return-value conventions (the NEW value for *Return, the OLD one for xchg, the one
 * found for cmpxchg), cmpxchg hit and miss, and bad operands that change nothing.
 */
import * as assert from 'node:assert/strict';
import {
  DynamicPerCpu,
  NUMERIC_OPS,
  NUMERIC_OP_TABLE,
  NUMERIC_TYPES,
  NotBoundError,
  PerCpuRangeError,
  PerCpuTypeError,
  ReleasedError,
  typeInfo,
  type NumericOp,
  type NumericType,
} from '../lib';
import { fastPath } from '../lib/core/native';
import { ALL_CPUS, TEST_CPUS, assertThrowsCode, taskOf, useCpuSet, val } from './helpers';
import type { FamilyStep, Value } from './tasks';

/** The op's effect in the type's width: what it returns and what the slot holds after. */
function model(type: NumericType, op: NumericOp, before: Value, operands: Value[]): { returned: Value | undefined; after: Value } {
  const bits = typeInfo(type).size * 8;
  const fit = (n: bigint) => val(type, typeInfo(type).signed ? BigInt.asIntN(bits, n) : BigInt.asUintN(bits, n));
  const b = BigInt(before);
  const [x, y] = operands.map((o) => BigInt(o)) as [bigint, bigint];
  const set = (after: bigint, returned?: bigint) => ({ returned: returned === undefined ? undefined : fit(returned), after: fit(after) });
  switch (op) {
    case 'read': return set(b, b);
    case 'write': return set(x);
    case 'add': return set(b + x);
    case 'sub': return set(b - x);
    case 'inc': return set(b + 1n);
    case 'dec': return set(b - 1n);
    case 'and': return set(BigInt.asUintN(bits, b) & BigInt.asUintN(bits, x));
    case 'or': return set(BigInt.asUintN(bits, b) | BigInt.asUintN(bits, x));
    case 'xor': return set(BigInt.asUintN(bits, b) ^ BigInt.asUintN(bits, x));
    case 'addReturn': return set(b + x, b + x);
    case 'subReturn': return set(b - x, b - x);
    case 'incReturn': return set(b + 1n, b + 1n);
    case 'decReturn': return set(b - 1n, b - 1n);
    case 'xchg': return set(x, b);
    case 'cmpxchg': return set(b === x ? y : b, b);
  }
}

/** Values that matter for `type`: its bounds, 0, 1, -1 where it exists, and a bit pattern. */
function interesting(type: NumericType): Value[] {
  const { min, max, signed, size } = typeInfo(type);
  const pattern = BigInt.asUintN(size * 8, 0x5a5a5a5a5a5a5a5an) >> (signed ? 1n : 0n);
  return [min, max, val(type, 0), val(type, 1), ...(signed ? [val(type, -1)] : []), val(type, pattern)];
}

/** Every op on every interesting slot value, with every interesting operand (cmpxchg: a hit and a miss each). */
function stepsFor(type: NumericType, op: NumericOp): FamilyStep[] {
  const values = interesting(type);
  const operands = NUMERIC_OP_TABLE[op].operands;
  return values.flatMap((set): FamilyStep[] => {
    if (operands === 0) return [{ set, op, operands: [] }];
    if (operands === 1) return values.map((x) => ({ set, op, operands: [x] }));
    return values.flatMap((x) => [
      { set, op, operands: [set, x] }, // hit: the slot holds `old`
      { set, op, operands: [x, set === x ? values[1]! : x] }, // a miss unless x === set
    ]);
  });
}

describe('the this_cpu op family', function () {
  const cpus = useCpuSet();

  it('has the 15 ops of the kernel family, in the addon\'s order, with their arities', function () {
    assert.deepEqual(NUMERIC_OPS, ['read', 'write', 'add', 'sub', 'inc', 'dec', 'and', 'or', 'xor', 'addReturn', 'subReturn', 'incReturn', 'decReturn', 'xchg', 'cmpxchg']);
    using v = DynamicPerCpu.newZero('u8');
    assert.deepEqual(Object.keys(v.num()), NUMERIC_OPS);
    for (const op of NUMERIC_OPS) assert.equal(v.num()[op].name, op);
    for (const op of NUMERIC_OPS) assert.equal(v.num()[op].length, NUMERIC_OP_TABLE[op].operands);
    // On this Node the ops run through the V8 fast path; values it does not take (a u32 above
    // 2**31 - 1, a bad value) go to the exact Node-API path, which the model cases cover.
    assert.equal(fastPath.active, true, fastPath.reason);
  });

  for (const type of NUMERIC_TYPES) {
    it(`${type}: every op, at and across the bounds, on each of the ${TEST_CPUS} CPUs, equals the model`, async function () {
      using v = DynamicPerCpu.newZero(type);
      const steps = NUMERIC_OPS.flatMap((op) => stepsFor(type, op));
      const seen = await cpus.set.onEachCpu(taskOf('applyFamily'), v, steps);
      assert.deepEqual(seen.map((s) => s.cpu), ALL_CPUS);
      const expected = steps.map((step) => model(type, step.op, step.set, step.operands));
      for (const s of seen) assert.deepEqual(s.results, expected);
      // The last step's slot, seen from this thread, on every CPU.
      assert.deepEqual(v.values(), Array(TEST_CPUS).fill(expected.at(-1)!.after));
    });
  }

  it('return conventions, as literals: addReturn/subReturn/incReturn/decReturn give the new value, xchg the old, cmpxchg the one found', async function () {
    using v = DynamicPerCpu.newZero('u8');
    const steps: FamilyStep[] = [
      { set: 250, op: 'addReturn', operands: [10] },
      { set: 3, op: 'subReturn', operands: [5] },
      { set: 255, op: 'incReturn', operands: [] },
      { set: 0, op: 'decReturn', operands: [] },
      { set: 7, op: 'xchg', operands: [9] },
      { set: 7, op: 'cmpxchg', operands: [7, 42] },
      { set: 7, op: 'cmpxchg', operands: [8, 42] },
      { set: 0b1100, op: 'and', operands: [0b1010] },
      { set: 0b1100, op: 'or', operands: [0b1010] },
      { set: 0b1100, op: 'xor', operands: [0b1010] },
      { set: 255, op: 'inc', operands: [] },
      { set: 0, op: 'dec', operands: [] },
      { set: 77, op: 'read', operands: [] },
      { set: 77, op: 'write', operands: [5] },
    ];
    const seen = await cpus.set.onEachCpu(taskOf('applyFamily'), v, steps);
    const literal = [
      [4, 4], [254, 254], [0, 0], [255, 255], [7, 9], [7, 42], [7, 7],
      [undefined, 0b1000], [undefined, 0b1110], [undefined, 0b0110], [undefined, 0], [undefined, 255], [77, 77], [undefined, 5],
    ].map(([returned, after]) => ({ returned, after }));
    for (const s of seen) assert.deepEqual(s.results, literal);
  });

  it('i64 and u64 at 64 bits: xchg and cmpxchg keep every bit; signed and with bigint results', async function () {
    using s = DynamicPerCpu.newZero('i64');
    using u = DynamicPerCpu.newZero('u64');
    const signed = await cpus.set.runOn(2, taskOf('applyFamily'), s, [
      { set: -9223372036854775808n, op: 'xchg', operands: [9223372036854775807n] },
      { set: -1n, op: 'cmpxchg', operands: [-1n, -9223372036854775808n] },
      { set: -9223372036854775808n, op: 'decReturn', operands: [] },
    ]);
    assert.deepEqual(signed.results, [
      { returned: -9223372036854775808n, after: 9223372036854775807n },
      { returned: -1n, after: -9223372036854775808n },
      { returned: 9223372036854775807n, after: 9223372036854775807n },
    ]);
    const unsigned = await cpus.set.runOn(3, taskOf('applyFamily'), u, [
      { set: 18446744073709551615n, op: 'incReturn', operands: [] },
      { set: 0x8000000000000001n, op: 'cmpxchg', operands: [0x8000000000000000n, 1n] },
      { set: 0xffff0000ffff0000n, op: 'xor', operands: [0xffffffffffffffffn] },
    ]);
    assert.deepEqual(unsigned.results, [
      { returned: 0n, after: 0n },
      { returned: 0x8000000000000001n, after: 0x8000000000000001n },
      { returned: undefined, after: 0x0000ffff0000ffffn },
    ]);
    assert.deepEqual(s.values(), [0n, 0n, 9223372036854775807n, 0n]);
    assert.deepEqual(u.values(), [0n, 0n, 0n, 0x0000ffff0000ffffn]);
  });

  it('bad operands throw the named error and change nothing, for every op that takes one', function () {
    using v = DynamicPerCpu.newWith('i16', 1234);
    using big = DynamicPerCpu.newWith('u64', 99n);
    for (const op of NUMERIC_OPS.filter((o) => NUMERIC_OP_TABLE[o].operands > 0)) {
      const call = (w: DynamicPerCpu<'i16'> | DynamicPerCpu<'u64'>, ...operands: unknown[]) => () =>
        (w.num()[op] as (...values: unknown[]) => unknown)(...operands);
      const two = NUMERIC_OP_TABLE[op].operands === 2;
      assertThrowsCode(call(v, ...(two ? [1234, 32768] : [32768])), PerCpuRangeError, 'ERR_PERCPU_OUT_OF_RANGE');
      assertThrowsCode(call(v, ...(two ? [1234, 1.5] : [1.5])), PerCpuTypeError, 'ERR_PERCPU_INVALID_ARG');
      assertThrowsCode(call(v, ...(two ? [1234n, 1] : [1n])), PerCpuTypeError, 'ERR_PERCPU_INVALID_ARG');
      assertThrowsCode(call(v), PerCpuTypeError, 'ERR_PERCPU_INVALID_ARG'); // missing operands are undefined
      if (two) assertThrowsCode(call(v, 1234), PerCpuTypeError, 'ERR_PERCPU_INVALID_ARG');
      assertThrowsCode(call(big, ...(two ? [99n, -1n] : [-1n])), PerCpuRangeError, 'ERR_PERCPU_OUT_OF_RANGE');
      assertThrowsCode(call(big, ...(two ? [99n, 2n ** 64n] : [2n ** 64n])), PerCpuRangeError, 'ERR_PERCPU_OUT_OF_RANGE');
      assertThrowsCode(call(big, ...(two ? [99n, 5] : [5])), PerCpuTypeError, 'ERR_PERCPU_INVALID_ARG');
      assert.deepEqual(v.values(), Array(TEST_CPUS).fill(1234), `${op} changed an i16 slot`);
      assert.deepEqual(big.values(), Array(TEST_CPUS).fill(99n), `${op} changed a u64 slot`);
    }
  });

  it('every op of a released handle throws ReleasedError', function () {
    const v = DynamicPerCpu.newZero('u32');
    const ops = v.num();
    v.release();
    for (const op of NUMERIC_OPS) {
      assertThrowsCode(() => (ops[op] as (...values: number[]) => unknown)(1, 2), ReleasedError, 'ERR_PERCPU_RELEASED');
    }
  });
});

describe('the this_cpu op family on an unbound thread', function () {
  it('every op throws NotBoundError and changes nothing', function () {
    using v = DynamicPerCpu.newWith('u16', 7);
    for (const op of NUMERIC_OPS) {
      assertThrowsCode(() => (v.num()[op] as (...values: number[]) => unknown)(7, 8), NotBoundError, 'ERR_PERCPU_NOT_BOUND');
    }
    assert.deepEqual(v.values(), Array(TEST_CPUS).fill(7));
  });
});
