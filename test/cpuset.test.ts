/**
 * CpuSet: worker threads as CPUs. Results by CPU, issue order, one-CPU runs, failures,
 * closing and starting again, and a CPU whose thread dies.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { SHARE_ENV, type Worker } from 'node:worker_threads';
import {
  ConflictError,
  CpuDiedError,
  CpuGuard,
  CpuSet,
  CpuTakenError,
  DynamicPerCpu,
  NotBoundError,
  PerCpuError,
  PerCpuRangeError,
  PerCpuTypeError,
  TaskError,
  bind,
  stats,
  task,
  tasks,
  thisCpu,
  unbind,
} from '../lib';
import { ALL_CPUS, TEST_CPUS, assertRejectsCode, assertThrowsCode, runPlainWorker, taskOf, useCpuSet, withCpuSet } from './helpers';
import { addonPath } from '../lib/core/native';
import type * as testTasks from './tasks';
import type { ErrorInfo } from './tasks';

/** Checks a TaskError: its CPU, its code, and the error the task threw. */
function isTaskError(cpu: number, causeName: string, causeMessage: string, causeCode: unknown) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof TaskError, `expected a TaskError, got ${String(error)}`);
    assert.ok(error instanceof PerCpuError);
    assert.equal(error.name, 'TaskError');
    assert.equal(error.code, 'ERR_PERCPU_TASK_FAILED');
    assert.equal(error.cpu, cpu);
    const cause = error.cause as Error & { code?: unknown };
    assert.ok(cause instanceof Error);
    assert.equal(cause.name, causeName);
    assert.equal(cause.message, causeMessage);
    assert.equal(cause.code, causeCode);
    assert.equal(error.message, `task failed on CPU ${cpu}: ${causeMessage}`);
    return true;
  };
}

function isCpuDied(cpu: number, exitCode: number) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof CpuDiedError, `expected a CpuDiedError, got ${String(error)}`);
    assert.ok(error instanceof PerCpuError);
    assert.equal(error.name, 'CpuDiedError');
    assert.equal(error.code, 'ERR_PERCPU_CPU_DIED');
    assert.equal(error.cpu, cpu);
    assert.equal(error.exitCode, exitCode);
    return true;
  };
}

function assertCpuTaken(info: ErrorInfo | null | undefined): void {
  assert.ok(info, 'expected a CpuTakenError, nothing was thrown');
  assert.equal(info.name, 'CpuTakenError');
  assert.equal(info.code, 'ERR_PERCPU_CPU_TAKEN');
  assert.equal(info.isNamedClass, true);
}

describe('CpuSet', function () {
  describe('running tasks', function () {
    const cpus = useCpuSet();

    it('onEachCpu() resolves with the results by CPU; thisCpu() is each CPU\'s number', async function () {
      assert.equal(cpus.set.cpus, TEST_CPUS);
      assert.equal(thisCpu(), 0);
      assert.deepEqual(await cpus.set.onEachCpu(taskOf('whoAmI')), [0, 1, 2, 3]);
      assert.deepEqual(await cpus.set.onEachCpu(taskOf('guardCpu')), [0, 1, 2, 3]);
      for (const cpu of ALL_CPUS) assert.equal(cpus.set.isAlive(cpu), true);
    });

    it('tasks on one CPU run in issue order: three increments not waited for, then one waited for, leave 4 everywhere', async function () {
      const ticketsBefore = stats().outstandingTickets;
      const v = DynamicPerCpu.newZero('u64');
      try {
        const increment = taskOf('increment');
        const noWait = [cpus.set.onEachCpu(increment, v), cpus.set.onEachCpu(increment, v), cpus.set.onEachCpu(increment, v)];
        assert.deepEqual(await cpus.set.onEachCpu(increment, v), [0, 1, 2, 3]);
        // The waited-for increment ran last on every CPU, so all four are done.
        assert.deepEqual(v.values(), [4n, 4n, 4n, 4n]);
        assert.deepEqual(await cpus.set.onEachCpu(taskOf('readThis'), v), [4n, 4n, 4n, 4n]);
        assert.deepEqual(await Promise.all(noWait), [
          [0, 1, 2, 3],
          [0, 1, 2, 3],
          [0, 1, 2, 3],
        ]);
        assert.equal(v.sum(), 16n);
        assert.equal(v.refCount, 1);
        assert.equal(stats().outstandingTickets, ticketsBefore);
      } finally {
        v.release();
      }
    });

    it('tasks on one CPU run one at a time in issue order, async ones too', async function () {
      const v = DynamicPerCpu.newZero('u64');
      try {
        const runs: Promise<number>[] = [];
        for (let digit = 1; digit <= 9; digit++) {
          const t = digit % 2 === 0 ? taskOf('appendDigit') : taskOf('appendDigitLater');
          runs.push(cpus.set.runOn(0, t, v, digit), cpus.set.runOn(2, t, v, digit));
        }
        assert.deepEqual(await Promise.all(runs), Array.from({ length: 18 }, (_, i) => (i % 2 === 0 ? 0 : 2)));
        assert.deepEqual(v.values(), [123456789n, 0n, 123456789n, 0n]);
      } finally {
        v.release();
      }
    });

    it('runOn(cpu) runs on that CPU only', async function () {
      const v = DynamicPerCpu.newZero('i32');
      try {
        assert.equal(await cpus.set.runOn(2, taskOf('addToThis'), v, 5), 2);
        assert.deepEqual(v.values(), [0, 0, 5, 0]);
        assert.equal(await cpus.set.runOn(0, taskOf('addToThis'), v, -6), 0);
        assert.equal(await cpus.set.runOn(3, taskOf('addToThis'), v, 70000), 3);
        assert.deepEqual(v.values(), [-6, 0, 5, 70000]);
        for (const cpu of ALL_CPUS) assert.equal(await cpus.set.runOn(cpu, taskOf('whoAmI')), cpu);
      } finally {
        v.release();
      }
    });

    it('a task that throws rejects with a TaskError naming its CPU', async function () {
      await assert.rejects(cpus.set.onEachCpu(taskOf('throwOn'), [2], 'boom'), isTaskError(2, 'TaskFailure', 'boom on CPU 2', 'E_TEST_TASK'));
      // The lowest failing CPU is named.
      await assert.rejects(cpus.set.onEachCpu(taskOf('throwOn'), [3, 1], 'bang'), isTaskError(1, 'TaskFailure', 'bang on CPU 1', 'E_TEST_TASK'));
      await assert.rejects(cpus.set.runOn(3, taskOf('throwOn'), [3], 'one'), isTaskError(3, 'TaskFailure', 'one on CPU 3', 'E_TEST_TASK'));
      // On CPU 0 the cause is the very error thrown.
      await assert.rejects(cpus.set.onEachCpu(taskOf('throwOn'), [0, 2], 'zero'), (error: unknown) => {
        isTaskError(0, 'TaskFailure', 'zero on CPU 0', 'E_TEST_TASK')(error);
        assert.equal(((error as TaskError).cause as Error).constructor.name, 'TaskFailure');
        return true;
      });
      // Async rejections too.
      await assert.rejects(cpus.set.onEachCpu(taskOf('rejectOn'), [1, 2], 'later'), isTaskError(1, 'TaskFailure', 'later on CPU 1', 'E_TEST_TASK'));
      // A percpu error thrown in a task keeps its name and code.
      await assert.rejects(cpus.set.runOn(1, taskOf('defineStatic'), 'cpuset.bad-type', 'u128' as never, 0), (error: unknown) => {
        assert.ok(error instanceof TaskError);
        assert.equal(error.cpu, 1);
        assert.equal((error.cause as Error).name, 'PerCpuTypeError');
        assert.equal((error.cause as { code?: unknown }).code, 'ERR_PERCPU_INVALID_ARG');
        return true;
      });
      // Every CPU lives on.
      assert.deepEqual(await cpus.set.onEachCpu(taskOf('whoAmI')), [0, 1, 2, 3]);
    });

    it('onEachCpu() rejects only after every CPU has run the task', async function () {
      const v = DynamicPerCpu.newZero('u8');
      try {
        await assert.rejects(cpus.set.onEachCpu(taskOf('incrementAndThrowOn'), v, [1]), isTaskError(1, 'TaskFailure', 'after the increment on CPU 1', 'E_TEST_TASK'));
        assert.deepEqual(v.values(), [1, 1, 1, 1]);
        assert.equal(v.refCount, 1);
      } finally {
        v.release();
      }
    });

    it('tasks<typeof import(module)>(url) names the module\'s functions as typed tasks: one frozen Task per name', async function () {
      const t = tasks<typeof testTasks>(require.resolve('./tasks'));
      const href = pathToFileURL(require.resolve('./tasks')).href;
      assert.deepEqual({ ...t.whoAmI }, { module: href, name: 'whoAmI' });
      assert.equal(t.whoAmI, t.whoAmI);
      assert.ok(Object.isFrozen(t.whoAmI));
      assert.deepEqual({ ...t.whoAmI }, { ...taskOf('whoAmI') });
      assert.deepEqual(await cpus.set.onEachCpu(t.whoAmI), [0, 1, 2, 3]);
      const v = DynamicPerCpu.newZero('u32');
      try {
        assert.equal(await cpus.set.runOn(2, t.addToThis, v, 7), 2);
        assert.deepEqual(v.values(), [0, 0, 7, 0]);
      } finally {
        v.release();
      }
      // The same with a URL; symbols are no task names, and nothing can be set.
      const byUrl = tasks<typeof testTasks>(new URL(href));
      assert.deepEqual({ ...byUrl.increment }, { module: href, name: 'increment' });
      assert.equal((byUrl as unknown as Record<symbol, unknown>)[Symbol.iterator], undefined);
      assert.deepEqual(Object.keys(byUrl), []);
      assert.throws(() => ((byUrl as unknown as Record<string, unknown>)['whoAmI'] = 1), TypeError);
    });

    it('a relative task module is a PerCpuTypeError saying what to write instead, for an ES module and for CommonJS', function () {
      const cases: [string, string, string][] = [
        ['./tasks', "new URL('./tasks.js', import.meta.url)", "require.resolve('./tasks')"],
        ['./tasks.ts', "new URL('./tasks.js', import.meta.url)", "require.resolve('./tasks')"],
        ['../lib/tasks.mts', "new URL('../lib/tasks.mjs', import.meta.url)", "require.resolve('../lib/tasks')"],
        ['./tasks.js', "new URL('./tasks.js', import.meta.url)", "require.resolve('./tasks.js')"],
      ];
      for (const [module, esm, cjs] of cases) {
        for (const make of [() => task(module, 'whoAmI'), () => tasks<typeof testTasks>(module)]) {
          const error = assertThrowsCode(make, PerCpuTypeError, 'ERR_PERCPU_INVALID_ARG');
          assert.equal(
            error.message,
            `a task module is an absolute path or a file: URL, not '${module}': every CPU imports it, each from its own thread, ` +
              `so a path relative to the calling module means nothing there. Write ${esm} in an ES module, or ${cjs} in CommonJS`,
          );
        }
      }
      assertThrowsCode(() => task(new URL('https://example.com/tasks.js'), 'whoAmI'), PerCpuTypeError, 'ERR_PERCPU_INVALID_ARG');
      assertThrowsCode(() => task(42 as never, 'whoAmI'), PerCpuTypeError, 'ERR_PERCPU_INVALID_ARG');
      assertThrowsCode(() => tasks(null as never), PerCpuTypeError, 'ERR_PERCPU_INVALID_ARG');
    });

    it('a task that is not an exported function rejects with a TaskError; task() wants an absolute module path', async function () {
      const missing = task<() => void>(require.resolve('./tasks'), 'noSuchTask');
      for (const cpu of [0, 2]) {
        await assert.rejects(cpus.set.runOn(cpu, missing), (error: unknown) => {
          assert.ok(error instanceof TaskError);
          assert.equal(error.cpu, cpu);
          assert.equal((error.cause as Error).name, 'PerCpuTypeError');
          return true;
        });
      }
      assertThrowsCode(() => task('./tasks', 'whoAmI'), PerCpuTypeError, 'ERR_PERCPU_INVALID_ARG', 'PerCpuTypeError');
      assertThrowsCode(() => task(require.resolve('./tasks'), ''), PerCpuTypeError, 'ERR_PERCPU_INVALID_ARG', 'PerCpuTypeError');
    });

    it('a task module that fails to load on one CPU keeps no other CPU waiting at the start: a TaskError naming that CPU', async function () {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'percpu-task-'));
      try {
        const file = path.join(dir, 'loads-but-on-cpu-2.cjs');
        fs.writeFileSync(
          file,
          "const { isMainThread, workerData } = require('node:worker_threads');\n" +
            "if (!isMainThread && workerData.cpu === 2) throw new Error('not loaded on CPU 2');\n" +
            'exports.one = () => 1;\n',
        );
        await assert.rejects(cpus.set.onEachCpu(task<() => number>(file, 'one')), isTaskError(2, 'Error', 'not loaded on CPU 2', undefined));
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
      assert.deepEqual(await cpus.set.onEachCpu(taskOf('whoAmI')), ALL_CPUS);
    });

    it('a second CpuSet cannot start while one is open, and the open one carries on', async function () {
      await assertRejectsCode(() => CpuSet.start({ cpus: TEST_CPUS }), ConflictError, 'ERR_PERCPU_CONFLICT', 'ConflictError');
      assert.equal(thisCpu(), 0);
      assert.deepEqual(await cpus.set.onEachCpu(taskOf('whoAmI')), [0, 1, 2, 3]);
    });
  });

  describe('closing and starting again', function () {
    it('close() unbinds the main thread and stops the CPUs; a new CpuSet can start', async function () {
      assert.equal(thisCpu(), null);
      const first = await CpuSet.start({ cpus: TEST_CPUS });
      assert.equal(thisCpu(), 0);
      assert.deepEqual(await first.onEachCpu(taskOf('whoAmI')), [0, 1, 2, 3]);
      await first.close();
      assert.equal(thisCpu(), null);
      for (const cpu of ALL_CPUS) assert.equal(first.isAlive(cpu), false);
      await assertRejectsCode(() => first.runOn(1, taskOf('whoAmI')), PerCpuRangeError, 'ERR_PERCPU_OUT_OF_RANGE', 'PerCpuRangeError');
      await first.close(); // closing twice is fine
      await withCpuSet(TEST_CPUS, async (second) => {
        assert.equal(thisCpu(), 0);
        assert.deepEqual(await second.onEachCpu(taskOf('whoAmI')), [0, 1, 2, 3]);
      });
      assert.equal(thisCpu(), null);
    });

    it('close() lets tasks already issued finish', async function () {
      const v = DynamicPerCpu.newZero('u64');
      try {
        const set = await CpuSet.start({ cpus: TEST_CPUS });
        const runs: Promise<number | number[]>[] = [set.onEachCpu(taskOf('increment'), v), set.onEachCpu(taskOf('increment'), v)];
        for (let digit = 1; digit <= 3; digit++) runs.push(set.runOn(3, taskOf('appendDigitLater'), v, digit));
        await set.close();
        assert.equal(thisCpu(), null);
        assert.deepEqual(await Promise.all(runs), [[0, 1, 2, 3], [0, 1, 2, 3], 3, 3, 3]);
        assert.deepEqual(v.values(), [2n, 2n, 2n, 2123n]);
        assert.equal(v.refCount, 1);
      } finally {
        v.release();
      }
    });

    it('await using closes the set', async function () {
      {
        await using set = await CpuSet.start({ cpus: TEST_CPUS });
        assert.equal(thisCpu(), 0);
        assert.deepEqual(await set.onEachCpu(taskOf('whoAmI')), [0, 1, 2, 3]);
      }
      assert.equal(thisCpu(), null);
    });

    it('withCpuSet() closes the set when its function throws', async function () {
      await assert.rejects(
        withCpuSet(TEST_CPUS, () => {
          assert.equal(thisCpu(), 0);
          throw new Error('inside');
        }),
        /inside/,
      );
      assert.equal(thisCpu(), null);
    });

    it('a CpuSet may use fewer CPUs than the region has; more is a PerCpuRangeError', async function () {
      const v = DynamicPerCpu.newZero('u16');
      try {
        await withCpuSet(2, async (set) => {
          assert.equal(set.cpus, 2);
          assert.deepEqual(await set.onEachCpu(taskOf('whoAmI')), [0, 1]);
          await set.onEachCpu(taskOf('increment'), v);
          await assertRejectsCode(async () => set.runOn(2, taskOf('whoAmI')), PerCpuRangeError, 'ERR_PERCPU_OUT_OF_RANGE', 'PerCpuRangeError');
        });
        assert.deepEqual(v.values(), [1, 1, 0, 0]);
      } finally {
        v.release();
      }
      await assertRejectsCode(() => CpuSet.start({ cpus: TEST_CPUS + 1 }), PerCpuRangeError, 'ERR_PERCPU_OUT_OF_RANGE', 'PerCpuRangeError');
      assert.equal(thisCpu(), null);
    });
  });

  describe('a CPU whose thread dies', function () {
    const cpus = useCpuSet();

    it('rejects its pending tasks with CpuDiedError, drops their tickets, and gives the CPU back with its slots intact', async function () {
      const before = stats();
      const v = DynamicPerCpu.newFrom('u64', (cpu) => BigInt(cpu) * 100n);
      try {
        assert.equal(await cpus.set.runOn(2, taskOf('addToThis'), v, 42n), 2);
        assert.deepEqual(v.values(), [0n, 100n, 242n, 300n]);

        const dying = cpus.set.runOn(2, taskOf('exitThread'), 3);
        const queued = cpus.set.runOn(2, taskOf('addToThis'), v, 1000n); // never runs: its ticket is never redeemed
        await assert.rejects(dying, isCpuDied(2, 3));
        await assert.rejects(queued, isCpuDied(2, 3));
        assert.deepEqual(ALL_CPUS.map((cpu) => cpus.set.isAlive(cpu)), [true, true, false, true]);
        assert.equal(stats().outstandingTickets, before.outstandingTickets);
        assert.equal(v.refCount, 1);

        // Later tasks for CPU 2 fail at once; the other CPUs carry on.
        await assert.rejects(cpus.set.runOn(2, taskOf('whoAmI')), isCpuDied(2, 3));
        await assert.rejects(cpus.set.onEachCpu(taskOf('whoAmI')), isCpuDied(2, 3));
        for (const cpu of [0, 1, 3]) assert.equal(await cpus.set.runOn(cpu, taskOf('whoAmI')), cpu);
        assert.deepEqual(v.values(), [0n, 100n, 242n, 300n]);

        // CPU 2 is free: a plain worker binds it (CPUs 0, 1 and 3 are still taken) and finds the slot as the dead thread left it.
        const { reply, exitCode } = await runPlainWorker({ mode: 'bind', cpu: 2, tryFirst: [1, 3, 0], shared: v.share(), add: 8n, unbind: true });
        assert.equal(exitCode, 0);
        assert.ok(reply.mode === 'bind');
        assert.equal(reply.tried.length, 3);
        reply.tried.forEach(assertCpuTaken);
        assert.equal(reply.bound, null);
        assert.equal(reply.thisCpu, 2);
        assert.equal(reply.guardCpu, 2);
        assert.equal(reply.mine, 242n);
        assert.equal(reply.after, 250n);
        assert.deepEqual(reply.values, [0n, 100n, 250n, 300n]);
        assert.equal(reply.thisCpuAfter, null);

        // A thread that ends while bound gives its CPU back too.
        const second = await runPlainWorker({ mode: 'bind', cpu: 2, tryFirst: [], shared: v.share(), add: 8n, unbind: false });
        assert.equal(second.exitCode, 0);
        assert.ok(second.reply.mode === 'bind');
        assert.equal(second.reply.bound, null);
        assert.equal(second.reply.thisCpuAfter, 2);
        assert.equal(second.reply.mine, 250n);
        const third = await runPlainWorker({ mode: 'bind', cpu: 2, tryFirst: [], shared: v.share(), add: 8n, unbind: true });
        assert.ok(third.reply.mode === 'bind');
        assert.equal(third.reply.bound, null);
        assert.equal(third.reply.mine, 258n);
        assert.deepEqual(v.values(), [0n, 100n, 266n, 300n]);
        assert.equal(v.refCount, 1);
        assert.equal(stats().outstandingTickets, before.outstandingTickets);
      } finally {
        v.release();
      }
      assert.deepEqual(stats(), before);
    });

    it('gives back the reference a task held when its thread died', async function () {
      const v = DynamicPerCpu.newZero('u32');
      try {
        await assert.rejects(cpus.set.runOn(3, taskOf('exitHolding'), v, 7), isCpuDied(3, 7));
        assert.equal(cpus.set.isAlive(3), false);
        assert.deepEqual(v.values(), [0, 0, 0, 1]);
        assert.equal(v.refCount, 1);
      } finally {
        v.release();
      }
    });

    it('close() still works with dead CPUs', async function () {
      assert.deepEqual(await cpus.set.runOn(1, taskOf('whoAmI')), 1);
      await cpus.set.close();
      assert.equal(thisCpu(), null);
    });
  });
  describe('the main thread out (mainThread: false): every CPU a worker', function () {
    it('runs every CPU\'s share on workers, CPU 0 too; this thread stays unbound, reads sums and slots, and runs nothing', async function () {
      const v = DynamicPerCpu.newZero('u64');
      try {
        await withCpuSet(TEST_CPUS, { mainThread: false }, async (set) => {
          assert.equal(set.cpus, TEST_CPUS);
          assert.equal(set.mainThread, false);
          // Tasks are routed by cpus and mainThread: they stay what the set started with.
          assert.throws(() => Object.assign(set, { mainThread: true }), TypeError);
          assert.throws(() => Object.assign(set, { cpus: TEST_CPUS + 1 }), TypeError);
          assert.deepEqual([set.cpus, set.mainThread], [TEST_CPUS, false]);
          assert.equal(thisCpu(), null);
          assert.deepEqual(await set.onEachCpu(taskOf('whoAmI')), [0, 1, 2, 3]);
          const views = await set.onEachCpu(taskOf('threadView'), []);
          assert.deepEqual(views.map((view) => [view.cpu, view.isMainThread]), [[0, false], [1, false], [2, false], [3, false]]);
          assert.deepEqual(await set.onEachCpu(taskOf('increment'), v), [0, 1, 2, 3]);
          assert.equal(await set.runOn(0, taskOf('addToThis'), v, 10n), 0);
          assert.equal((await set.runOn(0, taskOf('threadView'), [])).isMainThread, false);
          // This thread reads, and is no CPU.
          assert.equal(v.sum(), 14n);
          assert.deepEqual(ALL_CPUS.map((cpu) => v.readRemote(cpu)), [11n, 1n, 1n, 1n]);
          assertThrowsCode(() => v.num().add(1n), NotBoundError, 'ERR_PERCPU_NOT_BOUND');
          for (const cpu of ALL_CPUS) assert.equal(set.isAlive(cpu), true);
          // A task that throws on CPU 0 is a TaskError whose cause crossed threads.
          await assert.rejects(set.runOn(0, taskOf('throwOn'), [0], 'worker zero'), isTaskError(0, 'TaskFailure', 'worker zero on CPU 0', 'E_TEST_TASK'));
          await assertRejectsCode(() => CpuSet.start({ cpus: 2, mainThread: false }), ConflictError, 'ERR_PERCPU_CONFLICT');
        });
        assert.equal(thisCpu(), null);
        assert.equal(v.refCount, 1);
      } finally {
        v.release();
      }
    });

    it('close() lets issued tasks finish and stops every CPU, CPU 0\'s worker too; a CPU 0 worker that dies is a CpuDiedError', async function () {
      const v = DynamicPerCpu.newZero('u64');
      try {
        const set = await CpuSet.start({ cpus: TEST_CPUS, mainThread: false });
        const runs = [set.onEachCpu(taskOf('increment'), v), set.runOn(0, taskOf('appendDigitLater'), v, 5)];
        const report = await set.close();
        assert.deepEqual(report, { abandoned: [] });
        assert.deepEqual(await Promise.all(runs), [[0, 1, 2, 3], 0]);
        assert.deepEqual(v.values(), [15n, 1n, 1n, 1n]);
        for (const cpu of ALL_CPUS) assert.equal(set.isAlive(cpu), false);
        await assertRejectsCode(() => set.runOn(0, taskOf('whoAmI')), PerCpuRangeError, 'ERR_PERCPU_OUT_OF_RANGE');

        await withCpuSet(2, { mainThread: false }, async (small) => {
          await assert.rejects(small.runOn(0, taskOf('exitThread'), 4), isCpuDied(0, 4));
          assert.deepEqual([small.isAlive(0), small.isAlive(1)], [false, true]);
          await assert.rejects(small.onEachCpu(taskOf('whoAmI')), isCpuDied(0, 4));
        });
      } finally {
        v.release();
      }
    });

    it('this thread may be bound outside the set (and hold a CpuGuard there); bound inside it, start() is a CpuTakenError', async function () {
      bind(3);
      try {
        await assertRejectsCode(() => CpuSet.start({ mainThread: false }), CpuTakenError, 'ERR_PERCPU_CPU_TAKEN');
        await assertRejectsCode(() => CpuSet.start({ cpus: 2 }), PerCpuRangeError, 'ERR_PERCPU_OUT_OF_RANGE'); // as CPU 0 it would need CPU 0
        const set = await CpuSet.start({ cpus: 3, mainThread: false });
        const guard = new CpuGuard();
        try {
          assert.deepEqual(await set.onEachCpu(taskOf('whoAmI')), [0, 1, 2]);
          assert.equal(thisCpu(), 3);
        } finally {
          await set.close(); // not a GuardError: this thread is no CPU of the set
          guard.release();
        }
        assert.equal(thisCpu(), 3);
      } finally {
        unbind();
      }
    });

    it('each start() option is checked, and read once, before anything is claimed', async function () {
      for (const mainThread of ['no', 0, null]) {
        await assertRejectsCode(() => CpuSet.start({ mainThread: mainThread as never }), PerCpuTypeError, 'ERR_PERCPU_INVALID_ARG');
      }
      let reads = 0;
      const options = {
        cpus: 2,
        get mainThread() {
          reads++;
          return reads === 1 ? false : true;
        },
      };
      await withCpuSet(options, async (set) => {
        assert.equal(set.mainThread, false);
        assert.equal(thisCpu(), null);
      });
      assert.equal(reads, 1);
      const thrown = new Error('getter');
      await assert.rejects(CpuSet.start({ get workerOptions(): never { throw thrown; } }), (error) => error === thrown);
      await withCpuSet(TEST_CPUS, async (set) => assert.deepEqual(await set.onEachCpu(taskOf('whoAmI')), ALL_CPUS));
    });
  });

  describe('workerOptions: each worker CPU\'s Worker options', function () {
    it('env (undefined leaves a variable out), argv, execArgv and resourceLimits reach every worker; CPU 0, this thread, keeps its own', async function () {
      const names = ['PERCPU_TEST_A', 'PERCPU_TEST_B', 'HOME'];
      const workerOptions = {
        env: { PERCPU_TEST_A: 'a', PERCPU_TEST_B: undefined },
        argv: ['--task-flag', 'x'],
        execArgv: ['--no-warnings'],
        resourceLimits: { maxOldGenerationSizeMb: 96 },
      };
      // This thread's own, taken before the set starts: CPU 0 must report them, not the workers'.
      const here = { env: [null, null, process.env['HOME'] ?? null], argv: process.argv.slice(2), execArgv: [...process.execArgv] };
      assert.equal(process.env['PERCPU_TEST_A'], undefined);
      assert.notDeepEqual(here.argv, workerOptions.argv);
      await withCpuSet(TEST_CPUS, { workerOptions }, async (set) => {
        const views = await set.onEachCpu(taskOf('threadView'), names);
        assert.deepEqual(views[0], {
          cpu: 0, isMainThread: true, env: here.env, argv: here.argv, execArgv: here.execArgv, maxOldGenerationSizeMb: null,
        });
        // CPU 0 is this very thread: what its task sets in process.env is set here (no SHARE_ENV).
        try {
          assert.equal(await set.runOn(0, taskOf('setEnv'), 'PERCPU_TEST_CPU0', 'from CPU 0'), 0);
          assert.equal(process.env['PERCPU_TEST_CPU0'], 'from CPU 0');
        } finally {
          delete process.env['PERCPU_TEST_CPU0'];
        }
        for (const [cpu, view] of views.entries()) {
          if (cpu === 0) continue;
          assert.deepEqual(view, { cpu, isMainThread: false, env: ['a', null, null], argv: ['--task-flag', 'x'], execArgv: ['--no-warnings'], maxOldGenerationSizeMb: 96 });
        }
      });
    });

    it("an env of the user's own still loads this thread's binding in every worker (PERCPU_ADDON), whatever it names", async function () {
      const workerOptions = { env: { PERCPU_ADDON: '/nonexistent/percpu.node', PERCPU_TEST_A: 'a' } };
      await withCpuSet(TEST_CPUS, { mainThread: false, workerOptions }, async (set) => {
        const views = await set.onEachCpu(taskOf('threadView'), ['PERCPU_ADDON', 'PERCPU_TEST_A']);
        assert.deepEqual(views.map((view) => view.env), views.map(() => [addonPath, 'a']));
        assert.deepEqual(views.map((view) => view.cpu), views.map((_, cpu) => cpu));
      });
    });

    it('SHARE_ENV shares this thread\'s environment with every worker', async function () {
      await withCpuSet(2, { mainThread: false, workerOptions: { env: SHARE_ENV } }, async (set) => {
        assert.equal(await set.runOn(1, taskOf('setEnv'), 'PERCPU_TEST_SHARED', 'from CPU 1'), 1);
        assert.equal(process.env['PERCPU_TEST_SHARED'], 'from CPU 1');
        assert.deepEqual((await set.runOn(0, taskOf('threadView'), ['PERCPU_TEST_SHARED'])).env, ['from CPU 1']);
      });
      delete process.env['PERCPU_TEST_SHARED'];
    });

    it('a worker past its resourceLimits dies: its task rejects with CpuDiedError, and close() still works', async function () {
      // Limits with room for a worker's own start (8 MB was seen to kill the other CPU's worker too, on Node 24).
      await withCpuSet(2, { mainThread: false, workerOptions: { resourceLimits: { maxOldGenerationSizeMb: 48, maxYoungGenerationSizeMb: 4 } } }, async (set) => {
        await assert.rejects(set.runOn(1, taskOf('exhaustHeap')), (error: unknown) => error instanceof CpuDiedError && error.cpu === 1);
        assert.equal(await set.runOn(0, taskOf('whoAmI')), 0);
      });
      assert.equal(thisCpu(), null);
    });

    it('what is no worker option, or not of its type, is a named error before anything starts; execArgv that Node refuses in a worker too', async function () {
      const typeErrors: unknown[] = [
        null, 'x', [], { workerData: 1 }, { eval: true }, { stdout: true }, { transferList: [] }, { [Symbol('s')]: 1 },
        { execArgv: '--no-warnings' }, { execArgv: [1] }, { argv: 'x' }, { argv: [{}] },
        { env: 'A=1' }, { env: { A: 1 } }, { env: null }, { resourceLimits: 64 }, { resourceLimits: { heap: 1 } },
        { resourceLimits: { maxOldGenerationSizeMb: NaN } }, { resourceLimits: { stackSizeMb: '4' } },
      ];
      for (const workerOptions of typeErrors) {
        await assertRejectsCode(() => CpuSet.start({ workerOptions: workerOptions as never }), PerCpuTypeError, 'ERR_PERCPU_INVALID_ARG');
      }
      for (const mb of [0, -1, 2 ** 20 + 1]) {
        await assertRejectsCode(() => CpuSet.start({ workerOptions: { resourceLimits: { maxOldGenerationSizeMb: mb } } }), PerCpuRangeError, 'ERR_PERCPU_OUT_OF_RANGE');
      }
      const refused = await assertRejectsCode(() => CpuSet.start({ workerOptions: { execArgv: ['--title=cpu'] } }), PerCpuTypeError, 'ERR_PERCPU_INVALID_ARG');
      assert.equal(refused.message, 'workerOptions: Initiated Worker with invalid execArgv flags: --title=cpu');
      assert.equal(thisCpu(), null);
      await withCpuSet(TEST_CPUS, async (set) => assert.deepEqual(await set.onEachCpu(taskOf('whoAmI')), ALL_CPUS));
    });

    it("any other error of Node's Worker constructor comes out as it was thrown, and the workers made before it are stopped", async function () {
      // cpuset.js reads Worker from node:worker_threads at each `new Worker`: the second one throws.
      const threads = require('node:worker_threads') as { Worker: typeof Worker };
      const RealWorker = threads.Worker;
      const thrown = Object.assign(new Error('no thread for this worker'), { code: 'ERR_WORKER_INIT_FAILED' });
      const made: Worker[] = [];
      threads.Worker = class extends RealWorker {
        constructor(...args: ConstructorParameters<typeof Worker>) {
          if (made.length === 1) throw thrown;
          super(...args);
          made.push(this);
        }
      };
      try {
        await assert.rejects(CpuSet.start({ cpus: TEST_CPUS, mainThread: false }), (error) => error === thrown);
      } finally {
        threads.Worker = RealWorker;
      }
      assert.equal(made.length, 1);
      assert.equal(made[0]!.threadId, -1); // terminated
      assert.equal(thisCpu(), null);
      await withCpuSet(TEST_CPUS, async (set) => assert.deepEqual(await set.onEachCpu(taskOf('whoAmI')), ALL_CPUS));
    });
  });
});
