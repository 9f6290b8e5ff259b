/**
 * percpu/metrics benchmarks (`npm run bench:metrics`), in one process and one run:
 * 1. Updates from JS on one thread: PerCpuCounter.inc() and PerCpuHistogram.observe() next to
 *    prom-client's Counter.inc() and Histogram.observe() (pure JS, nothing read across threads),
 *    with the bare num().inc() as the floor. Ratios are taken inside each round, then the median.
 * 2. A scrape: a counter and an 11-bucket histogram updated on 4 CPUs, read by this thread through
 *    prom-client's registry.metrics() (and by toPrometheus() alone), next to prom-client's
 *    AggregatorRegistry scraping the same metrics from 4 cluster workers over their IPC channels.
 * 3. Reader-side drain() against a reset by remote write while 3 CPUs add: the updates each loses.
 * Every counter the runs touched is checked against the updates made (the "counts").
 *
 *   npm run bench:metrics -- [--quick] [--rounds R] [--ops N] [--scrapes S] [--json FILE]
 *
 * This module is also the CPUs' task module (loadHere, addUntilStopped).
 */
import cluster, { type Worker as ClusterWorker } from 'node:cluster';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { AggregatorRegistry, Counter, Histogram, Registry } from 'prom-client';
import { CpuSet, definePerCpu, describeBackend, fastPath, region, task, thisCpu } from '../lib';
import { PerCpuCounter, PerCpuHistogram, registerPerCpuMetrics } from '../lib/metrics';
import { BUCKETS, COUNTER_NAME, HISTOGRAM_NAME, applyLoad, expectedHistogram, observation } from './metrics-load';

/** CPUs of the scrape (and the cluster workers of prom-client's). */
export const CPUS = 4;

export interface Options {
  quick: boolean;
  rounds: number;
  /** Calls a method makes in one timed sample. */
  ops: number;
  /** Timed scrapes of each kind. */
  scrapes: number;
  /** Requests each CPU (each cluster worker) applies before the scrapes. */
  load: number;
  /** Drain (and reset) rounds while the CPUs add. */
  drains: number;
  json: string | null;
}

const USAGE = 'usage: npm run bench:metrics -- [--quick] [--rounds R] [--ops N] [--scrapes S] [--json FILE]';

export function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      ops: { type: 'string' },
      scrapes: { type: 'string' },
      json: { type: 'string' },
    },
    strict: true,
  });
  const quick = values.quick === true;
  const count = (name: string, value: string | undefined, fallback: number) => {
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--${name} takes a positive integer\n${USAGE}`);
    return n;
  };
  return {
    quick,
    rounds: count('rounds', values.rounds, quick ? 1 : 7),
    ops: count('ops', values.ops, quick ? 2000 : 1_000_000),
    scrapes: count('scrapes', values.scrapes, quick ? 3 : 200),
    load: quick ? 100 : 10_000,
    drains: quick ? 5 : 200,
    json: values.json ?? null,
  };
}

export interface UpdateRow {
  key: string;
  label: string;
  nsPerOp: number;
  /** The prom-client row it is compared with, and the median of its per-round ratio. */
  against: string | null;
  ratio: number | null;
}

export interface ScrapeRow {
  key: string;
  label: string;
  usPerScrape: number;
  /** Against the percpu registry scrape, in the same run. */
  ratio: number;
}

export interface CountCheck {
  name: string;
  expected: string;
  actual: string;
  exact: boolean;
}

export interface MetricsReport {
  backend: string;
  fastPath: string;
  node: string;
  options: Omit<Options, 'json'>;
  updates: UpdateRow[];
  scrapes: ScrapeRow[];
  /** What each way of taking periods counted in all, against the adds made: a drain counts them exactly. */
  drain: { rounds: number; adds: string; countedByDrain: string; countedByReset: string };
  counts: CountCheck[];
  allExact: boolean;
}

const progress = (text: string) => process.stderr.write(`${text}\n`);
const median = (values: readonly number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;
/** A count against the updates made, compared as decimal text (integers only: no float formatting). */
const check = (name: string, expected: number | bigint, actual: number | bigint | string | undefined): CountCheck => ({
  name,
  expected: String(expected),
  actual: String(actual),
  exact: actual !== undefined && String(expected) === String(actual),
});

// ---------------------------------------------------------------- tasks (run on the CPUs)

/** The scrape's metrics, by name: the same slots on every CPU. */
function scrapeMetrics() {
  return {
    counter: new PerCpuCounter({ name: COUNTER_NAME, help: 'Requests' }),
    histogram: new PerCpuHistogram({ name: HISTOGRAM_NAME, help: 'Latency', buckets: BUCKETS }),
  };
}

/** Applies `n` requests' updates to the scrape's metrics on this CPU. */
export function loadHere(n: number): number {
  applyLoad(scrapeMetrics(), n);
  return thisCpu()!;
}

/** The drain demo's two counters: a PerCpuCounter (drained) and a plain u64 static (reset by remote writes). */
function drainCounters() {
  return { drained: new PerCpuCounter({ name: 'bench_drained_total', help: 'Drained' }), reset: definePerCpu('bench.metrics.reset', 'u64', 0n) };
}

/** Adds 1 to both counters in batches of 1000 until `flags[0]` is set; counts batches in `flags[1 + cpu]`. Returns the adds. */
export function addUntilStopped(words: SharedArrayBuffer): number {
  const flags = new Int32Array(words);
  const { drained, reset } = drainCounters();
  const resetInc = reset.num().inc;
  const cpu = thisCpu()!;
  let adds = 0;
  while (Atomics.load(flags, 0) === 0) {
    for (let i = 0; i < 1000; i++) {
      drained.inc();
      resetInc();
    }
    adds += 1000;
    Atomics.add(flags, 1 + cpu, 1);
  }
  return adds;
}

// ---------------------------------------------------------------- 1. updates

interface Method {
  key: string;
  label: string;
  against: string | null;
  loop: (n: number) => void;
}

/** The update loops, each its own function (its own call site and type feedback). */
function updateMethods(): { methods: Method[]; counts: () => Promise<(runs: number, ops: number) => CountCheck[]> } {
  const inc = new PerCpuCounter({ name: 'bench_update_inc_total', help: 'inc()' });
  const inc3 = new PerCpuCounter({ name: 'bench_update_inc3_total', help: 'inc(3)' });
  const observe = new PerCpuHistogram({ name: 'bench_update_observe', help: 'observe(number)', buckets: BUCKETS });
  const observeBig = new PerCpuHistogram({ name: 'bench_update_observe_big', help: 'observe(bigint)', buckets: BUCKETS });
  const rawVariable = definePerCpu('bench.metrics.raw', 'u64', 0n);
  const raw = rawVariable.num();
  const registry = new Registry();
  const promInc = new Counter({ name: 'bench_update_inc_total', help: 'inc()', registers: [registry] });
  const promInc3 = new Counter({ name: 'bench_update_inc3_total', help: 'inc(3)', registers: [registry] });
  const promObserve = new Histogram({ name: 'bench_update_observe', help: 'observe()', buckets: BUCKETS, registers: [registry] });
  const values = Array.from({ length: 1024 }, (_, i) => observation(i));
  const bigValues = values.map(BigInt);
  const methods: Method[] = [
    { key: 'num.inc', label: 'num().inc() on a u64 (the bare op)', against: null, loop: (n) => { for (let i = 0; i < n; i++) raw.inc(); } },
    { key: 'counter.inc', label: 'PerCpuCounter.inc()', against: 'prom.counter.inc', loop: (n) => { for (let i = 0; i < n; i++) inc.inc(); } },
    { key: 'prom.counter.inc', label: 'prom-client Counter.inc()', against: null, loop: (n) => { for (let i = 0; i < n; i++) promInc.inc(); } },
    { key: 'counter.inc3', label: 'PerCpuCounter.inc(3)', against: 'prom.counter.inc3', loop: (n) => { for (let i = 0; i < n; i++) inc3.inc(3); } },
    { key: 'prom.counter.inc3', label: 'prom-client Counter.inc(3)', against: null, loop: (n) => { for (let i = 0; i < n; i++) promInc3.inc(3); } },
    { key: 'histogram.observe', label: 'PerCpuHistogram.observe(number)', against: 'prom.histogram.observe', loop: (n) => { for (let i = 0; i < n; i++) observe.observe(values[i & 1023]!); } },
    { key: 'histogram.observeBig', label: 'PerCpuHistogram.observe(bigint)', against: 'prom.histogram.observe', loop: (n) => { for (let i = 0; i < n; i++) observeBig.observe(bigValues[i & 1023]!); } },
    { key: 'prom.histogram.observe', label: 'prom-client Histogram.observe(number)', against: null, loop: (n) => { for (let i = 0; i < n; i++) promObserve.observe(values[i & 1023]!); } },
  ];
  // What `runs` runs of `ops` calls each leave in every counter and histogram.
  const counts = async () => {
    const [promIncValue, promInc3Value, promHistogram] = await Promise.all([promInc.get(), promInc3.get(), promObserve.get()]);
    const promCount = promHistogram.values.find((v) => v.metricName === 'bench_update_observe_count')?.value;
    const promSum = promHistogram.values.find((v) => v.metricName === 'bench_update_observe_sum')?.value;
    return (runs: number, ops: number): CountCheck[] => {
      let sumOfRun = 0;
      for (let i = 0; i < ops; i++) sumOfRun += values[i & 1023]!;
      const calls = runs * ops;
      return [
        check('updates: num().inc()', calls, rawVariable.readRemote(0)),
        check('updates: PerCpuCounter.inc()', calls, inc.value()),
        check('updates: PerCpuCounter.inc(3)', 3 * calls, inc3.value()),
        check('updates: PerCpuHistogram.observe(number) count', calls, observe.snapshot().count),
        check('updates: PerCpuHistogram.observe(number) sum', runs * sumOfRun, observe.snapshot().sum),
        check('updates: PerCpuHistogram.observe(bigint) count', calls, observeBig.snapshot().count),
        check('updates: prom-client Counter.inc()', calls, promIncValue.values[0]?.value),
        check('updates: prom-client Counter.inc(3)', 3 * calls, promInc3Value.values[0]?.value),
        check('updates: prom-client Histogram.observe() count', calls, promCount),
        check('updates: prom-client Histogram.observe() sum', runs * sumOfRun, promSum),
      ];
    };
  };
  return { methods, counts };
}

/** Times every update method on this thread (CPU 0): a warm-up run, then `rounds` rounds in rotating order. */
async function measureUpdates(options: Options): Promise<{ rows: UpdateRow[]; counts: CountCheck[] }> {
  const { methods, counts } = updateMethods();
  const { rounds, ops } = options;
  for (const method of methods) method.loop(ops); // warm-up: compiled, and the slots touched
  const ns = new Map<string, number[]>(methods.map((m) => [m.key, []]));
  const ratios = new Map<string, number[]>(methods.map((m) => [m.key, []]));
  for (let round = 0; round < rounds; round++) {
    const here = new Map<string, number>();
    for (let k = 0; k < methods.length; k++) {
      const method = methods[(k + round) % methods.length]!;
      const start = process.hrtime.bigint();
      method.loop(ops);
      here.set(method.key, Number(process.hrtime.bigint() - start) / ops);
    }
    for (const method of methods) {
      ns.get(method.key)!.push(here.get(method.key)!);
      if (method.against !== null) ratios.get(method.key)!.push(here.get(method.key)! / here.get(method.against)!);
    }
    progress(`updates: round ${round + 1}/${rounds}`);
  }
  const rows = methods.map((m) => ({
    key: m.key,
    label: m.label,
    nsPerOp: median(ns.get(m.key)!),
    against: m.against,
    ratio: m.against === null ? null : median(ratios.get(m.key)!),
  }));
  return { rows, counts: (await counts())(rounds + 1, ops) };
}

// ---------------------------------------------------------------- 2. scrapes

/** Times `scrapes` awaited calls of `scrape`, after one untimed; returns the median (µs) and the last text. */
async function timeScrapes(scrapes: number, scrape: () => Promise<string> | string): Promise<{ us: number; text: string }> {
  let text = await scrape();
  const us: number[] = [];
  for (let i = 0; i < scrapes; i++) {
    const start = process.hrtime.bigint();
    text = await scrape();
    us.push(Number(process.hrtime.bigint() - start) / 1000);
  }
  return { us: median(us), text };
}

/** The counter and histogram figures of a scrape's text, for the counts. */
function scrapedFigures(text: string): { counter: string | undefined; count: string | undefined; sum: string | undefined } {
  const value = (name: string) => new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1];
  return { counter: value(COUNTER_NAME), count: value(`${HISTOGRAM_NAME}_count`), sum: value(`${HISTOGRAM_NAME}_sum`) };
}

/** Forks `n` cluster workers running bench/metrics-cluster-worker, each loaded with `load` requests. */
async function startClusterWorkers(n: number, load: number): Promise<ClusterWorker[]> {
  cluster.setupPrimary({ exec: path.join(__dirname, 'metrics-cluster-worker.js'), silent: false });
  const workers = Array.from({ length: n }, () => cluster.fork());
  const next = (worker: ClusterWorker, type: string) =>
    new Promise<void>((resolve, reject) => {
      const onMessage = (message: { type?: string }) => {
        if (message.type !== type) return;
        worker.off('message', onMessage);
        resolve();
      };
      worker.on('message', onMessage);
      worker.once('exit', (code) => reject(new Error(`cluster worker ${worker.id} exited with code ${code}`)));
    });
  await Promise.all(workers.map((w) => next(w, 'bench:ready')));
  await Promise.all(workers.map((w) => (w.send({ type: 'bench:load', n: load }), next(w, 'bench:loaded'))));
  return workers;
}

async function measureScrapes(cpus: CpuSet, options: Options): Promise<{ rows: ScrapeRow[]; counts: CountCheck[] }> {
  const { load, scrapes } = options;
  await cpus.onEachCpu(task<typeof loadHere>(__filename, 'loadHere'), load);
  const { counter, histogram } = scrapeMetrics();
  const registry = new Registry();
  registerPerCpuMetrics(registry, [counter, histogram]);
  progress(`scrapes: percpu over ${CPUS} CPUs, ${scrapes} times`);
  const viaRegistry = await timeScrapes(scrapes, () => registry.metrics());
  const direct = await timeScrapes(scrapes, () => counter.toPrometheus() + histogram.toPrometheus());

  progress(`scrapes: prom-client AggregatorRegistry over ${CPUS} cluster workers, ${scrapes} times`);
  const workers = await startClusterWorkers(CPUS, load);
  let viaCluster: { us: number; text: string };
  try {
    const aggregator = new AggregatorRegistry();
    viaCluster = await timeScrapes(scrapes, () => aggregator.clusterMetrics());
  } finally {
    await Promise.all(workers.map((w) => new Promise((resolve) => (w.once('exit', resolve), w.kill()))));
  }

  const expected = expectedHistogram(load);
  const counts = (
    [
      ['percpu registry.metrics()', viaRegistry.text],
      ['percpu toPrometheus()', direct.text],
      ['prom-client AggregatorRegistry', viaCluster.text],
    ] as const
  ).flatMap(([name, text]) => {
    const figures = scrapedFigures(text);
    return [
      check(`scrape: ${name} counter`, CPUS * load, figures.counter),
      check(`scrape: ${name} histogram count`, CPUS * expected.count, figures.count),
      check(`scrape: ${name} histogram sum`, CPUS * expected.sum, figures.sum),
    ];
  });
  const base = viaRegistry.us;
  const rows: ScrapeRow[] = [
    { key: 'percpu.registry', label: `percpu: prom-client registry.metrics(), ${CPUS} CPUs read by this thread`, usPerScrape: base, ratio: 1 },
    { key: 'percpu.text', label: `percpu: toPrometheus() alone, ${CPUS} CPUs`, usPerScrape: direct.us, ratio: direct.us / base },
    { key: 'cluster', label: `prom-client AggregatorRegistry, ${CPUS} cluster workers (IPC)`, usPerScrape: viaCluster.us, ratio: viaCluster.us / base },
  ];
  return { rows, counts };
}

// ---------------------------------------------------------------- 3. drain against remote reset

async function drainVersusReset(cpus: CpuSet, options: Options): Promise<{ drain: MetricsReport['drain']; counts: CountCheck[] }> {
  const { drained, reset } = drainCounters();
  const workers = Array.from({ length: CPUS - 1 }, (_, i) => i + 1);
  const words = new SharedArrayBuffer(4 * (1 + CPUS));
  const flags = new Int32Array(words);
  const runs = workers.map((cpu) => cpus.runOn(cpu, task<typeof addUntilStopped>(__filename, 'addUntilStopped'), words));
  let viaDrain = 0n;
  let viaReset = 0n;
  // A remote "reset": read a CPU's slot, then write 0 there. An add between the two is lost; an
  // add whose non-locked read-modify-write straddles the write stores over the 0, and the period
  // already counted is counted again.
  const readAndReset = () => {
    for (const cpu of workers) {
      viaReset += reset.readRemote(cpu);
      reset.writeRemote(cpu, 0n);
    }
  };
  try {
    for (let round = 0; round < options.drains; round++) {
      const seen = workers.map((cpu) => Atomics.load(flags, 1 + cpu));
      while (workers.some((cpu, i) => Atomics.load(flags, 1 + cpu) === seen[i])) await new Promise((resolve) => setImmediate(resolve));
      viaDrain += drained.drain().total;
      readAndReset();
    }
  } finally {
    Atomics.store(flags, 0, 1);
  }
  const adds = BigInt((await Promise.all(runs)).reduce((sum, n) => sum + n, 0));
  viaDrain += drained.drain().total;
  for (const cpu of workers) viaReset += reset.readRemote(cpu);
  return {
    drain: { rounds: options.drains, adds: String(adds), countedByDrain: String(viaDrain), countedByReset: String(viaReset) },
    counts: [check('drain: periods + remainder = adds', adds, viaDrain)],
  };
}

// ---------------------------------------------------------------- report

const offBy = (difference: bigint) => (difference > 0n ? `+${difference}` : String(difference));

export function formatReport(report: MetricsReport): string {
  const o = report.options;
  const lines = [
    `percpu/metrics benchmarks: ${report.backend}; num() through ${report.fastPath}; Node ${report.node}`,
    `${o.rounds} round(s) of ${o.ops} calls a method, ${o.scrapes} scrapes of each kind, medians${o.quick ? ' (quick: figures are not meaningful)' : ''}`,
    '',
    'Updates from JS on one thread                       ns/op  vs prom-client',
    ...report.updates.map((r) => `  ${r.label.padEnd(48)} ${r.nsPerOp.toFixed(1).padStart(6)}  ${r.ratio === null ? '' : `${r.ratio.toFixed(2)}x`}`),
    '',
    `Scrape of a counter and an ${BUCKETS.length}-bucket histogram         µs/scrape  vs percpu`,
    ...report.scrapes.map((r) => `  ${r.label.padEnd(66)} ${r.usPerScrape.toFixed(1).padStart(8)}  ${r.ratio.toFixed(1)}x`),
    '',
    `Periods taken while ${CPUS - 1} CPUs add: ${report.drain.rounds} periods, then the remainder       counted   off by`,
    ...(
      [
        ['reader-side drain()', report.drain.countedByDrain],
        ['read, then writeRemote(cpu, 0)', report.drain.countedByReset],
      ] as const
    ).map(([label, counted]) => `  ${label.padEnd(66)} ${counted.padStart(10)}   ${offBy(BigInt(counted) - BigInt(report.drain.adds))}`),
    `  (the adds made: ${report.drain.adds}; a remote write can lose an add that races it, or be undone by one and count a period twice)`,
    '',
    `Counts: ${report.allExact ? `all ${report.counts.length} exact` : 'NOT EXACT'}`,
    ...report.counts.filter((c) => !c.exact).map((c) => `  ${c.name}: expected ${c.expected}, got ${c.actual}`),
  ];
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const options = parseOptions(argv);
  const cpus = await CpuSet.start({ cpus: CPUS });
  let report: MetricsReport;
  try {
    const info = region()!;
    progress(`percpu/metrics benchmarks: ${describeBackend(info)}, ${CPUS} CPUs`);
    const updates = await measureUpdates(options);
    const scrapes = await measureScrapes(cpus, options);
    const drain = await drainVersusReset(cpus, options);
    const counts = [...updates.counts, ...scrapes.counts, ...drain.counts];
    const { json: _json, ...reported } = options;
    report = {
      backend: describeBackend(info),
      fastPath: fastPath.reason,
      node: process.versions.node,
      options: reported,
      updates: updates.rows,
      scrapes: scrapes.rows,
      drain: drain.drain,
      counts,
      allExact: counts.every((c) => c.exact),
    };
  } finally {
    await cpus.close();
  }
  process.stdout.write(`${formatReport(report)}\n`);
  if (options.json !== null) fs.writeFileSync(options.json, `${JSON.stringify(report, null, 2)}\n`);
  return report.allExact ? 0 : 1;
}

if (require.main === module) {
  const fail = (error: unknown) => (process.stderr.write(`bench:metrics: ${error instanceof Error ? error.message : String(error)}\n`), 2);
  void main(process.argv.slice(2)).catch(fail).then((code) => (process.exitCode = code));
}
