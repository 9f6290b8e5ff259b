/**
 * The package as a user gets it (`npm run test:package`, the last step of `npm test`): `npm pack`,
 * then `npm install <tarball>` in an empty project (which builds the addon from the shipped sources
 * with node-gyp), then percpu used from there by `import`, by `require` and by its bin.
 */
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

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

function run(command: string, args: string[], cwd: string): string {
  const result = spawnSync(command, args, { cwd, env: cleanEnv(), encoding: 'utf8', maxBuffer: 64 << 20 });
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

describe('the packed package, installed in an empty project (npm run test:package)', function () {
  this.timeout(600_000);
  let tmp: string;
  let pack: PackResult;
  let tarball: string;
  let project: string;
  let installed: string;

  before(function () {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'percpu-pack-'));
    // npm pack runs the prepare script (tsc) first, as in a fresh clone.
    const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', tmp], ROOT)) as PackResult[];
    assert.equal(packed.length, 1);
    pack = packed[0]!;
    tarball = path.join(tmp, pack.filename);
    console.log(`      ${pack.filename}: ${pack.size} bytes packed, ${pack.unpackedSize} unpacked, ${pack.entryCount} files`);
    for (const file of pack.files) console.log(`        ${file.path}`);

    project = path.join(tmp, 'project');
    fs.mkdirSync(project);
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'percpu-user', version: '1.0.0', private: true }, null, 2));
    run('npm', ['install', '--no-audit', '--no-fund', tarball], project);
    installed = path.join(project, 'node_modules', 'percpu');
    fs.writeFileSync(path.join(project, 'tasks.cjs'), TASKS_CJS);
    fs.writeFileSync(path.join(project, 'tasks.mjs'), TASKS_MJS);
    fs.writeFileSync(path.join(project, 'main.cjs'), MAIN_CJS);
    fs.writeFileSync(path.join(project, 'main.mjs'), MAIN_MJS);
  });

  after(function () {
    if (tmp !== undefined) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("the tarball holds the built library, the addon's sources and build files, the bin, README and LICENSE", function () {
    const files = pack.files.map((f) => f.path);
    const listed = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' })
      .split('\n')
      .filter((line) => line !== '' && !line.endsWith('/'))
      .map((line) => line.replace(/^package\//, ''));
    assert.deepEqual([...listed].sort(), [...files].sort());
    assert.equal(pack.entryCount, files.length);
    for (const needed of [
      'package.json',
      'README.md',
      'LICENSE',
      'binding.gyp',
      'CMakeLists.txt',
      'bin/percpu.js',
      'dist/lib/index.js',
      'dist/lib/index.d.ts',
      'dist/lib/index.mjs',
      'dist/lib/index.d.mts',
      'dist/lib/worker.js',
      'native/addon.cc',
    ]) {
      assert.ok(files.includes(needed), `the tarball lacks ${needed}`);
    }
    const nativeSources = fs.readdirSync(path.join(ROOT, 'native')).map((f) => `native/${f}`);
    assert.deepEqual(files.filter((f) => f.startsWith('native/')).sort(), nativeSources.sort());
    const unwanted = files.filter((f) => /^(test|bench|examples|\.ci|build|build-cmake|docs|node_modules|dist\/(test|bench|examples))\//.test(f) || f.endsWith('.map'));
    assert.deepEqual(unwanted, []);
  });

  it('dist/lib in the tarball is exactly the compiled lib/ (nothing stale)', function () {
    const sources = fs
      .readdirSync(path.join(ROOT, 'lib'))
      .flatMap((f) => {
        const m = /^(.*)\.(ts|mts)$/.exec(f);
        if (m === null) return [];
        return m[2] === 'ts' ? [`dist/lib/${m[1]}.js`, `dist/lib/${m[1]}.d.ts`] : [`dist/lib/${m[1]}.mjs`, `dist/lib/${m[1]}.d.mts`];
      })
      .sort();
    assert.deepEqual(pack.files.map((f) => f.path).filter((f) => f.startsWith('dist/')).sort(), sources);
  });

  it('npm install built the addon in the project', function () {
    assert.ok(fs.statSync(path.join(installed, 'build', 'Release', 'percpu.node')).isFile());
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

  it('npx percpu sample --cpus 2 passes every check', function () {
    const result = spawnSync('npx', ['percpu', 'sample', '--cpus', '2'], { cwd: project, env: cleanEnv(), encoding: 'utf8' });
    assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout, /^percpu sample on 2 CPUs, .*: \d+ checks passed, 0 failed$/m);
    console.log(`      ${result.stdout.trim().split('\n').at(-1)}`);
  });
});
