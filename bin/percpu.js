#!/usr/bin/env node
'use strict';
// percpu sample | race | bench: see `percpu --help`. Exit status 0 ok, 1 a check failed or percpu
// cannot run here, 2 a usage error.

// A reader that goes away (`percpu race | head -3`) ends the run quietly, as a closed pipe ends
// other commands: no EPIPE stack.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
}

require('../dist/lib/cli/cli.js')
  .main(process.argv.slice(2))
  .then(
    (code) => {
      process.exitCode = code;
    },
    (error) => {
      // main() prints usage errors and percpu's own errors in one line; anything else is a bug: its stack.
      console.error(`percpu: ${error && error.stack ? error.stack : error}`);
      process.exitCode = 1;
    },
  );
