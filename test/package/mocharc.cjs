// Mocha for `npm run test:package`: only the packaging tests, which the default .mocharc.json
// leaves out (they pack, install and build the addon again: about a minute).
'use strict';
const base = require('../../.mocharc.json');

module.exports = { spec: ['dist/test/package/**/*.test.js'], timeout: 600000, reporter: base.reporter };
