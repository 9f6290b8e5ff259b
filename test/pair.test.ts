/**
 * PerCpuPair.cmpxchgDouble: a 16-byte aligned pair of u64 swapped as one unit (cmpxchg16b
 * relative to GS on the gs backend), on every CPU, with exact results, and bad input that
 * changes nothing.
 */
import * as assert from 'node:assert/strict';
import { DynamicPerCpu, NotBoundError, PerCpuPair, PerCpuRangeError, PerCpuTypeError, ReleasedError, revive, revivePair } from '../lib';
import { ALL_CPUS, TEST_CPUS, assertThrowsCode, taskOf, useCpuSet } from './helpers';

const MAX = 2n ** 64n - 1n;

describe('PerCpuPair and cmpxchgDouble', function () {
  const cpus = useCpuSet();

  it('allocates 16 bytes aligned to 16, set on every CPU, and frees them with the last release', function () {
    using zero = PerCpuPair.newZero();
    using some = PerCpuPair.newWith([1n, MAX]);
    for (const pair of [zero, some]) assert.equal(pair.handle.offset % 16, 0);
    assert.deepEqual(zero.values(), Array(TEST_CPUS).fill([0n, 0n]));
    assert.deepEqual(some.values(), Array(TEST_CPUS).fill([1n, MAX]));
    const clone = some.clone();
    assert.equal(some.refCount, 2);
    clone.release();
    assert.equal(some.refCount, 1);
  });

  it('swaps only when both words match, on each CPU, keeping all 128 bits', async function () {
    using pair = PerCpuPair.newZero();
    const steps = [
      { set: [1n, 2n], old: [1n, 2n], value: [MAX, 0x8000000000000000n] }, // hit
      { set: [1n, 2n], old: [1n, 3n], value: [7n, 7n] }, // high word differs: miss
      { set: [1n, 2n], old: [0n, 2n], value: [7n, 7n] }, // low word differs: miss
      { set: [MAX, MAX], old: [MAX, MAX], value: [0n, 0n] }, // hit at the top of the range
      { set: [5n, 6n], old: [5n, 6n], value: [5n, 6n] }, // hit that stores the same words
    ] as const;
    const seen = await cpus.set.onEachCpu(taskOf('pairSwaps'), pair, steps.map((s) => ({ set: s.set, old: s.old, value: s.value })));
    assert.deepEqual(seen.map((s) => s.cpu), ALL_CPUS);
    for (const s of seen) {
      assert.deepEqual(s.results, [
        { swapped: true, after: [MAX, 0x8000000000000000n] },
        { swapped: false, after: [1n, 2n] },
        { swapped: false, after: [1n, 2n] },
        { swapped: true, after: [0n, 0n] },
        { swapped: true, after: [5n, 6n] },
      ]);
    }
    assert.deepEqual(pair.values(), Array(TEST_CPUS).fill([5n, 6n]));
  });

  it('each CPU swaps only its own pair', async function () {
    using pair = PerCpuPair.newWith([10n, 20n]);
    await cpus.set.runOn(2, taskOf('pairSwaps'), pair, [{ set: [10n, 20n], old: [10n, 20n], value: [30n, 40n] }]);
    assert.deepEqual(pair.values(), [[10n, 20n], [10n, 20n], [30n, 40n], [10n, 20n]]);
  });

  it('bad words are PerCpuTypeError or PerCpuRangeError and change nothing', function () {
    using pair = PerCpuPair.newWith([1n, 2n]);
    const GOOD = [1n, 2n];
    const bad: [unknown, unknown, typeof PerCpuTypeError | typeof PerCpuRangeError][] = [
      [[1, 2n], [3n, 4n], PerCpuTypeError],
      [GOOD, [3n, -1n], PerCpuRangeError],
      [GOOD, [2n ** 64n, 4n], PerCpuRangeError],
      [[1n], [3n, 4n], PerCpuTypeError],
      ['12', [3n, 4n], PerCpuTypeError],
      [GOOD, null, PerCpuTypeError],
      [GOOD, [3n, 4.5], PerCpuTypeError],
    ];
    for (const [old, value, cls] of bad) {
      const code = cls === PerCpuTypeError ? 'ERR_PERCPU_INVALID_ARG' : 'ERR_PERCPU_OUT_OF_RANGE';
      assertThrowsCode(() => pair.cmpxchgDouble(old as [bigint, bigint], value as [bigint, bigint]), cls, code);
      if (old === GOOD) assertThrowsCode(() => pair.writeRemote(1, value as [bigint, bigint]), cls, code);
    }
    assertThrowsCode(() => pair.readRemote(TEST_CPUS), PerCpuRangeError, 'ERR_PERCPU_OUT_OF_RANGE');
    assert.deepEqual(pair.values(), Array(TEST_CPUS).fill([1n, 2n]));
  });

  it('a pair ticket does not revive as a number, nor a number ticket as a pair; pair methods refuse a number handle', function () {
    using pair = PerCpuPair.newZero();
    using number = DynamicPerCpu.newZero('u64');
    const pairTicket = pair.share().ticket;
    const numberTicket = (number.share() as { ticket: number }).ticket;
    assertThrowsCode(() => revive({ percpu: 'dynamic', type: 'u64', ticket: pairTicket }), PerCpuTypeError, 'ERR_PERCPU_INVALID_ARG');
    assertThrowsCode(() => revivePair({ percpu: 'pair', ticket: numberTicket }), PerCpuTypeError, 'ERR_PERCPU_INVALID_ARG');
    // A call that throws changes nothing: both tickets still hold their reference, and revive as what they are.
    assert.equal(pair.refCount, 2);
    assert.equal(number.refCount, 2);
    revivePair({ percpu: 'pair', ticket: pairTicket }).release();
    (revive({ percpu: 'dynamic', type: 'u64', ticket: numberTicket }) as DynamicPerCpu<'u64'>).release();
    assert.equal(pair.refCount, 1);
    assert.equal(number.refCount, 1);
    const handle = (number as unknown as { handle: { cmpxchgDouble(...a: bigint[]): boolean; readPair(cpu: number): unknown } }).handle;
    assertThrowsCode(() => handle.cmpxchgDouble(0n, 0n, 1n, 1n), PerCpuTypeError, 'ERR_PERCPU_INVALID_ARG');
    assertThrowsCode(() => handle.readPair(0), PerCpuTypeError, 'ERR_PERCPU_INVALID_ARG');
    assert.deepEqual(number.values(), Array(TEST_CPUS).fill(0n));
  });

  it('a released pair throws ReleasedError', function () {
    const pair = PerCpuPair.newZero();
    pair.release();
    assertThrowsCode(() => pair.cmpxchgDouble([0n, 0n], [1n, 1n]), ReleasedError, 'ERR_PERCPU_RELEASED');
    assertThrowsCode(() => pair.readRemote(0), ReleasedError, 'ERR_PERCPU_RELEASED');
  });
});

describe('cmpxchgDouble on an unbound thread', function () {
  it('throws NotBoundError and changes nothing', function () {
    using pair = PerCpuPair.newWith([1n, 2n]);
    assertThrowsCode(() => pair.cmpxchgDouble([1n, 2n], [3n, 4n]), NotBoundError, 'ERR_PERCPU_NOT_BOUND');
    assert.deepEqual(pair.values(), Array(TEST_CPUS).fill([1n, 2n]));
  });
});
