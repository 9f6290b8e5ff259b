/**
 * CpuSet: worker threads as CPUs. Results by CPU, issue order, one-CPU runs, failures,
 * closing and starting again, and a CPU whose thread dies.
 */
import * as assert from 'node:assert/strict';
import {
  ConflictError,
  CpuDiedError,
  CpuSet,
  DynamicPerCpu,
  PerCpuError,
  PerCpuRangeError,
  PerCpuTypeError,
  TaskError,
  stats,
  task,
  thisCpu,
} from '../lib';
import { ALL_CPUS, TEST_CPUS, assertRejectsCode, assertThrowsCode, runPlainWorker, taskOf, useCpuSet, withCpuSet } from './helpers';
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
});
