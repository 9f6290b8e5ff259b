#!/usr/bin/env node
// Reads the ASan/LSan logs that npm run test:sanitize collects (one file per process of the
// suite: mocha and the child processes it spawns) and fails on:
// - any AddressSanitizer (or UndefinedBehaviorSanitizer) error report: those also abort their
//   process, so a test fails too; this names them;
// - any leak that percpu allocated: walking its stack up from the allocator, a frame of percpu
//   (percpu.node or another percpu module, or a source file under native/) comes before any frame of node or V8 other than
//   the Node-API layer percpu calls (napi_*, v8impl::, node-addon-api's Napi::). So a reference
//   that percpu creates with napi_create_reference and never deletes counts; V8's own bookkeeping
//   (heap pages, descriptor arrays, feedback vectors that LeakSanitizer cannot see pointers to)
//   counts as node's even when a percpu call is further down the stack: counted and ignored;
// - any "LeakSanitizer has encountered a fatal error": the leak scan of that process died, so its
//   leaks went unchecked. Its known cause, the __tls_get_addr interceptor of GCC 12's runtime
//   (google/sanitizers#1353), is off (scripts/test-sanitize.sh sets intercept_tls_get_addr=0): a
//   tracer crash now is a process whose leaks nobody checked, and fails the run.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const dir = process.argv[2];
const files = fs.existsSync(dir) ? fs.readdirSync(dir).map((f) => path.join(dir, f)) : [];
const isAddonFrame = (line) => /percpu[^ ]*\.node|\/native\/([a-z_]+\/)?[a-z_]+\.(cc|h):/.test(line);
const isSanitizerFrame = (line) => /libsanitizer|asan_|lsan_|ubsan_/.test(line);
const isNodeApiFrame = (line) => / in (napi_|node_api_|v8impl::|Napi::)|node-addon-api\/napi-inl\.h/.test(line);

/** Whether percpu made the allocation of a leak report (see above). */
function allocatedByPercpu(block) {
  const frames = block.split('\n').filter((line) => /^\s+#\d+ /.test(line));
  for (const frame of frames) {
    if (isSanitizerFrame(frame)) continue;
    if (isAddonFrame(frame)) return true;
    if (!isNodeApiFrame(frame)) return false;
  }
  return false;
}
let errors = 0;
let addonLeaks = 0;
let otherLeaks = 0;
let tracerCrashes = 0; // a leak scan that died: that process's leaks were never checked
for (const file of files) {
  const text = fs.readFileSync(file, 'utf8');
  for (const block of text.split(/\n\s*\n/)) {
    if (/LeakSanitizer has encountered a fatal error/.test(block)) {
      tracerCrashes++;
      process.stderr.write(`${file}: LeakSanitizer died; this process's leaks were not checked:\n${block}\n\n`);
    } else if (/ERROR: AddressSanitizer|runtime error:|ERROR: UndefinedBehaviorSanitizer/.test(block)) {
      errors++;
      process.stderr.write(`${file}:\n${block}\n\n`);
    } else if (/^(Direct|Indirect) leak of/m.test(block)) {
      if (allocatedByPercpu(block)) {
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
    `${otherLeaks} leaks of node's and V8's own (ignored); ${tracerCrashes} LeakSanitizer fatal errors (leak scans that died)`,
);
process.exitCode = errors + addonLeaks + tracerCrashes > 0 ? 1 : 0;
