#!/usr/bin/env node
'use strict';
require('../dist/lib/cli/cli.js')
  .main(process.argv.slice(2))
  .then(
    (code) => {
      process.exitCode = code;
    },
    (error) => {
      // percpu's own errors (they have an ERR_PERCPU_ code) say what went wrong; others get a stack.
      const own = error && typeof error.code === 'string' && error.code.startsWith('ERR_PERCPU');
      console.error(`percpu: ${own ? `${error.name}: ${error.message}` : error && error.stack ? error.stack : error}`);
      process.exitCode = 1;
    },
  );
