/**
 * percpu/metrics in prom-client: registerPerCpuMetrics() makes a Registry's `metrics()` show per-CPU
 * metrics exactly (checked with a Prometheus text-format parser), read on this thread while the
 * CPUs' threads are busy and answer no message.
 */
import * as assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { Counter, Registry } from 'prom-client';
import { ConflictError, PerCpuTypeError, task } from '../lib';
import { PerCpuCounter, PerCpuGauge, PerCpuHistogram, registerPerCpuMetrics, type PromClientRegistry } from '../lib/metrics';
import { ALL_CPUS, TEST_CPUS, assertThrowsCode, useCpuSet } from './helpers';
import type * as tasks from './metrics-tasks';

/** What parse-prometheus-text-format returns (it has no types of its own): values stay strings. */
interface ParsedFamily {
  name: string;
  help: string;
  type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED';
  metrics: { value?: string; labels?: Record<string, string>; buckets?: Record<string, string>; count?: string; sum?: string }[];
}
const parsePrometheus = require('parse-prometheus-text-format') as (text: string) => ParsedFamily[];

const TASKS = require.resolve('./metrics-tasks');
const update = task<typeof tasks.update>(TASKS, 'update');
const U64_MAX = (1n << 64n) - 1n;

let unique = 0;
const fresh = (base: string) => `prom_${base}_${unique++}`;

describe('percpu/metrics with prom-client', function () {
  const cpus = useCpuSet();

  it("registry.metrics() shows per-CPU metrics exactly, next to prom-client's own, and the text parses", async function () {
    const registry = new Registry();
    const nativeName = fresh('native_total');
    const native = new Counter({ name: nativeName, help: 'prom-client counter', registers: [registry] });
    native.inc(3);
    const requests = new PerCpuCounter({ name: fresh('requests_total'), help: 'Requests served' });
    const latency = new PerCpuHistogram({ name: fresh('latency_seconds'), help: 'Latency', buckets: [1000, 10_000], decimals: 6 });
    const inFlight = new PerCpuGauge({ name: fresh('in_flight'), help: 'In flight' });
    registerPerCpuMetrics(registry, [requests, latency, inFlight]);
    requests.inc(2n ** 53n + 1n); // a JS number would print 9007199254740992
    await cpus.set.runOn(1, update, requests.share(), 'inc', [U64_MAX]);
    await cpus.set.runOn(2, update, latency.share(), 'observe', [500, 5000, 50_000]);
    inFlight.dec(2);

    const text = await registry.metrics();
    const total = String(2n ** 53n + 1n + U64_MAX);
    assert.equal(
      text,
      [
        `# HELP ${nativeName} prom-client counter`,
        `# TYPE ${nativeName} counter`,
        `${nativeName} 3`,
        '',
        `# HELP ${requests.name} Requests served`,
        `# TYPE ${requests.name} counter`,
        `${requests.name} ${total}`,
        '',
        `# HELP ${latency.name} Latency`,
        `# TYPE ${latency.name} histogram`,
        `${latency.name}_bucket{le="0.001"} 1`,
        `${latency.name}_bucket{le="0.01"} 2`,
        `${latency.name}_bucket{le="+Inf"} 3`,
        `${latency.name}_sum 0.0555`,
        `${latency.name}_count 3`,
        '',
        `# HELP ${inFlight.name} In flight`,
        `# TYPE ${inFlight.name} gauge`,
        `${inFlight.name} -2`,
        '',
      ].join('\n'),
    );
    const parsed = parsePrometheus(text);
    assert.deepEqual(
      parsed.map((f) => [f.name, f.type]),
      [
        [nativeName, 'COUNTER'],
        [requests.name, 'COUNTER'],
        [latency.name, 'HISTOGRAM'],
        [inFlight.name, 'GAUGE'],
      ],
    );
    assert.equal(parsed[1]!.metrics[0]!.value, total);
    assert.deepEqual(parsed[2]!.metrics[0], { buckets: { '0.001': '1', '0.01': '2', '+Inf': '3' }, count: '3', sum: '0.0555' });
    assert.equal(await registry.getSingleMetricAsString(requests.name), `# HELP ${requests.name} Requests served\n# TYPE ${requests.name} counter\n${requests.name} ${total}`);
  });

  it('{ cpuLabel: true }: one series per CPU; default labels and the OpenMetrics format as prom-client writes them', async function () {
    const registry = new Registry<typeof Registry.PROMETHEUS_CONTENT_TYPE | typeof Registry.OPENMETRICS_CONTENT_TYPE>();
    registry.setDefaultLabels({ service: 'api' });
    const c = new PerCpuCounter({ name: fresh('jobs_total'), help: 'Jobs' });
    const h = new PerCpuHistogram({ name: fresh('size_bytes'), help: 'Size', buckets: [100] });
    registerPerCpuMetrics(registry, [c, h], { cpuLabel: true });
    await cpus.set.onEachCpu(update, c.share(), 'inc', [5]);
    await cpus.set.runOn(3, update, h.share(), 'observe', [50, 150]);
    const text = await registry.metrics();
    const byCpu = parsePrometheus(text); // the parser checks every line, but folds a histogram's labelled series into one
    assert.deepEqual(
      byCpu[0]!.metrics,
      ALL_CPUS.map((cpu) => ({ value: '5', labels: { cpu: String(cpu), service: 'api' } })),
    );
    const lines = text.split('\n');
    assert.equal(lines.filter((line) => line.startsWith(`${h.name}_count{`)).length, TEST_CPUS);
    assert.deepEqual(lines.filter((line) => line.includes('cpu="3"') && line.startsWith(h.name)), [
      `${h.name}_bucket{cpu="3",le="100",service="api"} 1`,
      `${h.name}_bucket{cpu="3",le="+Inf",service="api"} 2`,
      `${h.name}_sum{cpu="3",service="api"} 200`,
      `${h.name}_count{cpu="3",service="api"} 2`,
    ]);

    registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
    const base = c.name.replace(/_total$/, '');
    const open = (await registry.metrics()).split('\n');
    assert.deepEqual(open.slice(0, 4), [`# HELP ${base} Jobs`, `# TYPE ${base} counter`, `${base}_total{cpu="0",service="api"} 5`, `${base}_total{cpu="1",service="api"} 5`]);
    assert.deepEqual(open.slice(-3), [`${h.name}_count{cpu="3",service="api"} 2`, '# EOF', '']);
  });

  it('resetMetrics() moves a baseline on the reader side: the slots keep every update', async function () {
    const registry = new Registry();
    const c = new PerCpuCounter({ name: fresh('reset_total'), help: 'c' });
    const g = new PerCpuGauge({ name: fresh('reset_gauge'), help: 'g' });
    registerPerCpuMetrics(registry, [c, g]);
    c.inc(10);
    g.set(-4);
    registry.resetMetrics();
    await cpus.set.runOn(2, update, c.share(), 'inc', [7]);
    g.inc(3);
    const [counter, gauge] = parsePrometheus(await registry.metrics());
    assert.equal(counter!.metrics[0]!.value, '7');
    assert.equal(gauge!.metrics[0]!.value, '3');
    assert.equal(c.value(), 17n);
    assert.equal(g.value(), -1n);
  });

  it('getMetricsAsJSON() (what a cluster worker sends) has JS numbers, as prom-client types it', async function () {
    const registry = new Registry();
    const h = new PerCpuHistogram({ name: fresh('json'), help: 'j', buckets: [1, 2], decimals: 1 });
    registerPerCpuMetrics(registry, [h]);
    h.observe(2);
    assert.deepEqual(await registry.getMetricsAsJSON(), [
      {
        name: h.name,
        help: 'j',
        type: 'histogram',
        aggregator: 'sum',
        values: [
          { value: 0, labels: { le: '0.1' }, metricName: `${h.name}_bucket` },
          { value: 1, labels: { le: '0.2' }, metricName: `${h.name}_bucket` },
          { value: 1, labels: { le: '+Inf' }, metricName: `${h.name}_bucket` },
          { value: 0.2, labels: {}, metricName: `${h.name}_sum` },
          { value: 1, labels: {}, metricName: `${h.name}_count` },
        ],
      },
    ]);
  });

  it('registers all or nothing: a non-registry, a non-metric or a taken name throws first', async function () {
    const registry = new Registry();
    const c = new PerCpuCounter({ name: fresh('once_total'), help: '' });
    const d = new PerCpuCounter({ name: fresh('twice_total'), help: '' });
    new Counter({ name: d.name, help: 'taken', registers: [registry] });
    const cases: [() => unknown, typeof PerCpuTypeError | typeof ConflictError, string][] = [
      [() => registerPerCpuMetrics({} as PromClientRegistry, [c]), PerCpuTypeError, 'ERR_PERCPU_INVALID_ARG'],
      [() => registerPerCpuMetrics(null as never, [c]), PerCpuTypeError, 'ERR_PERCPU_INVALID_ARG'],
      [() => registerPerCpuMetrics(registry, [c, { name: 'x' } as never]), PerCpuTypeError, 'ERR_PERCPU_INVALID_ARG'],
      [() => registerPerCpuMetrics(registry, [c, c]), ConflictError, 'ERR_PERCPU_CONFLICT'],
      [() => registerPerCpuMetrics(registry, [c, d]), ConflictError, 'ERR_PERCPU_CONFLICT'],
      [() => registerPerCpuMetrics(registry, [c], null as never), PerCpuTypeError, 'ERR_PERCPU_INVALID_ARG'],
    ];
    for (const [fn, cls, code] of cases) assertThrowsCode(fn, cls, code);
    assert.deepEqual(registry.getMetricsAsArray().map((m) => m.name), [d.name]);
    assert.equal(Object.hasOwn(registry, 'getMetricsAsString'), false);
    // Registering again wraps the registry once: prom-client's own metrics print as before.
    registerPerCpuMetrics(registry, [c]);
    const wrapped = Object.getOwnPropertyDescriptor(registry, 'getMetricsAsString')!.value as unknown;
    registerPerCpuMetrics(registry, [new PerCpuGauge({ name: fresh('more'), help: '' })]);
    assert.equal(Object.getOwnPropertyDescriptor(registry, 'getMetricsAsString')!.value, wrapped);
    assert.equal(await registry.getSingleMetricAsString(d.name), `# HELP ${d.name} taken\n# TYPE ${d.name} counter\n${d.name} 0`);
  });

  it('scrapes on this thread while every other CPU is busy in a loop that answers no message', async function () {
    this.timeout(60_000);
    const registry = new Registry();
    const c = new PerCpuCounter({ name: fresh('busy_total'), help: 'c' });
    const h = new PerCpuHistogram({ name: fresh('busy'), help: 'h', buckets: [100, 1000] });
    registerPerCpuMetrics(registry, [c], { cpuLabel: true });
    registerPerCpuMetrics(registry, [h]);
    const words = new SharedArrayBuffer(4 * (2 + TEST_CPUS));
    const flags = new Int32Array(words);
    const workers = ALL_CPUS.slice(1);
    const runs = workers.map((cpu) => cpus.set.runOn(cpu, task<typeof tasks.loadUntilStopped>(TASKS, 'loadUntilStopped'), c.share(), h.share(), words));
    const scrapes: ParsedFamily[][] = [];
    try {
      for (let i = 0; i < 5; i++) {
        const seen = workers.map((cpu) => Atomics.load(flags, 2 + cpu));
        while (workers.some((cpu, k) => Atomics.load(flags, 2 + cpu) === seen[k])) await nextTurn();
        scrapes.push(parsePrometheus(await registry.metrics()));
      }
    } finally {
      Atomics.store(flags, 0, 1);
    }
    const totals = await Promise.all(runs);
    for (const [counter, histogram] of scrapes) {
      for (const cpu of workers) assert.ok(BigInt(counter!.metrics[cpu]!.value!) > 0n, `CPU ${cpu} counted`);
      const { buckets, count } = histogram!.metrics[0]!;
      assert.equal(buckets!['+Inf'], count); // one read: count is the +Inf bucket
      assert.ok(BigInt(buckets!['100']!) <= BigInt(buckets!['1000']!) && BigInt(buckets!['1000']!) <= BigInt(count!));
    }
    // Scrapes only grow, and the last read, once the loops stopped, is what they added.
    for (const cpu of workers) {
      const seen = scrapes.map(([counter]) => BigInt(counter!.metrics[cpu]!.value!));
      assert.deepEqual(seen, [...seen].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    const [counter, histogram] = parsePrometheus(await registry.metrics());
    assert.deepEqual(
      counter!.metrics.map((m) => BigInt(m.value!)),
      [0n, ...totals.map((t) => t.added)],
    );
    assert.equal(BigInt(histogram!.metrics[0]!.count!), BigInt(totals.reduce((sum, t) => sum + t.incs, 0)));
  });
});
