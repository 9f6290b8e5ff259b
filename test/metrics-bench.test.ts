/**
 * The metrics benchmark (bench/metrics.ts) in its quick mode: its table and JSON have every row,
 * and every count it checks holds exactly the updates of the quick plan, computed here. No timing
 * is asserted. It starts its own CpuSet and cluster workers, so it runs in a process of its own.
 */
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { MetricsReport } from '../bench/metrics';
import { observation } from '../bench/metrics-load';

const BENCH = path.join(__dirname, '..', 'bench', 'metrics.js');

describe('benchmarks: bench/metrics.ts in --quick mode', function () {
  this.timeout(120_000);
  let stdout: string;
  let report: MetricsReport;

  before(async function () {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'percpu-metrics-bench-'));
    try {
      const json = path.join(dir, 'metrics.json');
      ({ stdout } = await promisify(execFile)(process.execPath, [BENCH, '--quick', '--json', json], { encoding: 'utf8' }));
      report = JSON.parse(fs.readFileSync(json, 'utf8')) as MetricsReport;
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('prints every section and row, and names the backend and the call path', function () {
    for (const heading of ['Updates from JS on one thread', 'Scrape of a counter and an 11-bucket histogram', 'Periods taken while 3 CPUs add', 'Counts: all 20 exact']) {
      assert.ok(stdout.includes(heading), `no "${heading}" in the table`);
    }
    for (const row of [...report.updates, ...report.scrapes]) assert.ok(stdout.includes(row.label), `no row "${row.label}"`);
    assert.match(report.backend, /^(gs|generic) \(/);
    assert.ok(stdout.startsWith(`percpu/metrics benchmarks: ${report.backend}; num() through ${report.fastPath}`));
  });

  it('measures each update next to prom-client, and the percpu scrapes next to the AggregatorRegistry of 4 cluster workers', function () {
    assert.deepEqual(
      report.updates.map((r) => [r.key, r.against]),
      [
        ['num.inc', null],
        ['counter.inc', 'prom.counter.inc'],
        ['prom.counter.inc', null],
        ['counter.inc3', 'prom.counter.inc3'],
        ['prom.counter.inc3', null],
        ['histogram.observe', 'prom.histogram.observe'],
        ['histogram.observeBig', 'prom.histogram.observe'],
        ['prom.histogram.observe', null],
      ],
    );
    for (const r of report.updates) {
      assert.ok(r.nsPerOp > 0, r.key);
      assert.equal(r.ratio === null, r.against === null, r.key);
    }
    assert.deepEqual(
      report.scrapes.map((r) => r.key),
      ['percpu.registry', 'percpu.text', 'cluster'],
    );
    for (const r of report.scrapes) assert.ok(r.usPerScrape > 0 && r.ratio > 0, r.key);
    assert.equal(report.scrapes[0]!.ratio, 1);
    assert.deepEqual(report.options, { quick: true, rounds: 1, ops: 2000, scrapes: 3, load: 100, drains: 5 });
  });

  it('every count holds exactly the updates of the quick plan; a drain counts every add', function () {
    // Updates: a warm-up and one round of 2000 calls a method, on CPU 0. Scrapes: 100 requests on
    // each of 4 CPUs (and in each of 4 cluster workers).
    const calls = 2 * 2000;
    let observedInARun = 0;
    for (let i = 0; i < 2000; i++) observedInARun += observation(i & 1023);
    let loadSum = 0;
    for (let i = 0; i < 100; i++) loadSum += observation(i);
    const scrape = (name: string) => [
      [`scrape: ${name} counter`, '400'],
      [`scrape: ${name} histogram count`, '400'],
      [`scrape: ${name} histogram sum`, String(4 * loadSum)],
    ];
    assert.deepEqual(
      report.counts.map((c) => [c.name, c.expected]),
      [
        ['updates: num().inc()', String(calls)],
        ['updates: PerCpuCounter.inc()', String(calls)],
        ['updates: PerCpuCounter.inc(3)', String(3 * calls)],
        ['updates: PerCpuHistogram.observe(number) count', String(calls)],
        ['updates: PerCpuHistogram.observe(number) sum', String(2 * observedInARun)],
        ['updates: PerCpuHistogram.observe(bigint) count', String(calls)],
        ['updates: prom-client Counter.inc()', String(calls)],
        ['updates: prom-client Counter.inc(3)', String(3 * calls)],
        ['updates: prom-client Histogram.observe() count', String(calls)],
        ['updates: prom-client Histogram.observe() sum', String(2 * observedInARun)],
        ...scrape('percpu registry.metrics()'),
        ...scrape('percpu toPrometheus()'),
        ...scrape('prom-client AggregatorRegistry'),
        ['drain: periods + remainder = adds', report.drain.adds],
      ],
    );
    for (const c of report.counts) assert.equal(c.actual, c.expected, c.name);
    assert.equal(report.allExact, true);
    assert.equal(report.drain.countedByDrain, report.drain.adds);
    assert.ok(BigInt(report.drain.adds) >= 3n * 1000n * 5n, 'each worker added at least a batch a period');
  });
});
