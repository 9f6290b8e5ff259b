/**
 * percpu/metrics: counters, gauges and histograms over per-CPU variables, for Node services whose
 * worker threads are CPUs. Every worker updates its own slot with one instruction (`add
 * %reg,%gs:(off)` on the gs backend); any thread reads the exact totals at once, with no message
 * to any worker. A bridge shows them in a prom-client Registry's `/metrics` text (prom-client is
 * an optional peer dependency: nothing here imports it).
 *
 * The read contracts (what a read taken during updates includes, and drain(), which loses no
 * update) are written on each class; docs/metrics.md has the whole story.
 */
export { PerCpuMetric, PerCpuScalarMetric, STATIC_PREFIX, MAX_NAME_LENGTH, MAX_DECIMALS } from './metric';
export type { MetricOptions, ExportOptions, SharedPerCpuMetric, Drained } from './metric';
export { PerCpuCounter } from './counter';
export { PerCpuGauge } from './gauge';
export { PerCpuHistogram, MAX_BUCKETS } from './histogram';
export type { HistogramOptions, HistogramSnapshot } from './histogram';
export { formatDecimal } from './exposition';
export type { MetricType, MetricSample, MetricFamily } from './exposition';
export { registerPerCpuMetrics } from './prom-client';
export type { PromClientRegistry } from './prom-client';
export { reviveMetric, isSharedPerCpuMetric } from './revive';
