/**
 * What a first-class native module must survive: termination in the middle of native calls, a
 * reloaded addon, a second copy of the addon, racing starts, unclonable task errors, JS that
 * re-enters the addon from an error constructor, and names that UTF-8 cannot hold.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import {
  ConflictError,
  CpuGuard,
  CpuSet,
  DynamicPerCpu,
  GuardError,
  PerCpuTypeError,
  TaskError,
  bind,
  definePerCpu,
  getStaticPerCpu,
  region,
  stats,
  thisCpu,
  unbind,
  wrap,
  type NumericType,
} from '../lib';
import { addonPath, native } from '../lib/core/native';
import { ALL_CPUS, TEST_CPUS, assertRejectsCode, assertThrowsCode, runPlainWorker, taskOf, useCpuSet, val } from './helpers';
import type { CountingWorkerData } from './looping-worker';

const LOOPING_WORKER = path.join(__dirname, 'looping-worker.js');

describe('robustness', function () {
  it('terminating workers in the middle of native calls never takes the process down, and frees their CPU', async function () {
    for (let round = 0; round < 10; round++) {
      const cpu = 1 + (round % (TEST_CPUS - 1));
      const worker = new Worker(LOOPING_WORKER, { workerData: { cpu } });
      await new Promise((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      await new Promise((resolve) => setTimeout(resolve, 5 + round * 3));
      assert.equal(await worker.terminate(), 1);
      // The CPU is free again: this thread can take it, and gives it back.
      bind(cpu);
      assert.equal(thisCpu(), cpu);
      unbind();
    }
  });

  it('a worker terminated (or exiting) in the middle of a loop of ops frees its CPU; its slot holds what it reported, the other CPUs\' slots are intact', async function () {
    const before = stats();
    const rounds: [NumericType, 'terminate' | 'exit'][] = [['u64', 'terminate'], ['i32', 'terminate'], ['u8', 'terminate'], ['i16', 'exit'], ['usize', 'terminate'], ['i8', 'exit']];
    for (const [round, [type, how]] of rounds.entries()) {
      const start = ALL_CPUS.map((cpu) => val(type, 5 + 7 * cpu));
      const v = DynamicPerCpu.newFrom(type, (cpu) => start[cpu]!);
      const victim = 1 + (round % (TEST_CPUS - 1));
      const exitAt = 20_000 + 3 * round;
      const workers = ALL_CPUS.slice(1).map((cpu) => {
        const progress = new Int32Array(new SharedArrayBuffer(8));
        const count: CountingWorkerData['count'] = { shared: v.share(), progress: progress.buffer as SharedArrayBuffer, ...(cpu === victim && how === 'exit' ? { exitAt } : {}) };
        const worker = new Worker(LOOPING_WORKER, { workerData: { cpu, count } satisfies CountingWorkerData });
        const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
        return { cpu, worker, progress, exited };
      });
      try {
        await Promise.all(workers.map(({ worker }) => new Promise((resolve, reject) => (worker.once('message', resolve), worker.once('error', reject)))));
        await new Promise((resolve) => setTimeout(resolve, 5 + 4 * round));
        const dead = workers.find((w) => w.cpu === victim)!;
        if (how === 'terminate') assert.equal(await dead.worker.terminate(), 1);
        else assert.equal(await dead.exited, 5);
        // The dead worker's last report is c adds. It was stopped either after its report (the
        // slot is start + c) or between an add and its report (start + c + 1). Nothing else: an
        // add is one instruction, so no add is ever half done, and there is no add after the last
        // report but one. A worker that exits itself after exitAt adds leaves exactly that.
        const reported = Atomics.load(dead.progress, 0);
        const left = v.readRemote(victim);
        const possible = (how === 'exit' ? [exitAt] : [reported, reported + 1]).map((c) => wrap(type, val(type, BigInt(start[victim]!) + BigInt(c))));
        if (how === 'exit') assert.equal(reported, exitAt);
        assert.ok(possible.includes(left), `${type}: CPU ${victim}'s slot is ${left}; it reported ${reported} adds from ${start[victim]}`);
        // The others carry on; stopped at the top of their loop, their slots equal their counts exactly.
        for (const w of workers) if (w !== dead) Atomics.store(w.progress, 1, 1);
        for (const w of workers) if (w !== dead) assert.equal(await w.exited, 0);
        for (const cpu of ALL_CPUS.slice(1)) {
          if (cpu === victim) continue;
          const count = Atomics.load(workers[cpu - 1]!.progress, 0);
          assert.ok(count > 0);
          assert.equal(v.readRemote(cpu), wrap(type, val(type, BigInt(start[cpu]!) + BigInt(count))), `${type}: CPU ${cpu} after ${count} adds`);
        }
        assert.equal(v.readRemote(0), start[0]);
        // Every worker's handle was given back, the dead one's too.
        assert.equal(v.refCount, 1);
        // The dead worker's CPU is free: a new worker binds it and finds the slot as it was left.
        const { reply, exitCode } = await runPlainWorker({ mode: 'bind', cpu: victim, tryFirst: [], shared: v.share(), add: val(type, 1), unbind: true });
        assert.equal(exitCode, 0);
        assert.ok(reply.mode === 'bind');
        assert.equal(reply.bound, null);
        assert.equal(reply.thisCpu, victim);
        assert.equal(reply.mine, left);
        assert.equal(reply.after, wrap(type, val(type, BigInt(left) + 1n)));
      } finally {
        for (const w of workers) await w.worker.terminate();
        v.release();
      }
    }
    assert.deepEqual(stats(), before);
  });

  it('loading the addon again in the same thread (a reset module registry) works', function () {
    // Each load is its own Node-API environment; its cleanup hook must not collide with the first's.
    delete require.cache[addonPath];
    const again = require(addonPath) as typeof native;
    assert.notEqual(again, native);
    assert.equal(again.region()?.cpus, TEST_CPUS);
    assert.deepEqual(again.types.map((t) => t.name), native.types.map((t) => t.name));
  });

  it('a second copy of the addon cannot take GS from under the first, either way round (gs), or leaves generic alone', function () {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'percpu-copy-'));
    const copyPath = path.join(dir, 'percpu.node');
    fs.copyFileSync(addonPath, copyPath);
    const other = require(copyPath) as typeof native;
    other.setup(2, 4096, 'gs', 'the second copy');
    const mine = DynamicPerCpu.newZero('u64');
    try {
      bind(0);
      if (region()!.backend === 'gs') {
        assert.throws(() => other.bind(1), (error: Error & { code?: string }) => error.code === 'ERR_PERCPU_CONFLICT');
        mine.num().add(5n); // GS still points at this copy's CPU 0
        assert.equal(thisCpu(), 0);
        unbind();
        other.bind(1);
        assertThrowsCode(() => bind(0), ConflictError, 'ERR_PERCPU_CONFLICT');
        other.unbind();
      } else {
        // The generic backend never reads GS: the other copy may point it at its own area.
        other.bind(1);
        assert.equal(other.thisCpu(), 1);
        mine.num().add(5n);
        assert.equal(thisCpu(), 0);
        other.unbind();
        unbind();
      }
      assert.deepEqual(mine.values(), [5n, 0n, 0n, 0n]);
    } finally {
      mine.release();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });


  it('two CpuSet.start() at once: one is refused with a ConflictError, the other works on every CPU', async function () {
    const results = await Promise.allSettled([CpuSet.start({ cpus: TEST_CPUS }), CpuSet.start({ cpus: TEST_CPUS })]);
    const opened = results.filter((r): r is PromiseFulfilledResult<CpuSet> => r.status === 'fulfilled');
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    assert.equal(opened.length, 1);
    assert.equal(refused.length, 1);
    assert.ok(refused[0]!.reason instanceof ConflictError);
    const set = opened[0]!.value;
    try {
      assert.equal(thisCpu(), 0);
      assert.deepEqual(await set.onEachCpu(taskOf('whoAmI')), ALL_CPUS);
    } finally {
      await set.close();
    }
    assert.equal(thisCpu(), null);
  });

  describe('on a CpuSet', function () {
    const cpus = useCpuSet();

    it('a task that throws an indescribable value or an uncloneable code rejects with a TaskError, and its CPU lives on', async function () {
      for (const cpu of ALL_CPUS) {
        await assertRejectsCode(() => cpus.set.runOn(cpu, taskOf('throwNullPrototype')), TaskError, 'ERR_PERCPU_TASK_FAILED');
        const error = (await assertRejectsCode(
          () => cpus.set.runOn(cpu, taskOf('throwUncloneableCode')),
          TaskError,
          'ERR_PERCPU_TASK_FAILED',
        )) as TaskError;
        assert.equal(error.cpu, cpu);
        assert.equal((error.cause as Error).message, 'uncloneable code');
        assert.equal(cpus.set.isAlive(cpu), true);
      }
      assert.deepEqual(await cpus.set.onEachCpu(taskOf('whoAmI')), ALL_CPUS);
    });

    it('close() while CPU 0 holds a CpuGuard is a GuardError and leaves the set open', async function () {
      const guard = new CpuGuard();
      try {
        await assertRejectsCode(() => cpus.set.close(), GuardError, 'ERR_PERCPU_GUARD');
        assert.equal(thisCpu(), 0);
        assert.deepEqual(await cpus.set.onEachCpu(taskOf('whoAmI')), ALL_CPUS);
      } finally {
        guard.release();
      }
    });
  });

  it('an error class whose constructor calls back into the addon does not deadlock it', function () {
    const original = Object.getOwnPropertyDescriptor(ConflictError, 'name')!;
    let reentered = 0;
    definePerCpu('robustness.reentry', 'u8', 1);
    Object.defineProperty(ConflictError, 'name', {
      configurable: true,
      get() {
        reentered = stats().liveAllocations; // takes the allocator's lock
        return 'ConflictError';
      },
    });
    try {
      assertThrowsCode(() => definePerCpu('robustness.reentry', 'u8', 2), ConflictError, 'ERR_PERCPU_CONFLICT');
      assert.ok(reentered > 0);
    } finally {
      Object.defineProperty(ConflictError, 'name', original);
    }
  });

  it('static names must be well-formed, without NUL, of 1 to 256 characters; no two names collide', function () {
    const bad = ['', '\uD800', 'a\uDFFFb', '\uDC00\uD800', 'a\u0000b', 'x'.repeat(257)];
    for (const name of bad) {
      assertThrowsCode(() => definePerCpu(name, 'u8', 0), PerCpuTypeError, 'ERR_PERCPU_INVALID_ARG');
      assertThrowsCode(() => getStaticPerCpu(name, 'u8'), PerCpuTypeError, 'ERR_PERCPU_INVALID_ARG');
    }
    const accented = 'é'.repeat(256); // 512 bytes of UTF-8, 256 characters
    const astral = '\u{1F600}'.repeat(128); // surrogate pairs
    assert.equal(definePerCpu(accented, 'u8', 7).readRemote(0), 7);
    assert.equal(definePerCpu(astral, 'u8', 9).readRemote(0), 9);
    assert.equal(getStaticPerCpu(accented, 'u8').offset, definePerCpu(accented, 'u8', 7).offset);
    assert.notEqual(getStaticPerCpu(astral, 'u8').offset, getStaticPerCpu(accented, 'u8').offset);
  });
});
