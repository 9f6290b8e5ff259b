/**
 * Compile-time tests of percpu/metrics's types (npm run test:types), through the package's
 * "exports" as a user sees them; and that a prom-client Registry is what registerPerCpuMetrics takes.
 */
import { expectTypeOf } from 'expect-type';
import { Registry } from 'prom-client';
import {
  PerCpuCounter,
  PerCpuGauge,
  PerCpuHistogram,
  registerPerCpuMetrics,
  reviveMetric,
  type Drained,
  type HistogramSnapshot,
  type MetricFamily,
  type SharedPerCpuMetric,
} from 'percpu/metrics';

const requests = new PerCpuCounter({ name: 'requests_total', help: 'Requests' });
const latency = new PerCpuHistogram({ name: 'latency_seconds', help: 'Latency', buckets: [1000, 5000], decimals: 6 });
const inFlight = new PerCpuGauge({ name: 'in_flight', help: 'In flight' });

requests.inc();
requests.inc(2);
requests.inc(2n);
// @ts-expect-error a counter takes an integer, not a string
requests.inc('2');
latency.observe(1500);
latency.observe(1500n);
inFlight.set(-3);
inFlight.dec(1n);
// @ts-expect-error a histogram needs its buckets
new PerCpuHistogram({ name: 'h', help: 'h' });

expectTypeOf(requests.value()).toEqualTypeOf<bigint>();
expectTypeOf(requests.values()).toEqualTypeOf<bigint[]>();
expectTypeOf(requests.drain()).toEqualTypeOf<Drained<bigint>>();
expectTypeOf(requests.type).toEqualTypeOf<'counter'>();
expectTypeOf(latency.snapshot()).toEqualTypeOf<HistogramSnapshot>();
expectTypeOf(latency.drain().byCpu).toEqualTypeOf<HistogramSnapshot[]>();
expectTypeOf(latency.collect({ cpuLabel: true })).toEqualTypeOf<MetricFamily>();
expectTypeOf(latency.toPrometheus()).toEqualTypeOf<string>();
expectTypeOf(inFlight.value()).toEqualTypeOf<bigint>();
expectTypeOf(requests.share()).toEqualTypeOf<SharedPerCpuMetric>();
expectTypeOf(reviveMetric(latency.share())).toEqualTypeOf<PerCpuCounter | PerCpuGauge | PerCpuHistogram>();

// prom-client's own Registry, in either content type, is accepted as it is typed.
registerPerCpuMetrics(new Registry(), [requests, latency, inFlight]);
const openMetrics = new Registry<typeof Registry.OPENMETRICS_CONTENT_TYPE>();
openMetrics.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
registerPerCpuMetrics(openMetrics, [requests], { cpuLabel: true });
// @ts-expect-error not a registry
registerPerCpuMetrics({}, [requests]);
// @ts-expect-error not a per-CPU metric
registerPerCpuMetrics(new Registry(), [{ name: 'x' }]);
