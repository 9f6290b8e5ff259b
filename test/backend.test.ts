/**
 * The two backends: which one runs and why, that each really takes its own path, and how a
 * backend is chosen (option, PERCPU_BACKEND, auto, fallback under a seccomp filter that refuses
 * arch_prctl). `npm test` runs the whole suite once per backend; the child processes here each
 * set up their own region, so they check every choice in both runs.
 */
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BACKENDS, DynamicPerCpu, describeBackend, region } from '../lib';
import { native } from '../lib/core/native';
import { unfold } from '../lib/cli/text';
import { ALL_CPUS, TEST_CPUS, taskOf, useCpuSet } from './helpers';

const ROOT = path.join(__dirname, '..', '..');
const LIB = path.join(ROOT, 'dist', 'lib');
const BIN = path.join(ROOT, 'bin', 'percpu.js');

/** The last lines `percpu sample` prints (backend, num()'s path, counts), each unfolded into one. */
const sampleSummary = (stdout: string) => unfold(stdout.trimEnd().split('\n\n').at(-1)!).split('\n');

describe('backends: the active one', function () {
  const cpus = useCpuSet();

  it('is the one PERCPU_BACKEND asked for (gs when unset, on Linux x86-64), with its reason in one line', function () {
    const info = region()!;
    const asked = process.env['PERCPU_BACKEND'];
    assert.deepEqual(BACKENDS, ['gs', 'generic']);
    assert.equal(info.fellBack, false);
    if (asked === 'generic') {
      assert.equal(info.backend, 'generic');
      assert.equal(info.backendReason, 'requested by PERCPU_BACKEND=generic');
      assert.equal(info.gsMethod, null);
    } else {
      assert.equal(info.backend, 'gs');
      const who = asked === 'gs' ? 'requested by PERCPU_BACKEND=gs' : 'auto: GS works here';
      assert.equal(info.backendReason, `${who}; GS base set with ${native.gsMethod}`);
      assert.equal(info.gsMethod, native.gsMethod);
    }
    assert.doesNotMatch(describeBackend(info), /\n/);
  });

  it('reaches each CPU\'s own area: through GS bases one area apart (gs), or with every GS base left at zero (generic)', async function () {
    using v = DynamicPerCpu.newZero('u32');
    const seen = await cpus.set.onEachCpu(taskOf('backendProbe'), v);
    assert.deepEqual(seen.map((s) => s.cpu), ALL_CPUS);
    for (const s of seen) assert.deepEqual(s.steps, [10, 11, 21, 16]);
    assert.deepEqual(v.values(), Array(TEST_CPUS).fill(16));
    const info = region()!;
    if (info.backend === 'gs') {
      const stride = BigInt(info.areaSize + 4096); // each area is followed by one guard page
      assert.deepEqual(seen.map((s) => s.gsBase! - seen[0]!.gsBase!), ALL_CPUS.map((cpu) => BigInt(cpu) * stride));
      assert.notEqual(seen[0]!.gsBase, 0n);
    } else {
      // Nothing set GS, yet every op found its CPU's slot: the generic path never uses it.
      assert.deepEqual(seen.map((s) => s.gsBase), Array(TEST_CPUS).fill(0n));
    }
  });
});

/** Runs `code` in a new node process (optionally under deny-gs) and parses the JSON it prints. */
function inChild(code: string, env: Record<string, string | undefined> = {}, denyGs?: string): unknown {
  const argv = [process.execPath, '-e', `const p = require(${JSON.stringify(LIB)});\n${code}`];
  const [file, ...args] = denyGs === undefined ? argv : [denyGs, ...argv];
  const childEnv = { ...process.env, PERCPU_BACKEND: undefined, ...env };
  const out = execFileSync(file!, args, { env: childEnv, encoding: 'utf8' });
  return JSON.parse(out);
}

// Prints the region after set-up, or the error set-up threw.
const SETUP_REPORT = `
const report = (f) => { try { const r = f(); return r; } catch (e) { return { error: e.name, code: e.code, message: e.message }; } };`;

describe('backends: choosing one (child processes)', function () {
  this.timeout(60_000);
  let denyGs = '';

  before(function () {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'percpu-deny-gs-'));
    denyGs = path.join(dir, 'deny-gs');
    execFileSync(process.env['CC'] ?? 'cc', ['-O2', '-o', denyGs, path.join(ROOT, 'test', 'fixtures', 'deny-gs.c')]);
  });

  after(function () {
    fs.rmSync(path.dirname(denyGs), { recursive: true, force: true });
  });

  it('PERCPU_BACKEND=generic runs the sample sequence on 2 CPUs with GS untouched', function () {
    const result = inChild(
      `(async () => {
        const set = await p.CpuSet.start({ cpus: 2 });
        const v = p.DynamicPerCpu.newZero('i64');
        v.num().add(7n); v.num().sub(2n);
        const info = p.region();
        console.log(JSON.stringify({ backend: info.backend, reason: info.backendReason, fellBack: info.fellBack,
          gsMethod: info.gsMethod, values: v.values().map(String), gsBase: String(require(${JSON.stringify(path.join(LIB, 'core', 'native'))}).native.gsBase()) }));
        await set.close();
      })();`,
      { PERCPU_BACKEND: 'generic' },
    );
    assert.deepEqual(result, {
      backend: 'generic',
      reason: 'requested by PERCPU_BACKEND=generic',
      fellBack: false,
      gsMethod: null,
      values: ['5', '0'],
      gsBase: '0',
    });
  });

  it('an option at set-up wins over PERCPU_BACKEND; auto and no option keep the region\'s backend; another is a ConflictError', function () {
    const result = inChild(
      `${SETUP_REPORT}
      const first = report(() => p.setup({ cpus: 2, backend: 'gs' }));
      const again = report(() => p.setup({ cpus: 2 }).backend);
      const auto = report(() => p.setup({ cpus: 2, backend: 'auto' }).backend);
      const other = report(() => p.setup({ cpus: 2, backend: 'generic' }));
      console.log(JSON.stringify({ first: [first.backend, first.backendReason], again, auto, other: [other.error, other.code] }));`,
      { PERCPU_BACKEND: 'generic' },
    );
    assert.deepEqual(result, {
      first: ['gs', `requested by setup({ backend: 'gs' }); GS base set with ${native.gsMethod}`],
      again: 'gs',
      auto: 'gs',
      other: ['ConflictError', 'ERR_PERCPU_CONFLICT'],
    });
  });

  it('a PERCPU_BACKEND that names no backend is a PerCpuTypeError, and no region is made', function () {
    const result = inChild(
      `${SETUP_REPORT}
      console.log(JSON.stringify({ thrown: report(() => p.setup({ cpus: 2 })), region: p.region() }));`,
      { PERCPU_BACKEND: 'fast' },
    );
    assert.deepEqual(result, {
      thrown: { error: 'PerCpuTypeError', code: 'ERR_PERCPU_INVALID_ARG', message: "backend must be 'auto', 'gs' or 'generic'" },
      region: null,
    });
  });

  it('where a seccomp filter refuses arch_prctl: auto falls back to generic and says why; asking for gs is a BackendUnavailableError', function () {
    const result = inChild(
      `${SETUP_REPORT}
      const auto = report(() => p.setup({ cpus: 2 }));
      console.log(JSON.stringify({ auto }));`,
      {},
      denyGs,
    );
    const gs = inChild(`${SETUP_REPORT}\nconsole.log(JSON.stringify(report(() => p.setup({ cpus: 2, backend: 'gs' }))));`, {}, denyGs);
    if (native.gsMethod === 'wrgsbase') {
      // wrgsbase needs no system call, so the filter cannot stop it: gs works either way.
      assert.equal((result as { auto: { backend: string } }).auto.backend, 'gs');
      assert.equal((gs as { backend: string }).backend, 'gs');
      return;
    }
    const why = 'cannot read the GS base with arch_prctl(ARCH_GET_GS): Operation not permitted';
    assert.deepEqual(result, {
      auto: { cpus: 2, areaSize: 65536, backend: 'generic', backendReason: `auto fell back from gs: ${why}`, fellBack: true, gsMethod: null },
    });
    assert.deepEqual(gs, {
      error: 'BackendUnavailableError',
      code: 'ERR_PERCPU_BACKEND_UNAVAILABLE',
      message: `the gs backend was requested by setup({ backend: 'gs' }) but cannot work here: ${why}`,
    });
  });

  it('the sample runs under that filter and prints the backend that ran', function () {
    const run = spawnSync(denyGs, [process.execPath, BIN, 'sample', '--cpus', '2'], {
      env: { ...process.env, PERCPU_BACKEND: undefined },
      encoding: 'utf8',
    });
    assert.equal(run.status, 0, run.stderr);
    const [backend, reason] = native.gsMethod === 'wrgsbase'
      ? ['gs', 'auto: GS works here; GS base set with wrgsbase']
      : ['generic', 'auto fell back from gs: cannot read the GS base with arch_prctl(ARCH_GET_GS): Operation not permitted'];
    const [backendLine, , last] = sampleSummary(run.stdout);
    assert.equal(backendLine, `backend: ${backend} (${reason})`);
    assert.equal(last, `percpu sample on 2 CPUs, ${backend}: 116 checks passed, 0 failed`);
  });

  it('percpu sample --backend generic and --backend gs each print the backend that ran', function () {
    for (const backend of ['generic', 'gs']) {
      const run = spawnSync(process.execPath, [BIN, 'sample', '--cpus', '2', '--backend', backend], {
        env: { ...process.env, PERCPU_BACKEND: undefined },
        encoding: 'utf8',
      });
      assert.equal(run.status, 0, run.stderr);
      const reason = backend === 'gs' ? `requested by setup({ backend: 'gs' }); GS base set with ${native.gsMethod}` : "requested by setup({ backend: 'generic' })";
      const [backendLine, , last] = sampleSummary(run.stdout);
      assert.equal(backendLine, `backend: ${backend} (${reason})`);
      assert.equal(last, `percpu sample on 2 CPUs, ${backend}: 116 checks passed, 0 failed`);
    }
    const bad = spawnSync(process.execPath, [BIN, 'sample', '--backend', 'fast'], { encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.equal(bad.stderr, "percpu sample: --backend takes auto, gs or generic, not 'fast'; see 'percpu sample --help'\n");
  });
});

describe('the loader', function () {
  it('says what it tried and what to do when the addon cannot load', function () {
    const run = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(LIB)})`], {
      env: { ...process.env, PERCPU_ADDON: '/nonexistent/percpu.node' },
      encoding: 'utf8',
    });
    assert.notEqual(run.status, 0);
    assert.match(
      run.stderr,
      /Error: percpu could not load its native binding from \/nonexistent\/percpu\.node \(from PERCPU_ADDON\): Cannot find module '\/nonexistent\/percpu\.node'\nTo build it again run `npm rebuild percpu`/,
    );
  });
});
