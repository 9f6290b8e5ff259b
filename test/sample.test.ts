/**
 * The `percpu sample` command: the Rust sample module run on worker-thread CPUs, in a child process.
 */
import * as assert from 'node:assert/strict';
import { fastPath } from '../lib/core/native';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { region } from '../lib';

const ROOT = path.join(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'percpu.js');

/** The lines the sample prints, in this order (as the kernel module's pr_info lines). */
const MILESTONES = [
  'rust percpu test start',
  'rust static percpu test done',
  'rust dynamic percpu test start',
  'rust dynamic percpu test done',
  'rust numeric optimizations test start',
  'rust numeric optimizations test done',
];

describe('percpu sample --cpus 4', function () {
  let result: ReturnType<typeof spawnSync>;
  let lines: string[];

  before(function () {
    assert.ok(fs.existsSync(BIN), `${BIN} does not exist`);
    result = spawnSync(process.execPath, [BIN, 'sample', '--cpus', '4'], { cwd: ROOT, encoding: 'utf8', timeout: 20_000 });
    lines = String(result.stdout).split('\n');
  });

  it('exits with status 0', function () {
    assert.equal(result.error, undefined);
    assert.equal(result.signal, null);
    assert.equal(result.status, 0, `stderr:\n${String(result.stderr)}\nstdout:\n${String(result.stdout)}`);
  });

  it('prints every milestone line of the Rust sample, in order', function () {
    const positions = MILESTONES.map((milestone) => lines.findIndex((line) => line.trim() === milestone));
    MILESTONES.forEach((milestone, i) => assert.ok(positions[i]! >= 0, `missing line: ${milestone}`));
    assert.deepEqual([...positions].sort((a, b) => a - b), positions, 'the milestones are out of order');
  });

  it('prints a per-CPU table with a column for each of the 4 CPUs, and no failure', function () {
    const header = lines.find((line) => /\bCPU 0\b/.test(line));
    assert.ok(header, 'no table header naming CPU 0');
    for (const cpu of [0, 1, 2, 3]) assert.match(header, new RegExp(`\\bCPU ${cpu}\\b`));
    assert.doesNotMatch(header, /\bCPU 4\b/);
    assert.deepEqual(lines.filter((line) => /\bFAIL(ED)?\b/.test(line)), []);
  });

  it('ends with the exact count: 12 static, 4 dynamic and 4 per type x 10 types on each of 4 CPUs, and 4 process-wide checks', function () {
    const perCpu = 12 + 4 + 4 * 10; // the static steps; new_zero (2 rows), new_with, clones dropped; the numeric rows
    assert.equal(perCpu * 4 + 4, 228);
    const info = region()!; // e.g. "gs (auto: GS works here; GS base set with arch_prctl)"
    assert.ok(lines.includes(`percpu sample on 4 CPUs, ${info.backend} (${info.backendReason}): 228 checks passed, 0 failed; num() through ${fastPath.reason}`));
    for (const type of ['u8', 'u16', 'u32', 'u64', 'usize', 'i8', 'i16', 'i32', 'i64', 'isize']) {
      const sub = lines.find((line) => line.startsWith(`${type}: sub 5 `));
      assert.ok(sub, `no row for ${type}: sub 5`);
      assert.deepEqual(sub.split('|').slice(1).map((cell) => cell.trim()), ['16', '16 ok', '16 ok', '16 ok', '16 ok']);
    }
  });
});
