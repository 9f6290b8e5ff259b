#!/usr/bin/env node
// npm run test:node-matrix: percpu on each Node line of scripts/node-lines.json (20, 22, 24).
//   1. The behaviour suite (mocha, both backends) under each line's node, with the binding built
//      once (build/Release: Node-API, so one build serves every line) and each line's own
//      accelerator (the prebuilt one for its ABI). The disassembly file stays on the default Node.
//   2. The cross-version check (test/matrix/cross-version.test.ts): the binding built under each
//      line's headers runs under every line; an accelerator built for one line is refused under the
//      others, with the Node-API path taking over. Real builds, no mocks.
// Prints the matrix: Node line x build x backend -> pass / fell back / refused.
//   node scripts/test-node-matrix.js [--lines 20,22,24] [--suite-lines 22,24] [--suite full|core] [--skip-suite]
// --suite-lines limits step 1 (CI runs the default line's suite in npm test already); --suite core
// runs the sample, op, fuzz and export tests of the suite instead of all of it (a shorter CI).
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

const matrix = [];
let failed = false;

step('prebuilt binaries (one accelerator per Node ABI)');
if (!run(process.execPath, [path.join(__dirname, 'prebuild.js')]).ok) process.exit(1);

for (const major of suiteLines) {
  const line = lines.find((l) => l.major === major) ?? nodeLine(major);
  for (const backend of ['gs', 'generic']) {
    step(`the ${values.suite} behaviour suite under Node ${line.version} on ${backend}`);
    const mocha = path.join(ROOT, 'node_modules', 'mocha', 'bin', 'mocha.js');
    // --spec would add to .mocharc.json's spec: the core suite names its files without the config.
    const files = values.suite === 'core' ? ['--no-config', '--require', 'dist/test/setup.js', '--timeout', '30000', ...CORE_FILES] : [];
    const { ok, seconds } = run(line.node, [mocha, '--reporter', 'dot', '--ignore', 'dist/test/disassembly.test.js', ...files], {
      env: { ...process.env, PERCPU_BACKEND: backend },
    });
    const suite = values.suite === 'core' ? 'core suite (sample, ops, numeric, fuzz, exports, pair)' : 'suite';
    matrix.push({ line: line.version, build: `${suite}: binding build/Release + its own accelerator`, backend, outcome: ok ? 'pass' : 'FAIL', seconds });
    failed ||= !ok;
  }
}

step('the cross-version check');
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'percpu-matrix-'));
try {
  const bindings = Object.fromEntries(lines.map((line) => [line.major, bindingBuiltUnder(line, scratch)]));
  const accelerators = Object.fromEntries(
    lines.map((line) => [line.major, path.join(ROOT, 'native', 'accel', 'prebuilds', 'linux-x64', `percpu_accel.abi${line.abi}.node`)]),
  );
  const results = path.join(scratch, 'results.json');
  const config = { lines, bindings, accelerators, results };
  const { ok } = run(process.execPath, [path.join(ROOT, 'node_modules', 'mocha', 'bin', 'mocha.js'), '--config', 'test/matrix/mocharc.cjs'], {
    env: { ...process.env, PERCPU_MATRIX: JSON.stringify(config) },
  });
  failed ||= !ok;
  if (fs.existsSync(results)) matrix.push(...JSON.parse(fs.readFileSync(results, 'utf8')));
} finally {
  fs.rmSync(scratch, { recursive: true, force: true });
}

const header = ['Node line', 'build', 'backend', 'outcome'];
const rows = matrix.map((m) => [m.line, m.build, m.backend, m.outcome]);
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
const format = (cells) => `| ${cells.map((c, i) => String(c).padEnd(widths[i])).join(' | ')} |`;
console.log(['', format(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(format)].join('\n'));
console.log(failed ? '\ntest:node-matrix: FAILED' : '\ntest:node-matrix: every line passed');
process.exit(failed ? 1 : 0);
