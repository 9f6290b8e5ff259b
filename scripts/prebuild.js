#!/usr/bin/env node
// Makes the prebuilt binaries the npm package ships (npm's prepack runs it), with prebuildify and
// node-gyp, in a scratch copy of the sources so that the development builds stay as they are:
//   prebuilds/linux-x64/percpu.glibc.node                 the binding (Node-API: every Node line)
//   prebuilds/linux-arm64/percpu.glibc.node               the same, cross-compiled (generic backend)
//   native/sim/prebuilds/linux-{x64,arm64}/percpu_sim.glibc.node   the race demo's loops
//   native/accel/prebuilds/linux-x64/percpu_accel.abi<N>.node      the accelerator, one per Node ABI
//                                                         of scripts/node-lines.json
// node-gyp-build loads the first two kinds; lib/core/native.ts picks the accelerator for the running ABI.
// Nothing is rebuilt when the sources, the build files and the pinned Node lines are unchanged
// since the last run (prebuilds/.sources-sha256). arm64 needs Debian's g++-aarch64-linux-gnu.
//   node scripts/prebuild.js [--force]
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { nodeLine, LINES } = require('./node-lines');

const ROOT = path.join(__dirname, '..');
const { values } = parseArgs({ options: { force: { type: 'boolean', default: false } } });

const CROSS = { arm64: { prefix: 'aarch64-linux-gnu-', debian: 'g++-aarch64-linux-gnu' } };

function nodeGypScript() {
  const candidates = [
    process.env.npm_config_node_gyp,
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  const found = candidates.find((file) => file && fs.existsSync(file));
  if (!found) throw new Error('prebuild: cannot find node-gyp (run it through npm: npm run prebuild)');
  return found;
}

/** Every file the binaries are made from, hashed in a stable order. */
function sourcesHash() {
  const files = [];
  const walk = (dir) => {
    for (const entry of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
      const relative = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        // native/bench is never prebuilt (nor shipped): its changes rebuild nothing.
        if (entry.name !== 'build' && entry.name !== 'prebuilds' && relative !== path.join('native', 'bench')) walk(relative);
      } else if (/\.(cc|h|gyp|gypi)$/.test(entry.name)) files.push(relative);
    }
  };
  walk('native');
  files.push('binding.gyp', 'scripts/node-lines.json', 'scripts/prebuild.js');
  const hash = crypto.createHash('sha256');
  for (const file of files.sort()) hash.update(file).update('\0').update(fs.readFileSync(path.join(ROOT, file))).update('\0');
  return hash.digest('hex');
}

/** A scratch copy of what node-gyp needs: binding.gyp and native/ without any build or prebuild. */
function scratchCopy() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'percpu-prebuild-'));
  fs.copyFileSync(path.join(ROOT, 'binding.gyp'), path.join(dir, 'binding.gyp'));
  fs.cpSync(path.join(ROOT, 'native'), path.join(dir, 'native'), {
    recursive: true,
    filter: (source) => !/[/\\](build|prebuilds)$/.test(source),
  });
  return dir;
}

/** prebuildify in `cwd` (a folder of the scratch copy), its prebuilds/ then moved to `into`. */
function prebuildify(cwd, into, { name, napi, target, arch, nodedir, tagLibc }) {
  const args = [require.resolve('prebuildify/bin.js'), '--strip', '--name', name, '--target', target, '--arch', arch];
  args.push(napi ? '--napi' : '--no-napi');
  if (tagLibc) args.push('--tag-libc');
  const env = { ...process.env, npm_config_nodedir: nodedir, PREBUILD_NODE_GYP: nodeGypScript() };
  const cross = CROSS[arch];
  if (cross) {
    Object.assign(env, { CC: `${cross.prefix}gcc`, CXX: `${cross.prefix}g++`, LINK: `${cross.prefix}g++`, PREBUILD_STRIP_BIN: `${cross.prefix}strip` });
  }
  const started = Date.now();
  const result = spawnSync(process.execPath, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (result.status !== 0) {
    throw new Error(`prebuild: ${name} for linux-${arch} (Node ${target}) failed:\n${result.stdout}\n${result.stderr}`);
  }
  const from = path.join(cwd, 'prebuilds', `linux-${arch}`);
  fs.mkdirSync(into, { recursive: true });
  for (const file of fs.readdirSync(from)) {
    fs.copyFileSync(path.join(from, file), path.join(into, file));
    const size = fs.statSync(path.join(into, file)).size;
    console.error(`prebuild: ${path.relative(ROOT, path.join(into, file))} (${size} bytes, ${((Date.now() - started) / 1000).toFixed(0)} s)`);
  }
  fs.rmSync(path.join(cwd, 'prebuilds'), { recursive: true, force: true });
}

function main() {
  const stamp = path.join(ROOT, 'prebuilds', '.sources-sha256');
  const hash = sourcesHash();
  const outputs = [
    path.join(ROOT, 'prebuilds', 'linux-x64'),
    path.join(ROOT, 'prebuilds', 'linux-arm64'),
    path.join(ROOT, 'native', 'sim', 'prebuilds'),
    path.join(ROOT, 'native', 'accel', 'prebuilds'),
  ];
  if (!values.force && fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8').trim() === hash && outputs.every((dir) => fs.existsSync(dir))) {
    console.error('prebuild: the prebuilt binaries are up to date with the sources');
    return;
  }
  for (const [arch, cross] of Object.entries(CROSS)) {
    try {
      execFileSync(`${cross.prefix}g++`, ['--version'], { stdio: 'ignore' });
    } catch {
      throw new Error(`prebuild: the linux-${arch} binaries need ${cross.prefix}g++ (Debian: apt-get install ${cross.debian})`);
    }
  }
  for (const dir of outputs) fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(stamp, { force: true });
  const scratch = scratchCopy();
  try {
    const here = nodeLine(LINES.find((major) => nodeLine(major).version === process.versions.node) ?? LINES[0]);
    for (const arch of ['x64', 'arm64']) {
      const common = { napi: true, target: here.version, arch, nodedir: here.nodedir, tagLibc: true };
      prebuildify(scratch, path.join(ROOT, 'prebuilds', `linux-${arch}`), { ...common, name: 'percpu' });
      prebuildify(path.join(scratch, 'native', 'sim'), path.join(ROOT, 'native', 'sim', 'prebuilds', `linux-${arch}`), {
        ...common,
        name: 'percpu_sim',
      });
    }
    // The accelerator uses V8's API: one per Node ABI, x64 only (arm64 has no GS backend to speed up).
    for (const major of LINES) {
      const line = nodeLine(major);
      prebuildify(path.join(scratch, 'native', 'accel'), path.join(ROOT, 'native', 'accel', 'prebuilds', 'linux-x64'), {
        name: 'percpu_accel',
        napi: false,
        target: line.version,
        arch: 'x64',
        nodedir: line.nodedir,
        tagLibc: false,
      });
    }
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  fs.writeFileSync(stamp, `${hash}\n`);
}

try {
  main();
} catch (error) {
  console.error(error.message);
  process.exit(1);
}
