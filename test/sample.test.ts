/**
 * The `percpu sample` command: the Rust sample module run on worker-thread CPUs, in a child process,
 * as text (milestones, the table, the summary; every line within 100 columns) and as --json (every
 * check, exactly).
 */
import * as assert from 'node:assert/strict';
import { fastPath } from '../lib/core/native';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describeBackend, region } from '../lib';
import type { SampleCheck, SampleResult } from '../lib/cli/sample';
import { COLUMNS, unfold } from '../lib/cli/text';

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

const TYPES = ['u8', 'u16', 'u32', 'u64', 'usize', 'i8', 'i16', 'i32', 'i64', 'isize'];

const U64_MAX = '18446744073709551615';

/** Every check the sample makes on `cpus` CPUs, in its order, as --json reports them when all pass. */
export function expectedChecks(cpus: number): SampleCheck[] {
  const everyCpu = (check: string, expected: string): SampleCheck => ({
    check,
    expected,
    perCpu: true,
    actual: Array<string>(cpus).fill(expected),
    ok: Array<boolean>(cpus).fill(true),
  });
  const once = (check: string, expected: string): SampleCheck => ({ check, expected, perCpu: false, actual: [expected], ok: [true] });
  const wrapping = (name: string) => [
    everyCpu(`${name} += 1`, '1'),
    everyCpu(`${name} wrapping_add(-1 as u64)`, '0'),
    everyCpu(`${name} wrapping_add(-1 as u64)`, U64_MAX),
    everyCpu(`${name} wrapping_sub(1)`, U64_MAX),
    everyCpu(`${name} == u64::MAX`, U64_MAX),
  ];
  return [
    everyCpu('PERCPU += -1', '-1'),
    everyCpu('PERCPU += 1', '0'),
    ...wrapping('UPERCPU'),
    ...wrapping('CHECKED'),
    everyCpu('new_zero, 4 x on_each_cpu(inc)', '4'),
    everyCpu('new_zero, remote read', '4'),
    everyCpu('new_with(100), 4 x on_each_cpu(inc)', '104'),
    once('release: refCount with a clone on every CPU', String(cpus + 1)),
    everyCpu('release: clones dropped', 'true'),
    once('release: refCount of the last handle', '1'),
    once('release: allocation freed by the last handle', '3'), // the static tests' three variables stay
    once('release: released handle throws', 'ERR_PERCPU_RELEASED'),
    ...TYPES.flatMap((type) => [
      everyCpu(`${type}: set 10, add 1`, '11'),
      everyCpu(`${type}: add 10`, '21'),
      everyCpu(`${type}: sub 5`, '16'),
      everyCpu(`${type}: remote read`, '16'),
    ]),
  ];
}

function sample(...args: string[]) {
  assert.ok(fs.existsSync(BIN), `${BIN} does not exist`);
  const run = spawnSync(process.execPath, [BIN, 'sample', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 20_000 });
  assert.equal(run.error, undefined);
  assert.equal(run.signal, null);
  assert.equal(run.status, 0, `stderr:\n${run.stderr}\nstdout:\n${run.stdout}`);
  assert.equal(run.stderr, '');
  return run.stdout;
}

describe('percpu sample --cpus 4', function () {
  let stdout: string;
  let lines: string[];

  before(function () {
    stdout = sample('--cpus', '4');
    lines = stdout.split('\n');
  });

  it('exits with status 0, every line within 100 columns', function () {
    assert.deepEqual(lines.filter((line) => line.length > COLUMNS), []);
  });

  it('prints every milestone line of the Rust sample, in order', function () {
    const positions = MILESTONES.map((milestone) => lines.findIndex((line) => line.trim() === milestone));
    MILESTONES.forEach((milestone, i) => assert.ok(positions[i]! >= 0, `missing line: ${milestone}`));
    assert.deepEqual([...positions].sort((a, b) => a - b), positions, 'the milestones are out of order');
  });

  it('prints one table row per check: its expected value and where it held, and no failure', function () {
    const header = lines.findIndex((line) => /^check +expected +result$/.test(line));
    assert.ok(header >= 0, 'no table header');
    assert.match(lines[header + 1]!, /^-+ {2}-+ {2}-+$/);
    const rows = lines.slice(header + 2, lines.indexOf('', header)).map((line) => line.split(/ {2,}/));
    assert.deepEqual(
      rows,
      expectedChecks(4).map((c) => [c.check, c.expected, c.perCpu ? 'ok on CPUs 0-3' : 'ok (once)']),
    );
    assert.deepEqual(lines.filter((line) => /\bFAIL(ED)?\b/.test(line)), []);
  });

  it('ends with the backend, num()\'s path, and the exact count: 56 checks on each of 4 CPUs and 4 made once', function () {
    // The table's own rows: checks made on each CPU, and checks made once.
    const results = lines.slice(lines.findIndex((line) => /^check +expected +result$/.test(line)) + 2).map((line) => line.split(/ {2,}/)[2]);
    const perCpu = results.filter((result) => result === 'ok on CPUs 0-3').length;
    const once = results.filter((result) => result === 'ok (once)').length;
    assert.deepEqual([perCpu, once], [56, 4]);
    assert.equal(perCpu * 4 + once, 228);
    const info = region()!; // e.g. "gs (auto: GS works here; GS base set with arch_prctl)"
    const summary = unfold(stdout.trimEnd().split('\n\n').at(-1)!); // a folded line joined again
    assert.deepEqual(summary.split('\n'), [
      `backend: ${describeBackend(info)}`,
      `num() through: ${fastPath.reason}`,
      `percpu sample on 4 CPUs, ${info.backend}: 228 checks passed, 0 failed`,
    ]);
  });
});

describe('percpu sample --json', function () {
  for (const cpus of [1, 3]) {
    it(`on ${cpus} CPU(s): one JSON document on stdout, every check exact`, function () {
      const stdout = sample('--cpus', String(cpus), '--json');
      assert.equal(stdout.split('\n').length, 2, 'one line and its newline');
      const info = region()!;
      const perCpu = 56;
      assert.deepEqual(JSON.parse(stdout) as SampleResult, {
        cpus,
        backend: info.backend,
        backendReason: info.backendReason,
        numPath: fastPath.reason,
        passed: perCpu * cpus + 4,
        failed: 0,
        checks: expectedChecks(cpus),
      } satisfies SampleResult);
    });
  }
});
