/**
 * The fuzzer (test/fuzz/): seeded random sequences of API calls from the main thread and worker
 * threads, each checked against a plain model, in a CHILD PROCESS so that a crash is seen as a
 * crash. Every listed op of NUMERIC_OPS is fuzzed, so new ops are fuzzed as soon as they land.
 *
 * By default two seeds run: 1 (the same calls every time) and a random one; each test's title
 * names its seed. Options (environment):
 *   PERCPU_FUZZ_SEED=n      run only seed n (to reproduce a failure)
 *   PERCPU_FUZZ_CALLS=n     calls in all, split across the seeds and threads (default 120000)
 *   PERCPU_FUZZ_THREADS=n   fuzzing threads per child: the main thread and n - 1 workers (default 3)
 * Issue 13's classes run among the rest: receivers percpu did not make (another addon's wrapped
 * object, a second copy of the binding's handles, either way round), calls that must throw checked
 * to change nothing, and results built while hostile setters on Object.prototype and
 * Array.prototype (./fuzz/hostile) stand ready to call back into percpu; none may run inside a call.
 * A model mismatch makes the child print the seed and the shortest failing sequence it found; a
 * crash (a signal, an abnormal exit) makes this test shrink the calls by rerunning them alone in
 * fresh child processes, and print the shortest sequence that still crashes.
 */
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { NUMERIC_OPS, fastPath } from '../lib';
import { RECEIVERS, THROWING, type Call } from './fuzz/calls';
import { EXIT_MISMATCH, threadCalls, type ChildOptions, type Summary } from './fuzz/child';
import { opModel } from './fuzz/model';
import { shrink } from './fuzz/shrink';

const CHILD = path.join(__dirname, 'fuzz', 'child.js');
const TOTAL_CALLS = Number(process.env['PERCPU_FUZZ_CALLS'] ?? 120_000);
const THREADS = Number(process.env['PERCPU_FUZZ_THREADS'] ?? 3);
const SEEDS = process.env['PERCPU_FUZZ_SEED'] !== undefined ? [Number(process.env['PERCPU_FUZZ_SEED']) >>> 0] : [1, (Math.random() * 2 ** 32) >>> 0];
const CALLS_PER_THREAD = Math.ceil(TOTAL_CALLS / SEEDS.length / THREADS);
/** A child that runs longer than this is taken to hang. */
const HANG_MS = 10 * 60_000;

interface ChildRun {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function runChild(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), HANG_MS);
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
  });
}

/** Whether `calls`, run alone as thread `thread` in a fresh child, crash it (a signal or an abnormal exit). */
function crashesAlone(calls: Call[], thread: number, file: string, trace = false): { crashed: boolean; stderr: string } {
  fs.writeFileSync(file, JSON.stringify(calls));
  const args = [CHILD, '--replay', file, '--thread', String(thread), '--threads', String(THREADS), ...(trace ? ['--trace'] : [])];
  const run = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 << 20 });
  return { crashed: run.status === null || (run.status !== 0 && run.status !== EXIT_MISMATCH), stderr: run.stderr };
}

/** After a crash: finds a thread whose calls crash alone, and shrinks them. */
async function diagnoseCrash(options: ChildOptions): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'percpu-fuzz-crash-'));
  for (let thread = 0; thread < options.threads; thread++) {
    const file = path.join(dir, `thread${thread}.json`);
    const calls = threadCalls(options, thread);
    if (!crashesAlone(calls, thread, file).crashed) continue;
    const shrunk = await shrink(calls, (candidate) => crashesAlone(candidate, thread, file).crashed, { tests: 200, deadline: Date.now() + 180_000 });
    const { stderr } = crashesAlone(shrunk.items, thread, file, true);
    return [
      `thread ${thread}'s calls crash on their own; the shortest crashing sequence found has ${shrunk.items.length} calls (${shrunk.tests} runs${shrunk.complete ? '' : ', budget ran out'}), saved in ${file}:`,
      `  node ${path.relative(process.cwd(), CHILD)} --replay ${file} --thread ${thread} --threads ${options.threads} --trace`,
      'its trace, up to the crash:',
      ...stderr.trimEnd().split('\n').slice(-60).map((line) => `    ${line}`),
    ].join('\n');
  }
  return 'no thread\'s calls crash on their own: the crash needs threads together; rerun the seed';
}

describe('fuzzer (in a child process)', function () {
  this.timeout(HANG_MS + 5 * 60_000);
  let executed = 0;

  before(function () {
    for (const op of NUMERIC_OPS) opModel(op); // a listed op without a model is named here, not as a child's crash
  });

  for (const [index, seed] of SEEDS.entries()) {
    // The second seed runs with the accelerator off: num()'s ops are then the binding's Node-API callbacks.
    const accelOff = index === 1;
    const path_ = accelOff ? ' (accelerator off: PERCPU_FAST=0)' : '';
    it(`seed ${seed}${path_}: ${CALLS_PER_THREAD * THREADS} random calls from ${THREADS} threads, each as the model predicts, every op of NUMERIC_OPS, sentinels intact`, async function () {
      const options: ChildOptions = { seed, calls: CALLS_PER_THREAD, threads: THREADS };
      const env = accelOff ? { ...process.env, PERCPU_FAST: '0' } : process.env;
      const run = await runChild(['--seed', String(seed), '--calls', String(CALLS_PER_THREAD), '--threads', String(THREADS)], env);
      if (run.signal !== null || (run.status !== 0 && run.status !== EXIT_MISMATCH)) {
        const diagnosis = await diagnoseCrash(options);
        assert.fail(`the fuzz child CRASHED with seed ${seed} (status ${run.status}, signal ${run.signal}):\n${run.stderr.slice(-8000)}\n${diagnosis}`);
      }
      assert.equal(run.status, 0, `the fuzz child found a mismatch with seed ${seed}:\n${run.stderr}`);
      const summary = JSON.parse(run.stdout.trim().split('\n').pop()!) as Summary;
      assert.equal(summary.seed, seed);
      if (accelOff) assert.equal(summary.numPath, 'Node-API (PERCPU_FAST=0)');
      else assert.equal(summary.numPath, fastPath.reason);
      assert.deepEqual(summary.ops, [...NUMERIC_OPS]);
      for (const op of NUMERIC_OPS) assert.ok((summary.byKind[`op ${op}`] ?? 0) > 0, `op ${op} was never called`);
      if (NUMERIC_OPS.includes('cmpxchg' as never)) assert.ok((summary.byKind['cmpxchg swapped'] ?? 0) > 0, 'no cmpxchg ever swapped');
      for (const kind of ['alloc', 'release', 'clone', 'share', 'revive', 'readRemote', 'writeRemote', 'values', 'sum', 'token', 'bind', 'unbind', 'static', 'forge', 'guard', 'receiver', 'throwing', 'result']) {
        assert.ok((summary.byKind[kind] ?? 0) > 0, `no ${kind} call was made`);
      }
      // Issue 13's classes, each one reached: every kind of foreign receiver, every call that must throw.
      for (const kind of RECEIVERS) assert.ok((summary.byKind[`receiver: ${kind}`] ?? 0) > 0, `no call of a ${kind}`);
      for (const kind of THROWING) assert.ok((summary.byKind[`throwing: ${kind}`] ?? 0) > 0, `no call that must throw: ${kind}`);
      assert.ok(summary.setterNames > 0 && summary.setterRuns > 0, 'the hostile prototype setters were not armed');
      // Nearly every generated call runs (a few find nothing to act on); implicit releases add some.
      assert.ok(summary.executed >= 0.95 * CALLS_PER_THREAD * THREADS, `only ${summary.executed} calls ran`);
      executed += summary.executed;
      console.log(`      seed ${seed}: ${summary.executed} calls, ${summary.rejected} rejected as the model expected (${Object.entries(summary.errors).map(([name, n]) => `${name} ${n}`).join(', ')}); ${summary.sentinels} sentinels intact`);
      console.log(`      seed ${seed}: foreign receivers ${summary.byKind['receiver']}, calls that must throw and change nothing ${summary.byKind['throwing']}, results built under ${summary.setterNames} hostile prototype setters ${summary.byKind['result']} (the setters ran ${summary.setterRuns} times, never inside a percpu call)`);
    });
  }

  it(`ran at least ${Math.floor(0.95 * TOTAL_CALLS)} calls in all`, function () {
    assert.ok(executed >= 0.95 * TOTAL_CALLS, `${executed} calls`);
  });
});
