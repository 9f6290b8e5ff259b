/**
 * Soak: a CpuSet of 4 CPUs (more than this machine's cores, so the OS switches the worker
 * threads in and out mid-loop), one variable of every type, and mixed add/sub (and inc/dec when
 * NUMERIC_OPS lists them) in JS loops on every CPU at once for PERCPU_SOAK_MS milliseconds
 * (default 2000; the time only bounds the loops). Each CPU keeps its own expected values; every
 * slot and every sum must equal them exactly. The operands come from a random seed, printed
 * (PERCPU_SOAK_SEED=n chooses it).
 */
import * as assert from 'node:assert/strict';
import { DynamicPerCpu, NUMERIC_OPS, NUMERIC_TYPES, type NumericType } from '../lib';
import { ALL_CPUS, TEST_CPUS, taskOf, useCpuSet, val } from './helpers';
import { sumOf } from './fuzz/model';

const SOAK_MS = Number(process.env['PERCPU_SOAK_MS'] ?? 2000);

describe(`soak: every type on ${TEST_CPUS} CPUs for ${SOAK_MS} ms`, function () {
  this.timeout(SOAK_MS * 3 + 30_000);
  const cpus = useCpuSet(TEST_CPUS);

  it('each CPU\'s slot and each sum equal what the CPUs computed locally, exactly', async function () {
    // Distinct starting values per CPU and type, so a slot written by the wrong CPU shows.
    const vars = NUMERIC_TYPES.map((type) => DynamicPerCpu.newFrom(type, (cpu) => val(type, 17 * cpu + 3)));
    try {
      const seed = process.env['PERCPU_SOAK_SEED'] !== undefined ? Number(process.env['PERCPU_SOAK_SEED']) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
      const results = await cpus.set.onEachCpu(taskOf('soak'), seed, SOAK_MS, ...vars);
      assert.deepEqual(results.map((r) => r.cpu), ALL_CPUS);
      NUMERIC_TYPES.forEach((type: NumericType, i) => {
        const v = vars[i]!;
        for (const cpu of ALL_CPUS) assert.equal(v.readRemote(cpu), results[cpu]!.expected[i], `${type} on CPU ${cpu} (seed ${seed})`);
        assert.equal(v.sum(), sumOf(type, results.map((r) => BigInt(r.expected[i]!))), `${type}: sum (seed ${seed})`);
      });
      const soaked = NUMERIC_OPS.filter((op) => ['add', 'sub', 'inc', 'dec'].includes(op));
      for (const r of results) {
        assert.ok(r.ops > 0);
        assert.deepEqual(Object.keys(r.byOp), soaked);
      }
      const total = results.reduce((n, r) => n + r.ops, 0);
      console.log(`      seed ${seed}: ${total} ops (${soaked.join('/')}) on ${TEST_CPUS} CPUs in ${SOAK_MS} ms: ${results.map((r) => `CPU ${r.cpu} ${r.ops}`).join(', ')}`);
      for (const v of vars) assert.equal(v.refCount, 1);
    } finally {
      for (const v of vars) v.release();
    }
  });
});
