// Mocha for `npm run test:cmake`: the whole suite (against the addon PERCPU_ADDON names) plus
// the cmake-only tests of test/cmake/, which the default .mocharc.json leaves out.
'use strict';
const base = require('../../.mocharc.json');

module.exports = { ...base, ignore: base.ignore.filter((pattern) => !pattern.startsWith('dist/test/cmake/')) };
