/**
 * examples/piscina: a piscina pool's workers claim CPUs (claimCpu) and count per CPU; the main
 * thread, no CPU, reads exact sums; the pool's end gives every CPU back.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { thisCpu } from '../lib';
import { countWithPool, everyCpuFree } from '../examples/piscina/main';
import { ALL_CPUS, TEST_CPUS, taskOf, withCpuSet } from './helpers';

const ROOT = path.join(__dirname, '..', '..');

describe('examples/piscina', function () {
  it('docs/tasks.md shows the example\'s files as they are', function () {
    const doc = fs.readFileSync(path.join(ROOT, 'docs', 'tasks.md'), 'utf8');
    const shown = [...doc.matchAll(/^```\S* [^\n]*\bsource=(\S+)[^\n]*\n([\s\S]*?)^```$/gm)].map(([, file, text]) => [file!, text!]);
    assert.deepEqual(shown.map(([file]) => file), ['examples/piscina/worker.ts', 'examples/piscina/main.ts']);
    for (const [file, text] of shown) assert.equal(text, fs.readFileSync(path.join(ROOT, file), 'utf8'), `docs/tasks.md shows another ${file}`);
  });

  it(`a pool of ${TEST_CPUS} workers runs 200 jobs of 1000 increments: sums exact, each CPU's count its jobs' increments, every CPU free after`, async function () {
    const counted = await countWithPool(TEST_CPUS, 200, 1000);
    assert.equal(counted.cpus.length, 200);
    assert.ok(counted.cpus.every((cpu) => ALL_CPUS.includes(cpu)), counted.cpus.join());
    assert.equal(counted.requests, 200_000n);
    assert.equal(counted.jobs, 200);
    assert.deepEqual(counted.byCpu, ALL_CPUS.map((cpu) => 1000n * BigInt(counted.cpus.filter((c) => c === cpu).length)));
    assert.equal(thisCpu(), null);
    assert.equal(everyCpuFree(TEST_CPUS), true);
    await withCpuSet(TEST_CPUS, async (set) => assert.deepEqual(await set.onEachCpu(taskOf('whoAmI')), ALL_CPUS));
  });

  it('runs as a program and prints exact counts', function () {
    const run = spawnSync(process.execPath, [path.join(__dirname, '..', 'examples', 'piscina', 'main.js'), '4', '120'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(run.stdout.trimEnd().split('\n'), [
      '4 workers ran 120 jobs of 1000 increments',
      'requests.sum() = 120000, jobs counted = 120',
      "each CPU's count = 1000 x the jobs it ran: true",
      'every CPU free after pool.destroy(): true',
    ]);
  });
});
