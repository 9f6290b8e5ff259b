/**
 * Static and dynamic per-CPU variables: offsets, initial values, sharing across CPUs,
 * reference counting, the allocator, sums and remote access.
 */
import * as assert from 'node:assert/strict';
import { MessageChannel } from 'node:worker_threads';
import {
  ConflictError,
  DynamicPerCpu,
  NUMERIC_TYPES,
  NoSpaceError,
  StaticPerCpu,
  TaskError,
  definePerCpu,
  getStaticPerCpu,
  region,
  revive,
  stats,
  thisCpu,
  typeInfo,
  type NumericType,
} from '../lib';
import { ALL_CPUS, assertThrowsCode, runPlainWorker, taskOf, useCpuSet, val } from './helpers';
import type { ChannelAnswer, ChannelRequest } from './plain-worker';

const AREA_SIZE = 64 * 1024;
/** The first cache line of every area is the region's own (native/core/region.h, kReservedBytes). */
const RESERVED = 64;

describe('static per-CPU variables (definePerCpu)', function () {
  const cpus = useCpuSet();

  it('every CPU that defines the same name gets the same offset and sees the initial value', async function () {
    const before = stats();
    const results = await cpus.set.onEachCpu(taskOf('defineStatic'), 'vars.counter', 'u32', 7);
    const here = definePerCpu('vars.counter', 'u32', 7);
    assert.deepEqual(
      results,
      ALL_CPUS.map((cpu) => ({ cpu, offset: here.offset, mine: 7 })),
    );
    assert.deepEqual(here.values(), [7, 7, 7, 7]);
    assert.equal(here.name, 'vars.counter');
    assert.equal(here.type, 'u32');
    // One allocation for all the definitions.
    assert.equal(stats().liveAllocations, before.liveAllocations + 1);
    assert.equal(stats().bytesInUse, before.bytesInUse + 4);
    assert.equal(here.offset % 4, 0);
  });

  for (const type of NUMERIC_TYPES) {
    it(`${type}: the initial value (the type's max) is in every CPU's slot`, async function () {
      const { max, min } = typeInfo(type);
      const s = definePerCpu(`vars.init-${type}`, type, max);
      assert.deepEqual(s.values(), [max, max, max, max]);
      assert.equal(s.sum(), typeInfo(type).big ? 4n * (max as bigint) : 4 * (max as number));
      // Each CPU finds it by name and adds min to its own slot: max + min is -1 or max (wrapping) ... exactly.
      const results = await cpus.set.onEachCpu(taskOf('addToStatic'), `vars.init-${type}`, type, min);
      const expected = typeInfo(type).signed ? val(type, -1) : max;
      assert.deepEqual(results.map((r) => r.offset), ALL_CPUS.map(() => s.offset));
      assert.deepEqual(s.values(), [expected, expected, expected, expected]);
      assert.equal(s.offset % typeInfo(type).size, 0);
    });
  }

  it('getStaticPerCpu() on the main thread finds a static first defined on CPU 2', async function () {
    const defined = await cpus.set.runOn(2, taskOf('defineStatic'), 'vars.from-cpu2', 'i16', -5);
    assert.deepEqual(defined, { cpu: 2, offset: defined.offset, mine: -5 });
    const found = getStaticPerCpu('vars.from-cpu2', 'i16');
    assert.ok(found instanceof StaticPerCpu);
    assert.equal(found.offset, defined.offset);
    assert.deepEqual(found.values(), [-5, -5, -5, -5]);
    const added = await cpus.set.onEachCpu(taskOf('addToStatic'), 'vars.from-cpu2', 'i16', 3);
    assert.deepEqual(added, ALL_CPUS.map((cpu) => ({ cpu, offset: defined.offset, mine: -2 })));
    assert.deepEqual(found.values(), [-2, -2, -2, -2]);
    assert.equal(found.sum(), -8);
  });

  it('a static passed as a task argument is the same variable on every CPU, and takes no ticket', async function () {
    const s = definePerCpu('vars.arg', 'u64', 1000n);
    const before = stats();
    assert.deepEqual(await cpus.set.onEachCpu(taskOf('addCpuNumber'), s), [0, 1, 2, 3]);
    assert.deepEqual(s.values(), [1000n, 1001n, 1002n, 1003n]);
    assert.equal(s.sum(), 4006n);
    assert.deepEqual(stats(), before);
  });

  it("a static's share() revives to the same static", function () {
    const s = definePerCpu('vars.shared-static', 'i8', -1);
    const shared = s.share();
    assert.deepEqual(shared, { percpu: 'static', type: 'i8', name: 'vars.shared-static' });
    const revived = revive(shared);
    assert.ok(revived instanceof StaticPerCpu);
    assert.equal(revived.offset, s.offset);
    assert.deepEqual(revived.values(), [-1, -1, -1, -1]);
  });

  it('a conflicting definition is a ConflictError, on the main thread and on a worker CPU', async function () {
    const s = definePerCpu('vars.conflict', 'u8', 9);
    assertThrowsCode(() => definePerCpu('vars.conflict', 'u8', 10), ConflictError, 'ERR_PERCPU_CONFLICT');
    assertThrowsCode(() => definePerCpu('vars.conflict', 'i8', 9), ConflictError, 'ERR_PERCPU_CONFLICT');
    await assert.rejects(cpus.set.runOn(3, taskOf('defineStatic'), 'vars.conflict', 'u16', 9), (error: unknown) => {
      assert.ok(error instanceof TaskError);
      assert.equal(error.cpu, 3);
      assert.equal(error.code, 'ERR_PERCPU_TASK_FAILED');
      assert.equal((error.cause as Error).name, 'ConflictError');
      assert.equal((error.cause as { code?: unknown }).code, 'ERR_PERCPU_CONFLICT');
      return true;
    });
    assert.deepEqual(s.values(), [9, 9, 9, 9]);
  });
});

describe('dynamic per-CPU variables (DynamicPerCpu)', function () {
  const cpus = useCpuSet();

  for (const type of NUMERIC_TYPES) {
    it(`${type}: newZero, newWith and newFrom give exact per-CPU values`, function () {
      const { min, max } = typeInfo(type);
      const zero = DynamicPerCpu.newZero(type);
      const withMax = DynamicPerCpu.newWith(type, max);
      const perCpu = [min, max, val(type, 0), val(type, 42)];
      const from = DynamicPerCpu.newFrom(type, (cpu) => perCpu[cpu]!);
      try {
        assert.deepEqual(zero.values(), ALL_CPUS.map(() => val(type, 0)));
        assert.deepEqual(withMax.values(), ALL_CPUS.map(() => max));
        assert.deepEqual(ALL_CPUS.map((cpu) => from.readRemote(cpu)), perCpu);
        assert.equal(zero.type, type);
        assert.equal(zero.refCount, 1);
        assert.equal(zero.released, false);
        for (const v of [zero, withMax, from]) assert.equal(v.offset % typeInfo(type).size, 0);
        assert.equal(new Set([zero.offset, withMax.offset, from.offset]).size, 3);
      } finally {
        zero.release();
        withMax.release();
        from.release();
      }
    });
  }

  it('newFrom() calls its function once per CPU, with the CPU number', function () {
    const calls: number[] = [];
    const v = DynamicPerCpu.newFrom('u16', (cpu) => {
      calls.push(cpu);
      return cpu * 1000;
    });
    try {
      assert.deepEqual(calls, [0, 1, 2, 3]);
      assert.deepEqual(v.values(), [0, 1000, 2000, 3000]);
    } finally {
      v.release();
    }
  });

  it('a handle passed to every CPU as a task argument shares the same slots', async function () {
    const before = stats();
    const v = DynamicPerCpu.newWith('u32', 100);
    try {
      assert.deepEqual(await cpus.set.onEachCpu(taskOf('addCpuNumber'), v), [0, 1, 2, 3]);
      assert.deepEqual(v.values(), [100, 101, 102, 103]);
      // Each CPU's task released its handle; no ticket is left.
      assert.equal(v.refCount, 1);
      assert.equal(stats().outstandingTickets, before.outstandingTickets);
      // While a task runs, it holds one more reference: on CPU 0 as on every other CPU.
      assert.equal(await cpus.set.runOn(2, taskOf('refCountHere'), v), 2);
      assert.equal(await cpus.set.runOn(0, taskOf('refCountHere'), v), 2);
      assert.equal(v.refCount, 1);
    } finally {
      v.release();
    }
    assert.deepEqual(stats(), before);
  });

  it('share() and revive() carry a variable through postMessage to a CPU', async function () {
    const before = stats();
    const v = DynamicPerCpu.newZero('i16');
    try {
      const shared = v.share();
      assert.ok(shared.percpu === 'dynamic');
      assert.deepEqual(shared, { percpu: 'dynamic', type: 'i16', ticket: shared.ticket });
      assert.ok(Number.isInteger(shared.ticket) && shared.ticket > 0);
      assert.equal(v.refCount, 2);
      assert.equal(stats().outstandingTickets, before.outstandingTickets + 1);
      const result = await cpus.set.runOn(3, taskOf('reviveAndAdd'), shared, -300);
      assert.deepEqual(result, { cpu: 3, refCountInside: 2, offset: v.offset });
      assert.deepEqual(v.values(), [0, 0, 0, -300]);
      assert.equal(v.refCount, 1);
      assert.equal(stats().outstandingTickets, before.outstandingTickets);
    } finally {
      v.release();
    }
    assert.deepEqual(stats(), before);
  });

  it('a variable allocated on a worker CPU comes back to the main thread as a ticket', async function () {
    const before = stats();
    const shared = await cpus.set.runOn(2, taskOf('allocateHere'), 'i32');
    assert.equal(stats().liveAllocations, before.liveAllocations + 1);
    assert.equal(stats().outstandingTickets, before.outstandingTickets + 1);
    const v = revive(shared) as DynamicPerCpu<'i32'>;
    try {
      assert.ok(v instanceof DynamicPerCpu);
      assert.equal(v.refCount, 1);
      assert.deepEqual(v.values(), [0, 0, 3, 0]);
      // And a clone made on a worker comes back the same way.
      const back = revive(await cpus.set.runOn(1, taskOf('shareBack'), v)) as DynamicPerCpu<'i32'>;
      assert.equal(back.offset, v.offset);
      assert.equal(v.refCount, 2);
      back.release();
      assert.equal(v.refCount, 1);
    } finally {
      v.release();
    }
    assert.deepEqual(stats(), before);
  });

  it('clone() and share() add references; the last release frees the allocation', function () {
    const before = stats();
    const v = DynamicPerCpu.newZero('u16');
    assert.equal(v.refCount, 1);
    assert.equal(stats().liveAllocations, before.liveAllocations + 1);
    assert.equal(stats().bytesInUse, before.bytesInUse + 2);
    const c = v.clone();
    assert.equal(c.offset, v.offset);
    assert.equal(v.refCount, 2);
    assert.equal(c.refCount, 2);
    c.writeRemote(1, 500);
    assert.equal(v.readRemote(1), 500);
    const ticket = v.share();
    assert.equal(v.refCount, 3);
    assert.equal(stats().outstandingTickets, before.outstandingTickets + 1);
    const r = revive(ticket) as DynamicPerCpu<'u16'>;
    assert.equal(v.refCount, 3);
    assert.equal(stats().outstandingTickets, before.outstandingTickets);
    v.release();
    assert.equal(v.released, true);
    assert.equal(v.refCount, 0);
    assert.equal(c.refCount, 2);
    c.release();
    assert.equal(r.refCount, 1);
    assert.equal(stats().liveAllocations, before.liveAllocations + 1);
    assert.deepEqual(r.values(), [0, 500, 0, 0]);
    r.release();
    assert.equal(r.refCount, 0);
    assert.deepEqual(stats(), before);
  });

  it('Symbol.dispose releases (using)', function () {
    const before = stats();
    {
      using v = DynamicPerCpu.newWith('u32', 5);
      using c = v.clone();
      assert.equal(c.refCount, 2);
      assert.equal(stats().liveAllocations, before.liveAllocations + 1);
    }
    assert.deepEqual(stats(), before);
    const v = DynamicPerCpu.newZero('u8');
    v[Symbol.dispose]();
    assert.equal(v.released, true);
    assert.deepEqual(stats(), before);
  });

  it('the allocator reuses a freed offset, and a reused slot starts at zero', function () {
    const before = stats();
    const first = DynamicPerCpu.newWith('u32', 0xdeadbeef);
    const offset = first.offset;
    first.release();
    assert.deepEqual(stats(), before);
    const second = DynamicPerCpu.newZero('u32');
    try {
      assert.equal(second.offset, offset);
      assert.deepEqual(second.values(), [0, 0, 0, 0]);
    } finally {
      second.release();
    }
    assert.deepEqual(stats(), before);
  });

  it('offsets are aligned to the type size, inside the area, and never overlap', function () {
    const order: NumericType[] = ['u8', 'u64', 'i8', 'u16', 'u32', 'u8', 'i64', 'i16', 'isize', 'u8', 'i32', 'usize', 'u16'];
    const vars = order.map((type) => DynamicPerCpu.newZero(type));
    try {
      const spans = vars.map((v) => {
        const size = typeInfo(v.type).size;
        assert.equal(v.offset % size, 0, `${v.type} at ${v.offset}`);
        assert.ok(v.offset >= RESERVED && v.offset + size <= AREA_SIZE, `${v.type} at ${v.offset}`);
        return [v.offset, v.offset + size] as const;
      });
      const sorted = [...spans].sort((a, b) => a[0] - b[0]);
      for (let i = 1; i < sorted.length; i++) assert.ok(sorted[i]![0] >= sorted[i - 1]![1], 'two allocations overlap');
    } finally {
      for (const v of vars) v.release();
    }
  });

  it('the area holds 64 KiB per CPU: filling it with u64s ends in NoSpaceError; one release makes room', function () {
    const before = stats();
    assert.equal(region()!.areaSize, AREA_SIZE);
    assert.equal(before.freeBytes + before.bytesInUse, AREA_SIZE - RESERVED);
    const filled: DynamicPerCpu<'u64'>[] = [];
    try {
      let error: unknown;
      while (filled.length <= AREA_SIZE / 8) {
        try {
          filled.push(DynamicPerCpu.newZero('u64'));
        } catch (e) {
          error = e;
          break;
        }
      }
      assert.ok(error instanceof NoSpaceError, `expected NoSpaceError, got ${String(error)}`);
      assert.equal(error.code, 'ERR_PERCPU_NO_SPACE');
      assert.equal(error.name, 'NoSpaceError');
      const full = stats();
      assert.ok(filled.length >= Math.floor((before.largestFree - 7) / 8) && filled.length <= Math.floor(before.freeBytes / 8));
      assert.equal(full.liveAllocations, before.liveAllocations + filled.length);
      assert.equal(full.bytesInUse, before.bytesInUse + 8 * filled.length);
      assert.equal(full.freeBytes, before.freeBytes - 8 * filled.length);
      assert.ok(full.largestFree < 15, `a free block of ${full.largestFree} bytes holds an aligned u64`);
      // A full area stays full, and a failed allocation changes nothing.
      assertThrowsCode(() => DynamicPerCpu.newWith('u64', 1n), NoSpaceError, 'ERR_PERCPU_NO_SPACE');
      assert.deepEqual(stats(), full);
      // Releasing one makes room for exactly one more, at the same offset.
      const middle = filled.splice(filled.length >> 1, 1)[0]!;
      const offset = middle.offset;
      middle.release();
      const again = DynamicPerCpu.newWith('u64', 77n);
      filled.push(again);
      assert.equal(again.offset, offset);
      assert.deepEqual(again.values(), [77n, 77n, 77n, 77n]);
      assertThrowsCode(() => DynamicPerCpu.newZero('u64'), NoSpaceError, 'ERR_PERCPU_NO_SPACE');
    } finally {
      for (const v of filled) v.release();
    }
    assert.deepEqual(stats(), before);
  });

  it('sum() is exact, with no wrap-around', function () {
    const cases: [NumericType, number | bigint, number | bigint][] = [
      ['u8', 255, 1020],
      ['i8', -128, -512],
      ['u16', 65535, 262140],
      ['i16', -32768, -131072],
      ['u32', 4294967295, 17179869180],
      ['i32', -2147483648, -8589934592],
      ['u64', 2n ** 64n - 1n, 4n * (2n ** 64n - 1n)],
      ['usize', 2n ** 64n - 1n, 4n * (2n ** 64n - 1n)],
      ['i64', -(2n ** 63n), -(2n ** 65n)],
      ['isize', 2n ** 63n - 1n, 4n * (2n ** 63n - 1n)],
    ];
    for (const [type, each, total] of cases) {
      const v = DynamicPerCpu.newWith(type, each as never);
      try {
        assert.equal(v.sum(), total, type);
      } finally {
        v.release();
      }
    }
    const mixed = DynamicPerCpu.newFrom('i8', (cpu) => [127, -128, 127, -1][cpu]!);
    try {
      assert.equal(mixed.sum(), 125);
    } finally {
      mixed.release();
    }
  });

  it('writeRemote() then readRemote() on every CPU, for every type', function () {
    for (const type of NUMERIC_TYPES) {
      const { min, max } = typeInfo(type);
      const v = DynamicPerCpu.newZero(type);
      try {
        const values = [max, min, val(type, 1), val(type, 0)];
        ALL_CPUS.forEach((cpu) => v.writeRemote(cpu, values[cpu]!));
        assert.deepEqual(ALL_CPUS.map((cpu) => v.readRemote(cpu)), values, type);
        v.writeRemote(3, max);
        assert.deepEqual(v.values(), [max, min, val(type, 1), max], type);
      } finally {
        v.release();
      }
    }
  });

  for (const type of ['i8', 'u64'] as const) {
    it(`${type}: remote reads see each CPU's own value, from every CPU`, async function () {
      const v = DynamicPerCpu.newZero(type);
      try {
        const own = ALL_CPUS.map((cpu) => val(type, typeInfo(type).signed ? cpu * 11 - 20 : cpu * 11 + 5));
        // Each CPU writes its own slot through GS.
        assert.deepEqual(await Promise.all(ALL_CPUS.map((cpu) => cpus.set.runOn(cpu, taskOf('writeThis'), v, own[cpu]!))), [0, 1, 2, 3]);
        assert.deepEqual(v.values(), own);
        // Every CPU sees the same: its own slot through GS, all of them through remote reads.
        assert.deepEqual(
          await cpus.set.onEachCpu(taskOf('readThisAndAll'), v),
          ALL_CPUS.map((cpu) => ({ cpu, mine: own[cpu], all: own })),
        );
      } finally {
        v.release();
      }
    });
  }
});

describe('share() and revive() through a MessageChannel, with no CpuSet open', function () {
  it('a plain worker bound to CPU 3 adds to its slot of a variable it got through a MessagePort', async function () {
    assert.equal(thisCpu(), null);
    const before = stats();
    const { port1, port2 } = new MessageChannel();
    const v = DynamicPerCpu.newZero('i64');
    try {
      const worker = runPlainWorker({ mode: 'channel', cpu: 3, port: port2 }, [port2]);
      const ask = (request: ChannelRequest) =>
        new Promise<ChannelAnswer>((resolve) => {
          port1.once('message', resolve);
          port1.postMessage(request);
        });
      assert.deepEqual(await ask({ shared: v.share(), amount: -7n }), { cpu: 3, mine: -7n, refCountInside: 2 });
      assert.deepEqual(await ask({ shared: v.share(), amount: 10n }), { cpu: 3, mine: 3n, refCountInside: 2 });
      assert.deepEqual(v.values(), [0n, 0n, 0n, 3n]);
      port1.postMessage('close');
      const { reply, exitCode } = await worker;
      assert.equal(exitCode, 0);
      assert.deepEqual(reply, { mode: 'channel', bound: 3, served: 2, thisCpuAfter: null });
      assert.equal(v.refCount, 1);
      assert.equal(stats().outstandingTickets, before.outstandingTickets);
    } finally {
      port1.close();
      v.release();
    }
    assert.deepEqual(stats(), before);
    assert.equal(thisCpu(), null);
  });
});
