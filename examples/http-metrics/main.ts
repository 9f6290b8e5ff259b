/**
 * examples/http-metrics: an HTTP server on every CPU of a CpuSet records a request counter and a
 * latency histogram (percpu/metrics); the main thread serves them on /metrics through prom-client,
 * reading every CPU's slots itself: no message to any worker, exact totals.
 *
 * Each CPU listens on its own port (Node 20's worker threads cannot share a listening socket).
 *
 *   npm run build:ts && node dist/examples/http-metrics/main.js 4   # then curl the /metrics URL
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { CpuSet, task } from 'percpu';
import { registerPerCpuMetrics } from 'percpu/metrics';
import { httpMetrics } from './metrics';
import type * as server from './server';

const SERVER = require.resolve('./server');

export async function start(cpuCount: number) {
  const cpus = await CpuSet.start({ cpus: cpuCount }); // this thread is CPU 0, workers are 1..n-1
  const registry = new Registry();
  registerPerCpuMetrics(registry, Object.values(httpMetrics()));
  const ports = await cpus.onEachCpu(task<typeof server.serve>(SERVER, 'serve'));
  const scrapes = http.createServer((_request, response) => {
    void registry.metrics().then((text) => response.setHeader('Content-Type', registry.contentType).end(text));
  });
  await new Promise<void>((resolve) => scrapes.listen(0, '127.0.0.1', resolve));
  return {
    /** CPU n serves urls[n]. */
    urls: ports.map((port) => `http://127.0.0.1:${port}/`),
    /** Prometheus scrapes this. */
    metricsUrl: `http://127.0.0.1:${(scrapes.address() as AddressInfo).port}/metrics`,
    async stop(): Promise<void> {
      scrapes.closeAllConnections();
      await new Promise<void>((resolve) => scrapes.close(() => resolve()));
      await cpus.onEachCpu(task<typeof server.stop>(SERVER, 'stop'));
      await cpus.close();
    },
  };
}

if (require.main === module) {
  void start(Number(process.argv[2] ?? 4)).then((example) => {
    console.log(`${example.urls.join('\n')}\nmetrics: ${example.metricsUrl}`);
    process.once('SIGINT', () => void example.stop());
  });
}
