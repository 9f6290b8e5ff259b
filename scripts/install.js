#!/usr/bin/env node
// npm's install step, after `node-gyp-build` has found (or compiled) the binding: the two optional
// native modules, each compiled only when no prebuilt binary fits this machine, and only if it can
// be (a missing compiler costs one line, never the install):
// - the simulator's loops (percpu_sim.node): prebuilt for linux-x64 and linux-arm64;
// - the accelerator (percpu_accel.node): prebuilt per Node ABI; built here for this Node's ABI
//   otherwise, unless PERCPU_FAST=0.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');

/** True when node-gyp-build finds a build or a prebuilt binary for this platform in `dir`. */
function found(dir) {
  try {
    require('node-gyp-build').path(path.join(ROOT, dir));
    return true;
  } catch {
    return false;
  }
}

const accel = path.join(ROOT, 'native', 'accel', 'prebuilds', `${process.platform}-${process.arch}`, `percpu_accel.abi${process.versions.modules}.node`);
const wanted = [];
if (!found('native/sim')) wanted.push('sim');
if (process.env.PERCPU_FAST !== '0' && !fs.existsSync(accel)) wanted.push('accel');
if (wanted.length > 0) {
  const result = spawnSync(process.execPath, [path.join(__dirname, 'build-native.js'), '--if-possible', ...wanted], { stdio: 'inherit' });
  process.exitCode = result.status ?? 0;
}
