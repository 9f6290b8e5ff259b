/**
 * The fuzzer's and the soak's model (test/fuzz/model.ts), against literal cases: each op the
 * library has or is getting, wrap-around at each width, two's complement, and which arguments the
 * addon refuses. The fuzzer then holds the library to this model for every op NUMERIC_OPS lists.
 */
import * as assert from 'node:assert/strict';
import { NUMERIC_OPS, NUMERIC_TYPES, typeInfo, wrap, type NumericType } from '../lib';
import { OP_MODELS, applyOp, checkCpu, checkValue, sumOf, toJs, wrapBig } from './fuzz/model';

const U64_MAX = 2n ** 64n - 1n;
const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

/** [type, op, slot before, operands, slot after, returned] */
type Case = [NumericType, string, bigint, bigint[], bigint, bigint | undefined];

const CASES: Case[] = [
  ['u8', 'add', 255n, [1n], 0n, undefined],
  ['i8', 'add', 127n, [1n], -128n, undefined],
  ['i8', 'sub', -128n, [1n], 127n, undefined],
  ['u64', 'sub', 0n, [1n], U64_MAX, undefined],
  ['i64', 'add', I64_MAX, [I64_MAX], -2n, undefined],
  ['u16', 'read', 65535n, [], 65535n, 65535n],
  ['i32', 'write', 5n, [-7n], -7n, undefined],
  ['u32', 'inc', 4294967295n, [], 0n, undefined],
  ['i16', 'dec', -32768n, [], 32767n, undefined],
  ['usize', 'dec', 0n, [], U64_MAX, undefined],
  // Bitwise ops on the two's-complement bits: -1 is all ones, and the result is wrapped back.
  ['i8', 'and', -1n, [0x55n], 0x55n, undefined],
  ['i8', 'and', -128n, [-1n], -128n, undefined],
  ['i8', 'or', 0x40n, [0x3fn], 127n, undefined],
  ['i8', 'or', 1n, [-128n], -127n, undefined],
  ['i16', 'xor', -1n, [0x7fffn], -32768n, undefined],
  ['u8', 'xor', 0xf0n, [0xffn], 0x0fn, undefined],
  ['i64', 'xor', I64_MIN, [-1n], I64_MAX, undefined],
  ['u64', 'and', U64_MAX, [0x8000000000000001n], 0x8000000000000001n, undefined],
  ['isize', 'or', 0n, [I64_MIN], I64_MIN, undefined],
  ['u8', 'addReturn', 200n, [100n], 44n, 44n],
  ['i32', 'subReturn', -2147483648n, [1n], 2147483647n, 2147483647n],
  ['u16', 'incReturn', 65535n, [], 0n, 0n],
  ['i8', 'decReturn', -128n, [], 127n, 127n],
  ['u64', 'incReturn', U64_MAX, [], 0n, 0n],
  ['i16', 'xchg', -5n, [300n], 300n, -5n],
  ['u64', 'xchg', U64_MAX, [0n], 0n, U64_MAX],
  // cmpxchg(old, new): swaps only on a match, and returns what it found either way.
  ['u32', 'cmpxchg', 7n, [7n, 9n], 9n, 7n],
  ['u32', 'cmpxchg', 7n, [8n, 9n], 7n, 7n],
  ['i8', 'cmpxchg', -1n, [-1n, -128n], -128n, -1n],
  ['i64', 'cmpxchg', I64_MIN, [I64_MAX, 0n], I64_MIN, I64_MIN],
];

describe('the model of the ops (test/fuzz/model.ts)', function () {
  it('has every op the library lists, and those it is getting, with their arity', function () {
    for (const op of NUMERIC_OPS) assert.ok(op in OP_MODELS, `no model of ${op}`);
    const arity = Object.fromEntries(Object.entries(OP_MODELS).map(([op, m]) => [op, m.arity]));
    assert.deepEqual(arity, {
      read: 0, write: 1, add: 1, sub: 1, inc: 0, dec: 0, and: 1, or: 1, xor: 1,
      addReturn: 1, subReturn: 1, incReturn: 0, decReturn: 0, xchg: 1, cmpxchg: 2,
    });
  });

  for (const [type, op, before, operands, after, returned] of CASES) {
    it(`${type}: ${before} ${op}(${operands.join(', ')}) leaves ${after} and returns ${returned}`, function () {
      const { next, result } = applyOp(type, op, before, operands);
      assert.equal(next, after);
      assert.equal(result, returned);
    });
  }

  it("wraps like the library's wrap() at every width, for values across and beyond each range", function () {
    for (const type of NUMERIC_TYPES) {
      const { min, max, big } = typeInfo(type);
      for (const n of [BigInt(min) - 1n, BigInt(min), 0n, BigInt(max), BigInt(max) + 1n, 2n ** 40n + 3n, -(2n ** 40n) - 3n, 2n ** 64n + 3n, 2n ** 128n]) {
        if (!big && (n > BigInt(Number.MAX_SAFE_INTEGER) || n < -BigInt(Number.MAX_SAFE_INTEGER))) continue; // not a JS number
        assert.equal(toJs(type, wrapBig(type, n)), wrap(type, (big ? n : Number(n)) as never), `${type} ${n}`);
      }
    }
  });

  it('refuses values as the addon does: no coercion, exact ranges', function () {
    assert.deepEqual(checkValue('u8', 255), { ok: true, value: 255n });
    assert.deepEqual(checkValue('u8', -0), { ok: true, value: 0n });
    assert.deepEqual(checkValue('u8', 256), { ok: false, error: 'range' });
    assert.deepEqual(checkValue('i8', -129), { ok: false, error: 'range' });
    for (const bad of [1n, 1.5, NaN, Infinity, '1', null, undefined, {}, Object(1), Symbol('x')]) assert.deepEqual(checkValue('i32', bad), { ok: false, error: 'type' });
    assert.deepEqual(checkValue('u64', U64_MAX), { ok: true, value: U64_MAX });
    assert.deepEqual(checkValue('u64', U64_MAX + 1n), { ok: false, error: 'range' });
    assert.deepEqual(checkValue('i64', I64_MIN - 1n), { ok: false, error: 'range' });
    for (const bad of [1, 0, -0, 2 ** 53 + 1, '1', Object(1n)]) assert.deepEqual(checkValue('usize', bad), { ok: false, error: 'type' });
    assert.deepEqual(checkCpu(-0, 4), { ok: true, value: 0 });
    assert.deepEqual(checkCpu(3, 4), { ok: true, value: 3 });
    for (const bad of [-1, 4, 2 ** 53 - 1]) assert.deepEqual(checkCpu(bad, 4), { ok: false, error: 'range' });
    assert.deepEqual(checkCpu(2 ** 53 + 1, 4), { ok: false, error: 'range' });
    for (const bad of [1.5, NaN, Infinity, '0', 0n, null, undefined]) assert.deepEqual(checkCpu(bad, 4), { ok: false, error: 'type' });
  });

  it('sums exactly, with no wrap-around', function () {
    assert.equal(sumOf('u8', [255n, 255n, 255n]), 765);
    assert.equal(sumOf('i64', [I64_MIN, I64_MIN]), 2n * I64_MIN);
    assert.equal(sumOf('u64', [U64_MAX, U64_MAX]), 2n * U64_MAX);
  });
});
