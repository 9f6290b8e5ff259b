/**
 * The load of the metrics benchmarks (bench/metrics.ts), the same in every context that runs it:
 * percpu's metrics on a CPU and prom-client's own in a cluster worker. Pure JS, no percpu import,
 * so that a cluster worker loads prom-client only.
 */

/** The metric names, the same on both sides. */
export const COUNTER_NAME = 'bench_requests_total';
export const HISTOGRAM_NAME = 'bench_latency_microseconds';

/** Eleven bucket bounds (prom-client's default count), in microseconds. */
export const BUCKETS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

/** The i-th observation: 0 to 11 999 µs, spread over every bucket. */
export const observation = (i: number): number => (i * 7919) % 12000;

/** What both libraries' counter and histogram offer. */
export interface LoadTarget {
  counter: { inc(): void };
  histogram: { observe(value: number): void };
}

/** `n` requests: one counter increment and one observation each. */
export function applyLoad({ counter, histogram }: LoadTarget, n: number): void {
  for (let i = 0; i < n; i++) {
    counter.inc();
    histogram.observe(observation(i));
  }
}

/** What `n` requests leave in the histogram: count, sum and the cumulative buckets (the last is +Inf). */
export function expectedHistogram(n: number): { count: number; sum: number; buckets: number[] } {
  const buckets = new Array<number>(BUCKETS.length + 1).fill(0);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const v = observation(i);
    sum += v;
    const bucket = BUCKETS.findIndex((bound) => v <= bound);
    buckets[bucket === -1 ? BUCKETS.length : bucket]!++;
  }
  let cumulative = 0;
  return { count: n, sum, buckets: buckets.map((b) => (cumulative += b)) };
}
