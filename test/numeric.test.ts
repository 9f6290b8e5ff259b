/**
 * PerCpuNumeric for all ten types on every CPU: the Rust sample's numeric optimizations check
 * (set 10, add 1, add 10, sub 5 -> 16), and wrap-around at each type's bounds, exactly.
 */
import * as assert from 'node:assert/strict';
import { DynamicPerCpu, NUMERIC_TYPES, typeInfo, wrap, type NumericOp, type NumericType } from '../lib';
import { ALL_CPUS, TEST_CPUS, taskOf, useCpuSet, val } from './helpers';
import type { OpStep, Value } from './tasks';

const U64_MAX = 18446744073709551615n;
const I64_MAX = 9223372036854775807n;
const I64_MIN = -9223372036854775808n;

/** Each type's facts and some wrap-around cases, written out as literals: [set, op, operand, expected]. */
const LITERALS: Record<NumericType, { size: number; signed: boolean; big: boolean; min: Value; max: Value; cases: [Value, NumericOp, Value, Value][] }> = {
  i8: {
    size: 1, signed: true, big: false, min: -128, max: 127,
    cases: [[127, 'add', 1, -128], [-128, 'sub', 1, 127], [100, 'add', 100, -56], [-128, 'add', -128, 0], [0, 'sub', -128, -128], [-1, 'add', 1, 0], [-100, 'sub', 100, 56]],
  },
  i16: {
    size: 2, signed: true, big: false, min: -32768, max: 32767,
    cases: [[32767, 'add', 1, -32768], [-32768, 'sub', 1, 32767], [0, 'sub', -32768, -32768], [30000, 'add', 30000, -5536]],
  },
  i32: {
    size: 4, signed: true, big: false, min: -2147483648, max: 2147483647,
    cases: [[2147483647, 'add', 1, -2147483648], [-2147483648, 'sub', 1, 2147483647], [-2147483648, 'add', -2147483648, 0], [0, 'sub', 2147483647, -2147483647]],
  },
  i64: {
    size: 8, signed: true, big: true, min: I64_MIN, max: I64_MAX,
    cases: [[I64_MAX, 'add', 1n, I64_MIN], [I64_MIN, 'sub', 1n, I64_MAX], [I64_MIN, 'add', I64_MIN, 0n], [0n, 'sub', I64_MIN, I64_MIN], [-1n, 'add', 1n, 0n], [I64_MAX, 'add', I64_MAX, -2n]],
  },
  isize: {
    size: 8, signed: true, big: true, min: I64_MIN, max: I64_MAX,
    cases: [[I64_MAX, 'add', 1n, I64_MIN], [I64_MIN, 'sub', 1n, I64_MAX], [I64_MIN, 'add', I64_MIN, 0n], [0n, 'sub', I64_MIN, I64_MIN]],
  },
  u8: {
    size: 1, signed: false, big: false, min: 0, max: 255,
    cases: [[255, 'add', 1, 0], [0, 'sub', 1, 255], [200, 'add', 100, 44], [5, 'add', 255, 4], [10, 'sub', 20, 246], [255, 'add', 255, 254]],
  },
  u16: {
    size: 2, signed: false, big: false, min: 0, max: 65535,
    cases: [[65535, 'add', 1, 0], [0, 'sub', 1, 65535], [65535, 'add', 65535, 65534], [1, 'sub', 65535, 2]],
  },
  u32: {
    size: 4, signed: false, big: false, min: 0, max: 4294967295,
    cases: [[4294967295, 'add', 1, 0], [0, 'sub', 1, 4294967295], [4294967295, 'add', 4294967295, 4294967294], [7, 'add', 4294967295, 6]],
  },
  u64: {
    size: 8, signed: false, big: true, min: 0n, max: U64_MAX,
    cases: [[U64_MAX, 'add', 1n, 0n], [0n, 'sub', 1n, U64_MAX], [1n, 'add', U64_MAX, 0n], [0n, 'add', U64_MAX, U64_MAX], [U64_MAX, 'add', U64_MAX, U64_MAX - 1n]],
  },
  usize: {
    size: 8, signed: false, big: true, min: 0n, max: U64_MAX,
    cases: [[U64_MAX, 'add', 1n, 0n], [0n, 'sub', 1n, U64_MAX], [1n, 'add', U64_MAX, 0n], [U64_MAX, 'add', U64_MAX, U64_MAX - 1n]],
  },
};

/** The wrapped result of `set op operand`, computed with the library's wrap() from typeInfo's bounds. */
function expectedOf(type: NumericType, set: Value, op: NumericOp, operand: Value): Value {
  const exact = op === 'add' ? BigInt(set) + BigInt(operand) : BigInt(set) - BigInt(operand);
  const bits = typeInfo(type).size * 8;
  const mine = typeInfo(type).signed ? BigInt.asIntN(bits, exact) : BigInt.asUintN(bits, exact);
  const theirs = wrap(type, val(type, exact));
  assert.equal(theirs, val(type, mine), `wrap(${type}, ${exact})`);
  return theirs;
}

/** Wrap-around cases derived from typeInfo(type).min and .max. */
function boundCases(type: NumericType): OpStep[] {
  const { min, max, signed } = typeInfo(type);
  const cases: OpStep[] = [
    { set: max, op: 'add', operand: val(type, 1) },
    { set: min, op: 'sub', operand: val(type, 1) },
    { set: max, op: 'add', operand: max },
    { set: min, op: 'add', operand: min },
    { set: val(type, 5), op: 'add', operand: max },
    { set: val(type, 0), op: 'sub', operand: max },
    { set: max, op: 'sub', operand: max },
    { set: min, op: 'sub', operand: min },
  ];
  if (signed) cases.push({ set: val(type, 0), op: 'sub', operand: min }, { set: min, op: 'add', operand: val(type, -1) }, { set: max, op: 'sub', operand: val(type, -1) });
  return cases;
}

describe('PerCpuNumeric', function () {
  const cpus = useCpuSet();

  it('has the ten types, in the native table\'s order (the ops: test/ops.test.ts)', function () {
    assert.deepEqual([...NUMERIC_TYPES], ['i8', 'i16', 'i32', 'i64', 'isize', 'u8', 'u16', 'u32', 'u64', 'usize']);
    assert.equal(cpus.set.cpus, TEST_CPUS);
  });

  for (const type of NUMERIC_TYPES) {
    describe(type, function () {
      it('has the exact size, signedness and bounds', function () {
        const info = typeInfo(type);
        const literal = LITERALS[type];
        assert.equal(info.name, type);
        assert.equal(info.index, NUMERIC_TYPES.indexOf(type));
        assert.equal(info.size, literal.size);
        assert.equal(info.signed, literal.signed);
        assert.equal(info.big, literal.big);
        assert.equal(info.min, literal.min);
        assert.equal(info.max, literal.max);
      });

      it('runs the sample sequence (set 10, add 1, add 10, sub 5) on every CPU', async function () {
        const v = DynamicPerCpu.newZero(type);
        try {
          assert.deepEqual(v.values(), ALL_CPUS.map(() => val(type, 0)));
          const results = await cpus.set.onEachCpu(taskOf('sampleSequence'), v);
          assert.deepEqual(
            results,
            ALL_CPUS.map((cpu) => ({ cpu, steps: [10, 11, 21, 16].map((n) => val(type, n)), remote: val(type, 16) })),
          );
          for (const cpu of ALL_CPUS) {
            assert.equal(v.readRemote(cpu), val(type, 16));
            assert.equal(typeof v.readRemote(cpu), typeInfo(type).big ? 'bigint' : 'number');
          }
          assert.deepEqual(v.values(), [val(type, 16), val(type, 16), val(type, 16), val(type, 16)]);
          assert.equal(v.sum(), val(type, 64));
          assert.equal(v.refCount, 1);
        } finally {
          v.release();
        }
      });

      it('reads back through the guarded token (GS) what was written, at the bounds, on every CPU', async function () {
        const v = DynamicPerCpu.newZero(type);
        try {
          const { min, max } = typeInfo(type);
          const values = [min, max, val(type, 0), val(type, 1), val(type, 100), val(type, LITERALS[type].signed ? -1 : 200), max];
          const expected = values.map((value) => ({ mine: value, remote: value }));
          assert.deepEqual(await cpus.set.onEachCpu(taskOf('tokenRoundTrip'), v, values), ALL_CPUS.map(() => expected));
          assert.deepEqual(v.values(), ALL_CPUS.map(() => max));
        } finally {
          v.release();
        }
      });

      it('changes only the calling CPU\'s slot (CPU 0 here)', function () {
        const v = DynamicPerCpu.newFrom(type, (cpu) => val(type, cpu * 3));
        try {
          v.num().add(val(type, 7));
          assert.deepEqual(v.values(), [7, 3, 6, 9].map((n) => val(type, n)));
          v.num().sub(val(type, 2));
          assert.deepEqual(v.values(), [5, 3, 6, 9].map((n) => val(type, n)));
          assert.equal(v.num(), v.num());
          assert.ok(Object.isFrozen(v.num()));
        } finally {
          v.release();
        }
      });

      it('wraps around at the literal bounds on every CPU', async function () {
        const v = DynamicPerCpu.newZero(type);
        try {
          const cases = LITERALS[type].cases;
          const steps: OpStep[] = cases.map(([set, op, operand]) => ({ set, op, operand }));
          const expected = cases.map(([, , , result]) => result);
          for (const [set, op, operand, result] of cases) assert.equal(expectedOf(type, set, op, operand), result);
          assert.deepEqual(await cpus.set.onEachCpu(taskOf('applySteps'), v, steps), ALL_CPUS.map(() => expected));
          assert.deepEqual(v.values(), ALL_CPUS.map(() => expected[expected.length - 1]));
        } finally {
          v.release();
        }
      });

      it('wraps around at typeInfo().min and .max on every CPU', async function () {
        const v = DynamicPerCpu.newZero(type);
        try {
          const steps = boundCases(type);
          const expected = steps.map((s) => expectedOf(type, s.set!, s.op, s.operand));
          const { min, max } = typeInfo(type);
          // The first two are the classic ones: max + 1 is min, min - 1 is max.
          assert.deepEqual(expected.slice(0, 2), [min, max]);
          assert.deepEqual(await cpus.set.onEachCpu(taskOf('applySteps'), v, steps), ALL_CPUS.map(() => expected));
        } finally {
          v.release();
        }
      });
    });
  }

  for (const type of ['u64', 'usize'] as const) {
    it(`${type}: the Rust sample's wrapping sequence (add 1, wrapping_add(-1 as u64) twice, set 0, wrapping_sub(1))`, async function () {
      const v = DynamicPerCpu.newZero(type);
      try {
        const minusOne = 2n ** 64n - 1n;
        const steps: OpStep[] = [
          { op: 'add', operand: 1n },
          { op: 'add', operand: minusOne },
          { op: 'add', operand: minusOne },
          { set: 0n, op: 'sub', operand: 1n },
        ];
        const expected = [1n, 0n, U64_MAX, U64_MAX];
        assert.deepEqual(await cpus.set.onEachCpu(taskOf('applySteps'), v, steps), ALL_CPUS.map(() => expected));
        assert.equal(v.sum(), 4n * U64_MAX);
      } finally {
        v.release();
      }
    });
  }

  it("i64: the Rust sample's PERCPU sequence (add -1 -> -1, add 1 -> 0)", async function () {
    const v = DynamicPerCpu.newZero('i64');
    try {
      const steps: OpStep[] = [
        { op: 'add', operand: -1n },
        { op: 'add', operand: 1n },
      ];
      assert.deepEqual(await cpus.set.onEachCpu(taskOf('applySteps'), v, steps), ALL_CPUS.map(() => [-1n, 0n]));
    } finally {
      v.release();
    }
  });

  it('wrap() computes the machine wrap-around', function () {
    assert.equal(wrap('u8', 256), 0);
    assert.equal(wrap('u8', -1), 255);
    assert.equal(wrap('i8', 128), -128);
    assert.equal(wrap('i16', -32769), 32767);
    assert.equal(wrap('u32', 2 ** 32 + 5), 5);
    assert.equal(wrap('i64', 2n ** 63n), -(2n ** 63n));
    assert.equal(wrap('u64', 2n ** 64n), 0n);
    assert.equal(wrap('usize', -1n), U64_MAX);
    assert.equal(wrap('isize', I64_MIN - 1n), I64_MAX);
  });
});
