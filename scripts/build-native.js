#!/usr/bin/env node
// Builds percpu's native modules with node-gyp, each from its own .gyp:
//   binding .             percpu.node       the binding (installing builds it with node-gyp-build;
//                                           `npm test` rebuilds it here when its sources changed)
//   sim    native/sim    percpu_sim.node   the race demo's loops (shipped, prebuilt too)
//   accel  native/accel  percpu_accel.node the V8 fast path, for the Node that runs this script
//   bench  native/bench  percpu_bench.node the benchmark loops, and percpu_bench_fast.node the V8
//                                           fast-call floor (per Node ABI); npm test, npm run bench;
//                                           never shipped
//   fixture test/fixtures/foreign-wrap  foreign_wrap.node  another addon's wrapped objects (npm test only)
// Usage: node scripts/build-native.js [--if-possible] [--quiet] [--rebuild] [--nodedir DIR] MODULE...
// The build is incremental (configure once, then `node-gyp build`) unless --rebuild. With
// --if-possible a failed build prints one line and exits 0 (install time: the binding is all a
// user needs; without a compiler the accelerator and the loops are simply absent).
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');

const ROOT = path.join(__dirname, '..');
const MODULES = { binding: '.', sim: 'native/sim', accel: 'native/accel', bench: 'native/bench', fixture: 'test/fixtures/foreign-wrap' };

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    'if-possible': { type: 'boolean', default: false },
    quiet: { type: 'boolean', default: false },
    rebuild: { type: 'boolean', default: false },
    nodedir: { type: 'string' },
  },
});

/** node-gyp as npm runs it (npm_config_node_gyp), else npm's own copy, else `node-gyp` on PATH. */
function nodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  for (const file of candidates) if (file && fs.existsSync(file)) return [process.execPath, file];
  return ['node-gyp'];
}

/** The running node's own prefix when it has its headers (include/node), as npm's nodedir would be. */
function ownHeaders() {
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  return fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? prefix : undefined;
}

function run(dir, args) {
  const [command, ...prefix] = nodeGyp();
  const nodedir = values.nodedir ?? process.env.npm_config_nodedir ?? ownHeaders();
  const extra = nodedir ? [`--nodedir=${nodedir}`] : [];
  const result = spawnSync(command, [...prefix, ...args, ...extra], {
    cwd: dir,
    // node-gyp prefers npm's npm_config_nodedir (set under npm run) to --nodedir: keep them one.
    env: nodedir ? { ...process.env, npm_config_nodedir: nodedir } : process.env,
    stdio: values.quiet || values['if-possible'] ? 'pipe' : 'inherit',
    encoding: 'utf8',
  });
  if (result.status === 0) return null;
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  const error = output.split('\n').find((line) => /error/i.test(line) && !/gyp ERR! (cwd|node -v|node-gyp -v|not ok|System|command)/.test(line));
  return (error ?? result.error?.message ?? `node-gyp exited with ${result.status}`).trim();
}

if (positionals.length === 0) {
  console.error(`usage: build-native.js [--if-possible] [--quiet] [--rebuild] [--nodedir DIR] ${Object.keys(MODULES).join('|')}...`);
  process.exit(2);
}
let failed = false;
for (const name of positionals) {
  const relative = MODULES[name];
  if (relative === undefined) {
    console.error(`build-native.js: unknown module '${name}' (known: ${Object.keys(MODULES).join(', ')})`);
    process.exit(2);
  }
  const dir = path.join(ROOT, relative);
  const configured = fs.existsSync(path.join(dir, 'build', 'Makefile'));
  const why = values.rebuild || !configured ? run(dir, ['rebuild']) : run(dir, ['build']);
  if (why === null) continue;
  if (!values['if-possible']) {
    console.error(`percpu: building ${relative} failed: ${why}`);
    failed = true;
  } else if (name === 'accel') {
    console.error(`percpu: the V8 fast path (${relative}) was not built (${why}); num() will use Node-API.`);
  } else {
    console.error(`percpu: ${relative} was not built (${why}).`);
  }
}
process.exit(failed ? 1 : 0);
