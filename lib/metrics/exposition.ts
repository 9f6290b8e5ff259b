/**
 * The Prometheus text exposition format (version 0.0.4) of per-CPU metrics, exact: every value is
 * a bigint written out in decimal, never through a JS number.
 */

/** The Prometheus metric types percpu/metrics has. */
export type MetricType = 'counter' | 'gauge' | 'histogram';

/** One line of the exposition: `name{labels} value`. */
export interface MetricSample {
  /** The sample's name: the metric's, or for a histogram the metric's with `_bucket`, `_sum` or `_count`. */
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  /** The value, exactly, in decimal (a bigint's digits, with a point where the metric has decimals). */
  readonly value: string;
}

/** A metric as Prometheus sees it: its name, help, type and samples, read once. */
export interface MetricFamily {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly samples: readonly MetricSample[];
}

/**
 * `value` × 10^-decimals in decimal, exactly, with no trailing zeros after the point:
 * `formatDecimal(1234500n, 6) === '1.2345'`, `formatDecimal(-5n, 0) === '-5'`.
 */
export function formatDecimal(value: bigint, decimals: number): string {
  if (decimals === 0) return value.toString();
  const negative = value < 0n;
  const digits = (negative ? -value : value).toString().padStart(decimals + 1, '0');
  const whole = digits.slice(0, -decimals);
  const fraction = digits.slice(-decimals).replace(/0+$/, '');
  return `${negative ? '-' : ''}${whole}${fraction === '' ? '' : `.${fraction}`}`;
}

// The text format's escapes: HELP escapes backslash and newline; a label value also the double quote.
const escapeHelp = (text: string): string => text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
const escapeLabelValue = (text: string): string => escapeHelp(text).replace(/"/g, '\\"');

/** One sample line, without its newline. */
export function formatSample(sample: MetricSample): string {
  const labels = Object.entries(sample.labels).map(([name, value]) => `${name}="${escapeLabelValue(value)}"`);
  return `${sample.name}${labels.length === 0 ? '' : `{${labels.join(',')}}`} ${sample.value}`;
}

/** A family in the text format: its HELP and TYPE lines, then a line a sample, each ending in a newline. */
export function formatFamily(family: MetricFamily): string {
  const lines = [`# HELP ${family.name} ${escapeHelp(family.help)}`, `# TYPE ${family.name} ${family.type}`];
  for (const sample of family.samples) lines.push(formatSample(sample));
  return `${lines.join('\n')}\n`;
}
