#!/usr/bin/env node
// Reads the ASan/LSan logs that npm run test:sanitize collects (one file per process of the
// suite: mocha and the child processes it spawns) and fails on:
// - any AddressSanitizer (or UndefinedBehaviorSanitizer) error report: those also abort their
//   process, so a test fails too; this names them;
// - any leak with a frame in the percpu addon (percpu.node, or a source file under native/).
// Leaks with no percpu frame are node's and V8's own at exit (V8 heap pages and feedback
// vectors that LeakSanitizer cannot see pointers to): counted and ignored.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const dir = process.argv[2];
const files = fs.existsSync(dir) ? fs.readdirSync(dir).map((f) => path.join(dir, f)) : [];
const isAddonFrame = (line) => /percpu[^ ]*\.node|\/native\/[a-z_]+\.(cc|h):/.test(line);
let errors = 0;
let addonLeaks = 0;
let otherLeaks = 0;
for (const file of files) {
  const text = fs.readFileSync(file, 'utf8');
  for (const block of text.split(/\n\s*\n/)) {
    if (/ERROR: AddressSanitizer|runtime error:|ERROR: UndefinedBehaviorSanitizer/.test(block)) {
      errors++;
      process.stderr.write(`${file}:\n${block}\n\n`);
    } else if (/^(Direct|Indirect) leak of/m.test(block)) {
      if (block.split('\n').some(isAddonFrame)) {
        addonLeaks++;
        process.stderr.write(`${file}: a leak in percpu:\n${block}\n\n`);
      } else {
        otherLeaks++;
      }
    }
  }
}
console.log(
  `test:sanitize: ${files.length} sanitizer logs; ${errors} ASan/UBSan errors; ${addonLeaks} leaks in percpu; ` +
    `${otherLeaks} leaks of node's own at exit (ignored)`,
);
process.exitCode = errors + addonLeaks > 0 ? 1 : 0;
