/**
 * Tasks in TypeScript under tsx, as a user's project runs them: `npx tsx main.ts` and
 * `node --import tsx main.ts`, in an ES module project (import.meta.url) and a CommonJS one
 * (require.resolve), on every Node line (scripts/node-lines.js). Worker CPUs load the .ts task
 * modules (and the .ts modules they import) through tsx as the main thread does: on Node 20 a
 * worker does not register tsx from the inherited `--import tsx`, so CpuSet registers it there.
 * Each project is type-checked with tsc first.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { planTsx } from '../lib/cpus/typescript';

const ROOT = path.join(__dirname, '..', '..');
const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'tsx');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { nodeLine, LINES } = require(path.join(ROOT, 'scripts', 'node-lines.js')) as {
  nodeLine(major: string): { version: string; node: string };
  LINES: string[];
};

/** A project folder as npm would make it: its files, and percpu, tsx and @types in node_modules. */
function project(kind: 'esm' | 'cjs'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `percpu-tsx-${kind}-`));
  fs.cpSync(path.join(FIXTURES, kind), dir, { recursive: true });
  fs.mkdirSync(path.join(dir, 'node_modules', '.bin'), { recursive: true });
  fs.symlinkSync(ROOT, path.join(dir, 'node_modules', 'percpu'));
  fs.symlinkSync(path.join(ROOT, 'node_modules', 'tsx'), path.join(dir, 'node_modules', 'tsx'));
  fs.symlinkSync(path.join(ROOT, 'node_modules', '@types'), path.join(dir, 'node_modules', '@types'));
  fs.symlinkSync('../tsx/dist/cli.mjs', path.join(dir, 'node_modules', '.bin', 'tsx'));
  return dir;
}

/** Runs `command` in `dir` with `node` first on the PATH (and this run's PERCPU_BACKEND); its stdout lines, after checking it exited 0. */
function run(dir: string, node: string, command: string[]): string[] {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${path.dirname(node)}:${process.env['PATH']}` };
  delete env['NODE_OPTIONS'];
  const [file, ...args] = command;
  const result = spawnSync(file === 'node' ? node : file!, args, { cwd: dir, env, encoding: 'utf8', timeout: 60_000 });
  assert.equal(result.status, 0, `${command.join(' ')} under ${node} exited with ${result.status ?? result.signal}:\n${result.stdout}\n${result.stderr}`);
  return result.stdout.trimEnd().split('\n');
}

const COUNTED = ['mainThread true: cpu0 cpu1: 100 hits', 'mainThread false: cpu0 cpu1: 100 hits'];

describe('tasks in TypeScript under tsx, on every Node line', function () {
  this.timeout(180_000);
  const dirs = { esm: '', cjs: '' };

  before(function () {
    dirs.esm = project('esm');
    dirs.cjs = project('cjs');
  });

  after(function () {
    for (const dir of Object.values(dirs)) if (dir !== '') fs.rmSync(dir, { recursive: true, force: true });
  });

  it('both projects type-check: task names and arguments are checked against the modules\' exports', function () {
    for (const dir of Object.values(dirs)) {
      const tsc = spawnSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], { encoding: 'utf8' });
      assert.equal(tsc.status, 0, `tsc in ${dir}:\n${tsc.stdout}${tsc.stderr}`);
    }
  });

  it('workers given execArgv [] load no tsx: a .ts task fails on them with a PerCpuTypeError that says what to do', function () {
    assert.deepEqual(run(dirs.esm, process.execPath, ['npx', 'tsx', 'no-loader.ts']), [
      'TaskError on CPU 0: PerCpuTypeError',
      `this thread cannot load the TypeScript task module ${pathToFileURL(path.join(fs.realpathSync(dirs.esm), 'tasks.js')).href}. ` +
        'Run the program under tsx (npx tsx main.ts, or node --import tsx main.ts): CpuSet then loads tsx in each worker CPU. ' +
        'Or compile the tasks to JavaScript and name the .js file',
    ]);
  });

  it('finds tsx in execArgv as npx tsx and node --import tsx pass it, and takes it out of the workers\' flags', function () {
    const loader = pathToFileURL(path.join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
    const preflight = path.join(ROOT, 'node_modules', 'tsx', 'dist', 'preflight.cjs');
    const tsx = {
      esm: pathToFileURL(path.join(ROOT, 'node_modules', 'tsx', 'dist', 'esm', 'api', 'index.mjs')).href,
      cjs: path.join(ROOT, 'node_modules', 'tsx', 'dist', 'cjs', 'api', 'index.cjs'),
    };
    assert.deepEqual(planTsx(['--require', preflight, '--import', loader]), { execArgv: ['--require', preflight], tsx });
    assert.deepEqual(planTsx([`--import=${loader}`, '--no-warnings']), { execArgv: ['--no-warnings'], tsx });
    const cwd = process.cwd();
    process.chdir(ROOT); // a bare `tsx` resolves from the working directory, as Node resolves --import
    try {
      assert.deepEqual(planTsx(['--import', 'tsx']), { execArgv: [], tsx });
      assert.deepEqual(planTsx(['--loader', 'tsx/esm', '--import', 'tsx']), { execArgv: [], tsx });
    } finally {
      process.chdir(cwd);
    }
    assert.equal(planTsx(['--import', 'other', '--require', 'tsx/cjs']), null);
    assert.equal(planTsx([]), null);
    process.chdir(os.tmpdir()); // no tsx to be found from here: the flags stay as they are
    try {
      assert.equal(planTsx(['--import', 'tsx']), null);
    } finally {
      process.chdir(cwd);
    }
  });

  for (const major of LINES) {
    it(`Node ${major}: npx tsx main.ts and node --import tsx main.ts (ES module), npx tsx main.ts (CommonJS), with the main thread in the set and out; the main module refused`, function () {
      const { node, version } = nodeLine(major);
      assert.equal(run(dirs.esm, node, ['node', '--version'])[0], `v${version}`);
      assert.deepEqual(run(dirs.esm, node, ['npx', 'tsx', 'main.ts']), COUNTED);
      assert.deepEqual(run(dirs.esm, node, ['node', '--import', 'tsx', 'main.ts']), COUNTED);
      assert.deepEqual(run(dirs.cjs, node, ['npx', 'tsx', 'main.ts']), COUNTED);
      assert.deepEqual(run(dirs.esm, node, ['node', '--import', 'tsx', 'self.ts']), ['PerCpuTypeError: refused']);
    });
  }
});
