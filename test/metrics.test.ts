/**
 * percpu/metrics: counters, gauges and histograms over per-CPU slots, their exact reads and
 * exposition, the drain contract under load, and definition by name across threads.
 */
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { ConflictError, NotBoundError, PerCpuRangeError, PerCpuTypeError, stats, task, thisCpu } from '../lib';
import {
  PerCpuCounter,
  PerCpuGauge,
  PerCpuHistogram,
  formatDecimal,
  isSharedPerCpuMetric,
  reviveMetric,
  type HistogramSnapshot,
} from '../lib/metrics';
import { ALL_CPUS, TEST_CPUS, assertThrowsCode, useCpuSet } from './helpers';
import { Load, type LoadTotals } from './metrics-tasks';
import type * as tasks from './metrics-tasks';

const TASKS = require.resolve('./metrics-tasks');
const update = task<typeof tasks.update>(TASKS, 'update');
const U64_MAX = (1n << 64n) - 1n;

let unique = 0;
/** A metric name no other test uses: metrics are statics, defined for the whole run. */
const fresh = (base: string) => `test_${base}_${unique++}`;

const TYPE = ['PerCpuTypeError', 'ERR_PERCPU_INVALID_ARG'] as const;
const RANGE = ['PerCpuRangeError', 'ERR_PERCPU_OUT_OF_RANGE'] as const;

describe('percpu/metrics', function () {
  describe('definition', function () {
    it('checks name, help, decimals and buckets, defining nothing when it throws', function () {
      const before = stats().liveAllocations;
      const bad: [() => unknown, typeof TYPE | typeof RANGE][] = [
        [() => new PerCpuCounter(undefined as never), TYPE],
        [() => new PerCpuCounter({ name: '1abc', help: '' }), TYPE],
        [() => new PerCpuCounter({ name: 'a-b', help: '' }), TYPE],
        [() => new PerCpuCounter({ name: 7 as never, help: '' }), TYPE],
        [() => new PerCpuCounter({ name: 'a'.repeat(201), help: '' }), RANGE],
        [() => new PerCpuCounter({ name: 'ok_name', help: 3 as never }), TYPE],
        [() => new PerCpuCounter({ name: 'ok_name', help: '', decimals: 1.5 }), TYPE],
        [() => new PerCpuCounter({ name: 'ok_name', help: '', decimals: 19 }), RANGE],
        [() => new PerCpuGauge({ name: 'ok_name', help: '', decimals: -1 }), RANGE],
        [() => new PerCpuHistogram({ name: 'ok_name', help: '', buckets: undefined as never }), TYPE],
        [() => new PerCpuHistogram({ name: 'ok_name', help: '', buckets: [] }), RANGE],
        [() => new PerCpuHistogram({ name: 'ok_name', help: '', buckets: Array.from({ length: 257 }, (_, i) => i) }), RANGE],
        [() => new PerCpuHistogram({ name: 'ok_name', help: '', buckets: [1, 2.5] }), TYPE],
        [() => new PerCpuHistogram({ name: 'ok_name', help: '', buckets: [1, Infinity] }), TYPE],
        [() => new PerCpuHistogram({ name: 'ok_name', help: '', buckets: [5, 5] }), RANGE],
        [() => new PerCpuHistogram({ name: 'ok_name', help: '', buckets: [5, 3] }), RANGE],
        [() => new PerCpuHistogram({ name: 'ok_name', help: '', buckets: [-1, 3] }), RANGE],
        [() => new PerCpuHistogram({ name: 'ok_name', help: '', buckets: [1, 2n] as never }), TYPE],
      ];
      for (const [fn, [name, code]] of bad) assertThrowsCode(fn, name === 'PerCpuTypeError' ? PerCpuTypeError : PerCpuRangeError, code, name);
      assert.equal(stats().liveAllocations, before);
    });

    it('a metric is its statics: 1 slot + 1 for the shape (counter, gauge), buckets + 1 + sum + shape (histogram)', function () {
      const before = stats().liveAllocations;
      new PerCpuCounter({ name: fresh('c'), help: '' });
      new PerCpuGauge({ name: fresh('g'), help: '' });
      new PerCpuHistogram({ name: fresh('h'), help: '', buckets: [1, 2, 3] });
      assert.equal(stats().liveAllocations, before + 2 + 2 + 6);
    });

    it('the same name and shape is the same metric; another type, buckets or decimals is a ConflictError that defines nothing', function () {
      const name = fresh('shape');
      const a = new PerCpuHistogram({ name, help: 'first', buckets: [10, 20] });
      const before = stats().liveAllocations;
      const b = new PerCpuHistogram({ name, help: 'other help is fine', buckets: [10, 20] });
      assert.equal(stats().liveAllocations, before);
      for (const conflicting of [
        () => new PerCpuHistogram({ name, help: '', buckets: [10, 20, 30] }),
        () => new PerCpuHistogram({ name, help: '', buckets: [10, 20], decimals: 3 }),
        () => new PerCpuCounter({ name, help: '' }),
        () => new PerCpuGauge({ name, help: '' }),
      ]) {
        const error = assertThrowsCode(conflicting, ConflictError, 'ERR_PERCPU_CONFLICT');
        assert.equal(error.message, `a per-CPU metric named '${name}' is already defined with another type, buckets or decimals`);
      }
      const counter = fresh('kind');
      new PerCpuCounter({ name: counter, help: '' });
      assertThrowsCode(() => new PerCpuGauge({ name: counter, help: '' }), ConflictError, 'ERR_PERCPU_CONFLICT');
      assert.equal(stats().liveAllocations, before + 2);
      assert.deepEqual(a.snapshot(), b.snapshot());
    });

    it('a full area is a NoSpaceError before any static is defined (in a process of its own)', async function () {
      const { stdout } = await promisify(execFile)(process.execPath, [require.resolve('./metrics-child')], { encoding: 'utf8' });
      // One page a CPU holds the CPU number (64 bytes) and one histogram of 256 buckets (259 slots, 2072 bytes).
      assert.deepEqual(JSON.parse(stdout), {
        made: 1,
        freeBefore: 4096 - 64 - 2072,
        liveBefore: 259,
        liveAfter: 259,
        error: 'NoSpaceError',
        code: 'ERR_PERCPU_NO_SPACE',
        message: "the per-CPU area has no room for the 2072 bytes of metric 'full_1'",
      });
    });

    it('share() is plain data; reviveMetric() gives the same metric; anything else is a PerCpuTypeError', function () {
      const h = new PerCpuHistogram({ name: fresh('shared'), help: 'h', buckets: [1, 5], decimals: 3 });
      const shared = h.share();
      assert.deepEqual(structuredClone(shared), { percpuMetric: 'histogram', name: h.name, help: 'h', decimals: 3, buckets: [1, 5] });
      assert.ok(isSharedPerCpuMetric(structuredClone(shared)));
      const again = reviveMetric(structuredClone(shared));
      assert.ok(again instanceof PerCpuHistogram);
      assert.deepEqual(again.bounds, [1, 5]);
      for (const notShared of [null, 1, {}, { percpuMetric: 'summary' }]) {
        assert.equal(isSharedPerCpuMetric(notShared), false);
        assertThrowsCode(() => reviveMetric(notShared as never), PerCpuTypeError, 'ERR_PERCPU_INVALID_ARG');
      }
    });
  });

  describe('on a thread that is not a CPU', function () {
    it('updates throw NotBoundError and change nothing; reads work', function () {
      assert.equal(thisCpu(), null);
      const c = new PerCpuCounter({ name: fresh('unbound'), help: '' });
      const g = new PerCpuGauge({ name: fresh('unbound'), help: '' });
      const h = new PerCpuHistogram({ name: fresh('unbound'), help: '', buckets: [1] });
      for (const fn of [() => c.inc(), () => c.inc(2), () => g.inc(), () => g.dec(1n), () => g.set(5), () => h.observe(1), () => h.observe(3n)]) {
        assertThrowsCode(fn, NotBoundError, 'ERR_PERCPU_NOT_BOUND');
      }
      assert.equal(c.value(), 0n);
      assert.equal(g.value(), 0n);
      assert.deepEqual(h.snapshot(), { buckets: [0n, 0n], sum: 0n, count: 0n });
    });
  });

  describe('on CPUs', function () {
    const cpus = useCpuSet();

    it('PerCpuCounter: inc() adds 1, inc(n) adds a number or bigint, exactly up to 2^64 - 1 on a CPU', async function () {
      const c = new PerCpuCounter({ name: fresh('requests_total'), help: 'Requests' });
      c.inc();
      const { inc } = c; // each metric's own method: no `this` needed
      inc(41);
      c.inc(2n ** 60n);
      assert.deepEqual(c.values(), [2n ** 60n + 42n, 0n, 0n, 0n]);
      assert.equal(await cpus.set.runOn(2, update, c.share(), 'inc', [undefined, 9, U64_MAX - 10n]), 2);
      assert.deepEqual(c.values(), [2n ** 60n + 42n, 0n, U64_MAX, 0n]);
      assert.equal(c.value(), 2n ** 60n + 42n + U64_MAX); // past 2^64: the total does not wrap
    });

    it('PerCpuCounter: a bad increment throws and changes nothing', function () {
      const c = new PerCpuCounter({ name: fresh('bad_inc'), help: '' });
      c.inc(5);
      const cases: [unknown, typeof TYPE | typeof RANGE][] = [
        [-1, RANGE],
        [-1n, RANGE],
        [2n ** 64n, RANGE],
        [2 ** 53, RANGE],
        [1.5, TYPE],
        [NaN, TYPE],
        ['1', TYPE],
        [null, TYPE],
      ];
      for (const [amount, [name, code]] of cases) {
        assertThrowsCode(() => c.inc(amount as never), name === 'PerCpuTypeError' ? PerCpuTypeError : PerCpuRangeError, code, name);
      }
      assert.deepEqual(c.values(), [5n, 0n, 0n, 0n]);
    });

    it('PerCpuGauge: inc, dec and set change this CPU\'s share; the gauge is the sum of the shares', async function () {
      const g = new PerCpuGauge({ name: fresh('in_flight'), help: '' });
      g.inc();
      g.inc(10);
      const { dec } = g;
      dec();
      g.dec(20n);
      assert.equal(g.value(), -10n);
      await cpus.set.runOn(1, update, g.share(), 'set', [7, 2n ** 62n]);
      await cpus.set.runOn(3, update, g.share(), 'dec', [2 ** 40]);
      assert.deepEqual(g.values(), [-10n, 2n ** 62n, 0n, -(2n ** 40n)]);
      assert.equal(g.value(), 2n ** 62n - 2n ** 40n - 10n);
      g.set(-(2n ** 63n));
      g.dec(); // wraps in the slot, as the machine does
      assert.equal(g.values()[0], 2n ** 63n - 1n);
      for (const [value, cls, code] of [
        [2n ** 63n, PerCpuRangeError, 'ERR_PERCPU_OUT_OF_RANGE'],
        [2 ** 53, PerCpuRangeError, 'ERR_PERCPU_OUT_OF_RANGE'],
        [0.5, PerCpuTypeError, 'ERR_PERCPU_INVALID_ARG'],
      ] as const) {
        assertThrowsCode(() => g.set(value), cls, code);
        assertThrowsCode(() => g.inc(value), cls, code);
      }
      assert.equal(g.values()[0], 2n ** 63n - 1n);
    });

    it('PerCpuHistogram: a value goes to the first bucket whose bound it does not exceed; buckets are cumulative', async function () {
      const h = new PerCpuHistogram({ name: fresh('latency'), help: '', buckets: [0, 10, 100, 1000] });
      const { observe } = h;
      for (const v of [0, 1, 10, 11, 99, 100, 101, 1000, 1001, 2 ** 53 - 1, 5n]) observe(v);
      await cpus.set.runOn(2, update, h.share(), 'observe', [U64_MAX]);
      const sum = 0n + 1n + 10n + 11n + 99n + 100n + 101n + 1000n + 1001n + (2n ** 53n - 1n) + 5n + U64_MAX; // past 2^64: no wrap
      assert.deepEqual(h.snapshot(), { buckets: [1n, 4n, 7n, 9n, 12n], sum, count: 12n });
      assert.deepEqual(
        h.snapshots().map((s) => s.count),
        [11n, 0n, 1n, 0n],
      );
      assert.deepEqual(h.snapshots()[2], { buckets: [0n, 0n, 0n, 0n, 1n], sum: U64_MAX, count: 1n });
      assert.deepEqual(h.bounds, [0, 10, 100, 1000]);
      assert.ok(Object.isFrozen(h.bounds));
    });

    it('each metric has its own methods: many metrics side by side count each in its own slots', function () {
      const counters = Array.from({ length: 8 }, (_, i) => new PerCpuCounter({ name: fresh(`many_${i}_total`), help: 'c' }));
      const histograms = [[1], [1, 2, 3], Array.from({ length: 256 }, (_, i) => 2 * i)].map((buckets) => new PerCpuHistogram({ name: fresh('many'), help: 'h', buckets }));
      for (let round = 0; round < 3; round++) counters.forEach((c, i) => c.inc(i));
      for (const h of histograms) for (const v of [0, 2, 3, 511, 512]) h.observe(v);
      assert.deepEqual(counters.map((c) => c.value()), [0n, 3n, 6n, 9n, 12n, 15n, 18n, 21n]);
      assert.deepEqual(histograms[0]!.snapshot().buckets, [1n, 5n]);
      assert.deepEqual(histograms[1]!.snapshot().buckets, [1n, 2n, 3n, 5n]);
      const wide = histograms[2]!.snapshot().buckets; // bounds 0, 2, 4, ... 510, then +Inf
      assert.deepEqual([wide[0], wide[1], wide[2], wide[254], wide[255], wide[256]], [1n, 2n, 3n, 3n, 3n, 5n]);
      assert.notEqual(counters[0]!.inc, counters[1]!.inc);
    });

    it('PerCpuHistogram: a bad observation throws and changes nothing (neither bucket nor sum)', function () {
      const h = new PerCpuHistogram({ name: fresh('bad_obs'), help: '', buckets: [10] });
      h.observe(3);
      for (const [value, cls, code] of [
        [-1, PerCpuRangeError, 'ERR_PERCPU_OUT_OF_RANGE'],
        [-1n, PerCpuRangeError, 'ERR_PERCPU_OUT_OF_RANGE'],
        [2n ** 64n, PerCpuRangeError, 'ERR_PERCPU_OUT_OF_RANGE'],
        [2 ** 53, PerCpuRangeError, 'ERR_PERCPU_OUT_OF_RANGE'],
        [Infinity, PerCpuTypeError, 'ERR_PERCPU_INVALID_ARG'],
        [0.5, PerCpuTypeError, 'ERR_PERCPU_INVALID_ARG'],
        ['5', PerCpuTypeError, 'ERR_PERCPU_INVALID_ARG'],
        [undefined, PerCpuTypeError, 'ERR_PERCPU_INVALID_ARG'],
      ] as const) {
        assertThrowsCode(() => h.observe(value as never), cls, code);
      }
      assert.deepEqual(h.snapshot(), { buckets: [1n, 1n], sum: 3n, count: 1n });
    });

    it('every CPU defining a metric by name gets the same slots', async function () {
      const name = fresh('by_name_total');
      const ran = await cpus.set.onEachCpu(task<typeof tasks.incByName>(TASKS, 'incByName'), name, 'help', 5);
      assert.deepEqual(ran, ALL_CPUS);
      const c = new PerCpuCounter({ name, help: 'help' });
      assert.deepEqual(c.values(), [5n, 5n, 5n, 5n]);
      const gauge = fresh('by_name');
      await cpus.set.onEachCpu(task<typeof tasks.setGauge>(TASKS, 'setGauge'), gauge, '', -3);
      assert.equal(new PerCpuGauge({ name: gauge, help: '' }).value(), -12n);
    });

    it('drain(): what was added since the previous drain, by CPU, without writing any slot', async function () {
      const c = new PerCpuCounter({ name: fresh('drained_total'), help: '' });
      c.inc(3);
      await cpus.set.runOn(1, update, c.share(), 'inc', [4]);
      assert.deepEqual(c.drain(), { total: 7n, byCpu: [3n, 4n, 0n, 0n] });
      assert.deepEqual(c.drain(), { total: 0n, byCpu: [0n, 0n, 0n, 0n] });
      await cpus.set.runOn(3, update, c.share(), 'inc', [U64_MAX - 1n]);
      c.inc(1);
      assert.deepEqual(c.drain(), { total: U64_MAX, byCpu: [1n, 0n, 0n, U64_MAX - 1n] });
      // The slots keep counting: value() is every increment since the counter was defined.
      assert.deepEqual(c.values(), [4n, 4n, 0n, U64_MAX - 1n]);
      // A slot that wrapped past 2^64 still drains what was added (mod 2^64 a period).
      await cpus.set.runOn(3, update, c.share(), 'inc', [5]);
      assert.deepEqual(c.values(), [4n, 4n, 0n, 3n]);
      assert.deepEqual(c.drain(), { total: 5n, byCpu: [0n, 0n, 0n, 5n] });
      // Another object of the same counter has its own baseline: it sees everything once.
      assert.deepEqual(new PerCpuCounter({ name: c.name, help: '' }).drain().byCpu, [4n, 4n, 0n, 3n]);
    });

    it(`drain() while ${TEST_CPUS} CPUs add loses nothing: the periods plus the remainder are exactly the adds`, async function () {
      this.timeout(120_000);
      const counter = new PerCpuCounter({ name: fresh('load_total'), help: '' });
      const histogram = new PerCpuHistogram({ name: fresh('load'), help: '', buckets: [10, 50, 100, 500, 1000] });
      const words = new SharedArrayBuffer(4 * (2 + TEST_CPUS));
      const flags = new Int32Array(words);
      const workers = ALL_CPUS.slice(1);
      const runs = workers.map((cpu) =>
        cpus.set.runOn(cpu, task<typeof tasks.loadUntilStopped>(TASKS, 'loadUntilStopped'), counter.share(), histogram.share(), words),
      );
      const mine = new Load(counter, histogram); // CPU 0, this thread, adds between drains
      const periods: bigint[][] = [];
      const histogramPeriods: HistogramSnapshot[] = [];
      const DRAINS = 40;
      try {
        while (Atomics.load(flags, 1) < workers.length) await nextTurn();
        for (let round = 0; round < DRAINS; round++) {
          // Each period: every worker has run at least one more batch since the last drain.
          const seen = workers.map((cpu) => Atomics.load(flags, 2 + cpu));
          while (workers.some((cpu, i) => Atomics.load(flags, 2 + cpu) === seen[i])) await nextTurn();
          mine.run(200);
          periods.push(counter.drain().byCpu);
          histogramPeriods.push(histogram.drain().total);
        }
      } finally {
        Atomics.store(flags, 0, 1);
      }
      const totals: LoadTotals[] = [mine.totals, ...(await Promise.all(runs))];
      const remainder = counter.drain();
      const histogramRemainder = histogram.drain().total;
      assert.deepEqual(totals.map((t) => t.cpu), ALL_CPUS);

      // By CPU: the drained periods plus the remainder are exactly what that CPU added.
      for (const cpu of ALL_CPUS) {
        const drained = periods.reduce((sum, period) => sum + period[cpu]!, 0n) + remainder.byCpu[cpu]!;
        assert.equal(drained, totals[cpu]!.added, `CPU ${cpu}`);
      }
      const added = totals.reduce((sum, t) => sum + t.added, 0n);
      assert.equal(periods.flat().reduce((a, b) => a + b, 0n) + remainder.total, added);
      assert.equal(counter.value(), added);

      // The histogram: every bucket, the count and the sum, summed over the periods.
      const observed = histogram.bounds.map((_, i) => totals.reduce((sum, t) => sum + t.buckets[i]!, 0)).concat(totals.reduce((sum, t) => sum + t.buckets.at(-1)!, 0));
      const all = [...histogramPeriods, histogramRemainder];
      const perBucket = observed.map((_, i) => all.reduce((sum, s) => sum + s.buckets[i]! - (i === 0 ? 0n : s.buckets[i - 1]!), 0n));
      assert.deepEqual(perBucket, observed.map(BigInt));
      assert.equal(all.reduce((sum, s) => sum + s.count, 0n), BigInt(totals.reduce((sum, t) => sum + t.incs, 0)));
      assert.equal(all.reduce((sum, s) => sum + s.sum, 0n), totals.reduce((sum, t) => sum + t.observedSum, 0n));

      const busy = periods.filter((period) => workers.every((cpu) => period[cpu]! > 0n)).length;
      console.log(
        `      ${DRAINS} drains + remainder = ${added} added in ${totals.reduce((sum, t) => sum + t.incs, 0)} inc() ` +
          `(by CPU ${totals.map((t) => t.incs).join(' + ')}); every worker added in ${busy} of ${DRAINS} periods; remainder ${remainder.total}`,
      );
    });
  });

  describe('exposition (Prometheus text format)', function () {
    const cpus = useCpuSet();

    it('formatDecimal: a bigint scaled by 10^-decimals, exactly, without trailing zeros', function () {
      assert.equal(formatDecimal(0n, 0), '0');
      assert.equal(formatDecimal(0n, 6), '0');
      assert.equal(formatDecimal(5n, 3), '0.005');
      assert.equal(formatDecimal(1234500n, 6), '1.2345');
      assert.equal(formatDecimal(1000000n, 6), '1');
      assert.equal(formatDecimal(-15n, 1), '-1.5');
      assert.equal(formatDecimal(U64_MAX, 9), '18446744073.709551615');
      assert.equal(formatDecimal(U64_MAX, 0), '18446744073709551615');
    });

    it('a counter past 2^53, by total and by CPU, exactly; HELP escaped', async function () {
      const c = new PerCpuCounter({ name: fresh('big_total'), help: 'Big \\ counter\nwith "quotes"' });
      c.inc(2n ** 53n + 1n);
      await cpus.set.runOn(3, update, c.share(), 'inc', [U64_MAX]);
      const total = '18455751272964292608'; // 2^53 + 1 + 2^64 - 1
      assert.equal(BigInt(total), 2n ** 53n + 1n + U64_MAX);
      const head = [`# HELP ${c.name} Big \\\\ counter\\nwith "quotes"`, `# TYPE ${c.name} counter`];
      assert.equal(c.toPrometheus(), [...head, `${c.name} ${total}`, ''].join('\n'));
      assert.equal(
        c.toPrometheus({ cpuLabel: true }),
        [...head, `${c.name}{cpu="0"} 9007199254740993`, `${c.name}{cpu="1"} 0`, `${c.name}{cpu="2"} 0`, `${c.name}{cpu="3"} 18446744073709551615`, ''].join('\n'),
      );
      assert.deepEqual(c.collect(), { name: c.name, help: c.help, type: 'counter', samples: [{ name: c.name, labels: {}, value: total }] });
    });

    it('a histogram in seconds from nanoseconds (decimals: 9): le and sum exact, count = +Inf', async function () {
      const h = new PerCpuHistogram({ name: fresh('request_seconds'), help: 'Latency', buckets: [500_000, 1_000_000, 2_500_000_000], decimals: 9 });
      h.observe(400_000n);
      h.observe(1_000_000n);
      await cpus.set.runOn(1, update, h.share(), 'observe', [3_000_000_001n, 2_000_000n]);
      const n = h.name;
      assert.equal(
        h.toPrometheus(),
        [
          `# HELP ${n} Latency`,
          `# TYPE ${n} histogram`,
          `${n}_bucket{le="0.0005"} 1`,
          `${n}_bucket{le="0.001"} 2`,
          `${n}_bucket{le="2.5"} 3`,
          `${n}_bucket{le="+Inf"} 4`,
          `${n}_sum 3.003400001`,
          `${n}_count 4`,
          '',
        ].join('\n'),
      );
      const byCpu = h.toPrometheus({ cpuLabel: true }).split('\n');
      assert.equal(byCpu.length, 2 + 4 * 6 + 1);
      assert.deepEqual(byCpu.slice(8, 14), [
        `${n}_bucket{cpu="1",le="0.0005"} 0`,
        `${n}_bucket{cpu="1",le="0.001"} 0`,
        `${n}_bucket{cpu="1",le="2.5"} 1`,
        `${n}_bucket{cpu="1",le="+Inf"} 2`,
        `${n}_sum{cpu="1"} 3.002000001`,
        `${n}_count{cpu="1"} 2`,
      ]);
    });

    it('a gauge with decimals, negative', function () {
      const g = new PerCpuGauge({ name: fresh('temperature_celsius'), help: 'T', decimals: 2 });
      g.set(-1234);
      assert.equal(g.toPrometheus(), `# HELP ${g.name} T\n# TYPE ${g.name} gauge\n${g.name} -12.34\n`);
    });
  });
});
