/**
 * The `percpu/metrics` subpath, resolved by name through package.json "exports": the CommonJS and
 * ES module entries export the same names bound to the same values, over the same percpu as
 * `percpu`; and the library works in a process where prom-client cannot be found.
 */
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';

const ROOT = path.join(__dirname, '..', '..');
// Through variables, so that TypeScript leaves the loads to Node's resolution at run time.
const PACKAGE = 'percpu';
const METRICS = 'percpu/metrics';

describe('package entry percpu/metrics', function () {
  it("require('percpu/metrics') is dist/lib/metrics/index.js, the module the tests use, over require('percpu')", function () {
    assert.equal(require.resolve(METRICS), path.join(ROOT, 'dist', 'lib', 'metrics', 'index.js'));
    assert.equal(require(METRICS), require('../lib/metrics'));
    // Its per-CPU variables are the main entry's classes: one copy of percpu in the process.
    const { PerCpuCounter } = require(METRICS) as typeof import('../lib/metrics');
    const { StaticPerCpu, getStaticPerCpu } = require(PACKAGE) as typeof import('../lib');
    const counter = new PerCpuCounter({ name: 'exports_test_total', help: 'h' });
    assert.ok(getStaticPerCpu('percpu/metrics:exports_test_total/value', 'u64') instanceof StaticPerCpu);
    assert.equal(counter.value(), 0n);
  });

  it("import('percpu/metrics') exports every name of require('percpu/metrics'), bound to the same value", async function () {
    const cjs = require(METRICS) as Record<string, unknown>;
    const esm = (await import(METRICS)) as Record<string, unknown>;
    const names = Object.keys(cjs).sort();
    assert.deepEqual(names, [
      'MAX_BUCKETS',
      'MAX_DECIMALS',
      'MAX_NAME_LENGTH',
      'PerCpuCounter',
      'PerCpuGauge',
      'PerCpuHistogram',
      'PerCpuMetric',
      'PerCpuScalarMetric',
      'STATIC_PREFIX',
      'formatDecimal',
      'isSharedPerCpuMetric',
      'registerPerCpuMetrics',
      'reviveMetric',
    ]);
    for (const name of names) assert.equal(esm[name], cjs[name], `${name} is another value in the ES module entry`);
    const esmNames = Object.keys(esm).filter((name) => name !== 'module.exports' && name !== '__esModule');
    assert.deepEqual(esmNames.sort(), names);
    assert.equal(esm['default'], undefined);
  });

  it('works without prom-client: in a process that cannot load it, metrics count, drain and print', async function () {
    const script = `
      const Module = require('node:module');
      const resolve = Module._resolveFilename;
      Module._resolveFilename = function (request, ...rest) {
        if (request === 'prom-client' || request.startsWith('prom-client/')) {
          throw Object.assign(new Error('prom-client is not installed here'), { code: 'MODULE_NOT_FOUND' });
        }
        return resolve.call(this, request, ...rest);
      };
      const { CpuSet } = require('percpu');
      const { PerCpuCounter } = require('percpu/metrics');
      CpuSet.start({ cpus: 2 }).then(async (cpus) => {
        const c = new PerCpuCounter({ name: 'no_prom_total', help: 'Counted without prom-client' });
        c.inc(41n);
        c.inc();
        const drained = c.drain();
        console.log(JSON.stringify({
          text: c.toPrometheus(),
          drained: String(drained.total),
          promClientLoaded: Object.keys(require.cache).some((file) => file.includes('/node_modules/prom-client/')),
        }));
        await cpus.close();
      });`;
    const { stdout } = await promisify(execFile)(process.execPath, ['-e', script], { cwd: ROOT, encoding: 'utf8' });
    assert.deepEqual(JSON.parse(stdout), {
      text: '# HELP no_prom_total Counted without prom-client\n# TYPE no_prom_total counter\nno_prom_total 42\n',
      drained: '42',
      promClientLoaded: false,
    });
  });
});
