// Mocha for `npm run test:cmake`: the cmake-only tests of test/cmake/ (the cmake-js build compiled
// every source with node-gyp's flags and holds the same machine code, instruction for instruction)
// and, against that addon (PERCPU_ADDON), the suite's core: the sample, every op and type, the
// disassembly and the exports. Identical machine code makes the rest of the suite redundant here;
// `npm test` runs all of it against node-gyp's build.
'use strict';
const base = require('../../.mocharc.json');

const CORE = ['sample', 'ops', 'numeric', 'disassembly', 'exports'].map((name) => `dist/test/${name}.test.js`);

module.exports = { ...base, spec: ['dist/test/cmake/**/*.test.js', ...CORE], ignore: [] };
