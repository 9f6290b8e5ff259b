/**
 * The prom-client bridge: per-CPU metrics in a prom-client Registry, so that its `metrics()` (the
 * `/metrics` text) shows them, read from the thread that scrapes with no message to any other.
 * percpu does not import prom-client (an optional peer dependency): the caller hands its registry.
 */
import { ConflictError, PerCpuTypeError } from '../index';
import type { MetricFamily, MetricSample } from './exposition';
import { PerCpuMetric, SlotBaseline, type ExportOptions } from './metric';

/**
 * What the bridge uses of a prom-client (15.x) Registry. `getMetricsAsString`, which prom-client's
 * types leave out, is checked when the registry is handed over.
 */
export interface PromClientRegistry {
  registerMetric(metric: never): void;
  getSingleMetric(name: string): unknown;
}

/** A value as prom-client's JSON has it (its `MetricValue`): a JS number. */
interface PromValue {
  value: number;
  labels: Record<string, string>;
  metricName?: string;
}

/** prom-client's MetricObjectWithValues, as `get()` returns it. */
interface PromMetricObject {
  name: string;
  help: string;
  type: string;
  aggregator: 'sum';
  values: PromValue[];
}

type GetMetricsAsString = (this: unknown, metric: unknown) => Promise<string>;

/**
 * A per-CPU metric as prom-client's registry sees it: name, help, type, aggregator, get() and
 * reset(). reset() (the registry's `resetMetrics()`) moves a reader-side baseline, as drain()
 * does: it writes no slot, so it loses no update, and the metric counts from there.
 */
class PromClientMetric {
  /** Writable: an OpenMetrics registry takes `_total` off a counter's name here. */
  name: string;
  readonly help: string;
  readonly type: string;
  readonly aggregator = 'sum' as const;
  readonly #metric: PerCpuMetric;
  readonly #options: ExportOptions;
  /** Set by the first reset(): from then on the metric is read by CPU, less the baseline. */
  #baseline: SlotBaseline | undefined;

  constructor(metric: PerCpuMetric, options: ExportOptions) {
    this.name = metric.name;
    this.help = metric.help;
    this.type = metric.type;
    this.#metric = metric;
    this.#options = options;
  }

  /** The metric read once, exactly (since the last reset()). */
  family(): MetricFamily {
    const metric = this.#metric;
    const baseline = this.#baseline;
    const series = baseline === undefined ? metric.readSeries(this.#options) : metric.seriesOf(baseline.since(false), this.#options);
    const samples = metric.samplesOf(series);
    return { name: this.name, help: this.help, type: metric.type, samples };
  }

  /** The family in prom-client's JSON: JS numbers; a sample named otherwise than the metric has its metricName. */
  promObject(family: MetricFamily): PromMetricObject {
    return {
      name: family.name,
      help: family.help,
      type: family.type,
      aggregator: 'sum',
      values: family.samples.map((sample) => ({
        value: Number(sample.value),
        labels: { ...sample.labels },
        // A counter's or gauge's samples take the registry's name for it (OpenMetrics renames counters).
        ...(sample.name === this.#metric.name ? {} : { metricName: sample.name }),
      })),
    };
  }

  /**
   * The metric in prom-client's JSON (`getMetricsAsJSON()`, a cluster worker's reply to an
   * AggregatorRegistry): JS numbers, as prom-client's types have them, so exact up to 2^53.
   */
  async get(): Promise<PromMetricObject> {
    return this.promObject(this.family());
  }

  reset(): void {
    (this.#baseline ??= new SlotBaseline(this.#metric)).since(true);
  }
}

/**
 * The text of `family` as prom-client writes it, with each sample's exact value in place of the
 * JS number it printed. prom-client writes `# HELP`, `# TYPE`, then one line a value, in order,
 * each `<name>{<labels>} <number>` (label values escape their newlines): the value is the last field.
 */
function withExactValues(text: string, samples: readonly MetricSample[]): string {
  const lines = text.split('\n');
  if (lines.length !== samples.length + 2) {
    throw new Error(`percpu/metrics: prom-client wrote ${lines.length - 2} lines for ${samples.length} samples: an unknown prom-client format`);
  }
  samples.forEach((sample, i) => {
    const line = lines[i + 2]!;
    const space = line.lastIndexOf(' ');
    if (Number(line.slice(space + 1)) !== Number(sample.value)) {
      throw new Error(`percpu/metrics: prom-client wrote '${line}' for the value ${sample.value}: an unknown prom-client format`);
    }
    lines[i + 2] = `${line.slice(0, space + 1)}${sample.value}`;
  });
  return lines.join('\n');
}

/** The registries whose getMetricsAsString writes percpu's values exactly. */
const bridged = new WeakSet<object>();

/**
 * prom-client prints values with `${number}` (a bigint or a string would come out as `+Inf`), so
 * the bridge wraps this registry's own getMetricsAsString (an own property of this registry only):
 * for percpu's metrics it lets prom-client write the lines (names, default labels, escapes,
 * OpenMetrics) and puts the exact values in; every other metric goes to prom-client's as before.
 */
function bridge(registry: PromClientRegistry): void {
  if (bridged.has(registry)) return;
  const original = (registry as unknown as { getMetricsAsString: GetMetricsAsString }).getMetricsAsString;
  async function getMetricsAsString(this: unknown, metric: unknown): Promise<string> {
    if (!(metric instanceof PromClientMetric)) return original.call(this, metric);
    const family = metric.family();
    const promObject = metric.promObject(family);
    return withExactValues(await original.call(this, { get: async () => promObject }), family.samples);
  }
  Object.defineProperty(registry, 'getMetricsAsString', { value: getMetricsAsString, writable: true, configurable: true, enumerable: false });
  bridged.add(registry);
}

/**
 * Registers per-CPU metrics with a prom-client Registry: its `metrics()` then shows each one, read
 * on the scraping thread from every CPU's slots at once, exactly (bigints in decimal, never
 * through a JS number), with `{ cpuLabel: true }` one series per CPU. Its `getMetricsAsJSON()` (and
 * so prom-client's cluster aggregation) has them as JS numbers, exact up to 2^53.
 *
 * Throws, registering none, if `registry` is not a prom-client Registry, if a metric is not a
 * per-CPU metric, or if a name is taken (in the registry or twice in `metrics`).
 */
export function registerPerCpuMetrics(registry: PromClientRegistry, metrics: Iterable<PerCpuMetric>, options: ExportOptions = {}): void {
  const r = registry as unknown as Record<string, unknown> | null;
  if (typeof r !== 'object' || r === null || !['registerMetric', 'getSingleMetric', 'getMetricsAsString'].every((m) => typeof r[m] === 'function')) {
    throw new PerCpuTypeError('registerPerCpuMetrics() takes a prom-client Registry');
  }
  if (typeof options !== 'object' || options === null) throw new PerCpuTypeError('registerPerCpuMetrics() takes options { cpuLabel }');
  const exportOptions: ExportOptions = { cpuLabel: options.cpuLabel === true };
  const list = [...metrics];
  const names = new Set<string>();
  for (const metric of list) {
    if (!(metric instanceof PerCpuMetric)) throw new PerCpuTypeError('registerPerCpuMetrics() takes per-CPU metrics (PerCpuCounter, PerCpuGauge, PerCpuHistogram)');
    if (names.has(metric.name) || registry.getSingleMetric(metric.name) !== undefined) {
      throw new ConflictError(`a metric named '${metric.name}' is already registered`);
    }
    names.add(metric.name);
  }
  bridge(registry);
  for (const metric of list) registry.registerMetric(new PromClientMetric(metric, exportOptions) as never);
}
