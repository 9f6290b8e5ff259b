#!/usr/bin/env node
// npm run test:node-matrix: percpu on each Node line of scripts/node-lines.json (20, 22, 24).
//   1. The behaviour suite (mocha, both backends) under each line's node, with the binding built
//      once (build/Release: Node-API, so one build serves every line) and each line's own
//      accelerator (the prebuilt one for its ABI, stripped). Then, under the same node, the
//      disassembly test (test/disassembly.test.ts) against that accelerator built again, unstripped,
//      in a scratch copy (its symbols name the callbacks; its build ID must be the prebuilt one's):
//      the fast C functions that optimized code calls on V8 12.4 and later (Node 22, 24) are each
//      one gs-relative instruction too.
//   2. The cross-version check (test/matrix/cross-version.test.ts): the binding built under each
//      line's headers runs under every line; an accelerator built for one line is refused under the
//      others, with the Node-API path taking over. Real builds, no mocks.
// Prints the matrix: Node line x build x backend -> pass / FAIL / refused by Node (Node-API took
// over), with the seconds of each suite and disassembly run.
//   node scripts/test-node-matrix.js [--lines 20,22,24] [--suite-lines 22,24] [--suite full|core] [--skip-suite]
// --suite-lines limits step 1 (CI runs the default line's suite in npm test already); --suite core
// runs the sample, ops, numeric, fuzz, exports and pair tests of the suite instead of all of it (a
// shorter CI); the disassembly runs either way.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { nodeLine, LINES } = require('./node-lines');

const ROOT = path.join(__dirname, '..');
const { values } = parseArgs({
  options: {
    lines: { type: 'string', default: LINES.join(',') },
    'suite-lines': { type: 'string' },
    'skip-suite': { type: 'boolean', default: false },
    suite: { type: 'string', default: 'full' },
  },
});
const lines = values.lines.split(',').map((major) => nodeLine(major.trim()));
const suiteLines = values['skip-suite'] ? [] : (values['suite-lines'] ?? values.lines).split(',').map((m) => m.trim());
const CORE_FILES = ['sample', 'ops', 'numeric', 'fuzz', 'exports', 'pair'].map((name) => `dist/test/${name}.test.js`);
if (!['full', 'core'].includes(values.suite)) {
  console.error(`test:node-matrix: --suite is full or core, not '${values.suite}'`);
  process.exit(2);
}

function step(title) {
  process.stderr.write(`\n== ${title}\n`);
}

function run(command, args, options = {}) {
  const started = Date.now();
  const result = spawnSync(command, args, { cwd: ROOT, stdio: 'inherit', ...options });
  return { ok: result.status === 0, seconds: (Date.now() - started) / 1000 };
}

function nodeGyp() {
  const file = process.env.npm_config_node_gyp ??
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  return [process.execPath, file];
}

/** The accelerator built, unstripped, for `line` in a scratch copy of native/: its path. */
function acceleratorBuiltFor(line, into) {
  const dir = path.join(into, `accel-node${line.major}`);
  fs.cpSync(path.join(ROOT, 'native'), path.join(dir, 'native'), { recursive: true, filter: (s) => !/[/\\](build|prebuilds)$/.test(s) });
  fs.cpSync(path.join(ROOT, 'scripts', 'build-native.js'), path.join(dir, 'scripts', 'build-native.js'));
  if (!run(process.execPath, [path.join(dir, 'scripts', 'build-native.js'), '--quiet', '--nodedir', line.nodedir, 'accel']).ok) {
    throw new Error(`test:node-matrix: building the accelerator for Node ${line.version} failed`);
  }
  return path.join(dir, 'native', 'accel', 'build', 'Release', 'percpu_accel.node');
}

/** The GNU build ID of an ELF file (kept by strip: equal IDs, the same code), or null. */
function buildId(file) {
  const notes = spawnSync('readelf', ['-n', file], { encoding: 'utf8' });
  return /Build ID: ([0-9a-f]+)/.exec(notes.stdout ?? '')?.[1] ?? null;
}

/** The prebuilt (stripped) accelerator for `line`'s ABI, which the package ships. */
const prebuiltAccelerator = (line) => path.join(ROOT, 'native', 'accel', 'prebuilds', 'linux-x64', `percpu_accel.abi${line.abi}.node`);

/** The binding compiled against `line`'s headers, in a scratch copy: its path. */
function bindingBuiltUnder(line, into) {
  const dir = path.join(into, `binding-node${line.major}`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'binding.gyp'), path.join(dir, 'binding.gyp'));
  fs.cpSync(path.join(ROOT, 'native'), path.join(dir, 'native'), { recursive: true, filter: (s) => !/[/\\](build|prebuilds)$/.test(s) });
  const [command, script] = nodeGyp();
  const result = spawnSync(command, [script, 'rebuild', `--nodedir=${line.nodedir}`, '--loglevel=warn'], { cwd: dir, stdio: 'inherit' });
  if (result.status !== 0) throw new Error(`test:node-matrix: building the binding under Node ${line.version} failed`);
  return path.join(dir, 'build', 'Release', 'percpu.node');
}

const begun = Date.now();
const matrix = [];
let failed = false;

step('prebuilt binaries (one accelerator per Node ABI)');
if (!run(process.execPath, [path.join(__dirname, 'prebuild.js')]).ok) process.exit(1);

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'percpu-matrix-'));
try {
  const mocha = path.join(ROOT, 'node_modules', 'mocha', 'bin', 'mocha.js');
  // --spec would add to .mocharc.json's spec: the core suite and the disassembly name their files without the config.
  const bare = ['--no-config', '--require', 'dist/test/setup.js', '--timeout', '30000'];
  for (const major of suiteLines) {
    const line = lines.find((l) => l.major === major) ?? nodeLine(major);
    for (const backend of ['gs', 'generic']) {
      step(`the ${values.suite} behaviour suite under Node ${line.version} on ${backend}`);
      // The prebuilt accelerators are stripped: the disassembly runs below, on an unstripped build.
      const files = values.suite === 'core' ? [...bare, ...CORE_FILES] : [];
      const { ok, seconds } = run(line.node, [mocha, '--reporter', 'dot', '--ignore', 'dist/test/disassembly.test.js', ...files], {
        env: { ...process.env, PERCPU_BACKEND: backend },
      });
      const suite = values.suite === 'core' ? 'core suite (sample, ops, numeric, fuzz, exports, pair)' : 'suite';
      matrix.push({ line: line.version, build: `${suite}: binding build/Release + its own accelerator`, backend, outcome: ok ? 'pass' : 'FAIL', seconds });
      failed ||= !ok;
    }
    step(`the disassembly under Node ${line.version}: the binding and an unstripped accelerator built for it`);
    const started = Date.now();
    let ok = false;
    try {
      const accelerator = acceleratorBuiltFor(line, scratch);
      // The same code as the prebuilt one that the suite ran and the package ships, less its symbols.
      const [built, shipped] = [buildId(accelerator), buildId(prebuiltAccelerator(line))];
      if (built === null || built !== shipped) {
        throw new Error(`test:node-matrix: the accelerator built for Node ${line.version} (build ID ${built}) is not the prebuilt one (${shipped})`);
      }
      // The callbacks are the same code on either backend: the gs run checks both (as npm test does).
      ok = run(line.node, [mocha, ...bare, '--reporter', 'dot', 'dist/test/disassembly.test.js'], {
        env: { ...process.env, PERCPU_BACKEND: 'gs', PERCPU_ACCEL: accelerator },
      }).ok;
    } catch (error) {
      process.stderr.write(`${error.message}\n`);
    }
    const seconds = (Date.now() - started) / 1000;
    matrix.push({ line: line.version, build: 'disassembly: binding build/Release + its accelerator, built unstripped', backend: 'both', outcome: ok ? 'pass' : 'FAIL', seconds });
    failed ||= !ok;
  }

  step('the cross-version check');
  const bindings = Object.fromEntries(lines.map((line) => [line.major, bindingBuiltUnder(line, scratch)]));
  const accelerators = Object.fromEntries(lines.map((line) => [line.major, prebuiltAccelerator(line)]));
  const results = path.join(scratch, 'results.json');
  const config = { lines, bindings, accelerators, results };
  const { ok } = run(process.execPath, [mocha, '--config', 'test/matrix/mocharc.cjs'], {
    env: { ...process.env, PERCPU_MATRIX: JSON.stringify(config) },
  });
  failed ||= !ok;
  if (fs.existsSync(results)) matrix.push(...JSON.parse(fs.readFileSync(results, 'utf8')));
} finally {
  fs.rmSync(scratch, { recursive: true, force: true });
}

const header = ['Node line', 'build', 'backend', 'outcome', 'seconds'];
const rows = matrix.map((m) => [m.line, m.build, m.backend, m.outcome, m.seconds === undefined ? '' : m.seconds.toFixed(1)]);
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
const format = (cells) => `| ${cells.map((c, i) => String(c).padEnd(widths[i])).join(' | ')} |`;
console.log(['', format(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(format)].join('\n'));
console.log(`${failed ? '\ntest:node-matrix: FAILED' : '\ntest:node-matrix: every line passed'} (${((Date.now() - begun) / 1000).toFixed(0)} s)`);
process.exit(failed ? 1 : 0);
