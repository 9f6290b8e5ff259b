// Mocha for the cross-version check of `npm run test:node-matrix` (scripts/test-node-matrix.js
// passes the Node lines and the builds in PERCPU_MATRIX). Not part of the default suite.
'use strict';
module.exports = { spec: ['dist/test/matrix/*.test.js'], timeout: 120000, reporter: 'spec' };
