/**
 * claimCpu() and releaseCpu(): threads that no CpuSet started (plain Workers here; a piscina pool
 * in test/piscina.test.ts) become CPUs, and give them back when they release them or end.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { bind, claimCpu, definePerCpu, releaseCpu, thisCpu, unbind } from '../lib';
import { ALL_CPUS, TEST_CPUS, taskOf, withCpuSet } from './helpers';
import type { ClaimReply, ClaimRequest } from './claim-worker';

const CLAIM_WORKER = path.join(__dirname, 'claim-worker.js');

/** A plain Worker driven one request at a time. */
class Claimer {
  readonly worker = new Worker(CLAIM_WORKER);
  readonly exited = once(this.worker, 'exit');

  async ask(request: ClaimRequest): Promise<ClaimReply> {
    const reply = once(this.worker, 'message');
    this.worker.postMessage(request);
    return (await reply)[0] as ClaimReply;
  }

  async end(): Promise<void> {
    this.worker.postMessage({ do: 'end' } satisfies ClaimRequest);
    await this.exited;
  }
}

const errorName = (reply: ClaimReply) => reply.error && `${reply.error.name} ${String(reply.error.code)} ${reply.error.isNamedClass}`;

describe('claimCpu() and releaseCpu(): existing threads as CPUs', function () {
  it('each thread claims a free CPU (the lowest), keeps it when it claims again, and counts there; one thread too many is a CpuTakenError', async function () {
    const claimers = ALL_CPUS.map(() => new Claimer());
    const extra = new Claimer();
    const name = 'claim.test.counter';
    const counter = definePerCpu(name, 'u64', 0n);
    const before = counter.values();
    try {
      const claimed: number[] = [];
      for (const claimer of claimers) {
        const reply = await claimer.ask({ do: 'claim' });
        assert.equal(reply.error, null);
        assert.equal(reply.cpu, reply.thisCpu);
        claimed.push(reply.cpu!);
      }
      assert.deepEqual(claimed, [0, 1, 2, 3]); // one after another: each the lowest free one
      assert.deepEqual(await claimers[2]!.ask({ do: 'claim' }), { cpu: 2, error: null, thisCpu: 2 });
      const none = await extra.ask({ do: 'claim' });
      assert.equal(errorName(none), 'CpuTakenError ERR_PERCPU_CPU_TAKEN true');
      assert.equal(none.error!.message, `every CPU of the region (${TEST_CPUS}) is taken: no CPU left for this thread`);
      assert.equal(none.thisCpu, null);
      for (const [cpu, claimer] of claimers.entries()) {
        assert.deepEqual(await claimer.ask({ do: 'add', name, amount: BigInt(cpu + 1) * 10n }), { cpu, error: null, thisCpu: cpu });
      }
      assert.deepEqual(counter.values(), before.map((value, cpu) => value + BigInt(cpu + 1) * 10n));

      // A release gives the CPU to the next claim; a thread that ends gives its CPU back too.
      assert.deepEqual(await claimers[1]!.ask({ do: 'release' }), { cpu: 1, error: null, thisCpu: null });
      assert.deepEqual(await claimers[1]!.ask({ do: 'release' }), { cpu: null, error: null, thisCpu: null });
      assert.deepEqual(await extra.ask({ do: 'claim' }), { cpu: 1, error: null, thisCpu: 1 });
      await claimers[3]!.end();
      assert.deepEqual(await claimers[1]!.ask({ do: 'claim' }), { cpu: 3, error: null, thisCpu: 3 });

      // A CpuGuard held: releaseCpu() is a GuardError and the thread keeps its CPU.
      const guarded = await claimers[0]!.ask({ do: 'releaseInGuard' });
      assert.equal(errorName(guarded), 'GuardError ERR_PERCPU_GUARD true');
      assert.equal(guarded.thisCpu, 0);
    } finally {
      await Promise.all([...claimers, extra].map((c) => c.end()));
    }
    // Every thread ended: every CPU is free.
    await withCpuSet(TEST_CPUS, async (set) => assert.deepEqual(await set.onEachCpu(taskOf('whoAmI')), ALL_CPUS));
  });

  it('on this thread: claimCpu() binds the lowest free CPU, releaseCpu() gives it back; without a region, claimCpu() is a NotSetUpError', function () {
    bind(0);
    try {
      assert.equal(claimCpu(), 0); // already bound: its CPU
    } finally {
      unbind();
    }
    assert.equal(claimCpu(), 0);
    assert.equal(thisCpu(), 0);
    assert.equal(releaseCpu(), 0);
    assert.equal(releaseCpu(), null);
    assert.equal(thisCpu(), null);
    const fresh = spawnSync(process.execPath, ['-e', `try { require(${JSON.stringify(require.resolve('../lib'))}).claimCpu() } catch (e) { console.log(e.name, e.code, e.message) }`], {
      encoding: 'utf8',
    });
    assert.equal(fresh.stdout, 'NotSetUpError ERR_PERCPU_NOT_SET_UP claimCpu() needs the per-CPU region: call setup() (or CpuSet.start()) on the main thread first\n');
  });
});
