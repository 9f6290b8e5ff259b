/**
 * The metrics of examples/http-metrics, defined by name: every thread that calls httpMetrics()
 * (each CPU's server, and the main thread that serves /metrics) gets the same per-CPU slots.
 */
import { PerCpuCounter, PerCpuHistogram } from 'percpu/metrics';

/** Bucket bounds in nanoseconds (decimals: 9 exports seconds): 0.1 ms to 100 ms. */
export const LATENCY_BUCKETS_NS = [100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000, 25_000_000, 100_000_000];

export function httpMetrics() {
  return {
    requests: new PerCpuCounter({ name: 'http_requests_total', help: 'HTTP requests served' }),
    latency: new PerCpuHistogram({
      name: 'http_request_duration_seconds',
      help: 'Time the server took to handle a request',
      buckets: LATENCY_BUCKETS_NS,
      decimals: 9, // observed in nanoseconds (process.hrtime.bigint()), exported in seconds
    }),
  };
}
