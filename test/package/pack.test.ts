/**
 * The package as a user gets it (`npm run test:package`, the last step of `npm test`): `npm pack`
 * (whose prepack makes the prebuilt binaries), then the tarball installed in empty projects and
 * used from there by `import`, by `require` and by its bin:
 * - on a PATH with no C++ compiler, no make and no python, with --ignore-scripts: the prebuilt
 *   binaries alone run the sample on 4 CPUs on gs, with the accelerator for this Node;
 * - with npm's install scripts: nothing is compiled where a prebuilt binary matches;
 * - with the prebuilt binaries removed: `npm rebuild` compiles the binding with node-gyp.
 */
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { unfold } from '../../lib/cli/text';

const ROOT = path.join(__dirname, '..', '..', '..');

/** The environment for npm and node in the temporary project: not this package's npm run. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of Object.keys(env)) {
    if (key.startsWith('npm_') || key === 'PERCPU_ADDON' || key === 'INIT_CWD') delete env[key];
  }
  // nodedir and the registry come from the user's npmrc, as they would for a user.
  return env;
}

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = cleanEnv()): string {
  const result = spawnSync(command, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited with ${result.status ?? result.signal}\n${result.stdout}\n${result.stderr}`);
  }
  return result.stdout;
}

interface PackResult {
  filename: string;
  size: number;
  unpackedSize: number;
  entryCount: number;
  files: { path: string }[];
}

/** A task module in the user's project, in CommonJS. */
const TASKS_CJS = `'use strict';
const { thisCpu } = require('percpu');
exports.addHere = (counter, amount) => {
  counter.num().add(amount);
  return thisCpu();
};
`;

/** The same task module as an ES module. */
const TASKS_MJS = `import { thisCpu } from 'percpu';
export function addHere(counter, amount) {
  counter.num().add(amount);
  return thisCpu();
}
`;

const MAIN_CJS = `'use strict';
const { CpuSet, DynamicPerCpu, task } = require('percpu');
(async () => {
  const cpus = await CpuSet.start({ cpus: 2 });
  const counter = DynamicPerCpu.newZero('u64');
  const cpu = await cpus.runOn(1, task(require.resolve('./tasks.cjs'), 'addHere'), counter, 41n);
  console.log(JSON.stringify({
    entry: require.resolve('percpu'),
    cpu,
    values: counter.values().map(String),
    sum: String(counter.sum()),
  }));
  counter.release();
  await cpus.close();
})().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
`;

const MAIN_MJS = `import { createRequire } from 'node:module';
import { CpuSet, DynamicPerCpu, task } from 'percpu';
const cpus = await CpuSet.start({ cpus: 2 });
const counter = DynamicPerCpu.newZero('u32');
const cpu = await cpus.runOn(1, task(new URL('./tasks.mjs', import.meta.url), 'addHere'), counter, 7);
console.log(JSON.stringify({
  entry: import.meta.resolve('percpu'),
  sameAsRequire: createRequire(import.meta.url)('percpu').DynamicPerCpu === DynamicPerCpu,
  cpu,
  values: counter.values(),
  sum: counter.sum(),
}));
counter.release();
await cpus.close();
`;

/**
 * A PATH with node, npm, npx and a shell only: no C++ compiler, no make, no python (what a slim
 * container or a CI image without build tools has).
 */
function bareBin(dir: string): string {
  fs.mkdirSync(dir);
  const which = (name: string) => execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();
  for (const tool of ['node', 'npm', 'npx', 'sh']) fs.symlinkSync(fs.realpathSync(which(tool)), path.join(dir, tool));
  return dir;
}

/** The ELF machine of a shared object: 62 is x86-64, 183 is AArch64. */
function elfMachine(file: string): number {
  const header = fs.readFileSync(file).subarray(0, 20);
  assert.equal(header.toString('latin1', 1, 4), 'ELF', `${file} is not an ELF file`);
  return header.readUInt16LE(18);
}

/** Makes an empty project with the task and main files. */
function makeProject(dir: string): string {
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'percpu-user', version: '1.0.0', private: true }, null, 2));
  fs.writeFileSync(path.join(dir, 'tasks.cjs'), TASKS_CJS);
  fs.writeFileSync(path.join(dir, 'tasks.mjs'), TASKS_MJS);
  fs.writeFileSync(path.join(dir, 'main.cjs'), MAIN_CJS);
  fs.writeFileSync(path.join(dir, 'main.mjs'), MAIN_MJS);
  return dir;
}

/** `percpu sample`'s last lines: backend (and why), num()'s path, and the counts, each unfolded into one line. */
const SAMPLE_SUMMARY = /^backend: (gs|generic) \(.*\)\nnum\(\) through: (.*)\npercpu sample on (\d+) CPUs, \1: (\d+) checks passed, 0 failed$/;

function sampleSummary(stdout: string): RegExpExecArray | null {
  return SAMPLE_SUMMARY.exec(unfold(stdout.trimEnd().split('\n\n').at(-1)!));
}

describe('the packed package, installed in empty projects (npm run test:package)', function () {
  this.timeout(600_000);
  let tmp: string;
  let pack: PackResult;
  let tarball: string;
  let files: string[];

  before(function () {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'percpu-pack-'));
    // npm pack runs prepare (tsc) and prepack (the prebuilt binaries) first, as in a fresh clone.
    const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', tmp], ROOT)) as PackResult[];
    assert.equal(packed.length, 1);
    pack = packed[0]!;
    tarball = path.join(tmp, pack.filename);
    files = pack.files.map((f) => f.path);
    console.log(`      ${pack.filename}: ${pack.size} bytes packed, ${pack.unpackedSize} unpacked, ${pack.entryCount} files`);
    for (const file of pack.files as (PackResult['files'][number] & { size?: number })[]) {
      if (file.path.endsWith('.node')) console.log(`        ${file.path} (${file.size} bytes)`);
    }
  });

  after(function () {
    if (tmp !== undefined) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("the tarball holds the built library, the prebuilt binaries, the sources and build files, the bin, README and LICENSE", function () {
    const listed = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' })
      .split('\n')
      .filter((line) => line !== '' && !line.endsWith('/'))
      .map((line) => line.replace(/^package\//, ''));
    assert.deepEqual([...listed].sort(), [...files].sort());
    assert.equal(pack.entryCount, files.length);
    const abis = Object.values(require(path.join(ROOT, 'scripts', 'node-lines.json')) as Record<string, string>)
      .filter((v) => /^\d/.test(v))
      .map((version) => ({ '20': 115, '22': 127, '24': 137 })[version.split('.')[0] as '20' | '22' | '24']);
    assert.equal(abis.length, 3);
    const prebuilt = [
      'prebuilds/linux-x64/percpu.glibc.node',
      'prebuilds/linux-arm64/percpu.glibc.node',
      'native/sim/prebuilds/linux-x64/percpu_sim.glibc.node',
      'native/sim/prebuilds/linux-arm64/percpu_sim.glibc.node',
      ...abis.map((abi) => `native/accel/prebuilds/linux-x64/percpu_accel.abi${abi}.node`),
    ];
    assert.deepEqual(files.filter((f) => f.endsWith('.node')).sort(), [...prebuilt].sort());
    for (const needed of [
      'package.json',
      'README.md',
      'LICENSE',
      'binding.gyp',
      'CMakeLists.txt',
      'native/common.gypi',
      'native/accel/binding.gyp',
      'native/sim/binding.gyp',
      'bin/percpu.js',
      'scripts/install.js',
      'scripts/build-native.js',
      'dist/lib/index.js',
      'dist/lib/index.d.ts',
      'dist/lib/index.mjs',
      'dist/lib/index.d.mts',
      'dist/lib/cpus/worker.js',
    ]) {
      assert.ok(files.includes(needed), `the tarball lacks ${needed}`);
    }
    // Every source of the binding, the accelerator and the simulator, for the compile fallback; no bench.
    const sources = ['core', 'binding', 'accel', 'sim'].flatMap((dir) =>
      fs.readdirSync(path.join(ROOT, 'native', dir)).filter((f) => /\.(cc|h|gyp)$/.test(f)).map((f) => `native/${dir}/${f}`),
    );
    assert.deepEqual(files.filter((f) => f.startsWith('native/') && !f.endsWith('.node')).sort(), [...sources, 'native/common.gypi'].sort());
    const unwanted = files.filter(
      (f) => /^(test|bench|examples|\.ci|build|build-cmake|docs|node_modules|\.node-lines|dist\/(test|bench|examples))\//.test(f) || /\/build\//.test(f) || f.endsWith('.map') || f.endsWith('.sources-sha256'),
    );
    assert.deepEqual(unwanted, []);
  });

  it('the prebuilt binaries are for their platforms: x86-64 and AArch64 ELF, the binding Node-API only', function () {
    const dir = path.join(tmp, 'unpacked');
    fs.mkdirSync(dir);
    execFileSync('tar', ['-xzf', tarball, '-C', dir]);
    const at = (file: string) => path.join(dir, 'package', file);
    for (const file of files.filter((f) => f.endsWith('.node'))) {
      assert.equal(elfMachine(at(file)), file.includes('linux-arm64') ? 183 : 62, file);
    }
    // The binding imports nothing of V8's or of node.h's C++ API (their symbols are mangled C++).
    for (const file of ['prebuilds/linux-x64/percpu.glibc.node', 'prebuilds/linux-arm64/percpu.glibc.node']) {
      const undefinedSymbols = execFileSync('nm', ['-D', '--undefined-only', at(file)], { encoding: 'utf8' });
      assert.deepEqual(undefinedSymbols.split('\n').filter((line) => /\b_ZN(2v8|4node)/.test(line)), [], file);
      assert.match(undefinedSymbols, /\bnapi_create_function\b/);
    }
  });

  it('dist/lib in the tarball is exactly the compiled lib/ (nothing stale)', function () {
    const sources = fs
      .readdirSync(path.join(ROOT, 'lib'), { recursive: true, encoding: 'utf8' })
      .flatMap((f) => {
        const m = /^(.*)\.(ts|mts)$/.exec(f);
        if (m === null) return [];
        return m[2] === 'ts' ? [`dist/lib/${m[1]}.js`, `dist/lib/${m[1]}.d.ts`] : [`dist/lib/${m[1]}.mjs`, `dist/lib/${m[1]}.d.mts`];
      })
      .sort();
    assert.deepEqual(files.filter((f) => f.startsWith('dist/')).sort(), sources);
  });

  describe('on a PATH with no compiler, installed with --ignore-scripts', function () {
    let project: string;
    let env: NodeJS.ProcessEnv;

    before(function () {
      env = { ...cleanEnv(), PATH: bareBin(path.join(tmp, 'bare-bin')) };
      for (const tool of ['c++', 'g++', 'gcc', 'cc', 'make', 'python3']) {
        assert.notEqual(spawnSync('sh', ['-c', `command -v ${tool}`], { env }).status, 0, `${tool} is on the bare PATH`);
      }
      project = makeProject(path.join(tmp, 'no-compiler'));
      run('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', tarball], project, env);
    });

    it('npx percpu sample --cpus 4 passes on gs, from the prebuilt binding and this Node\'s prebuilt accelerator', function () {
      const result = spawnSync('npx', ['percpu', 'sample', '--cpus', '4', '--backend', 'gs'], { cwd: project, env, encoding: 'utf8' });
      assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`);
      const match = sampleSummary(result.stdout);
      assert.ok(match, result.stdout.slice(-400));
      console.log(`      ${match[0].split('\n').join('\n      ')}`);
      assert.deepEqual([match[3], match[1], match[4]], ['4', 'gs', '228']);
      assert.equal(match[2], `the accelerator for Node ${process.versions.node} (ABI ${process.versions.modules}, V8 ${process.versions.v8.replace(/-.*/, '')})`);
      const installed = path.join(project, 'node_modules', 'percpu');
      for (const built of ['build', 'native/accel/build', 'native/sim/build']) assert.ok(!fs.existsSync(path.join(installed, built)), built);
    });

    it("require('percpu') from a .cjs file: a task adds 41n on CPU 1", function () {
      const out = JSON.parse(run('node', ['main.cjs'], project, env)) as unknown;
      const installed = fs.realpathSync(path.join(project, 'node_modules', 'percpu'));
      assert.deepEqual(out, { entry: path.join(installed, 'dist', 'lib', 'index.js'), cpu: 1, values: ['0', '41'], sum: '41' });
    });
  });

  describe('installed with its install scripts', function () {
    let project: string;
    let installed: string;

    before(function () {
      project = makeProject(path.join(tmp, 'project'));
      run('npm', ['install', '--no-audit', '--no-fund', tarball], project);
      installed = path.join(project, 'node_modules', 'percpu');
    });

    it('compiled nothing: a prebuilt binary matched the binding, the simulator and the accelerator', function () {
      for (const built of ['build', 'native/accel/build', 'native/sim/build']) assert.ok(!fs.existsSync(path.join(installed, built)), built);
    });

    it("require('percpu') from a .cjs file: a task adds 41n on CPU 1", function () {
      const out = JSON.parse(run(process.execPath, ['main.cjs'], project)) as unknown;
      assert.deepEqual(out, { entry: path.join(fs.realpathSync(installed), 'dist', 'lib', 'index.js'), cpu: 1, values: ['0', '41'], sum: '41' });
    });

    it("import from 'percpu' in a .mjs file: a task adds 7 on CPU 1, with the same classes as require()", function () {
      const out = JSON.parse(run(process.execPath, ['main.mjs'], project)) as unknown;
      const entry = new URL(`file://${path.join(fs.realpathSync(installed), 'dist', 'lib', 'index.mjs')}`).href;
      assert.deepEqual(out, { entry, sameAsRequire: true, cpu: 1, values: [0, 7], sum: 7 });
    });

    it('percpu/metrics by require and by import, with its optional peer prom-client not installed', function () {
      assert.ok(!fs.existsSync(path.join(project, 'node_modules', 'prom-client')), 'npm installed the optional peer prom-client');
      const cjs =
        "const { CpuSet } = require('percpu'); const { PerCpuCounter } = require('percpu/metrics');" +
        "CpuSet.start({ cpus: 2 }).then(async (cpus) => { const c = new PerCpuCounter({ name: 'installed_total', help: 'h' });" +
        'c.inc(7n); process.stdout.write(c.toPrometheus()); await cpus.close(); });';
      assert.equal(run(process.execPath, ['-e', cjs], project), '# HELP installed_total h\n# TYPE installed_total counter\ninstalled_total 7\n');
      const esm =
        "import { createRequire } from 'node:module'; import { PerCpuCounter } from 'percpu/metrics';" +
        "console.log(PerCpuCounter === createRequire(import.meta.url)('percpu/metrics').PerCpuCounter);";
      assert.equal(run(process.execPath, ['--input-type=module', '-e', esm], project), 'true\n');
    });

    it('with the prebuilt binaries gone (a platform without one), npm rebuild compiles the binding with node-gyp', function () {
      fs.rmSync(path.join(installed, 'prebuilds'), { recursive: true });
      run('npm', ['rebuild', 'percpu'], project);
      assert.ok(fs.statSync(path.join(installed, 'build', 'Release', 'percpu.node')).isFile());
      const result = spawnSync('npx', ['percpu', 'sample', '--cpus', '2'], { cwd: project, env: cleanEnv(), encoding: 'utf8' });
      assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`);
      assert.ok(sampleSummary(result.stdout), result.stdout.slice(-400));
    });
  });
});
