/**
 * Issue 13, "Hardening from a red-team pass": one regression test per finding, each of which
 * failed on the code before the fix (commit b3a6977: a crash, a hang or a wrong result) and
 * passes now. What could crash or hang runs in a child process (./hardening-child), so that a
 * crash or a hang fails the test instead of the test run. The fuzzer (test/fuzz/) covers each
 * class of finding beyond these cases.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import * as path from 'node:path';
import { ConflictError, CpuGuard, CpuSet, CpuTakenError, DynamicPerCpu, GuardError, PerCpuPair, PerCpuRangeError, PerCpuTypeError, PerCpuVariable, TaskAbandonedError, TaskError, bind, definePerCpu, revive, revivePair, setup, stats, task, thisCpu, typeInfo, unbind, wrap, type NumericType } from '../lib';
import { IrqGuard, isParticipating, participate, runRace, schedulerStats, startScheduler, stopScheduler } from '../lib/sim';
import type { NativeHandle } from '../lib/core/native';
import { handleEntryPoints, handlePrototype } from './foreign';
import { ALL_CPUS, TEST_CPUS, assertRejectsCode, assertThrowsCode, taskOf, useCpuSetEach, withCpuSet } from './helpers';
import type { ErrorInfo } from './tasks';

const CHILD = path.join(__dirname, 'hardening-child.js');
const BIN = path.join(__dirname, '..', '..', 'bin', 'percpu.js');
const TYPE_ERROR = 'PerCpuTypeError ERR_PERCPU_INVALID_ARG';
/** A child that has not exited by then hangs: a hang guard, far above what any of them takes. */
const HANG_MS = 60_000;

interface ChildRun {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs ./hardening-child in MODE (under `prefix`, e.g. `unshare -U`), killed if it outlives HANG_MS. */
function runChild(mode: string, prefix: string[] = []): ChildRun {
  const [command, ...args] = [...prefix, process.execPath, CHILD, mode];
  const run = spawnSync(command!, args, { encoding: 'utf8', timeout: HANG_MS, env: { ...process.env, PERCPU_BACKEND: process.env['PERCPU_BACKEND'] ?? '' } });
  return { status: run.status, signal: run.signal, stdout: run.stdout, stderr: run.stderr };
}

/** The JSON line a child printed, after checking that it exited 0 (not crashed, not hung). */
function childResult<T>(mode: string, prefix: string[] = []): T {
  const run = runChild(mode, prefix);
  assert.equal(run.signal, null, `the ${mode} child was killed by ${run.signal} (a crash, or a hang past ${HANG_MS} ms):\n${run.stderr}`);
  assert.equal(run.status, 0, `the ${mode} child exited with ${run.status}:\n${run.stderr}`);
  return JSON.parse(run.stdout.trim().split('\n').pop()!) as T;
}

const handleOf = (v: PerCpuVariable<NumericType> | PerCpuPair) => (v as unknown as { handle: NativeHandle }).handle;
const typeError = (fn: () => unknown) => assertThrowsCode(fn, PerCpuTypeError, 'ERR_PERCPU_INVALID_ARG');

interface Receivers {
  foreign: Record<string, string>;
  foreignWords: string[];
  otherCopysHandle: Record<string, string>;
  oursByOtherCopy: Record<string, string>;
  mine: string[];
  theirs: string[];
}
let receivers: Receivers | undefined;
/** The `receivers` child's findings (1 and 2), run once for both tests. */
const receiversResult = () => (receivers ??= childResult<Receivers>('receivers'));

describe('hardening (issue 13): the red-team findings', function () {
  this.timeout(2 * HANG_MS);

  it('1. every handle method and accessor refuses another addon\'s wrapped object (words 0x4141414141414141) with a PerCpuTypeError, and reads nothing through it', function () {
    const result = receiversResult();
    const names = ['read', 'write', 'readRemote', 'writeRemote', 'sum', 'ops', 'clone', 'share', 'release', 'cmpxchgDouble', 'readPair', 'writePair', 'pair', 'live', 'refCount', 'offset', 'type', 'isStatic'];
    assert.deepEqual(Object.keys(result.foreign).sort(), [...names].sort());
    for (const name of names) assert.equal(result.foreign[name], TYPE_ERROR, name);
    assert.deepEqual(result.foreignWords, new Array(32).fill('4702111234474983745n')); // 0x4141414141414141, untouched
    assert.deepEqual(result.mine, ['1n', '2n', '3n', '4n']);
  });

  it('2. two copies of the addon refuse each other\'s handles, either way round, and both copies\' slots are intact', function () {
    const result = receiversResult();
    assert.equal(Object.keys(result.otherCopysHandle).length, 18);
    for (const [name, what] of Object.entries(result.otherCopysHandle)) assert.equal(what, TYPE_ERROR, `this copy's ${name} on the other's handle`);
    assert.equal(Object.keys(result.oursByOtherCopy).length, 18);
    for (const [name, what] of Object.entries(result.oursByOtherCopy)) assert.equal(what, TYPE_ERROR, `the other copy's ${name} on our handle`);
    assert.deepEqual(result.mine, ['1n', '2n', '3n', '4n']);
    assert.deepEqual(result.theirs, ['7n', '8n', '9n', '10n']);
  });

  it('3. setters on Object.prototype and Array.prototype that call stopScheduler(), participate() or the stats never run inside schedulerStats(), stats() or region(): no deadlock', function () {
    const result = childResult<{ setterCalls: number; first: unknown[]; same: boolean }>('setters');
    assert.equal(result.setterCalls, 0);
    assert.deepEqual(result.first, [true, 1, [0, 1], true, 0, TEST_CPUS]);
    assert.equal(result.same, true);
  });

  it('4. scheduler rates are 0 (off) or 1 to 100 000 per second: irqHz 1e-10 (an int64 overflow into a 1 ns period) is a PerCpuRangeError, for migrateHz too', function () {
    const range = (options: Parameters<typeof startScheduler>[0]) => assertThrowsCode(() => startScheduler(options), PerCpuRangeError, 'ERR_PERCPU_OUT_OF_RANGE');
    try {
      for (const hz of [1e-10, 0.5, 100_000.5, 1e6, -1, -1e-300]) {
        range({ migrateHz: 0, irqHz: hz });
        range({ migrateHz: hz, irqHz: 0 });
      }
      for (const hz of [NaN, Infinity, -Infinity]) {
        typeError(() => startScheduler({ migrateHz: 0, irqHz: hz }));
        typeError(() => startScheduler({ migrateHz: hz }));
      }
      typeError(() => startScheduler({ irqHz: '1000' as never }));
      range({ migrateHz: 0, irqHz: 0 }); // nothing to do
      assert.equal(schedulerStats().running, false);
      for (const [migrateHz, irqHz] of [[1, 0], [0, 1], [100_000, 100_000]] as const) {
        startScheduler({ migrateHz, irqHz });
        const s = schedulerStats();
        assert.deepEqual([s.running, s.migrateHz, s.irqHz], [true, migrateHz, irqHz]);
        assert.equal(stopScheduler(), true);
      }
    } finally {
      stopScheduler();
    }
  });

  it('5. an IrqGuard held under 100 kHz of interrupts queues ONE signal (SigQ does not grow), and its release runs exactly one handler', function () {
    // SigQ counts the queued signals of every process of this user: in a user namespace of its own
    // (where the kernel allows one) the child's count is its own, exactly.
    const isolated = spawnSync('unshare', ['-U', 'true']).status === 0;
    const result = childResult<{ before: number; maxWhileHeld: number; pendingWhileHeld: number; after: number; handledOnRelease: number; sentWhileHeld: number; coalesced: number }>(
      'irqs',
      isolated ? ['unshare', '-U'] : [],
    );
    assert.ok(result.coalesced >= 5000, `only ${result.coalesced} interrupts were coalesced`);
    // The one participant's signal is blocked while the guard is held: once one is pending the
    // scheduler sends no other (0 if one was already pending when the count was taken).
    assert.ok(result.sentWhileHeld <= 1, `${result.sentWhileHeld} interrupts were sent while the IrqGuard was held`);
    assert.equal(result.handledOnRelease, 1);
    if (isolated) {
      assert.equal(result.before, 0);
      assert.ok(result.maxWhileHeld <= 1, `SigQ reached ${result.maxWhileHeld} while the IrqGuard was held`);
      assert.equal(result.pendingWhileHeld, 1);
      assert.equal(result.after, 0);
    } else {
      // Shared with other processes: whatever they queue, not thousands of ours.
      assert.ok(result.maxWhileHeld - result.before < 64, `SigQ grew from ${result.before} to ${result.maxWhileHeld}`);
    }
  });

  it('6. process.exit() while runRace\'s native loops count (seconds 100, maxSeconds 120) exits at once', function () {
    const run = runChild('raceExit');
    assert.equal(run.signal, null, `the child hung (killed after ${HANG_MS} ms) or crashed:\n${run.stderr}`);
    assert.equal(run.status, 7, run.stderr);
  });

  it('6. a worker running runRace, terminated while its native loops count, ends (exit code 1) and the process exits', function () {
    assert.deepEqual(childResult<{ exitCode: number }>('raceWorkerTerminated'), { exitCode: 1 });
  });

  describe('on a fresh CpuSet each', function () {
    const cpus = useCpuSetEach();

    it('7. close() ends whatever the tasks do: after timeoutMs it abandons them (TaskAbandonedError), says which, drops their tickets; a concurrent close() waits for it', async function () {
      const before = stats();
      const v = DynamicPerCpu.newZero('u32');
      try {
        const set = cpus.set;
        const settled = (run: Promise<unknown>) => run.then(() => 'resolved', (error: unknown) => error); // caught at once
        const stuck0 = settled(set.runOn(0, taskOf('neverSettles')));
        const queued0 = settled(set.runOn(0, taskOf('addToThis'), v, 1)); // never starts: its ticket is dropped
        const stuck2 = settled(set.runOn(2, taskOf('neverSettles')));
        const queued2 = settled(set.runOn(2, taskOf('addToThis'), v, 1));
        assert.equal(await set.runOn(1, taskOf('addToThis'), v, 5), 1); // CPU 1 is fine
        let firstDone = false;
        const first = set.close({ timeoutMs: 300 }).then((report) => ((firstDone = true), report));
        const second = set.close().then((report) => (assert.equal(firstDone, true, 'the second close() resolved before the first'), report));
        const report = await first;
        assert.deepEqual(await second, report);
        assert.deepEqual(await set.close(), report);
        const tasksModule = require.resolve('./tasks');
        const asUrl = (name: string) => ({ module: task(tasksModule, name).module, name });
        assert.deepEqual(
          [...report.abandoned].sort((a, b) => a.cpu - b.cpu || a.name.localeCompare(b.name)),
          [{ cpu: 0, ...asUrl('addToThis') }, { cpu: 0, ...asUrl('neverSettles') }, { cpu: 2, ...asUrl('addToThis') }, { cpu: 2, ...asUrl('neverSettles') }],
        );
        for (const [run, cpu, name] of [[stuck0, 0, 'neverSettles'], [queued0, 0, 'addToThis'], [stuck2, 2, 'neverSettles'], [queued2, 2, 'addToThis']] as const) {
          const error = await run;
          assert.ok(error instanceof TaskAbandonedError, String(error));
          assert.deepEqual([error.name, error.code, error.cpu, error.task], ['TaskAbandonedError', 'ERR_PERCPU_TASK_ABANDONED', cpu, name]);
        }
        assert.equal(thisCpu(), null);
        assert.deepEqual(v.values(), [0, 5, 0, 0]);
        assert.equal(v.refCount, 1);
        assert.equal(stats().outstandingTickets, before.outstandingTickets);
        // A new set starts at once.
        await withCpuSet(TEST_CPUS, async (again) => assert.deepEqual(await again.onEachCpu(taskOf('whoAmI')), ALL_CPUS));
      } finally {
        v.release();
      }
    });

    it('7. close() with every task settled in time abandons nothing; timeoutMs is checked', async function () {
      await assertRejectsCode(() => cpus.set.close({ timeoutMs: NaN }), PerCpuTypeError, 'ERR_PERCPU_INVALID_ARG');
      await assertRejectsCode(() => cpus.set.close({ timeoutMs: '5' as never }), PerCpuTypeError, 'ERR_PERCPU_INVALID_ARG');
      await assertRejectsCode(() => cpus.set.close({ timeoutMs: -1 }), PerCpuRangeError, 'ERR_PERCPU_OUT_OF_RANGE');
      await assertRejectsCode(() => cpus.set.close(null as never), PerCpuTypeError, 'ERR_PERCPU_INVALID_ARG');
      assert.equal(thisCpu(), 0, 'a close() that throws changes nothing');
      const v = DynamicPerCpu.newZero('u64');
      try {
        const slow = cpus.set.runOn(1, taskOf('appendDigitLater'), v, 7);
        assert.deepEqual(await cpus.set.close({ timeoutMs: 0x7fffffff }), { abandoned: [] });
        assert.equal(await slow, 1);
        assert.deepEqual(v.values(), [0n, 7n, 0n, 0n]);
      } finally {
        v.release();
      }
    });

    it('8. a task gets its own handle on CPU 0 as on every CPU: releasing it leaves the caller\'s, keeping it past the task is a ReleasedError; other arguments are copies everywhere', async function () {
      const v = DynamicPerCpu.newFrom('u16', (cpu) => 10 + cpu);
      try {
        assert.deepEqual(await cpus.set.onEachCpu(taskOf('releaseArgument'), v), [true, true, true, true]);
        assert.equal(v.released, false);
        assert.equal(v.refCount, 1);
        assert.deepEqual(await cpus.set.onEachCpu(taskOf('keepArgument'), 'kept', v), ALL_CPUS);
        const used = (await cpus.set.onEachCpu(taskOf('useKept'), 'kept')) as ErrorInfo[];
        for (const info of used) assert.deepEqual([info.name, info.code], ['ReleasedError', 'ERR_PERCPU_RELEASED']);
        assert.deepEqual(v.values(), [10, 11, 12, 13]);
        assert.equal(v.refCount, 1);
        // Other arguments reach CPU 0 as a copy taken when the task was issued, as postMessage gives a worker one.
        const mine = { touched: [] as number[] };
        assert.deepEqual(await cpus.set.onEachCpu(taskOf('mutateArgument'), mine), ALL_CPUS.map((cpu) => ({ touched: [cpu] })));
        assert.deepEqual(mine, { touched: [] });
        const runOn = cpus.set.runOn.bind(cpus.set) as (cpu: number, ...rest: unknown[]) => Promise<unknown>;
        const tickets = stats().outstandingTickets;
        for (const cpu of [0, 1]) {
          await assert.rejects(runOn(cpu, taskOf('readThis'), v, () => 1), (e: unknown) => (e as Error).name === 'DataCloneError');
        }
        assert.equal(stats().outstandingTickets, tickets, 'the ticket taken for the handle was dropped');
        assert.equal(v.refCount, 1);
      } finally {
        v.release();
      }
    });

    it('9. after the scheduler moved the set\'s threads, onEachCpu() results are by CPU (while it migrates, too), and close() leaves this thread unbound and out of the scheduler', async function () {
      const set = cpus.set;
      assert.deepEqual(await set.onEachCpu(taskOf('participateHere')), ALL_CPUS); // every CPU's thread takes part
      // Until this thread (CPU 0's) has been moved elsewhere, and at least 20 rounds: while the
      // scheduler runs, each onEachCpu() still gives one result per CPU. (What a task reads of its
      // CPU once it runs may already be stale: a thread can be moved between its start, which fixes
      // its result's place, and its first instruction; the order by CPU is checked once it stops.)
      do {
        startScheduler({ migrateHz: 2000 });
        try {
          for (let round = 0; thisCpu() === 0 || round < 20; round++) {
            const seen = await set.onEachCpu(taskOf('whoAmI'));
            assert.equal(seen.length, ALL_CPUS.length);
            assert.ok(seen.every((cpu) => ALL_CPUS.includes(cpu!)), `${seen}`);
          }
        } finally {
          stopScheduler();
        }
      } while (thisCpu() === 0); // its last swap moved it back
      const startedAs = await set.onEachCpu(taskOf('startedAs'));
      assert.notDeepEqual(startedAs, ALL_CPUS, 'the threads moved');
      assert.deepEqual([...startedAs].sort(), ALL_CPUS);
      assert.deepEqual(await set.onEachCpu(taskOf('whoAmI')), ALL_CPUS);
      assert.notEqual(thisCpu(), 0);
      assert.equal(isParticipating(), true);
      await set.close();
      assert.equal(thisCpu(), null);
      assert.equal(isParticipating(), false);
      await withCpuSet(TEST_CPUS, async (again) => assert.deepEqual(await again.onEachCpu(taskOf('whoAmI')), ALL_CPUS));
    });
  });

  describe('10. a call that throws changes nothing', function () {
    it('revive() of a ticket as the wrong type, and a pair ticket as a variable or the reverse, leave the ticket to revive rightly', function () {
      const before = stats();
      const v = DynamicPerCpu.newWith('u32', 9);
      const pair = PerCpuPair.newWith([1n, 2n]);
      try {
        const shared = v.share();
        const sharedPair = pair.share();
        typeError(() => revive({ ...shared, type: 'i32' } as never));
        typeError(() => revive({ percpu: 'dynamic', type: 'u64', ticket: sharedPair.ticket }));
        typeError(() => revivePair({ percpu: 'pair', ticket: (shared as { ticket: number }).ticket }));
        assert.equal(stats().outstandingTickets, before.outstandingTickets + 2);
        assert.deepEqual([v.refCount, pair.refCount], [2, 2]);
        const back = revive(shared) as DynamicPerCpu<'u32'>;
        const backPair = revivePair(sharedPair);
        assert.deepEqual([back.readRemote(3), backPair.readRemote(3)], [9, [1n, 2n]]);
        back.release();
        backPair.release();
        assert.equal(stats().outstandingTickets, before.outstandingTickets);
      } finally {
        v.release();
        pair.release();
      }
      assert.deepEqual(stats(), before);
    });

    it('new PerCpuPair(a variable\'s handle) is a PerCpuTypeError and leaves the handle live', function () {
      const v = DynamicPerCpu.newWith('u64', 3n);
      try {
        typeError(() => new PerCpuPair(handleOf(v)));
        assert.equal(v.released, false);
        assert.equal(v.refCount, 1);
        assert.deepEqual(v.values(), [3n, 3n, 3n, 3n]);
      } finally {
        v.release();
      }
    });

    it('runRace() that rejects (a bad row, a running scheduler) sets up no region and starts nothing: a CpuSet of another size starts after it', function () {
      const result = childResult<{ rejections: string[]; regionAfterRows: unknown; cpus: number[]; statics: number }>('raceRejects');
      assert.deepEqual(result.rejections, [TYPE_ERROR, TYPE_ERROR, TYPE_ERROR, TYPE_ERROR, 'ConflictError ERR_PERCPU_CONFLICT']);
      assert.equal(result.regionAfterRows, null);
      assert.deepEqual(result.cpus, [0, 1, 2, 3, 4, 5]);
      assert.equal(result.statics, 0);
    });
  });

  describe('11. named errors everywhere', function () {
    it('typeInfo, wrap, newZero, newWith, definePerCpu and setup({ backend }) given Object.create(null) are PerCpuTypeErrors', function () {
      const bare = Object.create(null) as never;
      typeError(() => typeInfo(bare));
      typeError(() => wrap(bare, 1 as never));
      typeError(() => DynamicPerCpu.newZero(bare));
      typeError(() => DynamicPerCpu.newWith(bare, 1 as never));
      typeError(() => definePerCpu('hardening.bare', bare, 1 as never));
      typeError(() => setup({ backend: bare }));
      typeError(() => setup(null as never));
    });

    it('a bad race method (bogus, constructor, toString) is a PerCpuTypeError; `percpu race` refuses it as a usage error, in one line', async function () {
      for (const method of ['bogus', 'constructor', 'toString', '__proto__']) {
        await assertRejectsCode(() => runRace({ rows: [{ scenario: 'migration', method: method as never }] }), PerCpuTypeError, 'ERR_PERCPU_INVALID_ARG');
      }
      await assertRejectsCode(() => runRace({ rows: [{ scenario: 'hasOwnProperty' as never, method: 'raw' }] }), PerCpuTypeError, 'ERR_PERCPU_INVALID_ARG');
      await assertRejectsCode(() => runRace({ rows: 'migration:raw' as never }), PerCpuTypeError, 'ERR_PERCPU_INVALID_ARG');
      const run = spawnSync(process.execPath, [BIN, 'race', '--rows', 'migration:constructor'], { encoding: 'utf8' });
      assert.equal(run.status, 2);
      assert.equal(run.stdout, '');
      assert.equal(
        run.stderr,
        "percpu race: --rows: no method 'constructor' (row 'migration:constructor'); methods: gs, raw, guard, irqsave, js-add, js-rmw, js-guard; see 'percpu race --help'\n",
      );
    });

    it('every handle method and accessor on a plain object or Object.create(prototype) is a PerCpuTypeError with its code', function () {
      const v = DynamicPerCpu.newZero('u8');
      try {
        const proto = handlePrototype(handleOf(v));
        const entryPoints = handleEntryPoints(proto);
        assert.equal(entryPoints.length, 18);
        for (const receiver of [{}, Object.create(proto) as object, v, null, 1]) {
          for (const { call } of entryPoints) typeError(() => call(receiver));
        }
      } finally {
        v.release();
      }
    });

    it('PerCpuVariable.prototype.sum (and readRemote, writeRemote, num) called on a pair is a PerCpuTypeError', function () {
      const pair = PerCpuPair.newWith([5n, 6n]);
      try {
        const asVariable = pair as unknown as PerCpuVariable<'u64'>;
        typeError(() => PerCpuVariable.prototype.sum.call(asVariable));
        typeError(() => PerCpuVariable.prototype.readRemote.call(asVariable, 0));
        typeError(() => PerCpuVariable.prototype.writeRemote.call(asVariable, 0, 1n));
        typeError(() => PerCpuVariable.prototype.num.call(asVariable));
        assert.deepEqual(pair.values(), [[5n, 6n], [5n, 6n], [5n, 6n], [5n, 6n]]);
      } finally {
        pair.release();
      }
    });

    it('a method of CpuGuard, IrqGuard, PerCpuToken, a variable or a pair called on another object is a PerCpuTypeError', function () {
      const v = DynamicPerCpu.newZero('u8');
      const pair = PerCpuPair.newZero();
      bind(0);
      const guard = new CpuGuard();
      try {
        const token = v.getMut(guard);
        const others = [{}, Object.create(CpuGuard.prototype) as object, Object.create(DynamicPerCpu.prototype) as object, pair, v, null];
        const calls: [string, (self: unknown) => unknown][] = [
          ['CpuGuard live', (self) => Reflect.get(CpuGuard.prototype, 'live', self)],
          ['CpuGuard release', (self) => CpuGuard.prototype.release.call(self as CpuGuard)],
          ['CpuGuard dispose', (self) => CpuGuard.prototype[Symbol.dispose].call(self as CpuGuard)],
          ['IrqGuard live', (self) => Reflect.get(IrqGuard.prototype, 'live', self)],
          ['IrqGuard release', (self) => IrqGuard.prototype.release.call(self as IrqGuard)],
          ['PerCpuToken with', (self) => Object.getPrototypeOf(token).with.call(self, () => 1)],
          ['DynamicPerCpu num', (self) => DynamicPerCpu.prototype.num.call(self as DynamicPerCpu<'u8'>)],
          ['DynamicPerCpu release', (self) => DynamicPerCpu.prototype.release.call(self as DynamicPerCpu<'u8'>)],
          ['DynamicPerCpu refCount', (self) => Reflect.get(DynamicPerCpu.prototype, 'refCount', self)],
          ['PerCpuPair readRemote', (self) => PerCpuPair.prototype.readRemote.call(self as PerCpuPair, 0)],
          ['PerCpuPair release', (self) => PerCpuPair.prototype.release.call(self as PerCpuPair)],
        ];
        for (const [what, call] of calls) {
          for (const self of others) {
            if ((self === pair && what.startsWith('PerCpuPair')) || (self === v && what.startsWith('DynamicPerCpu'))) continue;
            assert.doesNotThrow(() => typeError(() => call(self)), what);
          }
        }
        typeError(() => token.with(5 as never));
        assert.deepEqual([guard.live, v.released, pair.released, v.refCount], [true, false, false, 1]);
      } finally {
        guard.release();
        unbind();
        v.release();
        pair.release();
      }
    });

    it('startScheduler({ cpus: [0.5] }) is a PerCpuTypeError; a CPU out of range a PerCpuRangeError', function () {
      typeError(() => startScheduler({ cpus: [0.5] }));
      typeError(() => startScheduler({ cpus: 5 as never }));
      typeError(() => startScheduler(null as never));
      typeError(() => startScheduler({ cpus: ['1' as never] }));
      assertThrowsCode(() => startScheduler({ cpus: [TEST_CPUS] }), PerCpuRangeError, 'ERR_PERCPU_OUT_OF_RANGE');
      assertThrowsCode(() => startScheduler({ cpus: [-1] }), PerCpuRangeError, 'ERR_PERCPU_OUT_OF_RANGE');
      assert.equal(schedulerStats().running, false);
    });

    it('a CpuGuard subclass whose `live` always says true cannot write after its release; a forged guard is a PerCpuTypeError', function () {
      class LyingGuard extends CpuGuard {
        override get live(): boolean {
          return true;
        }
      }
      const v = DynamicPerCpu.newWith('i32', 4);
      bind(0);
      try {
        const guard = new LyingGuard();
        const token = v.getMut(guard);
        assert.equal(token.with((slot) => slot.value), 4);
        guard.release();
        assertThrowsCode(() => token.with((slot) => (slot.value = 99)), GuardError, 'ERR_PERCPU_GUARD');
        assertThrowsCode(() => v.getMut(guard), GuardError, 'ERR_PERCPU_GUARD');
        // A slot kept from inside with() and written after the release.
        const second = new LyingGuard();
        let escaped: { value: number } | undefined;
        v.getMut(second).with((slot) => void (escaped = slot));
        second.release();
        assertThrowsCode(() => (escaped!.value = 99), GuardError, 'ERR_PERCPU_GUARD');
        typeError(() => v.getMut(Object.create(CpuGuard.prototype) as CpuGuard));
        typeError(() => v.getMut({ live: true, cpu: 0, release() {} } as unknown as CpuGuard));
        assert.deepEqual(v.values(), [4, 4, 4, 4]);
      } finally {
        unbind();
        v.release();
      }
    });

    describe('on a CpuSet', function () {
      const cpus = useCpuSetEach();

      it('a task that throws a revoked Proxy rejects with a TaskError on CPU 0 as on a worker', async function () {
        for (const cpu of [0, 1]) {
          const error = (await assertRejectsCode(() => cpus.set.runOn(cpu, taskOf('throwRevokedProxy')), TaskError, 'ERR_PERCPU_TASK_FAILED')) as TaskError;
          assert.equal(error.cpu, cpu);
          assert.match(error.message, new RegExp(`^task failed on CPU ${cpu}: `));
        }
        assert.deepEqual(await cpus.set.onEachCpu(taskOf('whoAmI')), ALL_CPUS);
      });

      it('Object.prototype members (constructor, toString, hasOwnProperty, __proto__) are not tasks, on any CPU', async function () {
        for (const name of ['constructor', 'toString', 'hasOwnProperty', '__proto__', 'valueOf']) {
          for (const cpu of [0, 2]) {
            const error = (await assertRejectsCode(() => cpus.set.runOn(cpu, task(require.resolve('./tasks'), name)), TaskError, 'ERR_PERCPU_TASK_FAILED')) as TaskError;
            assert.equal((error.cause as Error).name, 'PerCpuTypeError');
          }
        }
      });

      it('runRace() while a CpuSet is open on this thread rejects with a ConflictError and starts no scheduler', async function () {
        await assertRejectsCode(() => runRace({ rows: [{ scenario: 'migration', method: 'raw' }], threads: 3 }), ConflictError, 'ERR_PERCPU_CONFLICT');
        assert.equal(schedulerStats().running, false);
        assert.deepEqual(await cpus.set.onEachCpu(taskOf('whoAmI')), ALL_CPUS);
      });
    });

    it('runRace() on a CPU another thread holds rejects with a CpuTakenError, its class kept from the worker that could not bind it, and starts no scheduler', async function () {
      const holder = new Worker(
        `const lib = require(${JSON.stringify(require.resolve('../lib'))}); const { parentPort } = require('node:worker_threads');
         lib.bind(1); parentPort.postMessage('bound'); parentPort.once('message', () => parentPort.close());`,
        { eval: true },
      );
      try {
        await once(holder, 'message');
        await assertRejectsCode(() => runRace({ rows: [{ scenario: 'migration', method: 'raw' }], threads: 3 }), CpuTakenError, 'ERR_PERCPU_CPU_TAKEN');
        assert.equal(schedulerStats().running, false);
        assert.equal(thisCpu(), null);
      } finally {
        holder.postMessage('done');
        await once(holder, 'exit');
      }
      await withCpuSet(TEST_CPUS, async (set) => assert.deepEqual(await set.onEachCpu(taskOf('whoAmI')), ALL_CPUS));
    });
  });

  it('participate() works where close() will find it: the main thread taking part is left out of the scheduler by close()', async function () {
    const set = await CpuSet.start({ cpus: TEST_CPUS });
    participate();
    assert.equal(isParticipating(), true);
    await set.close();
    assert.equal(isParticipating(), false);
    assert.equal(thisCpu(), null);
  });
});
